"""SynthGait: the built-in, procedurally generated two-domain gait dataset (see ``docs/data.md``)."""

from .export import generate_synthgait
from .generator import ALIGNED_H, ALIGNED_W, DEFAULT_CONDITIONS, VIEWS, Identity, SynthGait

__all__ = ["SynthGait", "Identity", "generate_synthgait", "VIEWS", "DEFAULT_CONDITIONS", "ALIGNED_H", "ALIGNED_W"]
