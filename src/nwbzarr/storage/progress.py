"""Progress bars and informational lines on stderr, one policy for every long operation.

``progress`` everywhere means: ``True`` always show the bar, ``False`` never (and no informational lines),
``None`` show it only when stderr is a terminal (tqdm's ``disable=None``). ``TQDM_DISABLE`` (any value but
empty, ``0``, ``false``, ``no``, ``off``) turns every bar off whatever ``progress`` says, so scripts and CI can
silence the Python API too. The module lives in ``storage`` (the lowest package layer) so that every layer
above can share it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["Progress", "advance", "env_disabled", "grow", "note", "progress_bar", "tqdm_disable"]

Progress = bool | None  # True: always; False: never; None: when stderr is a terminal

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def env_disabled() -> bool:
    """Whether the ``TQDM_DISABLE`` environment variable asks for no bars at all."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in _FALSE_WORDS


def tqdm_disable(progress: Progress) -> bool | None:
    """tqdm's ``disable`` argument for ``progress`` (``None``: tqdm turns the bar off when not a tty)."""
    if progress is None:
        return True if env_disabled() else None
    return not progress or env_disabled()  # other values count as their truth (1, 0 as older callers pass)


def progress_bar(progress: Progress, desc: str, unit: str = "B", total: float = 0) -> Any:
    """A tqdm bar on stderr: bytes (``unit="B"``, scaled) or objects (any other unit). ``total`` may grow
    later (``bar.total += n``) as work is discovered; a disabled bar accepts every call and shows nothing."""
    from tqdm import tqdm

    scaled = {"unit_scale": True, "unit_divisor": 1024} if unit == "B" else {}
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=tqdm_disable(progress),
                dynamic_ncols=True, **scaled)


def grow(bar: Any, amount: float) -> None:
    """Add work to a bar's total (no-op without a bar)."""
    if bar is not None and amount:
        bar.total = (bar.total or 0) + amount


def advance(bar: Any, amount: float = 1) -> None:
    """Count work done on a bar (no-op without a bar)."""
    if bar is not None and amount:
        bar.update(amount)


def note(progress: Progress, text: str) -> None:
    """An informational line on stderr (not the result of a command), left out when ``progress`` is False (or falsy)
    (``--quiet``); written through tqdm so it does not break a bar in progress."""
    if progress is not None and not progress:
        return
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)
