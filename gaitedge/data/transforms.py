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


def default_transforms() -> dict:
    """OpenGait's GaitEdge defaults: ImageNet RGB, silhouettes /255, aligned silhouettes /255 with 64→44 cut."""
    return {
        "rgbs": RgbNormalise(),
        "sils": SilhouetteScale(),
        "aligned_sils": SilhouetteCut(),
        "ratios": Identity(),
        "boxes": Identity(),
    }
