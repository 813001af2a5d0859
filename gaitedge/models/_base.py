"""Shared model plumbing: the batch/output contract, input validation and OpenGait's initialisation."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from .layers.sequence import seq_lengths

__all__ = ["GaitModel", "init_opengait_", "check_seqL", "output_dict", "to_channels_last_"]

Batch = Mapping[str, Optional[Tensor]]


def init_opengait_(module: nn.Module) -> None:
    """OpenGait's initialisation: Xavier-uniform conv/linear weights, zero biases, BN weight ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def to_channels_last_(module: nn.Module) -> nn.Module:
    """Put 4-D weights (Conv2d) in ``channels_last`` and 5-D weights (Conv3d) in ``channels_last_3d``, in place.

    oneDNN (CPU) and cuDNN then run those convolutions, and what follows them, channels-last, which is faster for
    the narrow layers here (docs/performance-log.md). ``Module.to(memory_format=...)`` refuses a model holding both
    ranks. The numbers change by float re-association only. Loading a state dict afterwards keeps the layout.
    """
    for p in module.parameters():
        if p.dim() == 4:
            p.data = p.data.contiguous(memory_format=torch.channels_last)
        elif p.dim() == 5:
            p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
    return module


def output_dict(
    training_feat: Dict[str, Dict[str, Any]],
    embeddings: Optional[Tensor],
    visual_summary: Dict[str, Tensor],
    **inference,
) -> Dict[str, Dict[str, Any]]:
    """The output contract: ``{"training_feat", "inference_feat", "visual_summary"}``."""
    inf = {"embeddings": embeddings} if embeddings is not None else {}
    inf.update(inference)
    return {"training_feat": training_feat, "inference_feat": inf, "visual_summary": visual_summary}


def check_seqL(seqL: Optional[Tensor], frames: Tensor, name: str) -> Optional[List[int]]:
    """Validate ``seqL`` against a modality ``[n, s, ...]``; return the lengths as a list (or None)."""
    lengths = seq_lengths(seqL)
    if lengths is None:
        return None
    if frames.shape[0] != 1:
        raise ValueError(f"with seqL, {name!r} must have leading shape [1, sum(seqL), ...]; got {tuple(frames.shape)}")
    if not lengths or min(lengths) <= 0:
        raise ValueError(f"seqL must hold positive frame counts; got {lengths}")
    if sum(lengths) != frames.shape[1]:
        raise ValueError(f"seqL sums to {sum(lengths)} but {name!r} has {frames.shape[1]} frames")
    return lengths


class GaitModel(nn.Module):
    """Base class of the models here: ``forward(batch) -> output dict`` (see docs/models.md).

    Subclasses declare ``input_keys`` (the modalities they read from the batch).
    """

    input_keys: Tuple[str, ...] = ()

    def _get(self, batch: Batch, key: str, ndim: int, shape_doc: str) -> Tensor:
        """``batch[key]`` checked to be a non-empty floating tensor with ``ndim`` dims."""
        if not isinstance(batch, Mapping):
            raise TypeError(f"{type(self).__name__} expects a batch dict, got {type(batch).__name__}")
        x = batch.get(key)
        if x is None:
            raise ValueError(f"{type(self).__name__} needs batch[{key!r}] ({shape_doc}); keys present: {sorted(batch)}")
        if not isinstance(x, Tensor):
            raise TypeError(f"batch[{key!r}] must be a Tensor, got {type(x).__name__}")
        if x.dim() != ndim:
            raise ValueError(f"batch[{key!r}] must be {shape_doc}; got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"batch[{key!r}] must be floating point; got {x.dtype}")
        if x.numel() == 0:
            raise ValueError(f"batch[{key!r}] is empty (shape {tuple(x.shape)})")
        return x

    @staticmethod
    def _labels(batch: Batch) -> Optional[Tensor]:
        return batch.get("labels") if isinstance(batch, Mapping) else None

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (only those with ``requires_grad`` if ``trainable_only``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    @staticmethod
    def _check_finite(x: Tensor, name: str) -> None:
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains NaN or Inf")

    @torch.no_grad()
    def _embed_silhouettes(self, aligned_sils: Tensor, seqL: Optional[Tensor] = None) -> Tensor:
        """Inference embeddings ``[n, c, parts]`` of a silhouette recogniser, for ``[n, s, H, W]`` silhouettes or
        one sequence ``[s, H, W]``; runs in eval mode (restoring the previous mode) under ``no_grad``."""
        if aligned_sils.dim() == 3:
            aligned_sils = aligned_sils.unsqueeze(0)  # [1, s, H, W]
        self._check_finite(aligned_sils, "aligned_sils")
        was_training = self.training
        self.eval()
        try:
            return self({"aligned_sils": aligned_sils, "seqL": seqL})["inference_feat"]["embeddings"]
        finally:
            self.train(was_training)
