"""Atomic file writing: outputs appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from talkrig.errors import InputError


def check_writable(path: str | Path) -> Path:
    """Raise :class:`InputError` unless ``path``'s folder exists and is writable; return it.
    Lets long jobs fail before doing any work."""
    parent = Path(path).parent if str(Path(path).parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise InputError(f"output folder is not writable: {parent}")
    return parent


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file keeps ``path``'s suffix (encoders pick formats by suffix). On any
    exception it is removed and ``path`` is left untouched.
    """
    path = Path(path)
    parent = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the file the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
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
