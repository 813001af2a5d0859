"""Probe embeddings against a gallery: the ``k`` nearest gallery identities per probe, with distances, and rank-k
accuracy when the probes' identities are known. Distances and accuracy come from :mod:`gaitedge.evaluation.metrics`
(the evaluation protocol's own), nothing here re-implements them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gaitedge.evaluation.metrics import part_distance, rank_k_accuracy

from .embeddings import EmbeddingSet

__all__ = ["MatchResult", "match_embeddings"]


@dataclass
class MatchResult:
    """``ranked[i]``: the ``k`` nearest gallery rows of probe ``i`` as ``(gallery name, identity, distance)``,
    nearest first. ``accuracy``: ``{k: %}`` over the ``labelled`` probes whose identity the gallery holds (None
    when no probe's does)."""

    probes: list[str]
    probe_ids: list[str]
    ranked: list[list[tuple[str, str, float]]]
    accuracy: dict[int, float] | None
    labelled: int


def match_embeddings(gallery: EmbeddingSet, probe: EmbeddingSet, k: int = 5, metric: str = "euc",
                     ks: tuple[int, ...] = (1, 5)) -> MatchResult:
    """Rank the gallery for every probe by the evaluation package's part-averaged distance (``metric`` "euc" or
    "cos"). Ties keep gallery order."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(gallery.sequences) == 0:
        raise ValueError("the gallery holds no embedding")
    if gallery.embeddings.shape[1:] != probe.embeddings.shape[1:] and len(probe.sequences):
        raise ValueError(f"gallery embeddings {gallery.embeddings.shape[1:]} and probe embeddings "
                         f"{probe.embeddings.shape[1:]} differ in [c, p]: were they made by the same model?")
    dist = part_distance(torch.from_numpy(probe.embeddings), torch.from_numpy(gallery.embeddings), metric)  # [n, m]
    order = torch.argsort(dist.double(), dim=1, stable=True)[:, :k].numpy()  # [n, k]
    g_names, g_ids = gallery.names(), gallery.ids
    ranked = [[(g_names[j], g_ids[j], float(dist[i, j])) for j in row] for i, row in enumerate(order)]
    known = set(g_ids)
    rows = [i for i, pid in enumerate(probe.ids) if pid in known]
    accuracy = None
    if rows:
        accuracy = rank_k_accuracy(dist[rows], [probe.ids[i] for i in rows], g_ids, ks)
    return MatchResult(probe.names(), probe.ids, ranked, accuracy, len(rows))
