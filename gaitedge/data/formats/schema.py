"""What each modality may look like on disk, and the checks every reader applies (errors name the file).

Image modalities (RGB crops and silhouettes) must hold values in 0-255, and ratios and boxes finite values: a NaN,
an infinity or a value like 1e30 in one frame turns every loss and feature computed from it into NaN many steps
later, where nothing names the file. They are refused when the file is read, naming the file, the sequence and the
first frame that holds one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gaitedge.data.errors import DataError

__all__ = ["MODALITIES", "IMAGE_MODALITIES", "check_array", "check_frames", "check_values", "read_json",
           "check_partition"]

# name: (number of dims including the frame axis, allowed dtype kinds, description)
MODALITIES: dict[str, tuple[int, str, str]] = {
    "rgbs": (4, "uifb", "[n, 3, H, W] RGB crops, 0-255"),
    "sils": (3, "uifb", "[n, H, W] silhouette crops, 0/255"),
    "aligned_sils": (3, "uifb", "[n, 64, 44 or 64] size-normalised silhouettes, 0-255"),
    "ratios": (1, "uif", "[n] width/height of the person box"),
    "boxes": (2, "uif", "[n, 4] (x0, y0, x1, y1) crop box in the source frame"),
}
IMAGE_MODALITIES = ("rgbs", "sils", "aligned_sils")
_FRAMES_PER_BLOCK = 256  # the value check reads this many frames at a time, so a memory-mapped file is never copied


def check_array(arr, modality: str, source: str, values: bool = True) -> np.ndarray:
    """Validate one modality array; raises :class:`DataError` (a ``ValueError``) naming ``source`` on any mismatch.

    ``values=False`` checks only shape and dtype; :func:`check_values` is then the caller's to run (a reader of a
    memory-mapped file runs it once per file, not once per sampled batch).
    """
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{source}: expected a numpy array for '{modality}', got {type(arr).__name__}")
    if arr.dtype.kind not in "uifb":
        raise DataError(f"{source}: '{modality}' has unsupported dtype {arr.dtype} (expected integer/float/bool)")
    spec = MODALITIES.get(modality)
    if spec is None:
        if arr.ndim < 1:
            raise DataError(f"{source}: '{modality}' must have a leading frame axis, got a scalar")
        return arr
    ndim, kinds, desc = spec
    if modality == "ratios" and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != ndim or arr.dtype.kind not in kinds:
        raise DataError(f"{source}: '{modality}' must be {desc}, got shape {arr.shape} dtype {arr.dtype}")
    if modality == "rgbs" and arr.shape[1] != 3:
        raise DataError(f"{source}: 'rgbs' must be [n, 3, H, W], got shape {arr.shape}")
    if modality == "aligned_sils" and arr.shape[1:] not in ((64, 44), (64, 64)):
        raise DataError(f"{source}: 'aligned_sils' must be [n, 64, 44] or [n, 64, 64], got shape {arr.shape}")
    if modality == "boxes" and arr.shape[1] != 4:
        raise DataError(f"{source}: 'boxes' must be [n, 4], got shape {arr.shape}")
    if values:
        check_values(arr, modality, source)
    return arr


def check_values(arr: np.ndarray, modality: str, source: str) -> None:
    """Image modalities must lie in 0-255 and ratios and boxes be finite; raises :class:`DataError` naming
    ``source`` and the first frame that does not (NaN and infinities included)."""
    if arr.dtype.kind == "b" or arr.dtype == np.uint8 or not arr.size:
        return  # every value is in range
    image = modality in IMAGE_MODALITIES
    if not image and (modality not in ("ratios", "boxes") or arr.dtype.kind != "f"):
        return
    for start in range(0, arr.shape[0], _FRAMES_PER_BLOCK):
        block = np.asarray(arr[start:start + _FRAMES_PER_BLOCK])
        good = (block >= 0) & (block <= 255) if image else np.isfinite(block)  # NaN fails both comparisons
        if good.all():
            continue
        frames = good.reshape(len(block), -1).all(axis=1)
        first = start + int(np.argmin(frames))
        bad_values = block[~good]
        kind = "NaN" if np.isnan(bad_values.astype(np.float64, copy=False)).any() else \
            "infinite" if np.isinf(bad_values.astype(np.float64, copy=False)).any() else "out-of-range"
        want = "values in 0-255" if image else "finite values"
        raise DataError(f"{source}: '{modality}' holds {kind} values (first in frame {first}, e.g. "
                        f"{bad_values.flat[0].item()!r}); it must hold {want}")


def check_frames(arrays: dict[str, np.ndarray], sources: dict[str, str], where: str) -> int:
    """All modalities of a sequence must have the same frame count; returns it."""
    counts = {k: int(v.shape[0]) for k, v in arrays.items()}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{sources.get(k, k)}: {n}" for k, n in counts.items())
        raise DataError(f"{where}: modalities have different frame counts ({detail})")
    return next(iter(counts.values()), 0)


def read_json(path: Path, what: str) -> Any:
    """A JSON file's value; a corrupt, over-deep or non-standard file (``NaN``, ``Infinity``) raises
    :class:`DataError` naming it."""

    def refuse_constant(name: str):
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(path.read_text(), parse_constant=refuse_constant)
    except RecursionError:
        raise DataError(f"{path}: corrupt {what}: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, NaN/Infinity, integers of 4300+ digits
        raise DataError(f"{path}: corrupt {what}: {str(e)[:200]}") from None


def check_partition(partition: Any, where: str, field: str = "partition") -> dict[str, list[str]]:
    """A partition maps split names to lists of subject ids (strings or integers); returns it with string ids."""
    if not isinstance(partition, dict):
        raise DataError(f"{where}: field '{field}' must be an object of id lists, found {type(partition).__name__}")
    out = {}
    for split, ids in partition.items():
        name = f"{field}.{split}" if field else split
        if not isinstance(ids, list):
            raise DataError(f"{where}: field '{name}' must be a list of subject ids, found {type(ids).__name__}")
        bad = [i for i in ids if type(i) not in (str, int)]
        if bad:
            raise DataError(f"{where}: field '{name}' must hold subject ids (strings or integers), found a "
                            f"{type(bad[0]).__name__}")
        out[split] = [str(i) for i in ids]
    return out
