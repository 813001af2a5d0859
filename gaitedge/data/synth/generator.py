"""SynthGait: procedural two-domain gait sequences in CASIA-B*'s form, deterministic from a seed.

Every random draw comes from a ``SeedSequence`` keyed by (seed, domain, what, subject, condition, view), so a
sequence's bytes depend only on those keys: generating a subset, or in another order, gives the same arrays.
A walk (identity traits + per-walk variation, phase, lighting, bag) is shared by the 11 views of one sequence, as
CASIA-B records each walk with 11 cameras at once; cameras, backgrounds and box jitter differ per view.

Conditions: ``nm`` (normal walking, the identity's own outfit), ``bg`` (same outfit, with a bag), ``cl`` (a coat)
and the optional probe condition ``rc`` (recolour). ``rc-0j`` re-renders the walk of the NM probe ``nm-0(4+j)``
with the same motion, camera, background, lighting, box jitter and therefore byte-identical silhouettes, but in a
fresh outfit of the domain's palette (never a coat; top and pants colours both differ from the identity's own) drawn
from its own seed key. A recogniser that matches NM probes but not their RC twins is reading clothing colour.

``aligned_sils`` is GaitAlign's crop (``gaitedge.ops.gait_align``, ``mode="opengait"``, 64×44) of the sequence's
own 0/1 silhouette crop and ratio, quantised as ``round(255 · v)``. A recogniser trained on ``aligned_sils`` (phase
1) is later fed GaitAlign crops of a segmentation of the 128×128 crop (phase 2); with this definition a perfect
segmenter's phase-2 input equals phase 1's training input exactly, so any gap between the phases comes from the
segmentation, not from two different size normalisations. With box jitter on, the crop is taken from the
silhouette of the unjittered (tight) box, so ``aligned_sils`` stays the undisturbed reference.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .appearance import Outfit, primitive_colours, sample_bag_colour, sample_outfit, sample_skin_hair
from .body import PRIMITIVES, perturb_traits, sample_traits, walk_capsules
from .raster import rasterise
from .scene import DOMAINS, FRAME_W, background, sample_camera, sample_imaging, sample_lighting

__all__ = ["SynthGait", "Identity", "VIEWS", "DEFAULT_CONDITIONS", "ALIGNED_H", "ALIGNED_W"]

VIEWS: tuple[int, ...] = tuple(range(0, 181, 18))
DEFAULT_CONDITIONS: dict[str, int] = {"nm": 6, "bg": 2, "cl": 2}
ALIGNED_H, ALIGNED_W = 64, 44
_COND_CODE = {"nm": 1, "bg": 2, "cl": 3}  # seed keys of the walks; "rc" reuses the NM probe walks' keys
_CONDITIONS = ("nm", "bg", "cl", "rc")
_RC_FIRST_NM = 4  # rc-0j re-renders nm-0(4+j), the j-th NM probe walk
_BAGS = ("backpack", "shoulder", "hand")
_P = len(PRIMITIVES)


@dataclass(frozen=True)
class Identity:
    """One person: gait traits (identity) and appearance (gait-irrelevant)."""

    traits: dict
    skin: np.ndarray
    hair: np.ndarray
    outfit: Outfit  # worn in NM and BG sequences
    cl_outfit: Outfit  # the clothing-change outfit (with a coat)


class SynthGait:
    """In-memory SynthGait generator.

    Args:
        domain: "indoor" (plain backgrounds, horizontal camera) or "outdoor" (cluttered scenes, elevated camera,
            lighting changes). The two domains hold different people for the same ``seed``.
        subjects: number of identities; ids are "001", "002", ...
        seed: master seed; identical arguments give identical bytes.
        views: view angles in degrees (yaw around the vertical axis; 0 = walking towards the camera).
        frames: frames per sequence, an int or an inclusive ``(low, high)`` range drawn per sequence.
        conditions: sequences per condition, e.g. ``{"nm": 6, "bg": 2, "cl": 2}`` (types "nm-01", ...); an optional
            ``"rc": k`` adds the recolour probes ``rc-01..0k`` (k <= nm - 4, see the module docstring).
        size: side of the square RGB / silhouette crops (128 for CASIA-B*).
        fps: frame rate of the walk.
        jitter_prob: probability that a frame's crop box is shifted (the paper's Fig. 6 disturbance; 0 = off).
        jitter_pixels: largest shift, in crop pixels, along each axis.
        variation: per-walk trait variation as a fraction of each trait's identity range.
        backgrounds: size of the domain's scene pool: None draws a new scene for every sequence (view of a walk);
            an int ``k`` makes every sequence pick one of ``k`` fixed scenes, shared by train and test subjects
            (``k = 3`` with three views is a CASIA-B-like hall that a segmenter can learn by heart).
        camera: the domain whose camera geometry is used (None: ``domain``'s own). ``SynthGait("outdoor",
            camera="indoor")`` renders the same people, walks, scenes and light as ``SynthGait("outdoor")`` seen by
            the indoor (horizontal) camera: the control that separates camera pitch from appearance.
    """

    def __init__(
        self,
        domain: str = "indoor",
        subjects: int = 16,
        seed: int = 0,
        views: tuple[int, ...] | list[int] = VIEWS,
        frames: int | tuple[int, int] = 30,
        conditions: dict[str, int] | None = None,
        size: int = 128,
        fps: float = 25.0,
        jitter_prob: float = 0.0,
        jitter_pixels: float = 16.0,
        variation: float = 0.06,
        backgrounds: int | None = None,
        camera: str | None = None,
    ) -> None:
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        if not isinstance(subjects, (int, np.integer)) or not 1 <= subjects <= 999:
            raise ValueError(f"subjects must be an int in [1, 999], got {subjects!r}")
        views = tuple(int(v) for v in views)
        if not views or any(not 0 <= v <= 359 for v in views) or len(set(views)) != len(views):
            raise ValueError(f"views must be distinct angles in [0, 359] degrees, got {views!r}")
        lo, hi = (frames, frames) if isinstance(frames, (int, np.integer)) else tuple(frames)
        if not 1 <= lo <= hi:
            raise ValueError(f"frames must be a positive int or a (low, high) range with low <= high, got {frames!r}")
        conditions = dict(DEFAULT_CONDITIONS if conditions is None else conditions)
        bad = [k for k in conditions if k not in _CONDITIONS]
        counts = conditions.values()
        if bad or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= 99 for n in counts):
            raise ValueError(f"conditions must map 'nm'/'bg'/'cl'/'rc' to counts in [0, 99], got {conditions!r}")
        conditions = {k: int(n) for k, n in conditions.items()}
        if conditions.get("rc", 0) > max(conditions.get("nm", 0) - _RC_FIRST_NM, 0):
            raise ValueError(f"conditions: 'rc' re-renders the NM probe walks nm-05, nm-06, ...; it needs "
                             f"rc <= nm - {_RC_FIRST_NM}, got {conditions!r}")
        if not 16 <= size <= 1024:
            raise ValueError(f"size must be in [16, 1024], got {size}")
        if not 0.0 <= jitter_prob <= 1.0:
            raise ValueError(f"jitter_prob must be in [0, 1], got {jitter_prob}")
        if backgrounds is not None and (isinstance(backgrounds, bool) or not isinstance(backgrounds, (int, np.integer))
                                        or not 1 <= backgrounds <= 10**9):
            raise ValueError(f"backgrounds must be None or an int in [1, 1e9], got {backgrounds!r}")
        if camera is not None and camera not in DOMAINS:
            raise ValueError(f"camera must be None or one of {DOMAINS}, got {camera!r}")
        self.domain = domain
        self.num_subjects = int(subjects)
        self.seed = int(seed)
        self.view_angles = views
        self.frames = (int(lo), int(hi))
        self.conditions = conditions
        self.size = int(size)
        self.fps = float(fps)
        self.jitter_prob = float(jitter_prob)
        self.jitter_pixels = float(jitter_pixels)
        self.variation = float(variation)
        self.backgrounds = None if backgrounds is None else int(backgrounds)
        self.camera = domain if camera is None else camera
        self._domain_code = DOMAINS.index(domain) + 1

    def cache_key(self) -> tuple:
        """Every argument the rendered bytes depend on (for caches of rendered sequences)."""
        return (self.domain, self.num_subjects, self.seed, self.view_angles, self.frames,
                tuple(sorted(self.conditions.items())), self.size, self.fps, self.jitter_prob, self.jitter_pixels,
                self.variation, self.backgrounds, self.camera)

    # ----------------------------------------------------------------------------------------------- naming
    @property
    def ids(self) -> list[str]:
        return [f"{i + 1:03d}" for i in range(self.num_subjects)]

    @property
    def types(self) -> list[str]:
        return [f"{c}-{k + 1:02d}" for c in _CONDITIONS for k in range(self.conditions.get(c, 0))]

    @property
    def views(self) -> list[str]:
        return [f"{v:03d}" for v in self.view_angles]

    def keys(self) -> list[tuple[str, str, str]]:
        """Every (id, type, view) in a fixed order."""
        return [(i, t, v) for i in self.ids for t in self.types for v in self.views]

    def partition(self, train_fraction: float = 0.6) -> dict[str, list[str]]:
        """OpenGait-style split: the first ``round(train_fraction · subjects)`` ids train (CASIA-B: 74/124)."""
        if not 0.0 <= train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in [0, 1], got {train_fraction}")
        n = int(round(train_fraction * self.num_subjects))
        return {"TRAIN_SET": self.ids[:n], "TEST_SET": self.ids[n:]}

    def protocols(self) -> dict:
        """Gallery/probe type lists: CASIA-B style (NM#01-04 vs NM/BG/CL/RC rest) and TTG-200 style (#1 vs the rest).

        RC probes are listed separately in both (TTG-200's ``ALL`` keeps its meaning with or without them).
        """
        nm = [t for t in self.types if t.startswith("nm")]
        cond = {c.upper(): [t for t in self.types if t.startswith(c)] for c in _CONDITIONS}
        n_gallery = min(4, max(len(nm) - 1, 0))
        cond["NM"] = nm[n_gallery:]
        casia = {"gallery": nm[:n_gallery], "probes": {k: v for k, v in cond.items() if v}}
        types = [t for t in self.types if not t.startswith("rc")]
        ttg = {"gallery": types[:1], "probes": {"ALL": types[1:]}}
        if cond["RC"]:
            ttg["probes"]["RC"] = cond["RC"]
        return {"casia-b": casia, "ttg-200": ttg}

    # ----------------------------------------------------------------------------------------------- randomness
    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, self._domain_code, *key]))

    def _subject_index(self, subject: int | str) -> int:
        if isinstance(subject, str):
            if not subject.isdigit() or not 1 <= int(subject) <= self.num_subjects:
                raise KeyError(f"unknown subject {subject!r}; ids are '001'..'{self.num_subjects:03d}'")
            return int(subject) - 1
        if not 0 <= int(subject) < self.num_subjects:
            raise KeyError(f"subject index {subject} out of range [0, {self.num_subjects})")
        return int(subject)

    @functools.lru_cache(maxsize=256)
    def identity(self, subject: int | str) -> Identity:
        """Traits and outfits of one subject (0-based index or id string)."""
        s = self._subject_index(subject)
        rng = self._rng(1, s)
        traits = sample_traits(rng)
        skin, hair = sample_skin_hair(rng)
        outfit = sample_outfit(rng, self.domain)
        return Identity(traits, skin, hair, outfit, sample_outfit(rng, self.domain, coat=True))

    def rc_outfit(self, subject: int | str, number: int) -> Outfit:
        """The outfit of probe ``rc-<number>``: the domain's palette, no coat, top and pants unlike the NM outfit."""
        s = self._subject_index(subject)
        return sample_outfit(self._rng(5, s, int(number)), self.domain, avoid=self.identity(s).outfit)

    def _scene(self, s: int, cond_code: int, num: int, yaw: int) -> np.ndarray:
        """The scene behind one view of one walk: its own, or one of the pool's ``backgrounds``."""
        if self.backgrounds is None:
            return background(self.domain, self._rng(4, s, cond_code, num, yaw))
        return self._pooled_scene(int(self._rng(7, s, cond_code, num, yaw).integers(self.backgrounds)))

    @functools.lru_cache(maxsize=256)
    def _pooled_scene(self, k: int) -> np.ndarray:
        return background(self.domain, self._rng(4, 0, 0, 0, 0, k))

    # ----------------------------------------------------------------------------------------------- rendering
    def sequence(self, subject: int | str, type: str, view: int | str) -> dict[str, np.ndarray]:
        """Render one sequence.

        Args:
            subject: 0-based index or id string ("001").
            type: condition and number, e.g. "nm-01", "bg-02", "cl-01", "rc-01".
            view: angle in degrees (int) or its 3-digit name ("090").

        Returns:
            ``{"rgbs": uint8 [n, 3, S, S], "sils": uint8 [n, S, S] (0/255), "ratios": float32 [n] (w/h of the
            box), "aligned_sils": uint8 [n, 64, 44], "boxes": float32 [n, 4] (x0, y0, x1, y1 crop box in the
            320×240 frame)}`` with S = ``size``.
        """
        s = self._subject_index(subject)
        cond, num = self._parse_type(type)
        yaw = self._parse_view(view)
        ident = self.identity(s)
        if cond == "rc":
            outfit = self.rc_outfit(s, num)
            cond, num = "nm", _RC_FIRST_NM + num  # the NM probe walk it re-renders: every draw below is that walk's
        else:
            outfit = ident.cl_outfit if cond == "cl" else ident.outfit
        walk = self._rng(2, s, _COND_CODE[cond], num)
        traits = perturb_traits(ident.traits, walk, self.variation)
        n = int(walk.integers(self.frames[0], self.frames[1] + 1))
        phase0 = float(walk.uniform(0, 2 * np.pi))
        lighting = sample_lighting(self.domain, walk)
        bag = _BAGS[int(walk.integers(len(_BAGS)))] if cond == "bg" else None
        bag_colour = sample_bag_colour(walk) if bag else None
        cam_rng = self._rng(3, s, _COND_CODE[cond], num, yaw)
        camera = sample_camera(self.camera, yaw, cam_rng)
        scene = self._scene(s, _COND_CODE[cond], num, yaw)
        imaging_rng = self._rng(6, s, _COND_CODE[cond], num, yaw)  # also the sensor noise: RC keeps it
        imaging = sample_imaging(self.domain, imaging_rng)

        times = np.arange(n) / self.fps
        a3, b3, radius, bias = walk_capsules(traits, times, phase0, bag=bag, coat=outfit.coat)
        pa, pb, rad, depth = self._project(a3, b3, radius, bias, traits, times, camera)
        present = rad >= 0
        rank = np.argsort(np.argsort(-depth, axis=1, kind="stable"), axis=1)  # far → low rank
        tight = np.stack(
            [
                np.where(present, np.minimum(pa[..., 0], pb[..., 0]) - rad, np.inf).min(1),
                np.where(present, np.minimum(pa[..., 1], pb[..., 1]) - rad, np.inf).min(1),
                np.where(present, np.maximum(pa[..., 0], pb[..., 0]) + rad, -np.inf).max(1),
                np.where(present, np.maximum(pa[..., 1], pb[..., 1]) + rad, -np.inf).max(1),
            ],
            -1,
        )  # [n, 4]
        box = tight.copy()
        if self.jitter_prob > 0:
            shift = cam_rng.uniform(-self.jitter_pixels, self.jitter_pixels, (n, 2))
            shift *= (cam_rng.uniform(size=n) < self.jitter_prob)[:, None]
            pitch = (tight[:, 2:] - tight[:, :2]) / self.size  # frame px per crop px, [n, 2]
            box[:, :2] += shift * pitch
            box[:, 2:] += shift * pitch
        S = self.size
        top = rasterise(pa, pb, rad, rank, box, S, S)  # [n, S, S]
        colours, textured = primitive_colours(ident.skin, ident.hair, outfit, bag_colour)
        rgbs = self._shade(top, rank, depth, colours, textured, outfit, box, tight, scene, lighting, imaging,
                           imaging_rng)
        sils = ((top >= 0) * 255).astype(np.uint8)  # [n, S, S]
        ratios = ((box[:, 2] - box[:, 0]) / (box[:, 3] - box[:, 1])).astype(np.float32)  # [n]
        # GaitAlign of the tight box's silhouette: the sequence's own sils unless the box was jittered.
        person = top >= 0 if self.jitter_prob == 0 else rasterise(pa, pb, rad, rank, tight, S, S) >= 0  # [n, S, S]
        aligned = _gait_align_sils(person, ratios)
        return {"rgbs": rgbs, "sils": sils, "ratios": ratios, "aligned_sils": aligned, "boxes": box.astype(np.float32)}

    def sequences(self):
        """Yield ``((id, type, view), arrays)`` for every sequence, in ``keys()`` order."""
        for key in self.keys():
            yield key, self.sequence(*key)

    def _parse_type(self, type: str) -> tuple[str, int]:
        try:
            cond, num = type.split("-")
            num = int(num)
        except (AttributeError, ValueError):
            raise KeyError(f"type must look like 'nm-01', got {type!r}") from None
        if cond not in _CONDITIONS or not 1 <= num <= self.conditions.get(cond, 0):
            raise KeyError(f"unknown type {type!r}; this dataset has {self.types}")
        return cond, num

    def _parse_view(self, view: int | str) -> int:
        yaw = int(view)
        if yaw not in self.view_angles:
            raise KeyError(f"unknown view {view!r}; this dataset has {self.views}")
        return yaw

    def _project(self, a3, b3, radius, bias, traits, times, camera):
        """Person-local capsules → frame pixels (weak perspective), plus each primitive's depth."""
        yaw = np.radians(camera.yaw_deg)
        pitch = np.radians(camera.pitch_deg)
        fwd = np.array([np.sin(yaw), -np.cos(yaw)])  # walking direction in camera (X right, Z depth)
        right = np.array([-np.cos(yaw), -np.sin(yaw)])
        h = traits["height"]
        speed = 4.0 * h * traits["leg"] * np.sin(np.radians(traits["stride"])) * traits["cadence"]
        travel = (times - times.mean()) * speed  # [n]
        pos = travel[:, None] * fwd  # [n, 2]

        def to_camera(p):  # p: [n, P, 3] local (right, up, forward)
            x = pos[:, None, 0] + p[..., 0] * right[0] + p[..., 2] * fwd[0]
            z = pos[:, None, 1] + p[..., 0] * right[1] + p[..., 2] * fwd[1]
            y = p[..., 1]
            up = y * np.cos(pitch) + z * np.sin(pitch)
            depth = z * np.cos(pitch) - y * np.sin(pitch)
            return x, up, depth

        scale = camera.px_per_m * camera.distance / (camera.distance + pos[:, 1] * np.cos(pitch))  # [n]
        xa, ua, da = to_camera(a3)
        xb, ub, db = to_camera(b3)
        sc = scale[:, None]
        pa = np.stack([camera.centre_col + sc * xa, camera.ground_row - sc * ua], -1)  # [n, P, 2]
        pb = np.stack([camera.centre_col + sc * xb, camera.ground_row - sc * ub], -1)
        rad = np.where(radius[None] >= 0, radius[None] * sc, -1.0)  # [n, P]
        depth = (da + db) / 2 + bias[None]
        return pa, pb, rad, depth

    def _shade(self, top, rank, depth, colours, textured, outfit, box, tight, background, lighting, imaging, rng):
        """Colour the visible primitives, texture the clothes, composite over the scene, then light and photograph
        the whole frame: the person is lit by the same light field as the scene around it, rounded off towards its
        outline, blurred by the same optics and noised by the same sensor.

        One gather per channel composites: each pixel indexes either the scene or a per-frame palette of primitive
        colours (shaded by depth, in a light and a dark variant for striped or checked clothes).
        """
        n, S, _ = top.shape
        order = np.argsort(rank, axis=1)  # [n, P]: primitive at each rank
        # Limbs on the far side of the body are darker.
        centre = np.median(depth, axis=1, keepdims=True)
        shade = np.clip(1.0 - 0.8 * (depth - centre), 0.72, 1.15)  # [n, P]
        col = colours[order] * np.take_along_axis(shade, order, 1)[..., None]  # [n, P, 3]
        tex = textured[order][..., None]  # [n, P, 1]
        half = 0.5 * outfit.contrast
        palette = np.concatenate([np.where(tex, col * (1 + half), col), np.where(tex, col * (1 - half), col)], 1)
        palette = np.clip(palette + 0.5, 0, 255).astype(np.uint8)  # [n, 2P, 3]
        mid = (tight[:, 0] + tight[:, 2]) / 2  # [n]
        ys = box[:, 1, None] + (np.arange(S) + 0.5) * ((box[:, 3] - box[:, 1]) / S)[:, None]  # [n, S] frame rows
        xs = box[:, 0, None] + (np.arange(S) + 0.5) * ((box[:, 2] - box[:, 0]) / S)[:, None]  # [n, S] frame cols
        period = outfit.period * (tight[:, 3] - tight[:, 1])[:, None]
        row_dark = ((ys - tight[:, 1, None]) / period) % 1.0 >= 0.5  # [n, S]
        col_dark = ((xs - mid[:, None]) / period) % 1.0 >= 0.5
        if outfit.pattern == 1:
            dark = np.broadcast_to(row_dark[:, :, None], (n, S, S))
        elif outfit.pattern == 2:
            dark = np.broadcast_to(col_dark[:, None, :], (n, S, S))
        elif outfit.pattern == 3:
            dark = row_dark[:, :, None] ^ col_dark[:, None, :]
        else:
            dark = np.zeros((n, S, S), bool)
        bh, bw = background.shape[1:]
        rgb = np.concatenate(
            [np.clip(background + 0.5, 0, 255).astype(np.uint8).reshape(3, -1), palette.transpose(2, 0, 1).reshape(3, -1)], 1
        )  # [3, bh·bw + n·2P]
        # Pack RGB(+pad) into one uint32 per colour so the gather moves 4 bytes per pixel once.
        source = np.zeros((rgb.shape[1], 4), np.uint8)
        source[:, :3] = rgb.T
        source = source.view(np.uint32)[:, 0]
        rows = np.clip(ys.astype(np.int32), 0, bh - 1)  # [n, S]
        cols = np.clip(xs.astype(np.int32), 0, bw - 1)
        bg_idx = rows[:, :, None] * np.int32(bw) + cols[:, None, :]  # [n, S, S]
        base = (bh * bw + np.arange(n, dtype=np.int32) * (2 * _P))[:, None, None]
        pal_idx = top + base
        pal_idx[dark] += _P
        person = top >= 0  # [n, S, S]
        idx = np.where(person, pal_idx, bg_idx)
        out = np.take(source, idx).view(np.uint8).reshape(n, S, S, 4)[..., :3]  # [n, S, S, 3]
        img = out.transpose(0, 3, 1, 2).astype(np.float32)  # [n, 3, S, S]
        # Light: the walk's gain (colour cast), the left-to-right ramp and the light field, at each pixel's frame spot.
        ramp = 1.0 + lighting.gradient * (cols / FRAME_W - 0.5)  # [n, S]
        light = lighting.field[rows[:, :, None], cols[:, None, :]] * ramp[:, None, :]  # [n, S, S]
        img *= light[:, None] * lighting.gain[None, :, None, None]
        # Rounded bodies: pixels near the outline (thin limbs, body edges) turn away from the light.
        r = max(1, round(2 * S / 64))
        inside = _box_blur(person.astype(np.float32)[:, None], r)[:, 0]  # [n, S, S], 1 deep inside the person
        img *= np.where(person, 0.78 + 0.22 * inside, 1.0)[:, None]
        img = _gaussian_blur(img, imaging.blur * S / 64)
        img += np.float32(imaging.noise) * rng.standard_normal(img.shape, dtype=np.float32)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)  # [n, 3, S, S]


def _box_blur(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window of ``[..., H, W]`` (edges replicated), by cumulative sums."""
    for axis in (-2, -1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(x, pad, mode="edge"), axis=axis, dtype=np.float32)
        hi = np.take(c, np.arange(2 * r + 1, c.shape[axis]), axis=axis)
        lo = np.take(c, np.arange(0, c.shape[axis] - 2 * r - 1), axis=axis)
        x = (hi - lo) / np.float32(2 * r + 1)
    return x


def _gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of ``[..., H, W]`` (edges replicated); sigma in pixels, < 0.2 leaves ``x``."""
    if sigma < 0.2:
        return x
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    for axis in (-2, -1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (r, r)
        xp = np.pad(x, pad, mode="edge")
        n = x.shape[axis]
        acc = np.zeros_like(x)
        for i, w in enumerate(k):
            acc += w * np.take(xp, np.arange(i, i + n), axis=axis)
        x = acc
    return x


def _gait_align_sils(person: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """OpenGait-mode GaitAlign crop of bool silhouettes ``[n, S, S]`` (ratios ``[n]``) → uint8 ``[n, 64, 44]``."""
    import torch  # the op library loads on first render, so importing SynthGait stays torch-free

    from gaitedge.ops import gait_align

    mask = torch.from_numpy(np.ascontiguousarray(person, np.float32)[:, None])  # [n, 1, S, S] in {0, 1}
    # A few frames of 64×44 work: one thread. Spreading it over the pool costs more than it does (on a busy 2-core
    # machine, 40 ms instead of 1 ms per sequence waiting for a descheduled worker). The setting is restored.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            out = gait_align(mask, mask, torch.from_numpy(ratios), out_size=(ALIGNED_H, ALIGNED_W), mode="opengait")
    finally:
        torch.set_num_threads(threads)
    return np.clip(np.rint(out[:, 0].numpy() * np.float32(255)), 0, 255).astype(np.uint8)  # [n, 64, 44]
