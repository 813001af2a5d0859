"""Scanline rasteriser for 2-D capsules, vectorised over frames.

A capsule (all points within ``r`` of a segment ``AB``) is convex, so every image row cuts it in one interval.
The rasteriser computes those intervals analytically (``[N, P, R]`` small arrays), turns them into a per-pixel
bitmask of covering primitives with one ``bincount`` + ``cumsum`` per image (difference-array trick), and takes
the highest set bit as the visible primitive. Bits are depth ranks, so the highest bit is the nearest primitive.
The cost per frame is O(P·R + R·W) instead of the O(P·R·W) of evaluating a distance field per pixel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["capsule_row_spans", "rasterise", "MAX_PRIMITIVES"]

# Sums of distinct powers of two stay exact in a float32 mantissa (24 bits), which the top-bit trick needs.
MAX_PRIMITIVES = 24


def capsule_row_spans(a: np.ndarray, b: np.ndarray, r: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal extent of each capsule on each row.

    Args:
        a: ``[N, P, 2]`` first endpoints (x, y).
        b: ``[N, P, 2]`` second endpoints (x, y).
        r: ``[N, P]`` radii; a negative radius marks an absent primitive (always empty).
        ys: ``[N, R]`` y coordinate of each row centre.

    Returns:
        ``(lo, hi)``, each float32 ``[N, P, R]``: the covered x interval; NaN (or ``lo > hi``) where the row misses.
    """
    f32 = np.float32
    a = a.astype(f32)
    b = b.astype(f32)
    r = r.astype(f32)
    ax, ay = a[..., 0], a[..., 1]  # [N, P]
    dx, dy = b[..., 0] - ax, b[..., 1] - ay
    length = np.sqrt(dx * dx + dy * dy)
    inv = 1.0 / np.maximum(length, f32(1e-12))
    eps = f32(1e-6)
    # Unit axis u with components pushed away from 0: a row parallel to a constraint then yields an interval that is
    # either astronomically wide (constraint holds) or astronomically far (it fails), so no special case is needed.
    ux = dx * inv
    uy = dy * inv
    ux = np.where(np.abs(ux) < eps, eps, ux)
    uy = np.where(np.abs(uy) < eps, eps, uy)
    present = r >= 0
    r2 = np.where(present, r * r, f32(-1.0))
    # Per-primitive coefficients (cheap [N, P] work) so the [N, P, R] work is a few multiply-adds.
    alpha = (-uy / ux)[..., None]  # slab 0 <= (p - a)·u <= L: x - ax in ry·alpha + [0, beta]
    beta = np.where(length > 0, length / ux, f32(np.nan))[..., None]
    gamma = (ux / uy)[..., None]  # slab |(p - a)·n| <= r: x - ax in ry·gamma ± delta
    delta = (np.where(present, r, f32(np.nan)) / np.abs(uy))[..., None]
    y = ys.astype(f32)[:, None, :]  # [N, 1, R]
    ry = y - ay[..., None]  # [N, P, R]
    axr = ax[..., None]
    lo1 = axr + ry * alpha + np.minimum(beta, 0)
    hi1 = lo1 + np.abs(beta)
    c2 = axr + ry * gamma
    s_lo = np.maximum(lo1, c2 - delta)
    s_hi = np.minimum(hi1, c2 + delta)
    empty = ~(s_lo <= s_hi)
    s_lo[empty] = np.nan
    s_hi[empty] = np.nan
    r2 = r2[..., None]
    with np.errstate(invalid="ignore"):
        # End discs; sqrt of a negative gives NaN, which fmin/fmax skip.
        h_a = np.sqrt(r2 - ry * ry)
        ry_b = y - b[..., 1, None]
        h_b = np.sqrt(r2 - ry_b * ry_b)
    bx = b[..., 0, None]
    lo = np.fmin(np.fmin(axr - h_a, bx - h_b), s_lo)
    hi = np.fmax(np.fmax(axr + h_a, bx + h_b), s_hi)
    return lo, hi


def rasterise(
    a: np.ndarray,
    b: np.ndarray,
    r: np.ndarray,
    rank: np.ndarray,
    box: np.ndarray,
    height: int,
    width: int,
) -> np.ndarray:
    """Rasterise depth-ranked capsules into a grid spanning ``box`` (stretched to ``height × width``).

    Pixel ``(v, u)`` samples the point ``(x0 + (u + 0.5)·(x1 - x0)/width, y0 + (v + 0.5)·(y1 - y0)/height)``.

    Args:
        a: ``[N, P, 2]`` capsule first endpoints in frame coordinates (x right, y down).
        b: ``[N, P, 2]`` capsule second endpoints.
        r: ``[N, P]`` radii (negative: absent).
        rank: ``[N, P]`` int depth rank per primitive, a permutation of ``0..P-1`` per frame; higher is nearer.
        box: ``[N, 4]`` (x0, y0, x1, y1) region mapped onto the grid.
        height: output rows.
        width: output columns.

    Returns:
        ``[N, height, width]`` int32: the rank of the visible primitive, or -1 for background.
    """
    n, p = r.shape
    if p > MAX_PRIMITIVES:
        raise ValueError(f"rasterise supports at most {MAX_PRIMITIVES} primitives, got {p}")
    box = box.astype(np.float64)
    sy = (box[:, 3] - box[:, 1]) / height  # [N]
    sx = (box[:, 2] - box[:, 0]) / width
    ys = box[:, 1, None] + (np.arange(height) + 0.5) * sy[:, None]  # [N, R]
    lo, hi = capsule_row_spans(a, b, r, ys)  # [N, P, R]
    x0 = box[:, 0, None, None].astype(np.float32)
    inv_pitch = (1.0 / sx)[:, None, None].astype(np.float32)
    with np.errstate(invalid="ignore"):
        # Pixel u is covered when its centre x0 + (u + 0.5)·pitch lies in [lo, hi]; ends clamp to the grid and a
        # missed row (NaN) or empty span collapses to start == end, whose +bit/-bit cancel.
        c_lo = np.fmin(np.fmax(np.ceil((lo - x0) * inv_pitch - 0.5), 0), width)
        c_hi = np.fmin(np.fmax(np.floor((hi - x0) * inv_pitch - 0.5) + 1, c_lo), width)
    c_lo = c_lo.astype(np.int64)
    c_hi = c_hi.astype(np.int64)
    # Difference array per row with one extra column for exclusive ends: +bit at start, -bit at end.
    stride = width + 1
    row_base = (np.arange(n)[:, None, None] * height + np.arange(height)[None, None, :]) * stride  # [N, 1, R]
    bits = np.ldexp(1.0, rank)[:, :, None]  # [N, P, 1] float64, exact powers of two
    bits = np.broadcast_to(bits, c_lo.shape)
    idx = np.concatenate([(row_base + c_lo).ravel(), (row_base + c_hi).ravel()])
    val = np.concatenate([bits.ravel(), -bits.ravel()])
    diff = np.bincount(idx, weights=val, minlength=n * height * stride).astype(np.int32)
    mask = np.cumsum(diff.reshape(n, height, stride), axis=-1, dtype=np.int32)[..., :width]  # [N, R, W]
    # Highest set bit = float32 exponent of the (exact, < 2**24) integer; 0 maps to a negative value → -1.
    top = mask.astype(np.float32).view(np.int32)
    top >>= 23
    top -= 127
    return np.maximum(top, -1, out=top)
