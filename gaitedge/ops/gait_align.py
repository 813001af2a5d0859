"""GaitAlign (paper §4.2, Algorithm 1): aspect-preserving, differentiable crop-and-resize of a person.

Two modes, selected by ``mode``:

* ``"opengait"``: numerically OpenGait's ``GaitAlign`` (eps row test, median column, ``W//2`` virtual zero columns,
  ``p2`` padding from the ratio, box clamped to ``[0, w + W]``, torchvision RoIAlign with ``aligned=False`` and
  adaptive sampling). Tight crops with r < 0.52 come out too wide and masks touching a side border off centre,
  exactly as in OpenGait.
* ``"exact"``: what the paper describes: the mask is binarised at 0.5, the person keeps its true aspect ratio for
  every r (the window is as wide as needed; outside the frame is zero), a border-touching mask stays centred on its
  continuous median column, sampling is pixel-centre correct (``aligned=True``). Empty masks give all-zero outputs.

The backward is deterministic and atomic-free on both devices: per frame, adaptive RoIAlign is separable,
``out = Ay . X . Ax^T``, so ``grad_X = Ay^T . G . Ax`` is evaluated as gathers over banded weights.
"""

import numbers
from typing import Sequence, Tuple, Union

import torch

from . import _checks

__all__ = ["align_boxes", "gait_align", "gait_edge_align"]

OutSize = Union[int, Sequence[int]]
MODES = ("opengait", "exact")


def _out_size(out_size: OutSize) -> Tuple[int, int]:
    """(H, W) from an int or a pair of ints, each in [1, 32768] (the kernels index an output plane in 32 bits)."""
    if not isinstance(out_size, bool) and isinstance(out_size, numbers.Integral):
        out_size = (out_size, out_size)
    if not isinstance(out_size, (tuple, list, torch.Size)):
        raise TypeError(f"out_size must be an int or a pair of ints (H, W), got {type(out_size).__name__} "
                        f"{out_size!r}")
    if len(out_size) != 2:
        raise ValueError(f"out_size must be an int or a pair of ints (H, W), got {out_size!r}")
    for v in out_size:
        _checks.check_int(v, "out_size")
    if not all(1 <= v <= _checks.MAX_OUT_SIDE for v in out_size):
        raise ValueError(f"out_size must be in [1, {_checks.MAX_OUT_SIDE}] on each side, got {tuple(out_size)}")
    return int(out_size[0]), int(out_size[1])


def _scalars(eps: float, mode: str) -> float:
    _checks.check_real(eps, "eps")
    if not isinstance(mode, str):
        raise TypeError(f'mode must be "opengait" or "exact", got {type(mode).__name__} {mode!r}')
    return float(eps)


def align_boxes(
    mask: torch.Tensor, ratio: torch.Tensor, out_size: OutSize = (64, 44), eps: float = 1.0, mode: str = "opengait"
) -> torch.Tensor:
    """Per-frame GaitAlign box ``(x1, y1, x2, y2)`` in input pixel coordinates.

    Args:
        mask (Tensor[N, 1, h, w]): silhouette (bool, uint8 or float); raw values in "opengait" mode, ``> 0.5`` in "exact".
        ratio (Tensor[N] or Tensor[N, 1]): width / height of each person's original bounding box, positive.
        out_size (int or (H, W)): output size of the aligned crop.
        eps (float): "opengait" row test: a row belongs to the person when its sum is >= eps.
        mode (str): "opengait" or "exact".

    Returns:
        Tensor[N, 4] float32 on mask's device. In "opengait" mode x may run past the frame into OpenGait's virtual
        zero padding (by up to W//2); an empty mask gives OpenGait's reversed box there and (0, 0, 0, 0) in "exact".
    """
    H, W = _out_size(out_size)
    return torch.ops.gaitedge.align_boxes.default(mask, ratio, H, W, _scalars(eps, mode), mode)


