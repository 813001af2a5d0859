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

__all__ = [
    "CASIA_B_GALLERY", "CASIA_B_PROBES", "MEAN_CONDITIONS", "casia_b_protocol", "ttg_protocol", "nanmean",
]

CASIA_B_GALLERY = ("nm-01", "nm-02", "nm-03", "nm-04")
CASIA_B_PROBES = {
    "NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02"),
    "RC": ("rc-01", "rc-02"),  # NM#05-06 re-rendered in a new outfit; only in the synthetic data
}
#: The conditions averaged into ``summary["mean"]``; others (RC) are reported on their own.
MEAN_CONDITIONS = ("NM", "BG", "CL")


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


def _mean_conditions(conditions: Sequence[str]) -> list[str]:
    """The conditions that enter ``"mean"``: those among :data:`MEAN_CONDITIONS`, or all of them if there are none."""
    core = [c for c in conditions if c in MEAN_CONDITIONS]
    return core if core else list(conditions)


def _rank1_hits(dist: torch.Tensor, probe_labels: np.ndarray, gallery_labels: np.ndarray) -> np.ndarray:
    """Per probe, whether its nearest gallery entry (ties broken by gallery order) has its label.

    Args:
        dist (Tensor[n, m]): probe-to-gallery distances, ``m >= 1``.

    Returns:
        ndarray[n] of bool.
    """
    nearest = torch.argsort(dist.detach().cpu().double(), dim=1, stable=True)[:, 0].numpy()  # [n]
    return gallery_labels[nearest] == probe_labels


