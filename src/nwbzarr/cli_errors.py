"""How the ``nwbzarr`` command reports a mistake: one line on stderr (``nwbzarr: error: <what> (<fix>)``),
exit code 2 for a usage error and 1 for a failure, the traceback only with ``--debug`` or ``NWBZARR_DEBUG=1``."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import typer

from .errors import NwbzarrError


def _click_class(name: str) -> type[Exception]:
    """One of the click exception classes typer raises (newer typers carry a private copy of click)."""
    return next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == name)


UsageError = _click_class("UsageError")  # a bad command line: exit code 2
ClickException = _click_class("ClickException")  # click's other errors (a file it could not open): 1
NoArgsIsHelpError = getattr(sys.modules[UsageError.__module__], "NoArgsIsHelpError", None)

PROG = "nwbzarr"
FAILURE_EXIT = 1  # the command ran and could not do its work (missing file, not NWB, target exists, ...)
USAGE_EXIT = 2  # the command line itself is wrong (an unknown option, a bad option value)
DEBUG_VARIABLE = "NWBZARR_DEBUG"
# exceptions whose message is written for the user: shown as they are; any other is flagged as unexpected
EXPECTED = (NwbzarrError, OSError, ValueError, LookupError, ImportError, RuntimeError, NotImplementedError)
MAX_MESSAGE_CHARS = 2000


def debug_from_environment() -> bool:
    """True when ``NWBZARR_DEBUG`` asks for tracebacks (1, true, yes, on)."""
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def say_error(text: str) -> None:
    """Write ``nwbzarr: error: <text>`` on stderr."""
    typer.echo(f"{PROG}: error: {text}", err=True)


def report_usage_error(exc: Any) -> int:
    """One line naming the bad option or argument and where the help is; returns exit code 2."""
    if NoArgsIsHelpError is not None and isinstance(exc, NoArgsIsHelpError):  # `nwbzarr` alone: its help
        exc.show()
        return exc.exit_code
    where = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else PROG
    say_error(f"{_one_line(exc.format_message())} (see '{where} --help')")
    return USAGE_EXIT


def report_click_failure(exc: Any) -> int:
    """A click failure that is not a usage error (a file click could not open, ...): its message, exit 1."""
    say_error(_one_line(exc.format_message()))
    return exc.exit_code or FAILURE_EXIT


def report_failure(exc: BaseException, debug: bool) -> int:
    """What went wrong in one line (two for an unexpected error); with ``debug`` the traceback first."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, EXPECTED) and type(exc) not in (KeyError, IndexError):  # bare ones: a bug's
        say_error(describe(exc))
    else:
        say_error(f"{type(exc).__name__}: {describe(exc)}")
        if not debug:
            typer.echo(f"{PROG}: this is unexpected: rerun with --debug (or {DEBUG_VARIABLE}=1) for the "
                       "traceback, and report it", err=True)
    return FAILURE_EXIT


def describe(exc: BaseException) -> str:
    """The exception's message on one line (an OSError's file name added when the message lacks it)."""
    text = _one_line(str(exc)) or type(exc).__name__
    filename = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
    if filename is not None and str(filename) not in text:
        text = f"{filename}: {text}"
    return text


def _one_line(text: str) -> str:
    joined = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return joined if len(joined) <= MAX_MESSAGE_CHARS else joined[:MAX_MESSAGE_CHARS] + " ..."
