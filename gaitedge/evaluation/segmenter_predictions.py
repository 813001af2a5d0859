"""A segmenter's masks on a test set, computed once and shared by everything that needs them.

In a study the phase-1 segmenter's masks ``P0 > 0.5`` on a test split serve twice: its mIoU, and the binary masks
``M`` of every frozen-mask GaitEdge initialised from it (``mask_source="frozen"``: the frozen copy holds the same
weights). :func:`predict_segmenter` runs the segmenter over the test loader once, batched and under
``torch.inference_mode``, and keeps per sequence the boolean mask and the per-frame IoU against the ground truth;
:meth:`SegmenterPredictions.miou` and :meth:`SegmenterPredictions.frozen_masks` then serve both uses without
running the U-Net again. Memory: one byte per pixel of the test split (plus eight per frame).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import torch

__all__ = ["SegmenterPredictions", "predict_segmenter", "same_weights"]

SequenceKey = tuple[str, str, str]  # (subject id, type, view), as the collate function's meta names a sequence


def _keys(meta: Mapping[str, Sequence]) -> list[SequenceKey]:
    return [(str(i), str(t), str(v)) for i, t, v in zip(meta["ids"], meta["types"], meta["views"])]


def _lengths(batch: Mapping, n_seq: int) -> list[int]:
    """Frames of each sequence in a test batch: ``[n, s, ...]`` (equal lengths) or ``[1, sum(seqL), ...]``."""
    rgbs = batch["rgbs"]
    seqL = batch.get("seqL")
    if seqL is not None:
        return [int(x) for x in torch.as_tensor(seqL).reshape(-1).tolist()]
    if rgbs.shape[0] != n_seq:
        raise ValueError(f"batch['rgbs'] holds {rgbs.shape[0]} sequences but meta names {n_seq}")
    return [int(rgbs.shape[1])] * n_seq


@dataclass
class SegmenterPredictions:
    """Per test sequence: the segmenter's mask ``probs > threshold`` (``[s, H, W]`` bool) and, where the ground
    truth was given, each frame's IoU against it (``[s]`` float64; a frame where both are empty counts 1, as
    :class:`gaitedge.evaluation.SegmentationEvaluator`)."""

    threshold: float
    masks: dict[SequenceKey, torch.Tensor] = field(default_factory=dict)
    ious: dict[SequenceKey, torch.Tensor] = field(default_factory=dict)
    seconds: float = 0.0

    def miou(self, types: Iterable[str] | None = None) -> dict:
        """``{"miou", "frames"}`` over the sequences whose type is in ``types`` (all when None), as
        :class:`gaitedge.evaluation.SegmentationEvaluator` reports it for a test split restricted to those types."""
        wanted = None if types is None else {str(t).lower() for t in types}
        picked = [v for (_, t, _), v in self.ious.items() if wanted is None or t.lower() in wanted]
        if not picked:
            raise ValueError(f"no sequence with ground truth among types {sorted(wanted or [])}")
        iou = torch.cat(picked)  # [frames]
        return {"miou": 100.0 * float(iou.sum()) / int(iou.numel()), "frames": int(iou.numel())}

    def frozen_masks(self, batch: Mapping, meta: Mapping[str, Sequence]) -> torch.Tensor:
        """The masks of a test batch's sequences in the batch's own layout: ``[n, s, H, W]`` bool, or
        ``[1, sum(seqL), H, W]`` for a batch of concatenated sequences (the layout of ``batch["rgbs"]``)."""
        keys = _keys(meta)
        missing = [k for k in keys if k not in self.masks]
        if missing:
            raise KeyError(f"no segmenter prediction for test sequence(s) {missing[:3]}")
        lengths = _lengths(batch, len(keys))
        parts = []
        for k, s in zip(keys, lengths):
            m = self.masks[k]  # [s_k, H, W]
            if m.shape[0] < s:
                raise ValueError(f"sequence {k}: {m.shape[0]} predicted frames for {s} in the batch")
            parts.append(m[:s])
        rgbs = batch["rgbs"]
        return torch.cat(parts).reshape(rgbs.shape[0], rgbs.shape[1], *parts[0].shape[1:])  # [n, s, H, W]


def predict_segmenter(model: torch.nn.Module, loader: Iterable, device: torch.device,
                      threshold: float = 0.5) -> SegmenterPredictions:
    """Run a segmenter (``inference_feat["probs"]`` ``[N, 1, H, W]``, as :class:`gaitedge.models.Segmentation`)
    over ``loader``'s ``(batch, meta)`` in eval mode under ``torch.inference_mode``; keep masks and per-frame IoUs.

    Each batch goes through the model as the loader built it, so the masks are exactly those a model that runs
    the same segmenter on the same batches computes.
    """
    was_training = model.training
    model.eval()
    out = SegmenterPredictions(float(threshold))
    t0 = time.perf_counter()
    try:
        with torch.inference_mode():
            for batch, meta in loader:
                keys = _keys(meta)
                lengths = _lengths(batch, len(keys))
                feat = model({k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()})
                feat = feat["inference_feat"]
                pred = (feat["probs"] > out.threshold).squeeze(1).cpu()  # [N, H, W]
                targets = feat.get("targets")
                iou = None
                if targets is not None:
                    p, g = pred.flatten(1), (targets.squeeze(1) > 0.5).cpu().flatten(1)  # [N, HW]
                    inter = (p & g).sum(1).double()
                    union = (p | g).sum(1).double()
                    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))  # [N]
                start = 0
                for k, s in zip(keys, lengths):
                    out.masks[k] = pred[start:start + s].clone()  # [s, H, W]
                    if iou is not None:
                        out.ious[k] = iou[start:start + s].clone()  # [s]
                    start += s
    finally:
        model.train(was_training)
    out.seconds = time.perf_counter() - t0
    return out


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Whether two modules hold equal state dicts (same keys, shapes, dtypes and values, buffers included)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].shape == sb[k].shape and sa[k].dtype == sb[k].dtype and torch.equal(sa[k].cpu(), sb[k].cpu())
        for k in sa)