def gait_align(
    x: torch.Tensor, mask: torch.Tensor, ratio: torch.Tensor, out_size: OutSize = (64, 44), eps: float = 1.0,
    mode: str = "opengait",
) -> torch.Tensor:
    """Crops and resizes each frame of ``x`` to the GaitAlign box of ``mask``.

    Args:
        x (Tensor[N, C, h, w]): feature map (C >= 1), float32/float64/float16/bfloat16; maths in float32
            (float64 for float64 x).
        mask (Tensor[N, 1, h, w]): silhouette that defines the box (no gradient).
        ratio (Tensor[N] or Tensor[N, 1]): width / height of each person's original bounding box.
        out_size, eps, mode: as in :func:`align_boxes`.

    Returns:
        Tensor[N, C, H, W] in x's dtype. Gradient flows to ``x`` only.
    """
    H, W = _out_size(out_size)
    out, _ = torch.ops.gaitedge.gait_align(x, mask, ratio, H, W, _scalars(eps, mode), mode)
    return out


def gait_edge_align(
    prob: torch.Tensor, sil: torch.Tensor, ratio: torch.Tensor, kernel_size: int = 3, out_size: OutSize = (64, 44),
    eps: float = 1.0, mode: str = "opengait",
) -> torch.Tensor:
    """``gait_align(gait_synthesis(prob, sil, kernel_size), sil, ratio)``, fused: Ms is never written to memory.

    Args:
        prob (Tensor[N, 1, h, w]): segmentation probabilities, float32/float64/float16/bfloat16.
        sil (Tensor[N, 1, h, w]): silhouette: edge band and interior (binarised at 0.5) and the box.
        ratio (Tensor[N] or Tensor[N, 1]): width / height of each person's original bounding box.
        kernel_size (int): odd size of the flat structuring element.
        out_size, eps, mode: as in :func:`align_boxes`.

    Returns:
        Tensor[N, 1, H, W] in prob's dtype (Ms is kept in float32 inside). Gradient flows to ``prob`` only,
        through the edge band.
    """
    H, W = _out_size(out_size)
    _checks.check_kernel_size(kernel_size)
    out, _ = torch.ops.gaitedge.gait_edge_align(prob, sil, ratio, kernel_size, H, W, _scalars(eps, mode), mode)
    return out


# ---- fake kernels: output shapes depend on input shapes only, so fullgraph compilation works ------------------------


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f'mode must be "opengait" or "exact", got "{mode}"')


def _check_common(mask, mask_name, ratio, out_h, out_w, mode) -> None:
    _checks.check_frames(mask, mask_name)
    _checks.check_mask_dtype(mask, mask_name)
    _check_mode(mode)
    n = mask.shape[0]
    if not (1 <= ratio.dim() <= 2 and ratio.shape[0] == n and ratio.numel() == n):
        raise ValueError(f"ratio must have shape [N] or [N, 1] with N = {n} frames, got {list(ratio.shape)}")
    if ratio.dtype not in _checks.FLOAT_DTYPES:
        raise TypeError(f"ratio must be floating point (float32, float64, float16, bfloat16), got {ratio.dtype}")
    _checks.check_same(ratio, "ratio", mask, "mask", shape=False)
    if not (1 <= out_h <= _checks.MAX_OUT_SIDE and 1 <= out_w <= _checks.MAX_OUT_SIDE):
        raise ValueError(f"out_size must be in [1, {_checks.MAX_OUT_SIDE}] on each side, got ({out_h}, {out_w})")


@torch.library.register_fake("gaitedge::align_boxes")
def _align_boxes_fake(mask, ratio, out_h, out_w, eps, mode):
    _check_common(mask, "mask", ratio, out_h, out_w, mode)
    return mask.new_empty((mask.shape[0], 4), dtype=torch.float32)


