"""Data layer: SynthGait, on-disk formats (native .npy and OpenGait .pkl), pretreatment, datasets and sampling.

Items are ``(inputs: dict[str, np.ndarray], label, type, view)``; :class:`GaitCollate` makes the batch dict of
``interfaces.md``. See ``docs/data.md``.
"""

from .builders import build_dataset, build_test_loader, build_train_data
from .collate import GaitCollate, sample_frames
from .datasets import GaitDataset, SynthGaitDataset
from .formats import NativeStore, OpenGaitStore, UnsafePickleError, load_partition, open_store, safe_load_pkl
from .formats import write_partition
from .pretreatment import (
    box_from_mask,
    crop_box,
    normalise_sequence,
    normalise_silhouette,
    pretreat_rgb_sequence,
    pretreat_silhouette_folders,
)
from .samplers import InferenceSampler, TripletSampler
from .synth import SynthGait, generate_synthgait
from .transforms import RandomCropShift, RgbNormalise, SilhouetteCut, SilhouetteScale, default_transforms

__all__ = [
    "SynthGait", "generate_synthgait", "GaitDataset", "SynthGaitDataset", "GaitCollate", "sample_frames",
    "TripletSampler", "InferenceSampler", "NativeStore", "OpenGaitStore", "open_store", "load_partition",
    "write_partition", "safe_load_pkl", "UnsafePickleError", "normalise_silhouette", "normalise_sequence",
    "box_from_mask", "crop_box", "pretreat_rgb_sequence", "pretreat_silhouette_folders", "RgbNormalise",
    "SilhouetteScale", "SilhouetteCut", "RandomCropShift", "default_transforms",
]  # fmt: skip
