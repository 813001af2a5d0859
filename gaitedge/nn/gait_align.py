"""GaitAlign and the fused GaitEdgeAlign layers, drop-in for OpenGait's ``GaitAlign``."""

import logging
from typing import Tuple

import torch
from torch import nn

from .. import _ops_reference as _reference
from .gait_synthesis import check_backend, fused_ops

logger = logging.getLogger(__name__)


class _RoIAlignSettings(nn.Module):
    """torchvision's ``RoIAlign`` settings, for a GaitAlign built where torchvision is not installed.

    OpenGait's ``GaitAlign.RoiPool`` is a ``torchvision.ops.RoIAlign``; code that reads its settings works the same
    here. Calling it needs torchvision, which does the pooling.
    """

    def __init__(self, output_size: Tuple[int, int], spatial_scale: float, sampling_ratio: int, aligned: bool):
        super().__init__()
        self.output_size, self.spatial_scale = output_size, spatial_scale
        self.sampling_ratio, self.aligned = sampling_ratio, aligned

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        try:
            from torchvision.ops import roi_align
        except ImportError as e:
            raise ImportError("GaitAlign.RoiPool pools through torchvision: pip install torchvision") from e
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")


def _roi_pool(output_size: Tuple[int, int], aligned: bool) -> nn.Module:
    try:
        from torchvision.ops import RoIAlign
    except (ImportError, RuntimeError, OSError) as e:  # absent, or built for another torch (its ops fail to load)
        logger.debug("torchvision unavailable (%s): GaitAlign.RoiPool holds the settings only", e)
        return _RoIAlignSettings(output_size, 1, -1, aligned)
    return RoIAlign(output_size, 1, sampling_ratio=-1, aligned=aligned)


class GaitAlign(nn.Module):
    """Differentiable, aspect-preserving crop of the person to ``H x W`` (OpenGait's constructor and call signature).

    Args:
        H, W: output size (64 x 44 in the paper).
        eps: a row belongs to the person when its mask sum is >= eps ("opengait" mode).
        mode: "opengait" (OpenGait's numbers) or "exact" (true aspect ratio, no clamping); see gaitedge.ops.gait_align.
        backend: "fused" (compiled kernels: building the layer loads ``gaitedge._C``) or "reference" (plain
            PyTorch, no compiled extension needed).
        **kwargs: accepted and ignored, as OpenGait's ``GaitAlign`` does, so OpenGait configs construct it unchanged.

    Forward: ``feature_map [N, C, h, w]``, ``binary_mask [N, 1, h, w]``, ``w_h_ratio`` (N values: width/height of each
    person's box) -> ``[N, C, H, W]``. Gradient flows to ``feature_map`` only.

    Attributes ``Pad`` and ``RoiPool`` are OpenGait's: the ``W//2`` zero columns and the RoIAlign (torchvision's when
    it is installed) that the fused op computes in one pass. In "opengait" mode ``RoiPool(Pad(x), rois)``, with the
    boxes from :func:`gaitedge.ops.align_boxes` shifted right by ``W//2``, gives the layer's output. Neither holds
    state.
    """

    def __init__(self, H: int = 64, W: int = 44, eps: float = 1, mode: str = "opengait", backend: str = "fused",
                 **kwargs):
        super().__init__()
        self.H, self.W, self.eps, self.mode = H, W, eps, mode
        self.backend = check_backend(backend)
        if kwargs:
            logger.debug("GaitAlign ignores %s, as OpenGait's does", sorted(kwargs))
        self.Pad = nn.ZeroPad2d((W // 2, W // 2, 0, 0))
        self.RoiPool = _roi_pool((H, W), aligned=mode == "exact")

    def forward(self, feature_map: torch.Tensor, binary_mask: torch.Tensor, w_h_ratio: torch.Tensor) -> torch.Tensor:
        ratio = w_h_ratio.reshape(-1)  # [N]: OpenGait accepts any shape with N elements
        fn = fused_ops().gait_align if self.backend == "fused" else _reference.gait_align
        return fn(feature_map, binary_mask, ratio, (self.H, self.W), float(self.eps), self.mode)

    def extra_repr(self) -> str:
        return f"H={self.H}, W={self.W}, eps={self.eps}, mode={self.mode!r}, backend={self.backend!r}"


class GaitEdgeAlign(nn.Module):
    """GaitSynthesis followed by GaitAlign on the same silhouette, fused (the synthesised frame is never stored).

    Args:
        kernel_size: odd size of the flat structuring element.
        H, W, eps, mode, backend: as in :class:`GaitAlign`.

    Forward: ``prob [N, 1, h, w]``, ``sil [N, 1, h, w]``, ``w_h_ratio`` (N values) -> ``[N, 1, H, W]`` in prob's dtype.
    """

    def __init__(self, kernel_size: int = 3, H: int = 64, W: int = 44, eps: float = 1, mode: str = "opengait",
                 backend: str = "fused"):
        super().__init__()
        self.kernel_size, self.H, self.W, self.eps, self.mode = kernel_size, H, W, eps, mode
        self.backend = check_backend(backend)

    def forward(self, prob: torch.Tensor, sil: torch.Tensor, w_h_ratio: torch.Tensor) -> torch.Tensor:
        ratio = w_h_ratio.reshape(-1)  # [N]
        fn = fused_ops().gait_edge_align if self.backend == "fused" else _reference.gait_edge_align
        return fn(prob, sil, ratio, self.kernel_size, (self.H, self.W), float(self.eps), self.mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, H={self.H}, W={self.W}, eps={self.eps}, mode={self.mode!r}, "
                f"backend={self.backend!r}")
