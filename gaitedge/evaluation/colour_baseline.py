"""A colour-only baseline: how well does a sequence's mean clothing colour alone identify people?

Each sequence becomes six numbers, the mean RGB of its silhouette pixels in the upper and in the lower half of the
person, and is matched by nearest neighbour under the CASIA-B protocol. No training, no shape, no motion. A
recogniser trained end to end from RGB can do at least this well by reading colour, so this number bounds what
"identity from clothing" is worth on a dataset; the recolour probes (``RC``) of SynthGait, which keep the walk and
change the clothes, should fall to chance here.
"""

from __future__ import annotations

import logging
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from gaitedge.evaluation.protocols import CASIA_B_GALLERY, casia_b_protocol

__all__ = ["colour_features", "colour_embeddings", "colour_baseline"]

log = logging.getLogger(__name__)

_CONDITION_ORDER = ("nm", "bg", "cl", "rc")


def colour_features(rgbs: np.ndarray, sils: np.ndarray) -> np.ndarray:
    """Mean colour of the upper and lower half of the person, over all frames of one sequence.

    In every frame, the person spans the rows from its first to its last silhouette row; rows in the first half of
    that span (``row - first < (last - first + 1) / 2``) are the upper half, the rest the lower half. Silhouette
    pixels of all frames are pooled per half (frames with more person pixels weigh more).

    Args:
        rgbs: uint8 ``[n, 3, H, W]``.
        sils: ``[n, H, W]``, uint8 0/255 (a pixel belongs to the person when > 127) or bool.

    Returns:
        float64 ``[6]``: upper-half R, G, B then lower-half R, G, B, scaled to 0..1. A half with no pixel (only when
        every non-empty frame is a single row tall) takes the other half's mean.

    Raises:
        ValueError: on mismatched shapes, or when no frame has a silhouette pixel.
    """
    rgbs = np.asarray(rgbs)
    sils = np.asarray(sils)
    if rgbs.ndim != 4 or rgbs.shape[1] != 3:
        raise ValueError(f"rgbs must be [n, 3, H, W], got shape {rgbs.shape}")
    if sils.shape != (rgbs.shape[0], *rgbs.shape[2:]):
        raise ValueError(f"sils must be [n, H, W] matching rgbs {rgbs.shape}, got shape {sils.shape}")
    if rgbs.dtype != np.uint8:
        raise TypeError(f"rgbs must be uint8, got {rgbs.dtype}")
    if sils.dtype == np.bool_:
        person = sils
    elif sils.dtype == np.uint8:
        person = sils > 127
    else:
        raise TypeError(f"sils must be uint8 (0/255) or bool, got {sils.dtype}")
    n, _, h, _ = rgbs.shape
    rows = person.any(2)  # [n, H]
    if not rows.any():
        raise ValueError("no silhouette pixel in any frame: the colour of an absent person is undefined")
    first = rows.argmax(1)  # [n]
    last = h - 1 - rows[:, ::-1].argmax(1)  # [n]
    offset = np.arange(h)[None] - first[:, None]  # [n, H]
    upper_rows = 2 * offset < (last - first + 1)[:, None]  # [n, H]
    # Label every pixel 0 (background), 1 (upper half) or 2 (lower half), then sum each channel per label.
    label = np.where(person, np.where(upper_rows[:, :, None], 1, 2), 0).ravel()  # [n·H·W]
    counts = np.bincount(label, minlength=3)[1:].astype(np.float64)  # [2]
    sums = np.stack(
        [np.bincount(label, weights=rgbs[:, c].ravel(), minlength=3)[1:] for c in range(3)], 1
    )  # [2 halves, 3 channels]
    if counts.min() == 0:
        full = counts.argmax()
        sums[1 - full], counts[1 - full] = sums[full], counts[full]
    return (sums / counts[:, None] / 255.0).reshape(6)  # [6]


def _is_synth(data) -> bool:
    return all(hasattr(data, a) for a in ("sequence", "keys", "partition", "protocols"))


