"""What each modality may look like on disk, and the checks every reader applies (errors name the file)."""

from __future__ import annotations

import numpy as np

__all__ = ["MODALITIES", "check_array", "check_frames"]

# name: (number of dims including the frame axis, allowed dtype kinds, description)
MODALITIES: dict[str, tuple[int, str, str]] = {
    "rgbs": (4, "uifb", "[n, 3, H, W] RGB crops, 0-255"),
    "sils": (3, "uifb", "[n, H, W] silhouette crops, 0/255"),
    "aligned_sils": (3, "uifb", "[n, 64, 44 or 64] size-normalised silhouettes, 0-255"),
    "ratios": (1, "uif", "[n] width/height of the person box"),
    "boxes": (2, "uif", "[n, 4] (x0, y0, x1, y1) crop box in the source frame"),
}


def check_array(arr, modality: str, source: str) -> np.ndarray:
    """Validate one modality array; raises ValueError naming ``source`` on any mismatch."""
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{source}: expected a numpy array for '{modality}', got {type(arr).__name__}")
    if arr.dtype.kind not in "uifb":
        raise ValueError(f"{source}: '{modality}' has unsupported dtype {arr.dtype} (expected integer/float/bool)")
    spec = MODALITIES.get(modality)
    if spec is None:
        if arr.ndim < 1:
            raise ValueError(f"{source}: '{modality}' must have a leading frame axis, got a scalar")
        return arr
    ndim, kinds, desc = spec
    if modality == "ratios" and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != ndim or arr.dtype.kind not in kinds:
        raise ValueError(f"{source}: '{modality}' must be {desc}, got shape {arr.shape} dtype {arr.dtype}")
    if modality == "rgbs" and arr.shape[1] != 3:
        raise ValueError(f"{source}: 'rgbs' must be [n, 3, H, W], got shape {arr.shape}")
    if modality == "aligned_sils" and arr.shape[1:] not in ((64, 44), (64, 64)):
        raise ValueError(f"{source}: 'aligned_sils' must be [n, 64, 44] or [n, 64, 64], got shape {arr.shape}")
    if modality == "boxes" and arr.shape[1] != 4:
        raise ValueError(f"{source}: 'boxes' must be [n, 4], got shape {arr.shape}")
    if arr.dtype.kind == "f" and arr.size and modality in ("ratios", "boxes"):
        if not np.isfinite(arr).all():
            raise ValueError(f"{source}: '{modality}' contains NaN or infinite values")
    return arr


def check_frames(arrays: dict[str, np.ndarray], sources: dict[str, str], where: str) -> int:
    """All modalities of a sequence must have the same frame count; returns it."""
    counts = {k: int(v.shape[0]) for k, v in arrays.items()}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{sources.get(k, k)}: {n}" for k, n in counts.items())
        raise ValueError(f"{where}: modalities have different frame counts ({detail})")
    return next(iter(counts.values()), 0)
