"""Training: losses, configs, checkpoints and the trainer loop (process groups: gaitedge.distributed; a whole
run, training then evaluation: gaitedge.experiment)."""

from gaitedge.training.checkpoint import load_checkpoint, load_model_weights, save_checkpoint
from gaitedge.training.config import list_configs, load_config
from gaitedge.training.losses import BCELoss, CrossEntropyLoss, LossAggregator, TripletLoss

__all__ = ["TripletLoss", "CrossEntropyLoss", "BCELoss", "LossAggregator", "load_config", "list_configs",
           "save_checkpoint", "load_checkpoint", "load_model_weights"]
