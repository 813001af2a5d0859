"""Domains: cameras, backgrounds and lighting of the ``indoor`` (CASIA-B-like) and ``outdoor`` (TTG-200-like) worlds.

``indoor``: plain walls and floor, a horizontal camera, steady light. ``outdoor``: cluttered textured scenes (a pool
of them), an elevated camera looking down, and per-sequence lighting changes (gain, colour cast, gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DOMAINS", "FRAME_H", "FRAME_W", "Camera", "Lighting", "indoor_background", "outdoor_background",
           "sample_camera", "sample_lighting"]  # fmt: skip

DOMAINS = ("indoor", "outdoor")
FRAME_H, FRAME_W = 240, 320  # the "original frame" (CASIA-B's 320×240)


@dataclass(frozen=True)
class Camera:
    """Weak-perspective camera; yaw is the CASIA-B view angle (0° = walking towards the camera)."""

    yaw_deg: float
    pitch_deg: float  # elevation: 0 horizontal, > 0 looking down
    px_per_m: float
    distance: float  # metres from camera to the walk's midpoint
    ground_row: float  # frame row where the walk's midpoint touches the ground
    centre_col: float


@dataclass(frozen=True)
class Lighting:
    gain: np.ndarray  # [3] per-channel multiplier (colour cast)
    gradient: float  # left-to-right multiplicative ramp across the frame


def sample_camera(domain: str, yaw_deg: float, rng: np.random.Generator) -> Camera:
    if domain == "indoor":
        pitch = rng.uniform(-1.5, 1.5)
        return Camera(yaw_deg, pitch, rng.uniform(70, 78), 8.0, rng.uniform(205, 215), rng.uniform(150, 170))
    pitch = rng.uniform(22.0, 38.0)
    return Camera(yaw_deg, pitch, rng.uniform(62, 80), 9.0, rng.uniform(190, 210), rng.uniform(140, 180))


def sample_lighting(domain: str, rng: np.random.Generator) -> Lighting:
    if domain == "indoor":
        return Lighting(np.full(3, rng.uniform(0.96, 1.04), np.float32), rng.uniform(-0.03, 0.03))
    cast = rng.uniform(-0.12, 0.12, 3)
    gain = (rng.uniform(0.6, 1.3) * (1.0 + cast)).astype(np.float32)
    return Lighting(gain, rng.uniform(-0.35, 0.35))


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid bilinearly upsampled to ``[h, w]``."""
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.uniform(0, 1, (gh, gw))
    y = np.arange(h) / cell
    x = np.arange(w) / cell
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    g00, g01 = grid[y0][:, x0], grid[y0][:, x0 + 1]
    g10, g11 = grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
    return (g00 * (1 - fy) * (1 - fx) + g01 * (1 - fy) * fx + g10 * fy * (1 - fx) + g11 * fy * fx).astype(np.float32)


def indoor_background(rng: np.random.Generator) -> np.ndarray:
    """A plain hall: light wall over a darker floor, faint vertical gradient. Returns ``[3, H, W]`` float32."""
    h, w = FRAME_H, FRAME_W
    wall = np.array([172, 178, 170], np.float32) + rng.uniform(-12, 12, 3).astype(np.float32)
    floor = np.array([118, 116, 108], np.float32) + rng.uniform(-10, 10, 3).astype(np.float32)
    horizon = int(rng.uniform(0.55, 0.65) * h)
    img = np.empty((3, h, w), np.float32)
    ramp = np.linspace(1.04, 0.96, h, dtype=np.float32)[:, None]
    img[:, :horizon] = wall[:, None, None] * ramp[:horizon]
    img[:, horizon:] = floor[:, None, None] * ramp[horizon:]
    img[:, horizon - 2 : horizon] *= 0.8  # skirting line
    img += (_smooth_noise(rng, h, w, 24) - 0.5) * 6.0
    img += rng.normal(0.0, 2.0, img.shape).astype(np.float32)  # static sensor noise
    return img


def outdoor_background(rng: np.random.Generator) -> np.ndarray:
    """A cluttered street: sky, buildings with windows, trees, paved ground. Returns ``[3, H, W]`` float32."""
    h, w = FRAME_H, FRAME_W
    img = np.full((3, h, w), 128.0, np.float32)
    horizon = int(rng.uniform(0.18, 0.35) * h)
    sky = np.array([150, 190, 235], np.float32) * rng.uniform(0.8, 1.05)
    img[:, :horizon] = sky[:, None, None]
    # Buildings: random coloured blocks with window grids, reaching down past the horizon.
    x = 0
    while x < w:
        bw = int(rng.uniform(30, 90))
        top = int(rng.uniform(0.0, 0.6) * horizon)
        bottom = horizon + int(rng.uniform(20, 70))
        colour = rng.uniform(60, 220, 3).astype(np.float32)
        img[:, top:bottom, x : x + bw] = colour[:, None, None]
        win = rng.uniform(20, 90, 3).astype(np.float32)
        step = int(rng.uniform(8, 14))
        for wy in range(top + 4, bottom - 6, step):
            for wx in range(x + 3, min(x + bw, w) - 5, step):
                img[:, wy : wy + step // 2, wx : wx + step // 2] = win[:, None, None]
        x += bw
    # Ground: paving with a grid and mottled texture.
    g0 = horizon + int(rng.uniform(20, 70))
    ground = rng.uniform(90, 170, 3).astype(np.float32)
    tex = _smooth_noise(rng, h - g0, w, 6)
    img[:, g0:] = ground[:, None, None] * (0.75 + 0.5 * tex)[None]
    tile = int(rng.uniform(10, 22))
    img[:, g0::tile, :] *= 0.7
    img[:, g0:, ::tile] *= 0.7
    # Trees and street furniture: dark green blobs and poles over everything.
    foliage = _smooth_noise(rng, h, w, 16)
    leaves = np.array([50, 100, 45], np.float32) * rng.uniform(0.7, 1.3)
    cover = (foliage > rng.uniform(0.62, 0.72)) & (np.arange(h)[:, None] < g0 + 20)
    shade = 0.6 + 0.8 * _smooth_noise(rng, h, w, 3)
    img = np.where(cover[None], leaves[:, None, None] * shade[None], img)
    for _ in range(int(rng.integers(2, 6))):
        px = int(rng.uniform(0, w - 4))
        img[:, int(rng.uniform(0, horizon)) : h - int(rng.uniform(0, 40)), px : px + int(rng.uniform(2, 6))] = rng.uniform(
            20, 120
        )
    img += (_smooth_noise(rng, h, w, 2) - 0.5) * 30.0
    img += rng.normal(0.0, 4.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.float32)
