"""Gait Synthesis (paper §4.1): edge/interior masks of a silhouette and ``Ms = edge * prob + interior * sil``."""

from typing import Tuple

import torch

from . import _checks

__all__ = ["edge_masks", "gait_synthesis"]


def edge_masks(sil: torch.Tensor, kernel_size: int = 3, threshold: float = 0.5) -> Tuple[torch.Tensor, torch.Tensor]:
    """Edge band and interior of a binarised silhouette.

    ``M = sil > threshold``; ``interior = erode(M)``; ``edge = dilate(M) XOR interior``, with a flat
    ``kernel_size x kernel_size`` structuring element and geodesic borders (pixels outside the image are ignored:
    erosion does not eat a silhouette touching the border, dilation does not grow from outside), as in OpenGait /
    kornia.

    Args:
        sil (Tensor[N, 1, H, W]): silhouette, bool, uint8 or floating point.
        kernel_size (int): odd size k of the structuring element, 1 <= k <= 101.
        threshold (float): binarisation threshold (``sil > threshold``).

    Returns:
        (edge, interior): two bool tensors of shape [N, 1, H, W].
    """
    _checks.check_kernel_size(kernel_size)
    _checks.check_threshold(threshold)
    return torch.ops.gaitedge.edge_masks.default(sil, kernel_size, threshold)


def gait_synthesis(prob: torch.Tensor, sil: torch.Tensor, kernel_size: int = 3, threshold: float = 0.5) -> torch.Tensor:
    """Synthetic silhouette ``Ms = edge * prob + interior * sil`` (paper eq. 1), fused in one pass.

    The masks come from ``sil`` as in :func:`edge_masks`. Only the edge band is trainable: the gradient flows to
    ``prob`` only (``grad * edge``); ``sil`` gets none. Floating silhouettes contribute their value on the interior
    (OpenGait's ``eroded * sils``); bool/uint8 silhouettes are masks and contribute 1. The maths runs in float32
    (float64 for float64 ``prob``); the backward recomputes the edge from ``sil`` instead of saving a mask.

    Args:
        prob (Tensor[N, 1, H, W]): segmentation probability map P, float32/float64/float16/bfloat16.
        sil (Tensor[N, 1, H, W]): silhouette M, bool, uint8 or floating point, on prob's device.
        kernel_size (int): odd size of the flat structuring element.
        threshold (float): binarisation threshold for ``sil``.

    Returns:
        Tensor[N, 1, H, W] in prob's dtype.
    """
    _checks.check_kernel_size(kernel_size)
    _checks.check_threshold(threshold)
    return torch.ops.gaitedge.gait_synthesis(prob, sil, kernel_size, threshold)


@torch.library.register_fake("gaitedge::edge_masks")
def _edge_masks_fake(sil, kernel_size, threshold):
    _checks.check_frames(sil, "sil")
    _checks.check_mask_dtype(sil, "sil")
    _checks.check_kernel_size(kernel_size)
    _checks.check_threshold(threshold)
    return sil.new_empty(sil.shape, dtype=torch.bool), sil.new_empty(sil.shape, dtype=torch.bool)


@torch.library.register_fake("gaitedge::gait_synthesis")
def _gait_synthesis_fake(prob, sil, kernel_size, threshold):
    _checks.check_synthesis_args(prob, "prob", sil, kernel_size, threshold)
    return torch.empty_like(prob, memory_format=torch.contiguous_format)


@torch.library.register_fake("gaitedge::_gait_synthesis_backward")
def _gait_synthesis_backward_fake(grad, sil, kernel_size, threshold):
    _checks.check_synthesis_args(grad, "grad", sil, kernel_size, threshold)
    return torch.empty_like(grad, memory_format=torch.contiguous_format)


def _setup_context(ctx, inputs, output):
    _, sil, kernel_size, threshold = inputs
    # The silhouette is an input (alive anyway); the edge band is recomputed from it in the backward.
    ctx.save_for_backward(sil)
    ctx.kernel_size, ctx.threshold = kernel_size, threshold


def _backward(ctx, grad):
    (sil,) = ctx.saved_tensors
    grad_x = None
    if ctx.needs_input_grad[0]:
        grad_x = torch.ops.gaitedge._gait_synthesis_backward.default(grad, sil, ctx.kernel_size, ctx.threshold)
    return grad_x, None, None, None


# d/dprob of Ms is "multiply by edge"; that map is linear and self-adjoint, so the backward op serves as its own
# backward too (double backward works).
torch.library.register_autograd("gaitedge::gait_synthesis", _backward, setup_context=_setup_context)
torch.library.register_autograd("gaitedge::_gait_synthesis_backward", _backward, setup_context=_setup_context)
