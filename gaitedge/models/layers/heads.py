"""Per-part heads: every horizontal part gets its own linear map (and, for BNNecks, its own BN)."""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SeparateFCs", "SeparateBNNecks"]


class SeparateFCs(nn.Module):
    """One bias-free linear map per part: weight ``fc_bin`` ``[p, c_in, c_out]`` (Xavier-uniform).

    ``[n, c_in, p] -> [n, c_out, p]``. ``norm=True`` L2-normalises each column of the weight first.
    """

    def __init__(self, parts_num: int, in_channels: int, out_channels: int, norm: bool = False) -> None:
        super().__init__()
        self.p = parts_num
        self.norm = norm
        self.fc_bin = nn.Parameter(nn.init.xavier_uniform_(torch.zeros(parts_num, in_channels, out_channels)))

    def forward(self, x: Tensor) -> Tensor:
        w = F.normalize(self.fc_bin, dim=1) if self.norm else self.fc_bin
        # bmm on the permuted view is ~100x slower on CPU than on a contiguous copy
        out = x.permute(2, 0, 1).contiguous().matmul(w)  # [p, n, c_out]
        return out.permute(1, 2, 0).contiguous()  # [n, c_out, p]


class SeparateBNNecks(nn.Module):
    """BNNeck per part (Luo et al. 2019): BN over all ``c*p`` features, then a per-part classifier.

    Args:
        parts_num: number of parts ``p``.
        in_channels: feature channels ``c``.
        class_num: number of classes.
        norm: L2-normalise features and classifier columns (cosine logits).

    ``forward([n, c, p]) -> (bn_features [n, c, p], logits [n, class_num, p])``.
    """

    def __init__(self, parts_num: int, in_channels: int, class_num: int, norm: bool = True) -> None:
        super().__init__()
        self.p = parts_num
        self.class_num = class_num
        self.norm = norm
        self.fc_bin = nn.Parameter(nn.init.xavier_uniform_(torch.zeros(parts_num, in_channels, class_num)))
        self.bn1d = nn.BatchNorm1d(in_channels * parts_num)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        n, c, p = x.shape
        x = self.bn1d(x.reshape(n, c * p)).reshape(n, c, p)
        feature = x.permute(2, 0, 1).contiguous()  # [p, n, c]
        if self.norm:
            feature = F.normalize(feature, dim=-1)
            logits = feature.matmul(F.normalize(self.fc_bin, dim=1))  # [p, n, class_num]
        else:
            logits = feature.matmul(self.fc_bin)
        return feature.permute(1, 2, 0).contiguous(), logits.permute(1, 2, 0).contiguous()
