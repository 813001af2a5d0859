"""Horizontal part pooling: each feature map is cut into horizontal bins, each bin pooled to one vector."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = ["GeMHPP", "HorizontalPoolingPyramid"]


def _bins(x: Tensor, b: int) -> Tensor:
    n, c, h, w = x.shape
    if h % b:
        raise ValueError(f"feature height {h} cannot be cut into {b} horizontal bins")
    return x.reshape(n, c, b, (h // b) * w)  # [n, c, b, h/b * w]


class HorizontalPoolingPyramid(nn.Module):
    """Max + mean pooling over each of ``b`` horizontal bins, for every ``b`` in ``bin_num``.

    ``[n, c, h, w] -> [n, c, sum(bin_num)]``. No parameters.
    """

    def __init__(self, bin_num: Sequence[int] = (16, 8, 4, 2, 1)) -> None:
        super().__init__()
        self.bin_num = tuple(int(b) for b in bin_num)

    def forward(self, x: Tensor) -> Tensor:
        feats = []
        for b in self.bin_num:
            z = _bins(x, b)
            feats.append(z.mean(-1) + z.max(-1)[0])  # [n, c, b]
        return torch.cat(feats, dim=-1)


class GeMHPP(nn.Module):
    """Generalised-mean pooling over horizontal bins (GaitGL): ``(mean(clamp(x, eps)^p))^(1/p)`` per bin.

    ``p`` is one learnable scalar (attribute ``p``, shape ``[1]``). ``[n, c, h, w] -> [n, c, sum(bin_num)]``.
    The power runs in float32 even under autocast: ``x^6.5`` overflows fp16 for activations above ~5.5.

    Args:
        bin_num: numbers of horizontal bins.
        p: initial exponent.
        eps: lower clamp before the power.
    """

    def __init__(self, bin_num: Sequence[int] = (64,), p: float = 6.5, eps: float = 1.0e-6) -> None:
        super().__init__()
        self.bin_num = tuple(int(b) for b in bin_num)
        self.p = nn.Parameter(torch.ones(1) * p)
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        p = self.p.float()
        feats = []
        for b in self.bin_num:
            z = _bins(x.float(), b)
            feats.append(z.clamp(min=self.eps).pow(p).mean(-1).pow(1.0 / p))  # [n, c, b]
        return torch.cat(feats, dim=-1).to(x.dtype)  # [n, c, p]
