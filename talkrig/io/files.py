"""Atomic file writing: outputs appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from talkrig.errors import InputError
from talkrig.io import stop


def _output_folder(path: str | Path) -> Path:
    """``path``'s folder, or :class:`InputError` when it is missing or not a folder."""
    parent = Path(path).parent if str(Path(path).parent) else Path(".")
    if not parent.exists():
        raise InputError(f"output folder does not exist: {parent}")
    if not parent.is_dir():
        raise InputError(f"output folder is not a folder: {parent}")
    return parent


def check_writable(path: str | Path) -> Path:
    """Raise :class:`InputError` unless a file can be created in ``path``'s folder; return the
    folder. Lets long jobs fail before doing any work. Probes by creating (and removing) a
    temporary file, so read-only mounts, ``/proc`` and full quotas are caught too."""
    parent = _output_folder(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=".talkrig-probe.", dir=parent)
    except OSError as exc:
        raise InputError(f"cannot write in {parent}: {exc.strerror or exc}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return parent


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (hard links, symlinks and ``./`` spellings included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output(path: str | Path, suffixes: tuple[str, ...] = (), inputs=(), what: str = "output") -> Path:
    """Validate an output file before any work: its suffix (one of ``suffixes``), that it is not
    a folder or a device, that it would not overwrite one of ``inputs`` (paths, Nones
    skipped), and that its folder takes new files; temporary files that killed processes left
    there are swept (:func:`sweep_stale_parts`). Returns it as a Path."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{what} must end in {' or '.join(suffixes)}, got {path.name or path}")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file")
    if path.exists() and not path.is_file():
        raise InputError(f"{what} {path} exists and is not a regular file")
    for src in inputs:
        if src is not None and same_file(path, src):
            raise InputError(f"{what} {path} would overwrite the input {src}: choose another name")
    check_writable(path)
    sweep_stale_parts(path)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: ``.<stem>.<pid>.<8 random>.part<suffix>``, the names :func:`atomic_path` gives its files.
_PART = re.compile(r"^\.(?P<stem>.*)\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.part(?:\.[^.]*)?$")
#: A stray temporary file of another output is only swept once it is this old (a process on
#: another machine sharing the folder has pids this one cannot check, but keeps writing).
STALE_AFTER_S = 120.0


def part_target(path: str | Path) -> Path | None:
    """The output an :func:`atomic_path` temporary file stands for, or None if it is not one."""
    path = Path(path)
    m = _PART.match(path.name)
    if m is None:
        return None
    suffix = path.name.rsplit(".part", 1)[1]
    return path.parent / f"{m['stem']}{suffix}"


def sweep_stale_parts(path: str | Path) -> None:
    """Remove temporary files that :func:`atomic_path` left in ``path``'s folder in processes
    that no longer exist (a SIGKILL cannot be cleaned up after by the process it kills): those
    of ``path`` itself at once, those of other outputs once :data:`STALE_AFTER_S` old."""
    import time

    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        m = _PART.match(entry.name)
        if m is None or _pid_alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            own = m["stem"] == path.stem and entry.name.endswith(f".part{path.suffix}")
            if own or now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S:
                os.unlink(entry.path)


def fsync_path(path: str | Path) -> None:
    """Flush a file's data to the device (best effort where the file system cannot)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success flush it to disk and rename it onto
    ``path``.

    The temporary file (``.<stem>.<pid>.<random>.part<suffix>``) keeps ``path``'s suffix
    (encoders pick formats by suffix). On any exception (Ctrl-C and signals that the CLI turns
    into exceptions included) it is removed and ``path`` is left untouched; ones left by
    killed processes are swept by :func:`check_output` (once per command, not per file: a
    frames folder holds thousands).
    """
    path = Path(path)
    parent = _output_folder(path)
    if path.is_dir():
        raise InputError(f"output {path} is a folder, not a file")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}.", suffix=f".part{path.suffix}", dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the file the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        fsync_path(tmp_path)
        stop.check()  # a stop signal whose exception was swallowed must not publish the file
        os.replace(tmp_path, path)
        fsync_path(parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def save_npz(path: str | Path, arrays: dict, compressed: bool = False) -> None:
    """Write ``arrays`` (name -> array) as an ``.npz`` through :func:`atomic_path`; no object
    arrays, so it loads with ``allow_pickle=False``."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **arrays)


def load_npz(path: str | Path, what: str, missing_error: type[Exception] = InputError) -> dict:
    """Every array of an ``.npz`` (pickles refused) as a dict.

    Raises ``missing_error`` "<what> file not found: <path>" when there is no file and
    :class:`InputError` "cannot read <what> from <path>: <reason>" (one line) when it does not
    parse.
    """
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise missing_error(f"{what} file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read {what} from {path}: {reason}") from None
