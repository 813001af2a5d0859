"""Antialiased bilinear resampling as explicit weight matrices, for pretreatment.

The weights equal ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=True)`` to
float32 rounding (tested). Pretreatment keeps them as matrices rather than calling ``interpolate`` because it
multiplies only the silhouette's non-empty columns (the empty ones add exact zeros), which ``interpolate`` cannot
skip, and because its worker processes stay numpy-only.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["resample_matrix"]


# Matrices up to this many elements are cached (a frame's shapes repeat along a sequence); larger ones, which only
# unusual frames need, are built each time so that the cache cannot hold gigabytes.
_CACHED_ELEMENTS = 2**18  # 1 MiB of float32; 128 entries, 128 MiB at most


def resample_matrix(src: int, dst: int, start: float = 0.0, stop: float | None = None) -> np.ndarray:
    """Weights ``[dst, src]`` (see :func:`_resample_matrix`); treat the result as read-only, it may be shared."""
    if src * dst <= _CACHED_ELEMENTS:
        return _cached_matrix(src, dst, start, stop)
    return _resample_matrix(src, dst, start, stop)


def _resample_matrix(src: int, dst: int, start: float = 0.0, stop: float | None = None) -> np.ndarray:
    """Weights ``[dst, src]`` mapping ``src`` samples of the interval ``[start, stop)`` onto ``dst`` samples.

    A triangle (bilinear) kernel, widened by the scale factor when shrinking so every source pixel contributes
    (antialiasing, like Pillow's BILINEAR). Rows sum to 1 except where the interval leaves the source, whose
    outside is treated as zeros.

    Args:
        src: source length.
        dst: output length.
        start: source coordinate (in pixels) of the output's left edge.
        stop: source coordinate of the output's right edge; ``src`` when omitted.
    """
    stop = float(src) if stop is None else float(stop)
    scale = (stop - start) / dst
    support = max(scale, 1.0)
    centres = start + (np.arange(dst) + 0.5) * scale  # [dst] in source pixel units
    x = np.arange(src) + 0.5  # [src] source pixel centres
    w = np.maximum(0.0, 1.0 - np.abs(x[None, :] - centres[:, None]) / support)  # [dst, src]
    total = w.sum(1, keepdims=True)
    return (w / np.where(total > 0, total, 1.0)).astype(np.float32)


_cached_matrix = functools.lru_cache(maxsize=128)(_resample_matrix)
