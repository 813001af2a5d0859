"""Reading checkpoint files safely: ``torch.load(weights_only=True)`` with errors that name the file.

Shared by :mod:`gaitedge.models.checkpoint` and :mod:`gaitedge.training.checkpoint`; it imports nothing but torch, so
neither pulls in the other (or the compiled ops).
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["CheckpointError", "CheckpointMismatchError", "load_weights_file", "tensor_state_dict", "mismatch_error",
           "check_finite_tensors"]

_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, truncated, holding code, or not laid out as expected.

    Attributes:
        path: the file (None when the checkpoint was given as an object).
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)


class CheckpointMismatchError(CheckpointError, RuntimeError):
    """A readable checkpoint whose weights do not fit the model: missing, unexpected or differently shaped keys.

    Also a ``RuntimeError``, which is what ``torch.nn.Module.load_state_dict`` raises for the same mismatch.
    """


def _reason(e: BaseException) -> str:
    text = str(e)
    if isinstance(e, pickle.UnpicklingError):
        m = _GLOBAL_RE.search(text)
        if m:
            return (f"it holds a Python object ({m.group(1)}), not only tensors; gaitedge loads weights only and "
                    "never runs code from a checkpoint")
        return "it is not a PyTorch checkpoint, or it is corrupt"
    if isinstance(e, EOFError):
        return "it is empty or truncated"
    if isinstance(e, OSError) and e.strerror and not isinstance(e, FileNotFoundError):
        return f"{e.strerror} (truncated or corrupt file?)"
    if "zip archive" in text or "central directory" in text:
        return "it is truncated or corrupt (not a complete zip archive)"
    # torch's own wording may advise turning weights_only off, which a user must not be told to do
    first = text.strip().splitlines()[0] if text.strip() else ""
    if not first or "weights_only" in first:
        return f"{type(e).__name__} while unpickling (corrupt file?)"
    return f"{type(e).__name__}: {first[:200]}"


def load_weights_file(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; every failure becomes :class:`CheckpointError` naming ``path``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        CheckpointError: the file is truncated, corrupt, not a torch file, or needs globals outside torch's
            weights-only allow list (a pickle that could run code).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except MemoryError:
        raise
    except Exception as e:
        reason = _reason(e)
    # no chaining: torch's message (shown by a traceback) suggests weights_only=False
    raise CheckpointError(f"cannot read checkpoint {path}: {reason}", path) from None


def tensor_state_dict(obj: Any, where: str, path: str | os.PathLike | None = None) -> Mapping[str, torch.Tensor]:
    """The state dict a loaded checkpoint holds (its ``"model"`` entry, or itself), checked to map names to tensors.

    Raises:
        CheckpointError: ``where`` (a file, or a description of the object) holds no such mapping.
    """
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{where} holds no state dict (expected a mapping of tensors or a dict with a 'model' "
                              f"entry, found {type(obj).__name__})", path)
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise CheckpointError(f"{where} is not a tensor state dict; non-tensor entries: {bad[:5]}", path)
    check_finite_tensors(obj, where, path)
    return obj


def check_finite_tensors(tensors: Mapping[Any, Any], where: str, path: str | os.PathLike | None = None,
                         field: str = "weight") -> None:
    """Refuse NaN or infinite values in the floating-point tensors of ``tensors`` (a model trained from them only
    produces NaN); the error names ``where`` and the first bad entry."""
    for name, t in tensors.items():
        if torch.is_tensor(t) and (t.is_floating_point() or t.is_complex()) and t.numel() \
                and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{where}: {field} {name!r} holds {bad} NaN or infinite value(s) of {t.numel()}; "
                                  "a run that wrote it had diverged", path)


def mismatch_error(message: str, error: RuntimeError, path: str | os.PathLike | None, limit: int = 5
                   ) -> CheckpointMismatchError:
    """``load_state_dict``'s multi-line mismatch report as one line: ``message: first problems ...``."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    details = lines[1 : 1 + limit] or lines[:1]  # the first line only says "Error(s) in loading state_dict"
    more = " ..." if len(lines) > 1 + limit else ""
    return CheckpointMismatchError(f"{message}: {'; '.join(details)}{more}", path)