@torch.library.register_fake("gaitedge::gait_align")
def _gait_align_fake(x, mask, ratio, out_h, out_w, eps, mode):
    _check_common(mask, "mask", ratio, out_h, out_w, mode)
    if x.dim() != 4 or x.shape[1] < 1:
        raise ValueError(f"x must have shape [N, C, H, W], got {list(x.shape)}")
    _checks.check_float_dtype(x, "x")
    if (x.shape[0], x.shape[2], x.shape[3]) != (mask.shape[0], mask.shape[2], mask.shape[3]):
        raise ValueError(f"x [N, C, H, W] and mask [N, 1, H, W] must agree in N, H and W, got {list(x.shape)} "
                         f"and {list(mask.shape)}")
    _checks.check_same(x, "x", mask, "mask", shape=False)
    _checks.check_output_elements(x.shape[0], x.shape[1], out_h, out_w)
    return x.new_empty((x.shape[0], x.shape[1], out_h, out_w)), x.new_empty((x.shape[0], 4), dtype=torch.float32)


@torch.library.register_fake("gaitedge::_gait_align_backward")
def _gait_align_backward_fake(grad, boxes, in_h, in_w, mode):
    return grad.new_empty((grad.shape[0], grad.shape[1], in_h, in_w))


@torch.library.register_fake("gaitedge::gait_edge_align")
def _gait_edge_align_fake(prob, sil, ratio, kernel_size, out_h, out_w, eps, mode):
    _checks.check_synthesis_args(prob, "prob", sil, kernel_size, 0.5)
    _check_common(sil, "sil", ratio, out_h, out_w, mode)
    _checks.check_output_elements(prob.shape[0], 1, out_h, out_w)
    return prob.new_empty((prob.shape[0], 1, out_h, out_w)), prob.new_empty((prob.shape[0], 4), dtype=torch.float32)


@torch.library.register_fake("gaitedge::_gait_edge_align_backward")
def _gait_edge_align_backward_fake(grad, sil, boxes, kernel_size, mode):
    return grad.new_empty(sil.shape)


# ---- autograd ------------------------------------------------------------------------------------------------------


def _align_setup_context(ctx, inputs, output):
    x, _, _, _, _, _, mode = inputs
    _, boxes = output
    ctx.save_for_backward(boxes)  # [N, 4]: all the backward needs besides the input size
    ctx.in_hw, ctx.mode = (x.shape[2], x.shape[3]), mode


def _align_backward(ctx, grad, _grad_boxes):
    (boxes,) = ctx.saved_tensors
    grad_x = None
    if ctx.needs_input_grad[0]:
        grad_x = torch.ops.gaitedge._gait_align_backward.default(grad, boxes, *ctx.in_hw, ctx.mode)
    return grad_x, None, None, None, None, None, None


def _edge_align_setup_context(ctx, inputs, output):
    _, sil, _, kernel_size, _, _, _, mode = inputs
    _, boxes = output
    # sil is an input (alive anyway): the edge band is recomputed from it, never saved as a float mask.
    ctx.save_for_backward(sil, boxes)
    ctx.kernel_size, ctx.mode = kernel_size, mode


def _edge_align_backward(ctx, grad, _grad_boxes):
    sil, boxes = ctx.saved_tensors
    grad_prob = None
    if ctx.needs_input_grad[0]:
        grad_prob = torch.ops.gaitedge._gait_edge_align_backward.default(grad, sil, boxes, ctx.kernel_size, ctx.mode)
    return grad_prob, None, None, None, None, None, None, None


def _no_double_backward(ctx, *grads):
    raise RuntimeError("double backward through gaitedge's GaitAlign ops is not supported")


def _save_nothing(ctx, inputs, output):
    pass


torch.library.register_autograd("gaitedge::gait_align", _align_backward, setup_context=_align_setup_context)
torch.library.register_autograd(
    "gaitedge::gait_edge_align", _edge_align_backward, setup_context=_edge_align_setup_context
)
torch.library.register_autograd("gaitedge::_gait_align_backward", _no_double_backward, setup_context=_save_nothing)
torch.library.register_autograd(
    "gaitedge::_gait_edge_align_backward", _no_double_backward, setup_context=_save_nothing
)
