"""User-facing errors: the CLI turns these into one line on stderr and exit code 2, never a traceback."""


class UserError(Exception):
    """Bad input, bad options or an unwritable output: something the user can fix.

    The message is one line, says what is wrong and, where it helps, what to do instead.
    """

    exit_code = 2
