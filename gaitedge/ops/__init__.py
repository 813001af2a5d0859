"""Fused gaitedge ops (C++ CPU and CUDA kernels registered as ``torch.ops.gaitedge.*``).

``gaitedge.ops._reference`` holds a slow pure-PyTorch version of each op (the test oracle and benchmark baseline).
Importing this package loads ``gaitedge._C``; :mod:`gaitedge.nn`'s reference layers use :mod:`gaitedge._ops_reference`
directly, so they run without it.
"""

from .._extension import load as _load

_load()

from .gait_align import align_boxes, gait_align, gait_edge_align  # noqa: E402
from .gait_synthesis import edge_masks, gait_synthesis  # noqa: E402

__all__ = ["edge_masks", "gait_synthesis", "align_boxes", "gait_align", "gait_edge_align"]
