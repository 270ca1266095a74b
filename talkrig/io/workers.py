"""Worker processes that are safe beside threaded native libraries and die with their parent.

talkrig's parent process usually holds live threads by the time it wants helpers (MediaPipe's
dispatcher, torch/OpenMP and numba pools). ``fork`` copies such a process with its locks held
and none of its threads, and Python runs the parent's exit hooks at the end of every forked
child: a hook that waits on a thread that no longer exists never returns (this hung
``talkrig render --audio``). So helpers never come from a ``fork`` of the caller:

* :class:`WorkerPool`: fresh interpreters (``python -m talkrig.io.workers``) that run
  importable functions sent over a pipe. Unlike ``multiprocessing``'s spawn and forkserver
  methods they never re-import the caller's ``__main__`` (a user's script without a
  ``__name__ == "__main__"`` guard stays safe), and a worker ends when its parent does: the
  kernel kills it (``PR_SET_PDEATHSIG``) and its pipe reaches end-of-file.
* :func:`init_worker_process`: what a worker of a ``multiprocessing`` pool (data_prep's
  spawn pool) runs first, for the same two guarantees; :func:`terminate_pool` ends such a
  pool without waiting for its running tasks.

Workers leave Ctrl-C to the parent, which ends them (:meth:`WorkerPool.terminate`): pool workers
run in a session of their own, so a terminal's Ctrl-C never reaches them.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_HEADER = struct.Struct("<Q")  # length of each pickled message


class WorkerError(RuntimeError):
    """A worker process died or its task raised; the message says which."""


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send ``sig`` to this process when its parent exits (Linux; elsewhere
    nothing). Exits at once if the parent is already gone."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if parent == 1 or os.getppid() != parent:  # died before the request took effect
        os._exit(1)


def init_worker_process(initializer: Callable | None = None, *args) -> None:
    """First thing in a worker: die with the parent, ignore Ctrl-C (the parent owns it and
    ends the pool), then run ``initializer(*args)``."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*args)


def terminate_pool(pool) -> None:
    """Kill a :class:`concurrent.futures.ProcessPoolExecutor`'s workers now and release it
    without waiting for the tasks they were running."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()
    with contextlib.suppress(Exception):
        pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=5)


# -- the pipe protocol ----------------------------------------------------------------------
def _send(fh, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_HEADER.pack(len(data)))
    fh.write(data)
    fh.flush()


def _recv(fh):
    head = fh.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(head)[0]
    data = fh.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - our own child process on a private pipe


class _Worker:
    """One child interpreter and its two pipes."""

    def __init__(self, initializer: Callable | None, initargs: Sequence):
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # above talkrig/
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        # Own session: a terminal's Ctrl-C reaches the parent only (a worker still importing
        # numpy would print a KeyboardInterrupt traceback); the parent ends its workers. Their
        # stderr is kept only with TALKRIG_DEBUG: a task's error comes back through the pipe.
        quiet = not os.environ.get("TALKRIG_DEBUG")
        self.proc = subprocess.Popen([sys.executable, "-m", "talkrig.io.workers"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else None,
                                     env=env, close_fds=True, start_new_session=True)
        self.lock = threading.Lock()
        _send(self.proc.stdin, (initializer, tuple(initargs)))

    def call(self, fn: Callable, args: tuple):
        with self.lock:
            try:
                _send(self.proc.stdin, (fn, args))
                ok, value = _recv(self.proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                raise WorkerError(f"worker process {self.proc.pid} died "
                                  f"(exit code {self.proc.poll()})") from exc
        if not ok:
            raise WorkerError(value)
        return value

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.close()

    def close(self) -> None:
        for fh in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                fh.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class WorkerPool:
    """``n`` worker interpreters that run ``initializer(*initargs)`` once, then tasks.

    ``fn`` and ``initializer`` must be importable module-level functions; arguments and
    results travel pickled. Workers start at once and in parallel (each a fresh interpreter:
    ~0.1 s plus what its initializer loads). Use :meth:`map`; close with :meth:`close` (or as
    a context manager); :meth:`terminate` kills the workers without waiting.
    """

    def __init__(self, n: int, initializer: Callable | None = None, initargs: Sequence = ()):
        self.pid = os.getpid()
        self._workers = [_Worker(initializer, initargs) for _ in range(max(1, int(n)))]

    @property
    def size(self) -> int:
        return len(self._workers)

    def map(self, fn: Callable, tasks: Sequence[tuple], order: Sequence[int] | None = None) -> list:
        """``[fn(*t) for t in tasks]``, run on the workers (in ``order`` of submission when
        given, e.g. longest first). Raises :class:`WorkerError` when a worker dies or a task
        raises; on any exception here (Ctrl-C included) the workers are killed."""
        import queue

        results: list = [None] * len(tasks)
        pending: queue.SimpleQueue = queue.SimpleQueue()
        for i in (order if order is not None else range(len(tasks))):
            pending.put(i)
        errors: list[BaseException] = []

        def drive(worker: _Worker) -> None:
            while not errors:
                try:
                    i = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[i] = worker.call(fn, tuple(tasks[i]))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                    errors.append(exc)

        threads = [threading.Thread(target=drive, args=(w,), daemon=True, name="talkrig-worker-feed")
                   for w in self._workers]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        except BaseException:
            self.terminate()
            raise
        if errors:
            raise errors[0]
        return results

    def terminate(self) -> None:
        """Kill every worker now."""
        for w in self._workers:
            w.kill()
        self._workers = []

    def close(self) -> None:
        """Let every worker finish and exit (it sees end-of-file on its pipe)."""
        for w in self._workers:
            w.close()
        self._workers = []

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.terminate()


def _serve() -> None:
    """The worker's loop: messages on stdin, answers on the original stdout. Anything the
    task itself prints (Python or C) goes to stderr, so it cannot corrupt the protocol."""
    init_worker_process()
    inbox = os.fdopen(os.dup(0), "rb")
    outbox = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    try:
        initializer, initargs = _recv(inbox)
        if initializer is not None:
            initializer(*initargs)
        while True:
            fn, args = _recv(inbox)
            try:
                answer = (True, fn(*args))
            except Exception as exc:  # noqa: BLE001 - reported to the parent
                answer = (False, f"{type(exc).__name__}: {exc}")
            _send(outbox, answer)
    except (EOFError, BrokenPipeError):
        pass  # the parent closed the pipe or went away


if __name__ == "__main__":
    _serve()
