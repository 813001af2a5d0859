"""GaitSet (Chao et al., AAAI 2019): frame-wise CNN, set pooling (max over frames), multilayer global
pipeline and horizontal pyramid pooling. Published CASIA-B setting: channels 32-64-128, bins 16-8-4-2-1
(31 parts per map x 2 maps = 62 parts), 256-d per part, triplet loss only (no classifier).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from ._base import Batch, GaitModel, check_seqL, init_opengait_, output_dict
from ._registry import register_model
from .layers import BasicConv2d, HorizontalPoolingPyramid, SeparateFCs, SetBlock, temporal_max

__all__ = ["GaitSet"]


def _block(c_in: int, c_out: int, first_kernel: int, pool: bool) -> nn.Sequential:
    layers = [
        BasicConv2d(c_in, c_out, first_kernel, 1, first_kernel // 2),
        nn.LeakyReLU(inplace=True),
        BasicConv2d(c_out, c_out, 3, 1, 1),
        nn.LeakyReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class GaitSet(GaitModel):
    """GaitSet recogniser on size-normalised silhouettes.

    Args:
        channels: widths of the three conv blocks.
        hidden_dim: output width per part.
        bin_num: horizontal pyramid bins (parts = 2 * sum(bin_num)).

    Input ``batch["aligned_sils"]`` ``[n, s, H, W]`` (``H`` a multiple of ``4 * max(bin_num)``, e.g. 64x44).
    Output embeddings ``[n, hidden_dim, 2 * sum(bin_num)]`` = ``[n, 256, 62]`` by default.
    Module names follow OpenGait (``set_block1..3``, ``gl_block2/3``, ``Head``).
    """

    input_keys = ("aligned_sils",)

    def __init__(
        self, channels: Sequence[int] = (32, 64, 128), hidden_dim: int = 256, bin_num: Sequence[int] = (16, 8, 4, 2, 1)
    ) -> None:
        super().__init__()
        c = tuple(int(v) for v in channels)
        if len(c) != 3:
            raise ValueError(f"channels must have 3 entries, got {c}")
        self.bin_num = tuple(int(b) for b in bin_num)
        self.set_block1 = SetBlock(_block(1, c[0], 5, pool=True))
        self.set_block2 = SetBlock(_block(c[0], c[1], 3, pool=True))
        self.set_block3 = SetBlock(_block(c[1], c[2], 3, pool=False))
        self.gl_block2 = _block(c[0], c[1], 3, pool=True)
        self.gl_block3 = _block(c[1], c[2], 3, pool=False)
        self.HPP = HorizontalPoolingPyramid(self.bin_num)
        self.Head = SeparateFCs(2 * sum(self.bin_num), c[2], hidden_dim)
        init_opengait_(self)

    def forward(self, batch: Batch) -> Dict[str, Dict]:
        sils = self._get(batch, "aligned_sils", 4, "[n, s, H, W]")
        n, s, h, w = sils.shape
        step = 4 * max(self.bin_num)
        if h % step or w < 4:
            raise ValueError(
                f"aligned_sils frames must have a height that is a multiple of {step} and width >= 4; got {h}x{w}"
            )
        lengths = check_seqL(batch.get("seqL"), sils, "aligned_sils")
        x = self.set_block1(sils.unsqueeze(1))  # [n, c0, s, H/2, W/2]
        gl = self.gl_block2(temporal_max(x, lengths))  # [n', c1, H/4, W/4]
        x = self.set_block2(x)  # [n, c1, s, H/4, W/4]
        gl = self.gl_block3(gl + temporal_max(x, lengths))  # [n', c2, H/4, W/4]
        x = temporal_max(self.set_block3(x), lengths)  # [n', c2, H/4, W/4]
        gl = gl + x
        feature = torch.cat([self.HPP(x), self.HPP(gl)], dim=-1)  # [n', c2, 62]
        embs = self.Head(feature)  # [n', hidden, 62]
        training = {"triplet": {"embeddings": embs, "labels": self._labels(batch)}}
        return output_dict(training, embs, {"image/sils": sils.reshape(n * s, 1, h, w)})

    @torch.no_grad()
    def embed(self, aligned_sils: Tensor, seqL: Optional[Tensor] = None) -> Tensor:
        """Embeddings ``[n, 256, 62]`` for ``[n, s, H, W]`` (or one ``[s, H, W]``) silhouettes, in eval mode."""
        return self._embed_silhouettes(aligned_sils, seqL)


@register_model("GaitSet")
def gaitset(**kwargs) -> GaitSet:
    """GaitSet, CASIA-B setting (2,594,592 parameters; embeddings [n, 256, 62])."""
    return GaitSet(**kwargs)
