"""Bias-free convolutions used by the gait recognisers, named so state-dict keys match OpenGait.

``BasicConv{1,2,3}d`` wrap one bias-free convolution (attribute ``conv`` / ``conv3d``, as in OpenGait).
``GLConv`` (GaitGL) and ``FocalConv2d`` (GaitPart) apply a convolution to horizontal strips, each strip
zero-padded on its own; the strips are folded into the batch axis so that one convolution call does the work.
"""

from __future__ import annotations

from typing import Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BasicConv1d", "BasicConv2d", "BasicConv3d", "GLConv", "FocalConv2d", "strip_conv"]

_Size3 = Union[int, Tuple[int, int, int]]


class BasicConv1d(nn.Module):
    """``Conv1d`` without bias. ``[n, c_in, s] -> [n, c_out, s']``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=padding, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class BasicConv2d(nn.Module):
    """``Conv2d`` without bias. ``[n, c_in, h, w] -> [n, c_out, h', w']``."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class BasicConv3d(nn.Module):
    """``Conv3d`` without bias (attribute ``conv3d``). ``[n, c_in, s, h, w] -> [n, c_out, s', h', w']``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _Size3 = 3,
        stride: _Size3 = 1,
        padding: _Size3 = 1,
    ) -> None:
        super().__init__()
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3d(x)


def strip_conv(conv: nn.Module, x: Tensor, strips: int, h_dim: int) -> Tensor:
    """Apply ``conv`` to ``strips`` equal horizontal strips of ``x``, each zero-padded on its own.

    Equivalent to splitting along the height axis, convolving every strip and concatenating, but folds the
    strips into the batch axis so it is a single convolution call.

    Args:
        conv: a stride-1, size-preserving convolution module.
        x: ``[n, c, h, w]`` (``h_dim=2``) or ``[n, c, s, h, w]`` (``h_dim=3``); ``h`` divisible by ``strips``.
        strips: number of strips (``2**halving``).
        h_dim: index of the height axis.

    Returns:
        Tensor of the same layout as ``conv(x)``.
    """
    if strips == 1:
        return conv(x)
    h = x.shape[h_dim]
    if h % strips:
        raise ValueError(f"feature height {h} is not divisible into {strips} strips")
    n = x.shape[0]
    # [n, c, (s,) k, h/k, w] -> [k, n, c, (s,) h/k, w] -> [k*n, c, (s,) h/k, w]
    shape = list(x.shape)
    folded = x.reshape(*shape[:h_dim], strips, h // strips, *shape[h_dim + 1 :]).movedim(h_dim, 0)
    folded = folded.reshape(strips * n, *folded.shape[2:])
    y = conv(folded)  # [k*n, c', (s,) h/k, w]
    y = y.reshape(strips, n, *y.shape[1:]).movedim(0, h_dim)  # [n, c', (s,) k, h/k, w]
    return y.reshape(*y.shape[:h_dim], strips * y.shape[h_dim + 1], *y.shape[h_dim + 2 :])


class GLConv(nn.Module):
    """GaitGL's global-local convolution.

    The global branch convolves the whole frame; the local branch convolves ``2**halving`` horizontal strips
    separately. ``fm_sign=False`` sums the two (after LeakyReLU); ``fm_sign=True`` stacks them along the height,
    doubling it.

    Args:
        in_channels: input channels.
        out_channels: output channels of each branch.
        halving: the local branch uses ``2**halving`` strips.
        fm_sign: concatenate (True) instead of add (False).
    """

    def __init__(self, in_channels: int, out_channels: int, halving: int, fm_sign: bool = False) -> None:
        super().__init__()
        self.halving = halving
        self.fm_sign = fm_sign
        self.global_conv3d = BasicConv3d(in_channels, out_channels, 3, 1, 1)
        self.local_conv3d = BasicConv3d(in_channels, out_channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``[n, c_in, s, h, w] -> [n, c_out, s, h, w]`` (``[n, c_out, s, 2h, w]`` when ``fm_sign``)."""
        g = self.global_conv3d(x)
        lo = strip_conv(self.local_conv3d, x, 2**self.halving, h_dim=3)
        if self.fm_sign:
            return F.leaky_relu(torch.cat([g, lo], dim=3))  # [n, c, s, 2h, w]
        return F.leaky_relu(g) + F.leaky_relu(lo)


class FocalConv2d(nn.Module):
    """GaitPart's focal convolution: one bias-free conv applied to ``2**halving`` horizontal strips separately."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, halving: int, padding: int = 0) -> None:
        super().__init__()
        self.halving = halving
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """``[n, c_in, h, w] -> [n, c_out, h, w]``."""
        return strip_conv(self.conv, x, 2**self.halving, h_dim=2)
