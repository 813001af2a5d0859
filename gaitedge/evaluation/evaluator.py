"""Evaluators with the ``reset / process / evaluate`` interface, and the inference loop that feeds them.

``process`` is called once per batch with the collate function's ``meta`` and the model's output dict. Under
``torch.distributed`` each rank processes its own slice of the test set and ``evaluate`` gathers the (small)
per-sequence results, so any number of processes and any batch size work.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterable, Mapping, Sequence

import torch

from gaitedge.evaluation.protocols import CASIA_B_GALLERY, CASIA_B_PROBES, casia_b_protocol, ttg_protocol
from gaitedge.distributed import all_gather_objects

__all__ = ["RecognitionEvaluator", "SegmentationEvaluator", "run_inference"]


class RecognitionEvaluator:
    """Collects per-sequence embeddings and runs a protocol over them.

    Args:
        protocol: ``"casia_b"`` or ``"ttg"``.
        metric: ``"euc"`` or ``"cos"``.
        gallery_types / probe_sets / probe_types: override the protocol's defaults.
    """

    def __init__(self, protocol: str = "casia_b", metric: str = "euc", gallery_types: Sequence[str] | None = None,
                 probe_sets: Mapping[str, Sequence[str]] | None = None,
                 probe_types: Sequence[str] | None = None) -> None:
        if protocol not in ("casia_b", "ttg"):
            raise ValueError(f"protocol must be 'casia_b' or 'ttg', got {protocol!r}")
        self.protocol = protocol
        self.metric = metric
        self.gallery_types = gallery_types
        self.probe_sets = probe_sets
        self.probe_types = probe_types
        self.reset()

    def reset(self) -> None:
        self._emb: list[torch.Tensor] = []
        self._meta: dict[str, list[str]] = {"ids": [], "types": [], "views": []}

    def process(self, meta: Mapping[str, Sequence[str]], outputs: Mapping) -> None:
        """Record one batch: ``outputs["inference_feat"]["embeddings"]`` is ``[n, c, p]``, ``meta`` has n entries."""
        emb = outputs["inference_feat"]["embeddings"].detach().float().cpu()  # [n, c, p]
        if emb.dim() != 3:
            raise ValueError(f"inference_feat['embeddings'] must be [n, c, p], got {tuple(emb.shape)}")
        for key in ("ids", "types", "views"):
            if len(meta[key]) != emb.shape[0]:
                raise ValueError(f"meta[{key!r}] has {len(meta[key])} entries for {emb.shape[0]} embeddings")
            self._meta[key].extend(str(x) for x in meta[key])
        if not torch.isfinite(emb).all():
            raise ValueError("model produced NaN/Inf embeddings")
        self._emb.append(emb)

    def evaluate(self) -> dict:
        local = (torch.cat(self._emb) if self._emb else None, self._meta)
        parts = all_gather_objects(local)
        embs = [e for e, _ in parts if e is not None]
        if not embs:
            raise ValueError("evaluate() called before any batch was processed")
        emb = torch.cat(embs)
        meta = {k: sum((m[k] for _, m in parts), []) for k in ("ids", "types", "views")}
        if self.protocol == "casia_b":
            return casia_b_protocol(
                emb, meta["ids"], meta["types"], meta["views"],
                gallery_types=self.gallery_types or CASIA_B_GALLERY, probe_sets=self.probe_sets or CASIA_B_PROBES,
                metric=self.metric)
        kw = {}
        if self.gallery_types:
            kw["gallery_types"] = self.gallery_types
        if self.probe_types:
            kw["probe_types"] = self.probe_types
        return ttg_protocol(emb, meta["ids"], meta["types"], metric=self.metric, **kw)


class SegmentationEvaluator:
    """Streaming mean IoU over frames: memory stays constant however many frames are processed.

    IoU is computed per frame for ``probs > threshold`` vs ``targets > 0.5``; a frame where both are empty counts 1.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = float(threshold)
        self.reset()

    def reset(self) -> None:
        self._sum = 0.0
        self._count = 0

    def process(self, meta: Mapping | None, outputs: Mapping) -> None:
        feat = outputs["inference_feat"]
        probs, targets = feat["probs"], feat["targets"]  # [N, 1, H, W] each
        if probs.shape != targets.shape:
            raise ValueError(f"probs {tuple(probs.shape)} and targets {tuple(targets.shape)} differ in shape")
        pred = (probs.detach() > self.threshold).flatten(1)  # [N, HW]
        gt = (targets.detach() > 0.5).flatten(1)
        inter = (pred & gt).sum(1).double()
        union = (pred | gt).sum(1).double()
        iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
        self._sum += float(iou.sum())
        self._count += int(iou.numel())

    def evaluate(self) -> dict:
        parts = all_gather_objects((self._sum, self._count))
        s = sum(p[0] for p in parts)
        c = sum(p[1] for p in parts)
        if c == 0:
            raise ValueError("evaluate() called before any frame was processed")
        return {"miou": 100.0 * s / c, "frames": c}


def run_inference(model: torch.nn.Module, loader: Iterable, evaluator, device: torch.device,
                  amp_dtype: torch.dtype | None = None, to_device: Callable | None = None,
                  progress: Callable[[int], None] | None = None,
                  extra_inputs: Callable[[Mapping, Mapping], Mapping] | None = None) -> dict:
    """Run ``model`` over ``loader`` in eval mode under ``torch.inference_mode`` and return
    ``evaluator.evaluate()``.

    Args:
        loader: yields ``(batch, meta)`` as the collate function of :mod:`gaitedge.data` returns.
        amp_dtype: autocast dtype or None for full precision (embeddings are cast to fp32 before distances).
        to_device: moves a batch dict to ``device`` (default: every tensor with ``non_blocking``).
        extra_inputs: ``(batch, meta) -> {key: tensor}`` added to each batch before the model sees it (inputs
            already computed elsewhere, such as a shared segmenter's masks).
    """
    was_training = model.training
    model.eval()
    evaluator.reset()
    move = to_device or (lambda b: {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v)
                                    for k, v in b.items()})
    ctx = (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext())
    t0 = time.perf_counter()
    n = 0
    try:
        with torch.inference_mode(), ctx:
            for batch, meta in loader:
                if extra_inputs is not None:
                    batch = dict(batch, **extra_inputs(batch, meta))
                out = model(move(batch))
                evaluator.process(meta, out)
                n += 1
                if progress is not None:
                    progress(n)
        result = evaluator.evaluate()
    finally:
        model.train(was_training)
    if isinstance(result, dict):
        result.setdefault("eval_seconds", time.perf_counter() - t0)
    return result
