"""Per-modality transforms (numpy in, float32 numpy out) and the joint crop-jitter transform.

Semantics follow OpenGait's ``BaseRgbTransform`` / ``BaseSilTransform`` / ``BaseSilCuttingTransform``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RgbNormalise",
    "SilhouetteScale",
    "SilhouetteCut",
    "Identity",
    "RandomCropShift",
    "default_transforms",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class RgbNormalise:
    """``[s, 3, H, W]`` RGB in 0-255 → ImageNet-normalised float32."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> None:
        self.mean = (np.asarray(mean, np.float32) * 255).reshape(1, 3, 1, 1)
        self.std = (np.asarray(std, np.float32) * 255).reshape(1, 3, 1, 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"rgbs must be [s, 3, H, W], got shape {x.shape}")
        return (x.astype(np.float32) - self.mean) / self.std


class SilhouetteScale:
    """Silhouettes 0-255 → float32 0-1 (``x / divisor``)."""

    def __init__(self, divisor: float = 255.0) -> None:
        self.divisor = float(divisor)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.dtype == bool:
            return x.astype(np.float32)
        return x.astype(np.float32) / self.divisor


class SilhouetteCut(SilhouetteScale):
    """``/255`` and drop ``int(W // 64) * 10`` columns per side: 64 → 44 wide; 44-wide input passes unchanged."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        cut = int(x.shape[-1] // 64) * 10
        if cut:
            x = x[..., cut:-cut]
        return super().__call__(x)


class Identity:
    """Cast to float32 only (ratios)."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float32)


class RandomCropShift:
    """Shift whole frames of the crops by random pixel offsets (the paper's Fig. 6 detector disturbance).

    Applied to a sequence's dict before the per-modality transforms; ``rgbs`` and ``sils`` of a frame move together.
    Uncovered RGB pixels replicate the border, uncovered silhouette pixels are 0.

    Args:
        prob: probability that a frame is shifted.
        max_shift: largest offset in pixels along each axis.
        keys: modalities to shift (frames ``[s, ..., H, W]``).
    """

    def __init__(self, prob: float = 0.5, max_shift: int = 16, keys=("rgbs", "sils")) -> None:
        if not 0.0 <= prob <= 1.0 or max_shift < 0:
            raise ValueError(f"prob must be in [0, 1] and max_shift >= 0, got {prob}, {max_shift}")
        self.prob = prob
        self.max_shift = int(max_shift)
        self.keys = tuple(keys)

    def __call__(self, seq: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        present = [k for k in self.keys if k in seq]
        if not present or self.max_shift == 0:
            return seq
        n = seq[present[0]].shape[0]
        shifts = rng.integers(-self.max_shift, self.max_shift + 1, (n, 2))
        shifts *= (rng.random(n) < self.prob)[:, None]
        out = dict(seq)
        for k in present:
            x = np.asarray(seq[k])
            h, w = x.shape[-2:]
            # Source index of every output pixel; clamped (border replicate) and masked for silhouettes.
            ys = np.arange(h)[None, :] - shifts[:, :1]  # [n, h]
            xs = np.arange(w)[None, :] - shifts[:, 1:]  # [n, w]
            yc, xc = np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)
            frames = np.arange(n)[:, None, None]
            moved = np.moveaxis(x, (-2, -1), (1, 2))[frames, yc[:, :, None], xc[:, None, :]]  # [n, h, w, ...]
            moved = np.moveaxis(moved, (1, 2), (-2, -1))
            if k != "rgbs":
                inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]  # [n, h, w]
                moved = moved * inside.reshape((n,) + (1,) * (moved.ndim - 3) + (h, w))
            out[k] = moved.astype(x.dtype)
        return out


class ColourAugment:
    """Random colour changes of the RGB frames, for a segmenter that must not tell people by their clothes' colour.

    Each frame gets its own affine colour map ``x -> M x + b`` on 0..255 values: a hue rotation (about the grey
    axis) by up to ``hue_deg`` either way, a saturation factor, a contrast factor around the frame's mean grey and a
    brightness gain, each uniform in its range; with probability ``grey_prob`` the frame turns grey. Silhouettes and
    other modalities are untouched. Applied, like :class:`RandomCropShift`, to a sequence's dict before the
    per-modality transforms.

    Args:
        hue_deg: largest hue rotation in degrees, in [0, 180].
        saturation, contrast, brightness: ``(low, high)`` factor ranges, ``0 <= low <= high``.
        grey_prob: probability that a frame is turned grey, in [0, 1].
    """

    def __init__(self, hue_deg: float = 180.0, saturation=(0.4, 1.4), contrast=(0.7, 1.3), brightness=(0.7, 1.3),
                 grey_prob: float = 0.1) -> None:
        ranges = {"saturation": saturation, "contrast": contrast, "brightness": brightness}
        for name, r in ranges.items():
            lo, hi = (float(v) for v in r)
            if not (0.0 <= lo <= hi < float("inf")):
                raise ValueError(f"{name} must be a (low, high) range with 0 <= low <= high, got {r!r}")
        if not 0.0 <= float(hue_deg) <= 180.0:
            raise ValueError(f"hue_deg must be in [0, 180], got {hue_deg!r}")
        if not 0.0 <= float(grey_prob) <= 1.0:
            raise ValueError(f"grey_prob must be in [0, 1], got {grey_prob!r}")
        self.hue = float(np.radians(float(hue_deg)))
        self.saturation, self.contrast, self.brightness = (tuple(float(v) for v in r) for r in ranges.values())
        self.grey_prob = float(grey_prob)

    def __call__(self, seq: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        if "rgbs" not in seq:
            return seq
        x = np.asarray(seq["rgbs"], np.float32)  # [n, 3, H, W]
        n = x.shape[0]
        theta = rng.uniform(-self.hue, self.hue, n)
        sat = rng.uniform(*self.saturation, n) * (rng.random(n) >= self.grey_prob)
        con, gain = rng.uniform(*self.contrast, n), rng.uniform(*self.brightness, n)
        # Hue rotation about the grey axis u = (1, 1, 1)/sqrt(3) (Rodrigues), then saturation as a blend with the
        # grey projection: M = grey + sat * R (I - grey), grey = u u^T.
        grey = np.full((3, 3), 1.0 / 3.0)
        k = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / np.sqrt(3.0)  # cross-product matrix of u
        c, s_ = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
        rot = c * np.eye(3) + s_ * k + (1 - c) * grey  # [n, 3, 3]
        m = grey + sat[:, None, None] * (rot @ (np.eye(3) - grey))  # [n, 3, 3]
        m *= (con * gain)[:, None, None]
        mean = x.mean(axis=(1, 2, 3))  # [n] the frame's mean grey, kept fixed by the contrast change
        b = (gain * (1.0 - con) * mean)[:, None]  # [n, 1]
        y = np.einsum("nij,njhw->nihw", m.astype(np.float32), x) + b[:, :, None, None].astype(np.float32)
        out = dict(seq)
        out["rgbs"] = np.clip(y + 0.5, 0, 255).astype(np.uint8) if seq["rgbs"].dtype == np.uint8 else y
        return out


def default_transforms() -> dict:
    """OpenGait's GaitEdge defaults: ImageNet RGB, silhouettes /255, aligned silhouettes /255 with 64→44 cut."""
    return {
        "rgbs": RgbNormalise(),
        "sils": SilhouetteScale(),
        "aligned_sils": SilhouetteCut(),
        "ratios": Identity(),
        "boxes": Identity(),
    }