def _nanmean_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmean`` along ``axis`` without the empty-slice warning: NaN where a slice has no finite value."""
    finite = np.isfinite(x)
    count = finite.sum(axis)
    total = np.where(finite, x, 0.0).sum(axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def casia_b_protocol(
    embeddings: torch.Tensor,
    ids: Sequence[str],
    types: Sequence[str],
    views: Sequence[str],
    gallery_types: Sequence[str] = CASIA_B_GALLERY,
    probe_sets: Mapping[str, Sequence[str]] = CASIA_B_PROBES,
    metric: str = "euc",
) -> dict:
    """CASIA-B single-view-gallery protocol, identical views excluded, with per-subject scores.

    For every condition (NM/BG/CL/RC), probe view ``v1`` and gallery view ``v2``, rank-1 accuracy is the percentage
    of probes at ``v1`` whose nearest gallery sequence at ``v2`` has the same id. Per probe view, the accuracies over
    gallery views ``v2 != v1`` are averaged; the condition's score is the mean over probe views. Cells with no probe
    or no gallery sequence are NaN and skipped in the averages.

    ``"mean"`` is the mean over the conditions among :data:`MEAN_CONDITIONS` (NM, BG, CL); only when ``probe_sets``
    has none of them is it the mean over all its conditions. Those conditions are always reported (NaN when none of
    their probe types occurs); any other condition (such as RC) is left out of every output entirely when none of
    its probe types occurs, so a dataset without recoloured walks gives the same keys as before RC existed.

    ``per_subject[cond][sid]`` is the condition's score computed from subject ``sid``'s probes alone: a probe's hit
    is still decided against the whole gallery at ``v2`` (every subject), then the subject's hit rate per cell is
    averaged over ``v2 != v1`` and over ``v1`` exactly as above. ``per_subject["mean"][sid]`` is the mean of the
    subject's scores over the conditions entering ``"mean"`` that it has. In a balanced design (every subject has
    the same number of probes in every ``(v1, v2)`` cell, as in CASIA-B), the mean over subjects of
    ``per_subject[cond]`` equals ``summary[cond]``; otherwise the two weigh probes differently and may differ.

    Args:
        embeddings (Tensor[n, c, p]): one embedding per test sequence.
        ids, types, views: per-sequence subject id, sequence type (``"nm-05"``; compared case-insensitively) and view.
        gallery_types: types forming the gallery (NM#01-04).
        probe_sets: ``{condition: types}`` (NM#05-06, BG#01-02, CL#01-02, RC#01-02).
        metric: ``"euc"`` or ``"cos"``, per part then averaged over parts, in fp32.

    Returns:
        dict: ``{"views": [...], "table": {cond: [[acc[v1][v2]]]}, "per_view": {cond: [acc per probe view]},
        "summary": {cond: acc, ..., "mean": acc}, "per_subject": {cond: {sid: acc}, ..., "mean": {sid: acc}}}``
        (all in %; subject ids as strings, sorted).
    """
    _check_meta(embeddings, ids=ids, types=types, views=views)
    ids_a = np.asarray([str(i) for i in ids])
    types_a = np.asarray([str(t).lower() for t in types])
    views_a = np.asarray([str(v) for v in views])
    view_list = sorted(set(views_a.tolist()), key=_view_key)
    n_views = len(view_list)
    gal_mask = np.isin(types_a, [t.lower() for t in gallery_types])
    if not gal_mask.any():
        raise ValueError(f"no gallery sequences: none of the types is in gallery_types={list(gallery_types)}")
    gal_idx = np.nonzero(gal_mask)[0]
    gal_ids, gal_views = ids_a[gal_idx], views_a[gal_idx]
    mean_conds = _mean_conditions(list(probe_sets))
    off_diag = ~np.eye(n_views, dtype=bool)  # [V, V]: the cells with v1 != v2
    table: dict[str, list[list[float]]] = {}
    per_view: dict[str, list[float]] = {}
    summary: dict[str, float] = {}
    per_subject: dict[str, dict[str, float]] = {}
    for cond, ptypes in probe_sets.items():
        probe_idx = np.nonzero(np.isin(types_a, [t.lower() for t in ptypes]))[0]
        if len(probe_idx) == 0 and cond not in mean_conds:
            continue
        probe_ids, probe_views = ids_a[probe_idx], views_a[probe_idx]
        subjects = sorted(set(probe_ids.tolist()))
        pos = {s: k for k, s in enumerate(subjects)}
        subj_of_probe = np.asarray([pos[s] for s in probe_ids.tolist()], dtype=np.int64)  # [n_probe]
        subj_rates = np.full((len(subjects), n_views, n_views), np.nan)  # [S, V, V]: hit rate in % per cell
        dist = part_distance(embeddings[probe_idx], embeddings[gal_idx], metric=metric)  # [n_probe, n_gallery]
        rows = []
        for i, v1 in enumerate(view_list):
            pm = np.nonzero(probe_views == v1)[0]
            row = []
            for j, v2 in enumerate(view_list):
                gm = np.nonzero(gal_views == v2)[0]
                if len(pm) == 0 or len(gm) == 0:
                    row.append(float("nan"))
                    continue
                sub = dist[torch.from_numpy(pm)][:, torch.from_numpy(gm)]  # [n_pm, n_gm]
                hits = _rank1_hits(sub, probe_ids[pm], gal_ids[gm])  # [n_pm]
                row.append(float(hits.mean() * 100.0))
                n_hit = np.bincount(subj_of_probe[pm], weights=hits.astype(np.float64),
                                    minlength=len(subjects))  # [S]
                n_probe = np.bincount(subj_of_probe[pm], minlength=len(subjects))  # [S]
                subj_rates[:, i, j] = np.where(n_probe > 0, 100.0 * n_hit / np.maximum(n_probe, 1), np.nan)
            rows.append(row)
        table[cond] = rows
        per_view[cond] = [nanmean([r for j, r in enumerate(row) if j != i]) for i, row in enumerate(rows)]
        summary[cond] = nanmean(per_view[cond])
        subj_per_view = _nanmean_axis(np.where(off_diag, subj_rates, np.nan), axis=2)  # [S, V]
        subj_score = _nanmean_axis(subj_per_view, axis=1)  # [S]
        per_subject[cond] = {s: float(v) for s, v in zip(subjects, subj_score)}
    summary["mean"] = nanmean([summary[c] for c in mean_conds])
    mean_subjects = sorted({s for c in mean_conds for s in per_subject.get(c, {})})
    per_subject["mean"] = {s: nanmean([per_subject[c][s] for c in mean_conds if s in per_subject.get(c, {})])
                           for s in mean_subjects}
    return {"views": view_list, "table": table, "per_view": per_view, "summary": summary,
            "per_subject": per_subject}


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
