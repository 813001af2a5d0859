"""GaitPart's Micro-motion Capture Module (``TemporalFeatureAggregator``).

For every part, two micro-motion template branches (windows of 3 and 5 frames: avg + max pooling over time)
are re-weighted by a per-part 1-D conv attention (sigmoid), summed, and max-pooled over time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .conv import BasicConv1d

__all__ = ["TemporalFeatureAggregator"]


def _attention(in_channels: int, hidden: int, second_kernel: int) -> nn.Sequential:
    return nn.Sequential(
        BasicConv1d(in_channels, hidden, 3, padding=1),
        nn.LeakyReLU(inplace=True),
        BasicConv1d(hidden, in_channels, second_kernel, padding=second_kernel // 2),
    )


class TemporalFeatureAggregator(nn.Module):
    """Micro-motion capture for part features: ``[n, c, s, p] -> [n, c, p]``.

    Args:
        in_channels: feature channels ``c``.
        squeeze: hidden width of the attention convs is ``c // squeeze``.
        parts_num: number of parts ``p``; each part has its own attention convs.
    """

    def __init__(self, in_channels: int, squeeze: int = 4, parts_num: int = 16) -> None:
        super().__init__()
        hidden = in_channels // squeeze
        self.parts_num = parts_num
        # attribute names follow OpenGait so state-dict keys match
        self.conv1d3x1 = nn.ModuleList(_attention(in_channels, hidden, 1) for _ in range(parts_num))
        self.avg_pool3x1 = nn.AvgPool1d(3, stride=1, padding=1)
        self.max_pool3x1 = nn.MaxPool1d(3, stride=1, padding=1)
        self.conv1d3x3 = nn.ModuleList(_attention(in_channels, hidden, 3) for _ in range(parts_num))
        self.avg_pool3x3 = nn.AvgPool1d(5, stride=1, padding=2)
        self.max_pool3x3 = nn.MaxPool1d(5, stride=1, padding=2)

    def forward(self, x: Tensor) -> Tensor:
        n, c, s, p = x.shape
        if p != self.parts_num:
            raise ValueError(f"expected {self.parts_num} parts, got {p}")
        x = x.permute(3, 0, 1, 2).contiguous()  # [p, n, c, s]
        flat = x.reshape(p * n, c, s)  # [p*n, c, s]
        # per-part attention scores, [p, n, c, s]
        score1 = torch.sigmoid(torch.stack([conv(x[i]) for i, conv in enumerate(self.conv1d3x1)]))
        score2 = torch.sigmoid(torch.stack([conv(x[i]) for i, conv in enumerate(self.conv1d3x3)]))
        # count_include_pad=True (the AvgPool1d default) as in the published model
        tmpl1 = (self.avg_pool3x1(flat) + self.max_pool3x1(flat)).reshape(p, n, c, s)
        tmpl2 = (self.avg_pool3x3(flat) + self.max_pool3x3(flat)).reshape(p, n, c, s)
        out = (tmpl1 * score1 + tmpl2 * score2).max(dim=-1)[0]  # [p, n, c]
        return out.permute(1, 2, 0).contiguous()  # [n, c, p]
