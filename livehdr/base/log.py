"""Notes and warnings for the user, through ``logging`` (logger ``livehdr``).

Every layer reports through here instead of printing. The default handler writes
``livehdr: note: ...`` / ``livehdr: warning: ...`` lines to whatever ``sys.stderr`` is at the time (so tests
that capture stderr see them); a program embedding livehdr can replace the handler or raise the level.
"""
from __future__ import annotations

import logging
import sys

logger = logging.getLogger("livehdr")


class _StderrLines(logging.Handler):
    PREFIX = {logging.INFO: "livehdr: note: ", logging.WARNING: "livehdr: warning: "}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            prefix = self.PREFIX.get(record.levelno, "livehdr: ")
            sys.stderr.write(prefix + record.getMessage() + "\n")
            sys.stderr.flush()
        except Exception:  # a closed stderr must never break a conversion
            self.handleError(record)


if not logger.handlers:
    logger.addHandler(_StderrLines())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def note(message: str) -> None:
    """Something the user may want to know (a crop, a fallback); not a problem."""
    logger.info(message)


def warn(message: str) -> None:
    """Something that probably makes the result worse than the user expects."""
    logger.warning(message)


def say(message: str) -> None:
    """A plain status line (``livehdr: ...``), e.g. a screenshot saved during a live session."""
    logger.log(logging.INFO + 1, message)
