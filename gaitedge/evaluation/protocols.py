"""Gait recognition test protocols: CASIA-B's cross-view protocol and the TTG-200-style retrieval protocol.

Both take the embeddings of a whole test set plus per-sequence metadata (``ids``, ``types``, ``views``) and return
plain dicts of floats (rank-1 in %), ready for JSON.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

from gaitedge.evaluation.metrics import mean_average_precision, part_distance, rank_k_accuracy

__all__ = ["CASIA_B_GALLERY", "CASIA_B_PROBES", "casia_b_protocol", "ttg_protocol", "nanmean"]

CASIA_B_GALLERY = ("nm-01", "nm-02", "nm-03", "nm-04")
CASIA_B_PROBES = {"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")}


def nanmean(values: Sequence[float]) -> float:
    """Mean of the finite values; NaN if there are none."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(sum(vals) / len(vals)) if vals else float("nan")


def _check_meta(embeddings: torch.Tensor, **lists: Sequence) -> None:
    if embeddings.dim() != 3:
        raise ValueError(f"embeddings must be [n, c, p], got {tuple(embeddings.shape)}")
    n = embeddings.shape[0]
    for name, seq in lists.items():
        if len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries but there are {n} embeddings")


def _view_key(v: str):
    try:
        return (0, float(v))
    except ValueError:
        return (1, v)


def casia_b_protocol(
    embeddings: torch.Tensor,
    ids: Sequence[str],
    types: Sequence[str],
    views: Sequence[str],
    gallery_types: Sequence[str] = CASIA_B_GALLERY,
    probe_sets: Mapping[str, Sequence[str]] = CASIA_B_PROBES,
    metric: str = "euc",
) -> dict:
    """CASIA-B single-view-gallery protocol, identical views excluded.

    For every condition (NM/BG/CL), probe view ``v1`` and gallery view ``v2``, rank-1 accuracy is the percentage of
    probes at ``v1`` whose nearest gallery sequence at ``v2`` has the same id. Per probe view, the accuracies over
    gallery views ``v2 != v1`` are averaged; the condition's score is the mean over probe views; ``"mean"`` is the
    mean over conditions. Cells with no probe or no gallery sequence are NaN and skipped in the averages.

    Args:
        embeddings (Tensor[n, c, p]): one embedding per test sequence.
        ids, types, views: per-sequence subject id, sequence type (``"nm-05"``; compared case-insensitively) and view.
        gallery_types: types forming the gallery (NM#01-04).
        probe_sets: ``{condition: types}`` (NM#05-06, BG#01-02, CL#01-02).
        metric: ``"euc"`` or ``"cos"``, per part then averaged over parts, in fp32.

    Returns:
        dict: ``{"views": [...], "table": {cond: [[acc[v1][v2]]]}, "per_view": {cond: [acc per probe view]},
        "summary": {cond: acc, ..., "mean": acc}}``.
    """
    _check_meta(embeddings, ids=ids, types=types, views=views)
    ids_a = np.asarray([str(i) for i in ids])
    types_a = np.asarray([str(t).lower() for t in types])
    views_a = np.asarray([str(v) for v in views])
    view_list = sorted(set(views_a.tolist()), key=_view_key)
    gal_mask = np.isin(types_a, [t.lower() for t in gallery_types])
    if not gal_mask.any():
        raise ValueError(f"no gallery sequences: none of the types is in gallery_types={list(gallery_types)}")
    gal_idx = np.nonzero(gal_mask)[0]
    table: dict[str, list[list[float]]] = {}
    per_view: dict[str, list[float]] = {}
    summary: dict[str, float] = {}
    for cond, ptypes in probe_sets.items():
        probe_idx = np.nonzero(np.isin(types_a, [t.lower() for t in ptypes]))[0]
        dist = part_distance(embeddings[probe_idx], embeddings[gal_idx], metric=metric)  # [n_probe, n_gallery]
        rows = []
        for v1 in view_list:
            pm = views_a[probe_idx] == v1
            row = []
            for v2 in view_list:
                gm = views_a[gal_idx] == v2
                if not pm.any() or not gm.any():
                    row.append(float("nan"))
                    continue
                sub = dist[torch.from_numpy(np.nonzero(pm)[0])][:, torch.from_numpy(np.nonzero(gm)[0])]
                row.append(rank_k_accuracy(sub, ids_a[probe_idx][pm], ids_a[gal_idx][gm], ks=(1,))[1])
            rows.append(row)
        table[cond] = rows
        per_view[cond] = [nanmean([r for j, r in enumerate(row) if j != i]) for i, row in enumerate(rows)]
        summary[cond] = nanmean(per_view[cond])
    summary["mean"] = nanmean([summary[c] for c in probe_sets])
    return {"views": view_list, "table": table, "per_view": per_view, "summary": summary}


def ttg_protocol(
    embeddings: torch.Tensor,
    ids: Sequence[str],
    types: Sequence[str],
    gallery_types: Sequence[str] = ("1",),
    probe_types: Sequence[str] = ("2", "3", "4", "5", "6"),
    ks: Sequence[int] = (1, 5, 10, 20),
    metric: str = "euc",
) -> dict:
    """TTG-200-style retrieval protocol: gallery = sequence #1, probes = #2-6, views ignored (unlabelled).

    Returns:
        dict: ``{"rank": {k: acc}, "mAP": map, "per_type": {type: {"rank": {...}, "mAP": ...}}}`` (all in %).
    """
    _check_meta(embeddings, ids=ids, types=types)
    ids_a = np.asarray([str(i) for i in ids])
    types_a = np.asarray([str(t).lower() for t in types])
    gal_idx = np.nonzero(np.isin(types_a, [t.lower() for t in gallery_types]))[0]
    probe_idx = np.nonzero(np.isin(types_a, [t.lower() for t in probe_types]))[0]
    if len(gal_idx) == 0:
        raise ValueError(f"no gallery sequences: none of the types is in gallery_types={list(gallery_types)}")
    if len(probe_idx) == 0:
        raise ValueError(f"no probe sequences: none of the types is in probe_types={list(probe_types)}")
    dist = part_distance(embeddings[probe_idx], embeddings[gal_idx], metric=metric)
    pl, gl = ids_a[probe_idx], ids_a[gal_idx]
    out = {"rank": {str(k): v for k, v in rank_k_accuracy(dist, pl, gl, ks).items()},
           "mAP": mean_average_precision(dist, pl, gl), "per_type": {}}
    ptypes = types_a[probe_idx]
    for t in probe_types:
        m = ptypes == t.lower()
        if m.any():
            sub = dist[torch.from_numpy(np.nonzero(m)[0])]
            out["per_type"][t] = {"rank": {str(k): v for k, v in rank_k_accuracy(sub, pl[m], gl, ks).items()},
                                  "mAP": mean_average_precision(sub, pl[m], gl)}
    return out
