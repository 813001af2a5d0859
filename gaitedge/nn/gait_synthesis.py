"""GaitSynthesis layer: ``Ms = edge(sil) * prob + interior(sil) * sil`` (paper eq. 1-2)."""

from types import ModuleType

import torch
from torch import nn

from .. import _ops_reference as _reference

BACKENDS = ("fused", "reference")


def check_backend(backend: str) -> str:
    """``backend``, checked; building a "fused" layer loads the compiled ops (see :func:`fused_ops`)."""
    if backend not in BACKENDS:
        raise ValueError(f'backend must be "fused" or "reference", got "{backend}"')
    if backend == "fused":
        fused_ops()
    return backend


_ops = None  # gaitedge.ops, once a fused layer needed it


def fused_ops() -> ModuleType:
    """:mod:`gaitedge.ops`, imported on first use rather than with this package: importing it loads the compiled
    extension ``gaitedge._C``, which the reference backend does without."""
    global _ops
    if _ops is None:
        try:
            from .. import ops
        except ImportError as e:
            raise ImportError(f'backend="fused" needs the compiled extension gaitedge._C (backend="reference" runs '
                              f"without it): {e}") from e
        _ops = ops
    return _ops


class GaitSynthesis(nn.Module):
    """Gait Synthesis: only the edge band of the silhouette takes the (trainable) segmentation probability.

    Args:
        kernel_size: odd size of the flat structuring element (3 in the paper).
        threshold: binarisation threshold of the silhouette.
        backend: "fused" (compiled kernels: building the layer loads ``gaitedge._C``) or "reference" (plain
            PyTorch, no compiled extension needed; same numbers, slower).

    Forward: ``prob [N, 1, H, W]``, ``sil [N, 1, H, W]`` -> ``[N, 1, H, W]``. As in OpenGait, the result is promoted
    to ``promote_types(prob, sil)`` when the silhouette is floating (under AMP: fp16 probabilities, fp32 sils -> fp32).
    """

    def __init__(self, kernel_size: int = 3, threshold: float = 0.5, backend: str = "fused") -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.threshold = threshold
        self.backend = check_backend(backend)

    def forward(self, prob: torch.Tensor, sil: torch.Tensor) -> torch.Tensor:
        fn = fused_ops().gait_synthesis if self.backend == "fused" else _reference.gait_synthesis
        out = fn(prob, sil, self.kernel_size, self.threshold)
        if sil.dtype.is_floating_point:
            out = out.to(torch.promote_types(prob.dtype, sil.dtype))
        return out

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, threshold={self.threshold}, backend={self.backend!r}"
