"""Distances and retrieval metrics: per-part distance matrices, rank-k (CMC) accuracy, mAP.

Everything is computed in fp32 (or fp64 if given) regardless of the embeddings' dtype: expanding
``|x|^2 + |y|^2 - 2xy`` in fp16, as OpenGait's evaluator does with ``enable_float16``, loses precision.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["part_distance", "rank_k_accuracy", "mean_average_precision"]


def part_distance(x: torch.Tensor, y: torch.Tensor, metric: str = "euc", chunk: int = 1024) -> torch.Tensor:
    """Distance between every probe and gallery embedding, computed per part and averaged over parts.

    Args:
        x (Tensor[n, c, p]): probe embeddings.
        y (Tensor[m, c, p]): gallery embeddings.
        metric: ``"euc"`` (``sqrt(relu(|a|^2 + |b|^2 - 2 a.b))`` per part) or ``"cos"`` (1 - cosine per part).
        chunk: probes per block, to bound memory at ``chunk * m * p``.

    Returns:
        Tensor[n, m]: mean over parts of the per-part distance (fp32, or fp64 for fp64 inputs).
    """
    if x.dim() != 3 or y.dim() != 3:
        raise ValueError(f"embeddings must be [n, c, p]; got x {tuple(x.shape)}, y {tuple(y.shape)}")
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(f"probe {tuple(x.shape)} and gallery {tuple(y.shape)} embeddings differ in [c, p]")
    if metric not in ("euc", "cos"):
        raise ValueError(f"metric must be 'euc' or 'cos', got {metric!r}")
    dtype = torch.float64 if (x.dtype == torch.float64 or y.dtype == torch.float64) else torch.float32
    xp = x.to(dtype).permute(2, 0, 1)  # [p, n, c]
    yp = y.to(dtype).permute(2, 0, 1)  # [p, m, c]
    if metric == "cos":
        xp = torch.nn.functional.normalize(xp, dim=2)
        yp = torch.nn.functional.normalize(yp, dim=2)
    y2 = (yp * yp).sum(2).unsqueeze(1)  # [p, 1, m]
    out = []
    for i in range(0, xp.shape[1], chunk):
        xb = xp[:, i:i + chunk]  # [p, b, c]
        dot = torch.matmul(xb, yp.transpose(1, 2))  # [p, b, m]
        if metric == "cos":
            d = 1.0 - dot
        else:
            x2 = (xb * xb).sum(2).unsqueeze(2)  # [p, b, 1]
            d = torch.sqrt(torch.relu(x2 + y2 - 2.0 * dot))
        out.append(d.mean(0))  # [b, m]
    if not out:
        return torch.zeros(0, y.shape[0], dtype=dtype, device=x.device)
    return torch.cat(out, 0)


def _check_labels(dist: torch.Tensor, probe_labels: Sequence, gallery_labels: Sequence) -> tuple[np.ndarray, ...]:
    if dist.dim() != 2:
        raise ValueError(f"dist must be [n_probe, n_gallery], got {tuple(dist.shape)}")
    p = np.asarray(probe_labels)
    g = np.asarray(gallery_labels)
    if p.shape[0] != dist.shape[0] or g.shape[0] != dist.shape[1]:
        raise ValueError(
            f"dist {tuple(dist.shape)} does not match {p.shape[0]} probe and {g.shape[0]} gallery labels")
    return p, g


def rank_k_accuracy(dist: torch.Tensor, probe_labels: Sequence, gallery_labels: Sequence,
                    ks: Sequence[int] = (1,)) -> dict[int, float]:
    """Fraction (in %) of probes whose true identity is among the ``k`` nearest gallery entries.

    Ties are broken by gallery order (stable sort), as ``topk`` would. Returns NaN for every k when there are no
    probes or no gallery entries.

    Args:
        dist (Tensor[n, m]): probe-to-gallery distances (smaller is closer).
        probe_labels: ``n`` identity labels.
        gallery_labels: ``m`` identity labels.
        ks: ranks to report.

    Returns:
        dict[int, float]: ``{k: accuracy in %}``.
    """
    p, g = _check_labels(dist, probe_labels, gallery_labels)
    if dist.shape[0] == 0 or dist.shape[1] == 0:
        return {int(k): float("nan") for k in ks}
    order = torch.argsort(dist.detach().cpu().double(), dim=1, stable=True).numpy()  # [n, m]
    hits = g[order] == p[:, None]  # [n, m]
    first = np.where(hits.any(1), hits.argmax(1), np.iinfo(np.int64).max)  # rank (0-based) of first match
    return {int(k): float((first < k).mean() * 100.0) for k in ks}


def mean_average_precision(dist: torch.Tensor, probe_labels: Sequence, gallery_labels: Sequence) -> float:
    """Mean over probes of the average precision of the ranked gallery (in %).

    Probes without any true match in the gallery are skipped; NaN if none is left.
    """
    p, g = _check_labels(dist, probe_labels, gallery_labels)
    if dist.shape[0] == 0 or dist.shape[1] == 0:
        return float("nan")
    order = torch.argsort(dist.detach().cpu().double(), dim=1, stable=True).numpy()
    hits = (g[order] == p[:, None]).astype(np.float64)  # [n, m]
    n_rel = hits.sum(1)
    keep = n_rel > 0
    if not keep.any():
        return float("nan")
    hits = hits[keep]
    cum = np.cumsum(hits, 1)
    ranks = np.arange(1, hits.shape[1] + 1)
    ap = (hits * cum / ranks).sum(1) / n_rel[keep]
    return float(ap.mean() * 100.0)
