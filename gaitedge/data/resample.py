"""Separable image resampling in numpy (antialiased bilinear), so pretreatment needs no OpenCV or Pillow."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["resize", "resample_matrix"]


@functools.lru_cache(maxsize=512)
def resample_matrix(src: int, dst: int, start: float = 0.0, stop: float | None = None) -> np.ndarray:
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


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``[H, W]`` or ``[H, W, C]`` to ``[height, width(, C)]`` (antialiased bilinear), float32 output."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image must be a non-empty [H, W] or [H, W, C] array, got shape {img.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"output size must be positive, got {height}×{width}")
    wy = resample_matrix(img.shape[0], int(height))
    wx = resample_matrix(img.shape[1], int(width))
    out = np.tensordot(wy, img, axes=(1, 0))  # [height, W, (C)]
    out = np.tensordot(wx, out, axes=(1, 1))  # [width, height, (C)]
    return np.swapaxes(out, 0, 1).astype(np.float32)
