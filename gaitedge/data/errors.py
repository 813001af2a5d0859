"""The data layer's one error type: a data file (or a value inside it) that cannot be used.

Every reader raises :class:`DataError` (or a subclass) with a message that names the file, and the sequence or
field where there is one; the command line reports it as one line. It is a ``ValueError``, so code that caught the
readers' earlier ``ValueError`` still does.
"""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """A dataset file that is corrupt, hostile or holds values no model can use; the message names the file."""
