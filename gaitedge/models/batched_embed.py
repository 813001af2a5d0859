"""Embedding many RGB sequences fast: batched, under ``torch.inference_mode``, convolutions channels-last, and on a
CPU with the block cache.

``GaitEdge.embed`` on one sequence at a time leaves most of a CPU idle in the small convolutions of the U-Net and
GaitGL, and runs them in NCHW. :class:`BatchedEmbedder` keeps a private channels-last copy of the model in eval
mode and feeds it up to ``batch_size`` sequences of equal length and frame size per call; in eval mode every
sequence is computed on its own (BatchNorm uses running statistics, GaitGL pools each sequence), so the
embeddings are those of one-at-a-time calls up to float re-association (``benchmarks/bench_embed_batching.py``
checks it). On a CPU, a call runs inside :func:`gaitedge.block_cache.block_cache`, so the large buffers of one
batch reuse the memory of the batch before (the same bits).
"""

from __future__ import annotations

import copy
from typing import Dict, List, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..block_cache import block_cache
from ._base import to_channels_last_

__all__ = ["BatchedEmbedder"]


class BatchedEmbedder:
    """Embeds sequences with a frozen copy of a GaitEdge-style model (one with ``embed(rgbs, ratios, sils)``).

    Args:
        model: the trained model; it is copied (the caller's model is left as it is).
        batch_size: sequences per forward call (sequences of equal length and frame size share a call).
        channels_last: run the copy's convolutions channels-last (``to_channels_last_``; faster on CPU and GPU).
        cpu_block_cache: on a CPU model, reuse freed large blocks within a call (:mod:`gaitedge.block_cache`; the
            same embeddings, faster).

    Call with a sequence of ``{"rgbs": [s, 3, H, W], "ratios": [s]}`` mappings (``"sils"`` ``[s, H, W]`` too for
    ``mask_source="silhouette"``; ``rgbs`` uint8 0-255 or float ImageNet-normalised, as ``GaitEdge.embed``);
    returns ``[n, c, p]`` embeddings in input order.
    """

    def __init__(self, model: nn.Module, batch_size: int = 16, channels_last: bool = True,
                 cpu_block_cache: bool = True) -> None:
        if not callable(getattr(model, "embed", None)):
            raise TypeError(f"BatchedEmbedder needs a model with embed(rgbs, ratios, sils), got {type(model).__name__}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(cpu_block_cache, bool):
            raise TypeError(f"cpu_block_cache must be a bool, got {type(cpu_block_cache).__name__}")
        self.batch_size = batch_size
        self.cpu_block_cache = cpu_block_cache
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)
        if channels_last:
            to_channels_last_(self.model)

    def __call__(self, sequences: Sequence[Mapping[str, Tensor]]) -> Tensor:
        if len(sequences) == 0:
            raise ValueError("sequences is empty")
        groups: Dict[tuple, List[int]] = {}
        for i, seq in enumerate(sequences):
            if not isinstance(seq, Mapping) or not torch.is_tensor(seq.get("rgbs")) \
                    or not torch.is_tensor(seq.get("ratios")):
                raise TypeError(f"sequences[{i}] must be a mapping with tensors 'rgbs' [s, 3, H, W] and 'ratios' [s]")
            rgbs = seq["rgbs"]
            if rgbs.dim() != 4 or rgbs.shape[0] == 0:
                raise ValueError(f"sequences[{i}]['rgbs'] must be [s, 3, H, W] with s >= 1; got {tuple(rgbs.shape)}")
            key = (tuple(rgbs.shape), rgbs.dtype, seq.get("sils") is not None)
            groups.setdefault(key, []).append(i)
        out: List[Tensor | None] = [None] * len(sequences)
        on_cpu = all(p.device.type == "cpu" for p in self.model.parameters())
        with torch.inference_mode(), block_cache(self.cpu_block_cache and on_cpu):
            for idx in groups.values():
                for start in range(0, len(idx), self.batch_size):
                    part = idx[start:start + self.batch_size]
                    rgbs = torch.stack([sequences[i]["rgbs"] for i in part])  # [n, s, 3, H, W]
                    ratios = torch.stack([sequences[i]["ratios"].reshape(-1) for i in part])  # [n, s]
                    sils = (torch.stack([sequences[i]["sils"] for i in part])  # [n, s, H, W]
                            if sequences[part[0]].get("sils") is not None else None)
                    emb = self.model.embed(rgbs, ratios, sils)  # [n, c, p]
                    for j, i in enumerate(part):
                        out[i] = emb[j]
        return torch.stack(out)  # [n, c, p]
