"""GaitPart (Fan et al., CVPR 2020): focal convolutions (FConv) on horizontal strips, per-frame horizontal
part pooling, and the Micro-motion Capture Module (MCM) per part. Published CASIA-B setting: conv 32-32,
FConv 64-64 (4 strips), FConv 128-128 (8 strips), 16 parts, 128-d per part, triplet loss only.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from ._base import Batch, GaitModel, check_seqL, init_opengait_, output_dict
from ._registry import register_model
from .layers import (
    BasicConv2d,
    FocalConv2d,
    HorizontalPoolingPyramid,
    SeparateFCs,
    SetBlock,
    TemporalFeatureAggregator,
    apply_per_sequence,
)

__all__ = ["GaitPart"]


class _FConvBackbone(nn.Module):
    """Frame-wise backbone at ``feature`` (OpenGait's ``Plain`` backbone layout)."""

    def __init__(self, channels: Sequence[int], halvings: Sequence[int]) -> None:
        super().__init__()
        c0, c1, c2 = channels
        act = lambda: nn.LeakyReLU(inplace=True)  # noqa: E731
        self.feature = nn.Sequential(
            BasicConv2d(1, c0, 5, 1, 2), act(),
            BasicConv2d(c0, c0, 3, 1, 1), act(),
            nn.MaxPool2d(2, 2),
            FocalConv2d(c0, c1, 3, halvings[0], padding=1), act(),
            FocalConv2d(c1, c1, 3, halvings[0], padding=1), act(),
            nn.MaxPool2d(2, 2),
            FocalConv2d(c1, c2, 3, halvings[1], padding=1), act(),
            FocalConv2d(c2, c2, 3, halvings[1], padding=1), act(),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.feature(x)  # [N, c2, H/4, W/4]


class GaitPart(GaitModel):
    """GaitPart recogniser on size-normalised silhouettes.

    Args:
        channels: widths of the three stages (conv, FConv, FConv).
        halvings: FConv strips are ``2**halving`` for stages 2 and 3 (the paper: 4 and 8 strips).
        parts: horizontal parts pooled per frame.
        hidden_dim: output width per part.
        squeeze: MCM attention bottleneck ratio.

    Input ``batch["aligned_sils"]`` ``[n, s, H, W]`` (``H`` a multiple of ``4 * max(parts, 2**halvings[1])``).
    Output embeddings ``[n, hidden_dim, parts]`` = ``[n, 128, 16]`` by default.
    Module names follow OpenGait (``Backbone.forward_block.feature``, ``TFA.pooling_func``, ``Head``).
    """

    input_keys = ("aligned_sils",)

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128),
        halvings: Sequence[int] = (2, 3),
        parts: int = 16,
        hidden_dim: int = 128,
        squeeze: int = 4,
    ) -> None:
        super().__init__()
        c = tuple(int(v) for v in channels)
        if len(c) != 3 or len(halvings) != 2:
            raise ValueError(f"channels needs 3 entries and halvings 2; got {c}, {tuple(halvings)}")
        self.parts, self.halvings = parts, tuple(halvings)
        self.Backbone = SetBlock(_FConvBackbone(c, self.halvings))
        self.HPP = HorizontalPoolingPyramid((parts,))
        self.TFA = nn.Module()
        self.TFA.pooling_func = TemporalFeatureAggregator(c[2], squeeze=squeeze, parts_num=parts)
        self.Head = SeparateFCs(parts, c[2], hidden_dim)
        init_opengait_(self)

    def forward(self, batch: Batch) -> Dict[str, Dict]:
        sils = self._get(batch, "aligned_sils", 4, "[n, s, H, W]")
        n, s, h, w = sils.shape
        step = 4 * max(self.parts, 2 ** max(self.halvings))
        if h % step or w < 4:
            raise ValueError(
                f"aligned_sils frames must have a height that is a multiple of {step} and width >= 4; got {h}x{w}"
            )
        lengths = check_seqL(batch.get("seqL"), sils, "aligned_sils")
        x = self.Backbone(sils.unsqueeze(1))  # [n, c, s, H/4, W/4]
        c = x.shape[1]
        parts = self.HPP(x.transpose(1, 2).reshape(n * s, c, *x.shape[-2:]))  # [n*s, c, p]
        parts = parts.reshape(n, s, c, self.parts).transpose(1, 2)  # [n, c, s, p]
        # the MCM convolves over time, so each sequence runs on its own
        feat = apply_per_sequence(self.TFA.pooling_func, parts, lengths, dim=2)  # [n', c, p]
        embs = self.Head(feat)  # [n', hidden, p]
        training = {"triplet": {"embeddings": embs, "labels": self._labels(batch)}}
        return output_dict(training, embs, {"image/sils": sils.reshape(n * s, 1, h, w)})

    @torch.no_grad()
    def embed(self, aligned_sils: Tensor, seqL: Optional[Tensor] = None) -> Tensor:
        """Embeddings ``[n, 128, 16]`` for ``[n, s, H, W]`` (or one ``[s, H, W]``) silhouettes, in eval mode."""
        return self._embed_silhouettes(aligned_sils, seqL)


@register_model("GaitPart")
def gaitpart(**kwargs) -> GaitPart:
    """GaitPart, CASIA-B setting (1,204,000 parameters; embeddings [n, 128, 16])."""
    return GaitPart(**kwargs)
