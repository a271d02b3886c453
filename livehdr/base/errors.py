"""User-facing errors: the CLI turns these into one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations


class UserError(Exception):
    """Bad input, bad options or an unwritable output: something the user can fix.

    The message is one line, says what is wrong and, where it helps, what to do instead.
    """

    exit_code = 2


def one_line(e: BaseException) -> str:
    """The first line of an exception's message (library errors can span many), or its type's name."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class Stopped(UserError):
    """A signal (Ctrl-C, SIGTERM) stopped the run; the message says what was (or was not) written."""

    def __init__(self, message: str, signum: int = 2):
        super().__init__(message)
        self.exit_code = 128 + signum
