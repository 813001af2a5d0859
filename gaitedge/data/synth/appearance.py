"""Gait-irrelevant appearance: skin, hair, outfits (colours, textures, sleeves), bags, and their per-primitive colours.

Everything is drawn from small discrete sets, so colour helps without identifying people: many identities share a
skin tone, a hair colour, a top or a pair of trousers, and a nearest neighbour on mean colour confuses them.

* Skin and hair come as one of three (skin, hair) :data:`LOOKS`, shared by both domains, with no per-identity jitter.
* Clothing comes from a per-domain :class:`Palette`: ``indoor`` dresses people in muted office colours with plain
  or horizontally striped tops; ``outdoor`` in a different, brighter set with plain, checked or vertically striped
  tops. The renderer shades, lights and blurs clothes like the scene around them, and adds the camera's noise. Sleeve length belongs to the top and shoes to the trousers, and each texture is a fixed (pattern, period,
  contrast) entry, so none of them adds a per-person continuum. Coats (the clothing-change condition) come from a
  small per-domain coat palette. Bags come from a few shared colours. The appearance shift between domains is
  therefore clothing, background and lighting; body shape and gait statistics (``body.py``) are shared.

As in CASIA-B, an identity keeps one outfit over all its normal (and bag) sequences; the clothing-change condition
swaps in a coat. :func:`sample_outfit` with ``avoid`` draws another outfit of the same palette, uniformly among the
(top, trousers) pairs other than the identity's own (the recolour probe condition): usually both pieces change,
sometimes only one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body import PRIMITIVES

__all__ = [
    "Outfit", "Palette", "PALETTES", "LOOKS", "sample_skin_hair", "sample_outfit", "sample_bag_colour",
    "primitive_colours",
]  # fmt: skip

# Looks shared by both domains: (skin, hair) pairs, float32 RGB in 0..255.
LOOKS = np.array(
    [
        [[232, 192, 156], [104, 70, 42]],  # light skin, brown hair
        [[196, 140, 102], [30, 24, 20]],  # medium skin, black hair
        [[124, 84, 58], [22, 18, 16]],  # dark skin, black hair
    ],
    np.float32,
)  # [k, 2 (skin, hair), 3]

_BAG_COLOURS = np.array([[40, 40, 44], [92, 66, 46], [70, 84, 110], [140, 128, 110]], np.float32)  # [4, 3]

# Texture entries: (pattern, period as a fraction of body height, contrast). Patterns: 0 plain, 1 horizontal
# stripes, 2 vertical stripes, 3 checks.
_PLAIN = (0, 0.05, 0.0)


@dataclass(frozen=True)
class Palette:
    """The clothes of one domain. Colours are float32 RGB in 0..255, one row per entry."""

    tops: np.ndarray  # [k, 3]
    sleeves: tuple[bool, ...]  # [k] long sleeves of each top
    pants: np.ndarray  # [k, 3]
    shoes: np.ndarray  # [k, 3] the shoes worn with each pair of pants
    coats: np.ndarray  # [k, 3]
    textures: tuple[tuple[int, float, float], ...]  # shirt textures
    coat_textures: tuple[tuple[int, float, float], ...]


# Four tops and three pairs of trousers per domain (12 outfits, 36 looks with skin and hair). The palettes differ
# in every colour but overlap in brightness (each has dark and light pieces, light and dark shoes), as the clothes of
# two real datasets do: a recolour probe is a
# random draw among the 11 other outfits, so it keeps the identity's top or trousers now and then, as a real change
# of clothes does. Colours are close enough within a palette that the per-walk light (``scene.sample_lighting``)
# confuses neighbours; ``gaitedge.evaluation.colour_baseline`` measures how much colour alone identifies people.
PALETTES: dict[str, Palette] = {
    "indoor": Palette(
        tops=np.array([[52, 62, 92], [128, 130, 134], [172, 156, 128], [58, 82, 64]], np.float32),  # navy, grey,
        sleeves=(True, False, True, False),  # beige, bottle green: [4, 3]
        pants=np.array([[38, 38, 42], [74, 72, 70], [118, 106, 84]], np.float32),  # black, charcoal, khaki: [3, 3]
        shoes=np.array([[30, 26, 24], [220, 218, 210], [88, 58, 40]], np.float32),  # black, white, brown: [3, 3]
        coats=np.array([[62, 64, 70], [152, 122, 84]], np.float32),  # charcoal, camel: [2, 3]
        textures=(_PLAIN, (1, 0.045, 0.35), (3, 0.05, 0.25)),  # plain, horizontal stripes, small checks
        coat_textures=(_PLAIN,),
    ),
    "outdoor": Palette(
        tops=np.array([[196, 58, 48], [212, 104, 56], [214, 152, 60], [110, 52, 46]], np.float32),  # red, orange,
        sleeves=(False, True, False, True),  # mustard, maroon: [4, 3]
        pants=np.array([[62, 86, 132], [80, 86, 112], [104, 104, 92]], np.float32),  # denim, slate, putty: [3, 3]
        shoes=np.array([[228, 228, 222], [64, 60, 66], [150, 40, 40]], np.float32),  # white, dark grey, red: [3, 3]
        coats=np.array([[44, 58, 98], [104, 110, 70]], np.float32),  # navy parka, olive: [2, 3]
        textures=(_PLAIN, (3, 0.06, 0.3), (2, 0.05, 0.35)),  # plain, checks, vertical stripes
        coat_textures=(_PLAIN, (3, 0.08, 0.2)),
    ),
}


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
    """Skin and hair colour of one identity (float32 RGB): one of the :data:`LOOKS` shared by both domains."""
    skin, hair = LOOKS[rng.integers(len(LOOKS))]
    return skin.copy(), hair.copy()


def _pick(rng: np.random.Generator, colours: np.ndarray) -> int:
    """Index of one row of ``colours``, uniformly."""
    return int(rng.integers(len(colours)))


def _index(colours: np.ndarray, colour: np.ndarray) -> int:
    rows = np.flatnonzero((colours == colour).all(1))
    return int(rows[0]) if len(rows) else -1


def sample_outfit(rng: np.random.Generator, domain: str, coat: bool = False, avoid: Outfit | None = None) -> Outfit:
    """An outfit from ``domain``'s palette.

    Args:
        rng: the draws' source.
        domain: "indoor" or "outdoor" (a key of :data:`PALETTES`).
        coat: draw a long coat from the domain's coat palette as the top layer.
        avoid: an outfit whose (top, pants) pair this one must not repeat; one of the two may be the same.
    """
    if domain not in PALETTES:
        raise ValueError(f"domain must be one of {tuple(PALETTES)}, got {domain!r}")
    pal = PALETTES[domain]
    tops = pal.coats if coat else pal.tops
    if avoid is None:
        t, p = _pick(rng, tops), _pick(rng, pal.pants)
    else:  # uniformly among the (top, pants) pairs other than the one to avoid
        pairs = [(i, j) for i in range(len(tops)) for j in range(len(pal.pants))
                 if (i, j) != (_index(tops, avoid.top), _index(pal.pants, avoid.pants))]
        t, p = pairs[int(rng.integers(len(pairs)))]
    textures = pal.coat_textures if coat else pal.textures
    pattern, period, contrast = textures[rng.integers(len(textures))]
    long_sleeves = True if coat else pal.sleeves[t]
    return Outfit(
        tops[t].copy(), pal.pants[p].copy(), pal.shoes[p].copy(), int(pattern), float(period), float(contrast),
        bool(long_sleeves), coat,
    )  # fmt: skip


def sample_bag_colour(rng: np.random.Generator) -> np.ndarray:
    """A bag colour (float32 RGB): one of a few dark or neutral shades shared by both domains."""
    return _BAG_COLOURS[rng.integers(len(_BAG_COLOURS))].copy()


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
