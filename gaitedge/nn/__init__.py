"""Layers that drop into OpenGait-style models: GaitSynthesis, GaitAlign and the fused GaitEdgeAlign."""

from .gait_align import GaitAlign, GaitEdgeAlign
from .gait_synthesis import GaitSynthesis

__all__ = ["GaitSynthesis", "GaitAlign", "GaitEdgeAlign"]
