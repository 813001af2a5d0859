"""Slow, obviously correct pure-PyTorch versions of every gaitedge op.

They are the test oracle and the benchmark baseline (the "plain-PyTorch composite"). Each follows the op's documented
semantics directly, with no attempt at speed: morphology is max_pool2d (whose -inf padding is exactly the geodesic
border: pixels outside the image are ignored).
"""

from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ["edge_masks", "gait_synthesis"]


def _opmath(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def edge_masks(sil: torch.Tensor, kernel_size: int = 3, threshold: float = 0.5) -> Tuple[torch.Tensor, torch.Tensor]:
    """Edge band and interior of ``sil > threshold`` (see :func:`gaitedge.ops.edge_masks`)."""
    m = (sil > threshold).float()  # [N, 1, H, W] in {0, 1}
    r = kernel_size // 2
    dilated = F.max_pool2d(m, kernel_size, stride=1, padding=r) > 0.5
    eroded = -F.max_pool2d(-m, kernel_size, stride=1, padding=r) > 0.5
    return dilated ^ eroded, eroded


def gait_synthesis(prob: torch.Tensor, sil: torch.Tensor, kernel_size: int = 3, threshold: float = 0.5) -> torch.Tensor:
    """``edge * prob + interior * sil`` in prob's dtype (see :func:`gaitedge.ops.gait_synthesis`)."""
    edge, interior = edge_masks(sil.detach(), kernel_size, threshold)
    opmath = _opmath(prob.dtype)
    value = sil.detach().to(opmath) if sil.dtype.is_floating_point else 1.0
    return (edge.to(opmath) * prob.to(opmath) + interior.to(opmath) * value).to(prob.dtype)
