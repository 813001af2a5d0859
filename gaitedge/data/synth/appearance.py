"""Gait-irrelevant appearance: skin, hair, outfits (colours, textures, sleeves), bags, and their per-primitive colours.

As in CASIA-B, an identity keeps one outfit over all its normal (and bag) sequences, so colour identifies people
in-domain; the clothing-change condition swaps in a second outfit with a coat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body import PRIMITIVES

__all__ = ["Outfit", "sample_skin_hair", "sample_outfit", "sample_bag_colour", "primitive_colours"]

_SKIN = np.array([[250, 220, 195], [232, 190, 150], [200, 140, 100], [150, 95, 62], [95, 60, 40]], np.float32)
_HAIR = np.array([[22, 16, 12], [60, 40, 25], [115, 80, 45], [205, 175, 115], [150, 148, 145]], np.float32)
_DARK = np.array([[30, 35, 60], [35, 35, 38], [70, 75, 85], [150, 130, 95], [60, 80, 120], [90, 60, 50]], np.float32)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    rgb = v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return (rgb * 255.0).astype(np.float32)


@dataclass(frozen=True)
class Outfit:
    """One set of clothes. Colours are float32 RGB in 0..255."""

    top: np.ndarray  # shirt, or the coat when ``coat`` is set
    pants: np.ndarray
    shoes: np.ndarray
    pattern: int  # 0 plain, 1 horizontal stripes, 2 vertical stripes, 3 checks
    period: float  # stripe period as a fraction of body height
    contrast: float  # texture amplitude (multiplicative)
    long_sleeves: bool
    coat: bool


def sample_skin_hair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Skin and hair colour of one identity (float32 RGB)."""
    i = rng.uniform(0, len(_SKIN) - 1)
    lo = int(np.floor(i))
    skin = _SKIN[lo] + (i - lo) * (_SKIN[min(lo + 1, len(_SKIN) - 1)] - _SKIN[lo])
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.15)
    return skin.astype(np.float32), np.clip(hair, 0, 255).astype(np.float32)


def sample_outfit(rng: np.random.Generator, coat: bool = False) -> Outfit:
    """A random outfit; ``coat`` draws a muted long coat as the top layer."""
    if coat:
        top = _hsv_to_rgb(rng.uniform(), rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.7))
    else:
        top = _hsv_to_rgb(rng.uniform(), rng.uniform(0.2, 0.95), rng.uniform(0.3, 0.97))
    if rng.uniform() < 0.6:
        pants = _DARK[rng.integers(len(_DARK))] * rng.uniform(0.8, 1.2)
    else:
        pants = _hsv_to_rgb(rng.uniform(), rng.uniform(0.1, 0.7), rng.uniform(0.2, 0.8))
    shoes = np.array([235, 235, 230], np.float32) if rng.uniform() < 0.3 else _DARK[rng.integers(len(_DARK))] * 0.7
    return Outfit(
        top=np.clip(top, 0, 255).astype(np.float32),
        pants=np.clip(pants, 0, 255).astype(np.float32),
        shoes=np.clip(shoes, 0, 255).astype(np.float32),
        pattern=int(rng.integers(4)) if not coat else int(rng.integers(2)),
        period=float(rng.uniform(0.025, 0.08)),
        contrast=float(rng.uniform(0.15, 0.45)),
        long_sleeves=bool(coat or rng.uniform() < 0.5),
        coat=coat,
    )


def sample_bag_colour(rng: np.random.Generator) -> np.ndarray:
    """A bag colour (float32 RGB)."""
    return np.clip(_hsv_to_rgb(rng.uniform(), rng.uniform(0.1, 0.8), rng.uniform(0.15, 0.75)), 0, 255)


def primitive_colours(
    skin: np.ndarray, hair: np.ndarray, outfit: Outfit, bag_colour: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Colour and texture flag of every body primitive.

    Returns:
        ``(colours [P, 3] float32, textured [P] bool)`` in ``PRIMITIVES`` order.
    """
    table = {
        "head": skin, "hair": hair, "neck": skin,
        "torso_r": outfit.top, "torso_l": outfit.top, "torso_c": outfit.top, "shoulders": outfit.top, "pelvis": outfit.pants,
        "thigh_r": outfit.pants, "shin_r": outfit.pants, "foot_r": outfit.shoes,
        "thigh_l": outfit.pants, "shin_l": outfit.pants, "foot_l": outfit.shoes,
        "upper_arm_r": outfit.top, "forearm_r": outfit.top if outfit.long_sleeves else skin, "hand_r": skin,
        "upper_arm_l": outfit.top, "forearm_l": outfit.top if outfit.long_sleeves else skin, "hand_l": skin,
        "bag": bag_colour if bag_colour is not None else outfit.top,
        "strap": (bag_colour * 0.7) if bag_colour is not None else outfit.top,
        "coat_r": outfit.top, "coat_l": outfit.top,
    }  # fmt: skip
    colours = np.stack([np.asarray(table[name], np.float32) for name in PRIMITIVES])  # [P, 3]
    textured_parts = {"torso_r", "torso_l", "torso_c", "shoulders", "upper_arm_r", "upper_arm_l", "coat_r", "coat_l"}
    if outfit.long_sleeves:
        textured_parts |= {"forearm_r", "forearm_l"}
    textured = np.array([name in textured_parts for name in PRIMITIVES])
    return colours, textured
