"""Slow, obviously correct pure-PyTorch versions of every gaitedge op (also importable as ``gaitedge.ops._reference``).

They are the test oracle, the benchmark baseline (the "plain-PyTorch composite") and the ``backend="reference"`` of
the :mod:`gaitedge.nn` layers. Each follows the op's documented semantics directly, with no attempt at speed:
morphology is max_pool2d (whose -inf padding is exactly the geodesic border: pixels outside the image are ignored).

This module sits outside :mod:`gaitedge.ops` because importing that package loads the compiled extension
``gaitedge._C``; here only torch is needed.
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


# ---- GaitAlign ---------------------------------------------------------------------------------------------------------

__all__ += ["align_boxes", "gait_align", "gait_edge_align"]


def _f32(v) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float32)


def align_boxes(
    mask: torch.Tensor, ratio: torch.Tensor, out_size=(64, 44), eps: float = 1.0, mode: str = "opengait"
) -> torch.Tensor:
    """Per-frame boxes (x1, y1, x2, y2) in input pixel coordinates, float32 [N, 4] (see gaitedge.ops.align_boxes)."""
    H, W = out_size
    N, _, h, w = mask.shape
    r = ratio.reshape(-1).to(torch.float32).cpu()
    if mode == "opengait":
        # OpenGait's arithmetic: float32 sums and cumulative sums of the raw mask (float64 for a float64 mask; a
        # 16-bit mask is summed in float32, as autocast does). Integer masks give exact sums in any order.
        # On the mask's own device and layout: float32 reductions differ in their last bits across devices.
        m = mask if mask.dtype == torch.float64 else mask.to(torch.float32)  # [N, 1, h, w]
        pad = W // 2
        rows_ok = (m.sum(-1) >= eps)[:, 0].cpu()  # [N, h]
        col = m.sum(-2)  # [N, 1, w]
        w_center = (col.cumsum(-1) < col.sum(-1, keepdim=True) / 2).sum(-1)[:, 0].cpu()  # median column
        passing = rows_ok.long().cumsum(-1)  # [N, h]
        h_top = (passing == 0).sum(-1)  # rows before the first row with mass >= eps
        h_bot = (passing != passing.max(-1, keepdim=True).values).sum(-1) + 1
        p1 = ((_f32(W) - _f32(H) * r) / 2).clamp(min=0)
        t_w = r * _f32(H) / _f32(w)
        p2 = p1 / t_w
        width = (h_bot - h_top).to(torch.float32) * _f32(w) / _f32(h)
        center = (w_center + pad).to(torch.float32)
        half = width / 2 + p2
        limit = float(w + 2 * pad)
        x1 = (center - half).clamp(0, limit) - pad
        x2 = (center + half).clamp(0, limit) - pad
        boxes = torch.stack([x1, h_top.to(torch.float32), x2, h_bot.to(torch.float32)], -1)
    elif mode == "exact":
        b = (mask[:, 0] > 0.5).cpu()  # [N, h, w]
        boxes = torch.zeros(N, 4)
        for n in range(N):
            rows = torch.nonzero(b[n].any(-1)).flatten()
            if rows.numel() == 0:
                continue
            top, bot = int(rows[0]), int(rows[-1]) + 1
            col = b[n].sum(0).to(torch.float64)  # [w]
            half_mass = col.sum() / 2
            before = col.cumsum(0) - col
            j = int(torch.nonzero((before + col >= half_mass) & (col > 0)).flatten()[0])
            x_c = torch.tensor(j + float((half_mass - before[j]) / col[j]), dtype=torch.float32)
            s_y = _f32(H) / _f32(bot - top)
            s_x = s_y * r[n] * _f32(h) / _f32(w)
            half = _f32(W) / (2 * s_x)
            boxes[n] = torch.stack([x_c - half, _f32(top), x_c + half, _f32(bot)])
    else:
        raise ValueError(f'mode must be "opengait" or "exact", got "{mode}"')
    return boxes.to(mask.device)


def _axis_samples(lo, hi, n_in: int, n_out: int, pad: int, mode: str):
    """Sample coordinates [n_out, grid] along one axis, and 1/grid (torchvision's adaptive rule)."""
    roi = hi - lo
    if mode == "opengait":
        roi = torch.clamp(roi, min=1.0)
        start = lo + pad
    else:
        if not bool(roi > 0):
            return None, None
        start = lo
    bin_ = roi / n_out
    grid = max(1, int(torch.ceil(roi / n_out)))
    o = torch.arange(n_out, dtype=torch.float32).view(-1, 1)
    i = torch.arange(grid, dtype=torch.float32).view(1, -1)
    return (start + o * bin_) + ((i + 0.5) * bin_) / grid, grid


def _bilinear_taps(s: torch.Tensor, n_in: int, pad: int, mode: str):
    """Two taps per sample: input indices [..., 2] (possibly outside [0, n_in)) and weights [..., 2]."""
    if mode == "opengait":
        n = n_in + 2 * pad
        valid = (s >= -1) & (s <= n)
        s = s.clamp(min=0)
        lo = s.floor().long()  # s >= 0, so floor is the int cast
        edge = lo >= n - 1
        lo = torch.where(edge, torch.full_like(lo, n - 1), lo)
        hi = torch.where(edge, lo, lo + 1)
        s = torch.where(edge, lo.float(), s)
        frac = s - lo.float()
        w = torch.stack([1 - frac, frac], -1) * valid.unsqueeze(-1)
        return torch.stack([lo, hi], -1) - pad, w
    u = s - 0.5
    lo = u.floor()
    frac = u - lo
    return torch.stack([lo.long(), lo.long() + 1], -1), torch.stack([1 - frac, frac], -1)


def _roi_align_frame(x: torch.Tensor, box: torch.Tensor, out_size, mode: str) -> torch.Tensor:
    """RoIAlign of one frame x [C, h, w] over box, as explicit bilinear gathers: [C, H, W] in float64."""
    H, W = out_size
    C, h, w = x.shape
    pad = W // 2 if mode == "opengait" else 0
    ys, gh = _axis_samples(box[1], box[3], h, H, 0, mode)
    xs, gw = _axis_samples(box[0], box[2], w, W, pad, mode)
    out = torch.zeros(C, H, W, dtype=torch.float64)
    if ys is None or xs is None:
        return out
    yi, yw = _bilinear_taps(ys, h, 0, mode)  # [H, gh, 2]
    xi, xw = _bilinear_taps(xs, w, pad, mode)  # [W, gw, 2]
    xd = x.to(torch.float64)
    for a in range(2):
        for b in range(2):
            rows, cols = yi[..., a], xi[..., b]  # [H, gh], [W, gw]
            inside = ((rows >= 0) & (rows < h)).view(H, gh, 1, 1) & ((cols >= 0) & (cols < w)).view(1, 1, W, gw)
            vals = xd[:, rows.clamp(0, h - 1)][:, :, :, cols.clamp(0, w - 1)]  # [C, H, gh, W, gw]
            wt = (yw[..., a].view(H, gh, 1, 1).double() * xw[..., b].view(1, 1, W, gw).double()) * inside
            # A tap of zero weight (a sample on a pixel centre, or outside the frame) contributes nothing, even when
            # the pixel is inf/NaN: the banded kernels skip such taps. torchvision multiplies them (0 * NaN = NaN).
            out += torch.where(wt != 0, vals * wt, torch.zeros((), dtype=torch.float64)).sum((2, 4))
    return out / (gh * gw)


def gait_align(
    x: torch.Tensor, mask: torch.Tensor, ratio: torch.Tensor, out_size=(64, 44), eps: float = 1.0,
    mode: str = "opengait",
) -> torch.Tensor:
    """RoIAlign of x [N, C, h, w] over the boxes of mask, [N, C, H, W] in x's dtype (see gaitedge.ops.gait_align).

    Differentiable in x through plain autograd (the gathers are linear in x).
    """
    boxes = align_boxes(mask, ratio, out_size, eps, mode).cpu()
    frames = [_roi_align_frame(x[n].cpu(), boxes[n], out_size, mode) for n in range(x.shape[0])]
    out = torch.stack(frames) if frames else torch.zeros(0, x.shape[1], *out_size, dtype=torch.float64)
    return out.to(device=x.device, dtype=x.dtype)


def gait_edge_align(
    prob: torch.Tensor, sil: torch.Tensor, ratio: torch.Tensor, kernel_size: int = 3, out_size=(64, 44),
    eps: float = 1.0, mode: str = "opengait",
) -> torch.Tensor:
    """gait_align(Ms, sil, ratio) with Ms = gait_synthesis(prob, sil) kept in float (see gaitedge.ops.gait_edge_align)."""
    ms = gait_synthesis(prob.to(_opmath(prob.dtype)), sil, kernel_size, 0.5)
    return gait_align(ms, sil, ratio, out_size, eps, mode).to(prob.dtype)
