"""Baselines every op table is measured against, besides ``gaitedge.ops._reference``.

- ``composite_*``: the fastest plain-PyTorch formulation we know (separable max_pool2d, float masks, addcmul); its
  ``torch.compile`` is the "compiled" baseline.
- ``opengait_*``: the OpenGait path (kornia morphology + torchvision RoIAlign + OpenGait's box arithmetic), written
  here from the behaviour described in ``shared/notes/opengait.md`` §1.3 and §2 (not copied from OpenGait). Needs
  kornia and torchvision, which are not gaitedge dependencies (see benchmarks/README.md for the benchmark venv).
"""

from __future__ import annotations

import functools
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ["composite_gait_synthesis", "composite_gait_align", "composite_gait_edge_align", "opengait_available",
           "opengait_gait_synthesis", "opengait_gait_align", "opengait_gait_edge_align", "compiled"]


def _opmath(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _maxpool_sep(m: torch.Tensor, k: int) -> torch.Tensor:
    r = k // 2
    # max_pool2d pads with -inf, i.e. ignores pixels outside the image: the geodesic border.
    return F.max_pool2d(F.max_pool2d(m, (k, 1), 1, (r, 0)), (1, k), 1, (0, r))  # [N, 1, H, W]


def composite_gait_synthesis(prob: torch.Tensor, sil: torch.Tensor, kernel_size: int = 3,
                             threshold: float = 0.5) -> torch.Tensor:
    """``edge * prob + interior * sil`` with float 0/1 masks and separable pooling (no bool round trips)."""
    opmath = _opmath(prob.dtype)
    m = (sil.detach() > threshold).to(opmath)  # [N, 1, H, W] in {0, 1}
    dilated = _maxpool_sep(m, kernel_size)
    eroded = 1.0 - _maxpool_sep(1.0 - m, kernel_size)  # min filter = 1 - max filter of the complement
    edge = dilated - eroded  # eroded ⊆ dilated, so the difference is the XOR
    interior = eroded * sil.detach().to(opmath) if sil.dtype.is_floating_point else eroded
    return torch.addcmul(interior, edge, prob.to(opmath)).to(prob.dtype)


def _axis_weights(lo: torch.Tensor, hi: torch.Tensor, n_in: int, n_out: int, pad: int) -> torch.Tensor:
    """RoIAlign (aligned=False, adaptive grid) along one axis as a dense matrix ``[N, n_out, n_in]``.

    Bilinear RoIAlign over a box is separable: ``out = A_y · X · A_xᵀ``. Each row of A holds the averaged bilinear
    weights of that output bin's samples; taps on the ``pad`` virtual zero columns are dropped. The sample grid is
    padded to a static maximum (the box never exceeds the padded frame) so the code has no data-dependent shapes.
    """
    n = n_in + 2 * pad
    roi = (hi - lo).clamp(min=1.0)  # [N]
    bin_ = roi / n_out
    grid = torch.ceil(roi / n_out).clamp(min=1.0)  # [N] samples per bin along this axis
    g_max = -(-n // n_out)
    o = torch.arange(n_out, device=lo.device, dtype=torch.float32).view(1, -1, 1)  # [1, n_out, 1]
    i = torch.arange(g_max, device=lo.device, dtype=torch.float32).view(1, 1, -1)  # [1, 1, g_max]
    b, g = bin_.view(-1, 1, 1), grid.view(-1, 1, 1)
    s = (lo.view(-1, 1, 1) + o * b) + ((i + 0.5) * b) / g  # [N, n_out, g_max] padded coordinates
    valid = ((s >= -1) & (s <= n) & (i < g)).float()
    s = s.clamp(min=0)
    low = s.floor()
    edge = low >= n - 1
    low = torch.where(edge, torch.full_like(low, n - 1), low)
    high = torch.where(edge, low, low + 1)
    frac = torch.where(edge, torch.zeros_like(s), s - low)
    a = torch.zeros(lo.shape[0], n_out, n, device=lo.device)  # [N, n_out, n]
    a.scatter_add_(2, low.long(), (1 - frac) * valid / g)
    a.scatter_add_(2, high.long(), frac * valid / g)
    return a[..., pad:pad + n_in]  # [N, n_out, n_in]


def composite_gait_align(x: torch.Tensor, mask: torch.Tensor, ratio: torch.Tensor,
                         out_size: Tuple[int, int] = (64, 44), eps: float = 1.0) -> torch.Tensor:
    """OpenGait-mode GaitAlign in vectorised plain PyTorch: boxes from the mask, then two batched matmuls."""
    H, W = out_size
    n, c, h, w = x.shape
    boxes = opengait_boxes(mask.detach(), ratio, out_size, eps)  # [n, 5] in the padded frame
    a_y = _axis_weights(boxes[:, 2], boxes[:, 4], h, H, 0)  # [n, H, h]
    a_x = _axis_weights(boxes[:, 1], boxes[:, 3], w, W, W // 2)  # [n, W, w]
    xf = x.to(_opmath(x.dtype))
    out = a_y.unsqueeze(1).to(xf.dtype) @ xf @ a_x.transpose(1, 2).unsqueeze(1).to(xf.dtype)  # [n, c, H, W]
    return out.to(x.dtype)


def composite_gait_edge_align(prob: torch.Tensor, sil: torch.Tensor, ratio: torch.Tensor, kernel_size: int = 3,
                              out_size: Tuple[int, int] = (64, 44), eps: float = 1.0) -> torch.Tensor:
    """The best plain-PyTorch edge path: :func:`composite_gait_synthesis` then :func:`composite_gait_align`."""
    ms = composite_gait_synthesis(prob.to(_opmath(prob.dtype)), sil, kernel_size)
    return composite_gait_align(ms, sil, ratio, out_size, eps).to(prob.dtype)


# ----------------------------------------------------------------------------------------------------------------------
# OpenGait path
# ----------------------------------------------------------------------------------------------------------------------


def opengait_available() -> Optional[str]:
    """None when kornia and torchvision import, else the reason they do not."""
    try:
        import kornia.morphology  # noqa: F401
        import torchvision.ops  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means "baseline not available"
        return f"{type(e).__name__}: {e}"
    return None


@functools.lru_cache(maxsize=None)
def _ones_kernel(k: int, device: str) -> torch.Tensor:
    return torch.ones(k, k, device=device)  # [k, k] flat structuring element


def opengait_gait_synthesis(prob: torch.Tensor, sil: torch.Tensor, kernel_size: int = 3,
                            threshold: float = 0.5) -> torch.Tensor:
    """GaitEdge's preprocess + synthesis as OpenGait runs it: float sils, kornia dilation/erosion (unfold engine,
    geodesic border), ``> 0.5`` thresholds, XOR, ``edge * logits + eroded * sils`` (type promotion: fp32 result)."""
    import kornia.morphology as km

    sils = sil.float()  # OpenGait casts every input with .float()
    if threshold != 0.5:
        sils = (sils > threshold).float()
    kernel = _ones_kernel(kernel_size, str(sils.device))
    dilated = km.dilation(sils, kernel).detach() > 0.5
    eroded = km.erosion(sils, kernel).detach() > 0.5
    edge = dilated ^ eroded
    return edge * prob + eroded * sils


def opengait_boxes(mask: torch.Tensor, ratio: torch.Tensor, out_size: Tuple[int, int] = (64, 44),
                   eps: float = 1.0) -> torch.Tensor:
    """OpenGait GaitAlign's RoI boxes ``[N, 5] = (idx, x1, y1, x2, y2)`` in the 22-px zero-padded frame."""
    H, W = out_size
    n, _, h, w = mask.shape
    r = ratio.reshape(n, 1).float()  # [n, 1]
    row_mass = mask.float().sum(-1)  # [n, 1, h]
    rows_on = torch.cumsum((row_mass >= eps).float(), dim=-1)  # [n, 1, h]
    h_top = (rows_on == 0).float().sum(-1)  # [n, 1]: leading empty rows
    h_bot = (rows_on != rows_on.max(dim=-1, keepdim=True).values).float().sum(-1) + 1.0  # exclusive end
    col_cum = torch.cumsum(mask.float().sum(-2), dim=-1)  # [n, 1, w]
    w_center = (col_cum < col_cum[..., -1:] / 2.0).float().sum(-1)  # [n, 1]: median column of the mass
    p1 = torch.clamp((W - H * r) / 2.0, min=0)
    t_w = r * H / w
    p2 = p1 / t_w
    height = h_bot - h_top
    width = height * w / h
    w_center = w_center + W // 2  # the feature map is padded by W//2 zero columns per side
    x1 = torch.clamp(w_center - width / 2 - p2, min=0, max=w + 2 * (W // 2))
    x2 = torch.clamp(w_center + width / 2 + p2, min=0, max=w + 2 * (W // 2))
    idx = torch.arange(n, device=mask.device, dtype=torch.float32).view(n, 1)
    return torch.cat([idx, x1, h_top, x2, h_bot], dim=-1)  # [n, 5]


def opengait_gait_align(x: torch.Tensor, mask: torch.Tensor, ratio: torch.Tensor,
                        out_size: Tuple[int, int] = (64, 44), eps: float = 1.0) -> torch.Tensor:
    """OpenGait's GaitAlign: pad 22 zero columns per side, box from the mask, torchvision RoIAlign (aligned=False,
    adaptive sampling)."""
    from torchvision.ops import roi_align

    H, W = out_size
    rois = opengait_boxes(mask.detach(), ratio, out_size, eps)  # [n, 5] fp32, as OpenGait builds them
    padded = F.pad(x, (W // 2, W // 2, 0, 0))  # [n, c, h, w + W]
    if x.dtype in (torch.float16, torch.bfloat16):
        # torchvision's autocast rule for roi_align: compute in fp32, hand back the input dtype. The boxes stay
        # fp32: in fp16 a coordinate near 170 rounds to a multiple of 1/8 px, which moves every sample.
        out = roi_align(padded.float(), rois, (H, W), spatial_scale=1.0, sampling_ratio=-1, aligned=False)
        return out.to(x.dtype)  # [n, c, H, W]
    return roi_align(padded, rois.to(x.dtype), (H, W), spatial_scale=1.0, sampling_ratio=-1,
                     aligned=False)  # [n, c, H, W]


def opengait_gait_edge_align(prob: torch.Tensor, sil: torch.Tensor, ratio: torch.Tensor, kernel_size: int = 3,
                             out_size: Tuple[int, int] = (64, 44), eps: float = 1.0) -> torch.Tensor:
    """GaitEdge's edge path: synthesis on the GT silhouette, then GaitAlign with the box from that silhouette."""
    ms = opengait_gait_synthesis(prob, sil, kernel_size)
    return opengait_gait_align(ms, sil.float(), ratio, out_size, eps)


# ----------------------------------------------------------------------------------------------------------------------
# torch.compile
# ----------------------------------------------------------------------------------------------------------------------

_COMPILED: Dict[Callable, Callable] = {}


def compiled(fn: Callable) -> Callable:
    """``torch.compile(fn)`` (inductor, static shapes), memoised so each function is wrapped once per process."""
    if fn not in _COMPILED:
        import torch._dynamo

        # One benchmark process compiles many (shape, dtype, k) points; do not fall back to eager after 8.
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 256)
        # The "bwd" pass re-runs one backward with retain_graph=True, which donated buffers forbid.
        import torch._functorch.config

        torch._functorch.config.donated_buffer = False
        _COMPILED[fn] = torch.compile(fn, dynamic=False)
    return _COMPILED[fn]
