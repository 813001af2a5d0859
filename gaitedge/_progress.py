"""The one way gaitedge draws a progress bar."""

from __future__ import annotations

import sys
from typing import IO, Optional

from tqdm import tqdm

__all__ = ["progress_bar"]


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def progress_bar(total: Optional[int] = None, *, enabled: bool = True, stream: Optional[IO[str]] = None,
                 **kwargs) -> tqdm:
    """A ``tqdm`` bar on ``stream`` (default ``sys.stderr``), disabled unless ``enabled`` and ``stream`` is a terminal.

    A disabled bar draws nothing and its ``update``/``close`` cost next to nothing, so callers use it the same way
    in both cases; ``bar.disable`` tells them which. Bars are kept out of non-terminal output because their carriage
    returns turn log files into one unreadable line. ``kwargs`` go to ``tqdm`` (``desc``, ``unit``, ``initial``...).
    """
    stream = sys.stderr if stream is None else stream
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(total=total, file=stream, disable=not (enabled and _is_terminal(stream)), **kwargs)
