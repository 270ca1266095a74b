"""User-facing errors.

Everything a user can cause (bad file, no face, unknown emotion) raises a subclass of
:class:`TalkrigError` with a one-line message; the CLI prints that line and exits non-zero.
Programming errors stay ordinary exceptions.
"""


class TalkrigError(Exception):
    """A problem with the user's input or environment, described in one line."""


class InputError(TalkrigError):
    """An input file or value is missing, unreadable or invalid."""


class NoFaceError(TalkrigError):
    """No face was found where one was required."""


class ModelNotFoundError(TalkrigError):
    """A face model, checkpoint or model file could not be found."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so temporary files are removed and
    worker processes ended on the way out (a BaseException: ``except Exception`` keeps out)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
