"""Building blocks shared by the gait models (convolutions, sequence pooling, part pooling, part heads)."""

from .conv import BasicConv1d, BasicConv2d, BasicConv3d, FocalConv2d, GLConv, strip_conv
from .heads import SeparateBNNecks, SeparateFCs
from .pooling import GeMHPP, HorizontalPoolingPyramid
from .sequence import SetBlock, apply_per_sequence, seq_lengths, temporal_max
from .temporal import TemporalFeatureAggregator

__all__ = [
    "BasicConv1d",
    "BasicConv2d",
    "BasicConv3d",
    "FocalConv2d",
    "GLConv",
    "strip_conv",
    "SeparateBNNecks",
    "SeparateFCs",
    "GeMHPP",
    "HorizontalPoolingPyramid",
    "SetBlock",
    "apply_per_sequence",
    "seq_lengths",
    "temporal_max",
    "TemporalFeatureAggregator",
]