def colour_embeddings(
    data, test_ids: Sequence[str] | None = None, types: Sequence[str] | None = None
) -> tuple[torch.Tensor, list[str], list[str], list[str]]:
    """Colour features of a test set, as protocol embeddings.

    Args:
        data: a ``SynthGait`` or an iterable of ``((id, type, view), {"rgbs", "sils", ...})``.
        test_ids: ids to keep; for a ``SynthGait`` the default is its ``partition()["TEST_SET"]`` (the last 40 %),
            for an iterable every id.
        types: sequence types to keep (all when None). A ``SynthGait`` renders only the kept sequences.

    Returns:
        ``(embeddings float32 [n, 6, 1], ids, types, views)``, one row per kept sequence.
    """
    keep_ids = None if test_ids is None else {str(i) for i in test_ids}
    keep_types = None if types is None else {str(t).lower() for t in types}
    if _is_synth(data):
        if keep_ids is None:
            keep_ids = set(data.partition()["TEST_SET"])
        keys = [k for k in data.keys() if k[0] in keep_ids and (keep_types is None or k[1] in keep_types)]
        items = ((k, data.sequence(*k)) for k in keys)
    else:
        items = data
    feats, ids, seq_types, views = [], [], [], []
    for (sid, typ, view), arrays in items:
        if keep_ids is not None and str(sid) not in keep_ids:
            continue
        if keep_types is not None and str(typ).lower() not in keep_types:
            continue
        feats.append(colour_features(arrays["rgbs"], arrays["sils"]))
        ids.append(str(sid))
        seq_types.append(str(typ))
        views.append(str(view))
    if not feats:
        raise ValueError("no test sequence: check test_ids and the gallery / probe types")
    emb = torch.from_numpy(np.stack(feats).astype(np.float32))[:, :, None]  # [n, 6, 1]
    return emb, ids, seq_types, views


def _probe_sets(types: Iterable[str], gallery_types: Sequence[str]) -> dict[str, list[str]]:
    """``{"NM": [...], "BG": [...], "CL": [...], "RC": [...]}`` from the types present, gallery types excluded."""
    gallery = {t.lower() for t in gallery_types}
    groups: dict[str, list[str]] = {}
    for t in sorted({t.lower() for t in types} - gallery):
        groups.setdefault(t.split("-")[0], []).append(t)
    order = sorted(groups, key=lambda c: (_CONDITION_ORDER.index(c) if c in _CONDITION_ORDER else 99, c))
    return {c.upper(): groups[c] for c in order}


def colour_baseline(
    data,
    test_ids: Sequence[str] | None = None,
    *,
    gallery_types: Sequence[str] | None = None,
    probe_sets: Mapping[str, Sequence[str]] | None = None,
    metric: str = "euc",
) -> dict:
    """CASIA-B protocol result of the colour-only nearest neighbour (see :func:`colour_features`).

    Args:
        data: a ``SynthGait`` (only the test ids' gallery and probe sequences are rendered) or an iterable of
            ``((id, type, view), {"rgbs", "sils", ...})``.
        test_ids: the test split's ids (default: a ``SynthGait``'s ``TEST_SET``; every id of an iterable).
        gallery_types: default: a ``SynthGait``'s CASIA-B gallery (NM#01-04), else ``CASIA_B_GALLERY``.
        probe_sets: ``{condition: types}``; default: a ``SynthGait``'s CASIA-B probes (NM, BG, CL and RC when it has
            them), else every non-gallery type present, grouped by its prefix (``"rc-01"`` → ``"RC"``).
        metric: ``"euc"`` or ``"cos"``.

    Returns:
        :func:`gaitedge.evaluation.protocols.casia_b_protocol`'s dict (rank-1 in %; chance is 100 / #test ids).
    """
    synth = _is_synth(data)
    if synth:
        proto = data.protocols()["casia-b"]
        gallery_types = list(proto["gallery"]) if gallery_types is None else list(gallery_types)
        probe_sets = dict(proto["probes"]) if probe_sets is None else dict(probe_sets)
    gallery_types = list(CASIA_B_GALLERY) if gallery_types is None else list(gallery_types)
    wanted = None if probe_sets is None else gallery_types + [t for ts in probe_sets.values() for t in ts]
    emb, ids, types, views = colour_embeddings(data, test_ids, wanted)
    if probe_sets is None:
        probe_sets = _probe_sets(types, gallery_types)
    log.info("colour baseline: %d sequences of %d ids, probes %s", len(ids), len(set(ids)), sorted(probe_sets))
    return casia_b_protocol(emb, ids, types, views, gallery_types=gallery_types, probe_sets=probe_sets, metric=metric)
