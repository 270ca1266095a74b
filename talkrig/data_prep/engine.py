"""Running the per-clip task over many clips: locally (process pool) or on a Ray cluster.

Resumable and idempotent: a clip is done when its shard (or error record) exists, so a rerun
skips it; each file appears by rename, so a kill at any moment leaves finished clips whole and
no half-written shard (stale temp files are swept at start); the manifest is rebuilt from the
shards at the end of every run.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from talkrig.data_prep.layouts import ClipInfo, discover
from talkrig.data_prep.process import THREAD_VARS, PrepConfig, base_row, init_worker, run_clip
from talkrig.data_prep.shard import OutputDir, manifest_row, rebuild_manifest, write_error
from talkrig.errors import InputError, TalkrigError
from talkrig.io.files import atomic_path

ENGINES = ("local", "ray")


@dataclass
class Summary:
    """What a run did (the manifest holds the per-clip facts)."""

    total: int          # clips found under the input
    skipped: int        # already finished before this run
    processed: int      # finished in this run
    failed: int         # of those, how many got an error record
    frames: int         # frames processed in this run
    seconds: float
    rows: list[dict]    # the rebuilt manifest


def prepare(input_path: str | Path, out: str | Path, *, layout: str = "auto", workers: int | None = None,
            engine: str = "local", config: PrepConfig | None = None, retry_errors: bool = False,
            progress: bool = True, ray_address: str | None = None) -> Summary:
    """Preprocess every clip under ``input_path`` into shards under ``out``.

    Args:
        workers: parallel workers (default: CPU count; 1 runs in this process, single-threaded
            while it works, and restores the caller's thread settings afterwards).
        engine: ``local`` (process pool) or ``ray`` (``ray_address`` or a local Ray).
        retry_errors: also redo clips that have an error record.
    Raises:
        InputError: bad input folder, unknown engine, or ``out`` made with other settings.
    """
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    config = config or PrepConfig()
    od = OutputDir(Path(out).expanduser())
    clips = discover(input_path, layout, exclude=od.root)
    if od.root.exists() and not od.root.is_dir():
        raise InputError(f"output exists and is not a folder: {od.root}")
    od.root.mkdir(parents=True, exist_ok=True)
    with _job_lock(od):
        od.create()
        _check_settings(od, config, layout)
        od.clean_temp()
        return _prepare_locked(od, clips, config, workers, engine, retry_errors, progress, ray_address)


@contextlib.contextmanager
def _job_lock(od: OutputDir):
    """One job per output folder at a time. An advisory ``flock`` on ``OUT/.lock``: the
    kernel drops it when the process dies, so a killed job never leaves a stale lock."""
    import fcntl

    with open(od.root / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"another prep job is writing to {od.root}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _prepare_locked(od: OutputDir, clips: list[ClipInfo], config: PrepConfig, workers: int | None,
                    engine: str, retry_errors: bool, progress: bool, ray_address: str | None) -> Summary:
    ok, bad = od.finished()
    done = ok | (set() if retry_errors else bad)
    todo = [c for c in clips if c.clip_id not in done]
    n_workers = max(1, workers or os.cpu_count() or 1)
    t0 = time.perf_counter()
    processed = failed = frames = 0
    with _Progress(len(clips), len(clips) - len(todo), enabled=progress) as bar, \
            open(od.timings, "a") as log:
        runner = _run_ray(todo, od, config, n_workers, ray_address) if engine == "ray" \
            else _run_local(todo, od, config, n_workers)
        for row, timing in runner:
            processed += 1
            failed += row["status"] != "ok"
            frames += int(row["frames"] or 0)
            log.write(json.dumps(timing | {"engine": engine}) + "\n")
            log.flush()
            bar.advance(int(row["frames"] or 0), row["status"] != "ok")
    rows = rebuild_manifest(od)
    return Summary(len(clips), len(clips) - len(todo), processed, failed, frames,
                   time.perf_counter() - t0, rows)


def _check_settings(od: OutputDir, config: PrepConfig, layout: str) -> None:
    """Refuse to mix shards made with different settings (or label layouts) in one folder."""
    settings = config.to_dict() | {"layout": layout}
    want = json.dumps(settings, sort_keys=True)
    if od.settings.is_file():
        try:
            have = json.dumps(json.loads(od.settings.read_text()), sort_keys=True)
        except ValueError:
            have = None
        if have == want:
            return
        if any(od.finished()):  # settings only bind once some clip was made with them
            raise InputError(f"{od.root} was prepared with other settings ({od.settings.name}); "
                             "use a new output folder")
    with atomic_path(od.settings) as tmp:
        tmp.write_text(json.dumps(settings, sort_keys=True, indent=1))


# -- engines -------------------------------------------------------------------------------
def _run_local(clips: list[ClipInfo], od: OutputDir, config: PrepConfig, workers: int) -> Iterator:
    """Yield ``(row, timing)`` as clips finish. One worker runs in this process; more use a
    spawned process pool whose initializer loads the models once per worker. A worker that
    dies (a native crash on some file) takes down the pool: the clips it was holding are
    retried in a fresh pool, and a clip that was in flight for two crashes gets an error
    record instead of a third try."""
    if not clips:
        return
    if workers == 1 or len(clips) == 1:
        with _caller_threads_restored():
            init_worker(config)
            for c in clips:
                yield run_clip(c, str(od.root), config)
        return
    queue, crashes = list(clips), {}
    while queue:
        inflight: dict = {}
        try:
            yield from _pool_session(queue, inflight, od, config, workers)
        except BrokenProcessPool:
            for c in inflight.values():
                crashes[c.clip_id] = crashes.get(c.clip_id, 0) + 1
                if crashes[c.clip_id] >= 2:
                    row = manifest_row(base_row(c) | {"status": "error", "error": "worker process crashed on this clip"})
                    write_error(od, row)
                    yield row, {"clip_id": c.clip_id, "seconds": 0.0, "frames": 0, "status": "error", "pid": 0}
                else:
                    queue.insert(0, c)


def _pool_session(queue: list[ClipInfo], inflight: dict, od: OutputDir, config: PrepConfig,
                  workers: int) -> Iterator:
    """Run clips from the front of ``queue`` in one process pool; ``inflight`` maps futures
    to the clips they hold (what a crash would lose)."""
    import multiprocessing as mp

    from talkrig.io.workers import init_worker_process, terminate_pool

    # spawn, not fork: MediaPipe/XNNPACK thread pools do not survive a fork. Workers die with
    # this process and leave Ctrl-C to it (init_worker_process).
    ctx = mp.get_context("spawn")
    # workers start on demand during submit(): the thread limits stay set the whole time
    with _single_threaded_children():
        pool = ProcessPoolExecutor(max_workers=min(workers, len(queue)), mp_context=ctx,
                                   initializer=init_worker_process, initargs=(_init_pool_worker, config))
        try:
            def submit() -> None:
                if queue:
                    c = queue.pop(0)
                    inflight[pool.submit(run_clip, c, str(od.root), config)] = c

            for _ in range(2 * workers):  # keep every worker fed without pickling the whole list
                submit()
            while inflight:
                finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in finished:
                    result = fut.result()  # BrokenProcessPool propagates with inflight intact
                    del inflight[fut]
                    yield result
                    submit()
        except BaseException:  # a crash, Ctrl-C, a signal, the caller stopping: no waiting on clips
            terminate_pool(pool)
            raise
        pool.shutdown(wait=True)


def _init_pool_worker(config: PrepConfig) -> None:
    """A pool worker's set-up: models loaded, and its native libraries' log lines (MediaPipe
    prints to fd 2 from C++) kept off the user's terminal; a clip's failure reaches the user
    through its error record, and ``TALKRIG_DEBUG=1`` keeps the logs."""
    if not os.environ.get("TALKRIG_DEBUG"):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    init_worker(config)


@contextlib.contextmanager
def _caller_threads_restored():
    """Run work in this process single-threaded, then give the caller back its thread
    settings (a training script calling ``prepare(workers=1)`` keeps its torch threads)."""
    import torch
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    try:
        with _single_threaded_children(), threadpool_limits(1):  # restores BLAS pools on exit
            yield
    finally:
        torch.set_num_threads(n)


@contextlib.contextmanager
def _single_threaded_children():
    """Workers are spawned with one BLAS/OpenMP thread each: the variables must be in the
    environment before numpy loads in the child, which is before any initializer runs."""
    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    os.environ.update({v: "1" for v in THREAD_VARS})
    try:
        yield
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


def _run_ray(clips: list[ClipInfo], od: OutputDir, config: PrepConfig, workers: int,
             address: str | None) -> Iterator:
    """The same task on Ray: one actor per worker holds the models; clips are handed to
    whichever actor is free. ``out`` must be on storage every node can write (NFS, a mounted
    bucket) because workers write shards themselves."""
    if not clips:
        return
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install 'talkrig[ray]'") from None
    started = not ray.is_initialized()
    if started:
        env = {"env_vars": {v: "1" for v in THREAD_VARS}}
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, runtime_env=env, log_to_driver=False, include_dashboard=False)
    try:
        actor_cls = ray.remote(num_cpus=1)(_RayWorker)
        actors = [actor_cls.remote(config) for _ in range(min(workers, len(clips)))]
        queue, busy = iter(clips), {}
        for a in actors:
            c = next(queue, None)
            if c is not None:
                busy[a.run.remote(c, str(od.root))] = a
        while busy:
            ready, _ = ray.wait(list(busy), num_returns=1)
            actor = busy.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:  # e.g. the model failed to load
                cause = getattr(exc, "cause", None)
                if isinstance(cause, TalkrigError):
                    raise cause from None
                raise
            yield result
            c = next(queue, None)
            if c is not None:
                busy[actor.run.remote(c, str(od.root))] = actor
    finally:
        if started:
            ray.shutdown()


class _RayWorker:
    """Ray actor body: models load in ``__init__`` (once per actor)."""

    def __init__(self, config: PrepConfig):
        init_worker(config)
        self.config = config

    def run(self, clip: ClipInfo, out_root: str) -> tuple[dict, dict]:
        return run_clip(clip, out_root, self.config)


# -- progress ------------------------------------------------------------------------------
class _Progress:
    """Rich progress bar: clips done / total, clips/s, frames/s, failures, ETA."""

    def __init__(self, total: int, already: int, enabled: bool = True):
        self.total, self.already, self.enabled = total, already, enabled
        self.frames = self.failed = self.done = 0

    def __enter__(self) -> "_Progress":
        from talkrig.io.progress import PlainProgress, is_terminal

        self.t0 = time.perf_counter()
        self._plain = None
        if self.enabled and not is_terminal():  # a pipe or a log: plain lines, not a silent bar
            self._plain = PlainProgress("prep", self.total, "clips", done=self.already)
            self.enabled = False
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._p = Progress(TextColumn("prep"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[rates]}"), TextColumn("ETA"),
                               TimeRemainingColumn(), transient=False)
            self._p.__enter__()
            self._task = self._p.add_task("prep", total=self.total, completed=self.already,
                                          rates=self._rates())
        return self

    def _rates(self) -> str:
        dt = max(time.perf_counter() - self.t0, 1e-6)
        fail = f", {self.failed} failed" if self.failed else ""
        return f"{self.done / dt:.2f} clips/s, {self.frames / dt:.1f} frames/s{fail}"

    def advance(self, frames: int, failed: bool) -> None:
        self.done += 1
        self.frames += frames
        self.failed += failed
        if self.enabled:
            self._p.update(self._task, advance=1, rates=self._rates())
        elif self._plain is not None:
            self._plain.update(self.already + self.done, f"{self.frames} frames, {self.failed} failed")

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._p.__exit__(*exc)

