"""Gait models with one output contract, built by name.

>>> from gaitedge.models import create_model, list_models
>>> model = create_model("GaitGL")          # CASIA-B GaitGL, 3,096,673 parameters

Every recogniser's ``forward(batch)`` returns ``{"training_feat", "inference_feat", "visual_summary"}``
(see docs/models.md). Building ``GaitEdge`` (and ``GaitGL-E2E``) with ``ops_backend="fused"`` (the default) needs
the compiled ops (``gaitedge._C``, via ``gaitedge.nn``); with ``ops_backend="reference"``, and for the other models,
plain PyTorch is enough.
"""

from ._base import to_channels_last_
from .batched_embed import BatchedEmbedder
from ._registry import create_model, list_models, model_factory, register_model
from .checkpoint import (CheckpointError, CheckpointMismatchError, LoadResult, load_opengait_checkpoint,
                         read_opengait_state_dict, save_opengait_checkpoint)
from .gaitedge import GaitEdge
from .gaitgl import GaitGL
from .gaitpart import GaitPart
from .gaitset import GaitSet
from .unet import Segmentation, UNet

__all__ = [
    "create_model",
    "list_models",
    "model_factory",
    "register_model",
    "CheckpointError",
    "CheckpointMismatchError",
    "LoadResult",
    "load_opengait_checkpoint",
    "read_opengait_state_dict",
    "save_opengait_checkpoint",
    "GaitGL",
    "GaitPart",
    "GaitSet",
    "Segmentation",
    "UNet",
    "GaitEdge",
    "to_channels_last_",
    "BatchedEmbedder",
]

