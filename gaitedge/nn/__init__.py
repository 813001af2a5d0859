"""Layers that drop into OpenGait-style models: GaitSynthesis, GaitAlign and the fused GaitEdgeAlign.

Each takes ``backend="fused"`` (the compiled kernels of :mod:`gaitedge.ops`, loaded when such a layer is built) or
``backend="reference"`` (pure PyTorch), so the reference layers work where ``gaitedge._C`` is not built.
"""

from .gait_align import GaitAlign, GaitEdgeAlign
from .gait_synthesis import GaitSynthesis

__all__ = ["GaitSynthesis", "GaitAlign", "GaitEdgeAlign"]
