"""Domains: cameras, scenes, lighting and image quality of the ``indoor`` (CASIA-B-like) and ``outdoor``
(TTG-200-like) worlds.

Each sequence draws its own scene from an unbounded procedural family per domain (or from a fixed pool of them, the
``backgrounds`` argument of :class:`~gaitedge.data.synth.SynthGait`), so a segmenter cannot learn a handful of
backgrounds by heart. The two families differ in content and share their low-level statistics:

* ``indoor``: a hall or corridor: a wall over a floor, doors, windows, posters, cabinets, pillars and plants,
  tiled or planked floors with shadows, ceiling light pools; a horizontal camera; steady light; a good camera (little blur and noise).
* ``outdoor``: a street or park: sky, buildings with window grids, trees, poles, parked cars, paving or grass, cast
  shadows; an elevated camera looking down; changing daylight (gain, colour cast, gradient); a poorer camera (more
  blur and noise).

Both families paint their surfaces from the same broad colour distribution (:func:`_surface_colour`) with the same
kinds of texture (value noise at several scales, grids, edges), so brightness, colour and edge density overlap
between domains; what differs is what the scene holds and how it is laid out, as between CASIA-B's hall and
TTG-200's outdoor scenes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DOMAINS", "FRAME_H", "FRAME_W", "Camera", "Lighting", "Imaging", "background", "sample_camera",
           "sample_lighting", "sample_imaging"]  # fmt: skip

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
    field: np.ndarray  # [FRAME_H, FRAME_W] float32 multiplicative light field (light pools, shade), on person and scene


@dataclass(frozen=True)
class Imaging:
    """What the camera does to the composited frame: optical blur and sensor noise, in crop pixels at 64×64."""

    blur: float  # Gaussian sigma
    noise: float  # standard deviation of per-pixel, per-frame noise (0..255 scale)


def sample_camera(domain: str, yaw_deg: float, rng: np.random.Generator) -> Camera:
    """The camera of one view of one walk. Both domains draw the same number of values, so replacing one domain's
    camera by the other's (the geometric control) leaves every later draw of ``rng`` unchanged."""
    if domain == "indoor":
        pitch = rng.uniform(-1.5, 1.5)
        return Camera(yaw_deg, pitch, rng.uniform(70, 78), 8.0, rng.uniform(205, 215), rng.uniform(150, 170))
    pitch = rng.uniform(15.0, 30.0)
    return Camera(yaw_deg, pitch, rng.uniform(62, 80), 9.0, rng.uniform(190, 210), rng.uniform(140, 180))


def sample_lighting(domain: str, rng: np.random.Generator) -> Lighting:
    """Per-walk light: indoor is steady with a faint cast; outdoor daylight changes in level, colour and direction."""
    if domain == "indoor":
        cast = rng.uniform(-0.06, 0.06, 3)
        gain = (rng.uniform(0.8, 1.2) * (1.0 + cast)).astype(np.float32)
        gradient = rng.uniform(-0.12, 0.12)
        field = 1.0 + (_smooth_noise(rng, FRAME_H, FRAME_W, int(rng.integers(40, 90))) - 0.5) * rng.uniform(0.1, 0.3)
    else:
        cast = rng.uniform(-0.12, 0.12, 3)
        gain = (rng.uniform(0.6, 1.3) * (1.0 + cast)).astype(np.float32)
        gradient = rng.uniform(-0.35, 0.35)
        field = 1.0 + (_smooth_noise(rng, FRAME_H, FRAME_W, int(rng.integers(30, 80))) - 0.5) * rng.uniform(0.2, 0.5)
    return Lighting(gain, float(gradient), field.astype(np.float32))


def sample_imaging(domain: str, rng: np.random.Generator) -> Imaging:
    """Per-walk image quality; the ranges overlap, the outdoor camera being worse on average."""
    if domain == "indoor":
        return Imaging(float(rng.uniform(0.3, 1.0)), float(rng.uniform(2.0, 7.0)))
    return Imaging(float(rng.uniform(0.4, 1.2)), float(rng.uniform(3.0, 9.0)))


# ------------------------------------------------------------------------------------------------------ texture
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid bilinearly upsampled to ``[h, w]`` (float32)."""
    cell = max(int(cell), 1)
    grid = rng.uniform(0, 1, (h // cell + 2, w // cell + 2)).astype(np.float32)  # [gh, gw]
    y, x = np.arange(h, dtype=np.float32) / cell, np.arange(w, dtype=np.float32) / cell
    y0, x0 = y.astype(np.int64), x.astype(np.int64)
    fy, fx = (y - y0)[:, None], x - x0
    rows = grid[:, x0] * (1 - fx) + grid[:, x0 + 1] * fx  # [gh, w]: interpolated along x first
    return rows[y0] * (1 - fy) + rows[y0 + 1] * fy  # [h, w]


def _surface_colour(rng: np.random.Generator, saturation: float = 0.55) -> np.ndarray:
    """An RGB colour (float32, 0..255) from the broad distribution both domains paint with: any hue, mostly muted."""
    hue = rng.uniform(0, 1)
    sat = rng.uniform(0, saturation) ** 1.5
    val = rng.uniform(0.18, 0.95)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
    rgb = val * (1 - sat * np.clip(np.minimum(k, 4 - k), 0, 1))
    return (255 * rgb).astype(np.float32)


def _fill(img: np.ndarray, y0: int, y1: int, x0: int, x1: int, colour: np.ndarray) -> None:
    h, w = img.shape[1:]
    y0, y1, x0, x1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if y0 < y1 and x0 < x1:
        img[:, y0:y1, x0:x1] = colour[:, None, None]


def _grid(h: int, w: int, period_y: int, period_x: int, width: int = 1) -> np.ndarray:
    """Bool ``[h, w]``: lines of a grid (tiles, paving, window frames)."""
    rows = (np.arange(h) % max(period_y, 1)) < width
    cols = (np.arange(w) % max(period_x, 1)) < width
    return rows[:, None] | cols[None, :]


def _texture(rng: np.random.Generator, img: np.ndarray, amount: float) -> None:
    """Value noise at a coarse and a fine scale, multiplied in (walls, ground, foliage all get grain)."""
    h, w = img.shape[1:]
    coarse = _smooth_noise(rng, h, w, int(rng.integers(12, 48))) - 0.5
    fine = _smooth_noise(rng, h, w, int(rng.integers(2, 5))) - 0.5
    img *= (1.0 + amount * (coarse + 0.6 * fine))[None]


# ------------------------------------------------------------------------------------------------------ scenes
def background(domain: str, rng: np.random.Generator) -> np.ndarray:
    """One scene of ``domain``'s family. Returns ``[3, FRAME_H, FRAME_W]`` float32 in 0..255."""
    img = _indoor(rng) if domain == "indoor" else _outdoor(rng)
    img += 2.0 * rng.standard_normal(img.shape, dtype=np.float32)  # fixed-pattern grain of the scene itself
    return np.clip(img, 0, 255).astype(np.float32)


def _indoor(rng: np.random.Generator) -> np.ndarray:
    """A hall or corridor: wall over floor, doors, windows, posters, furniture, tiled or planked floor, light pools."""
    h, w = FRAME_H, FRAME_W
    img = np.empty((3, h, w), np.float32)
    horizon = int(rng.uniform(0.45, 0.72) * h)
    wall, floor = _surface_colour(rng, 0.4), _surface_colour(rng, 0.4)
    img[:, :horizon] = wall[:, None, None]
    img[:, horizon:] = floor[:, None, None]
    _texture(rng, img, rng.uniform(0.05, 0.25))
    if rng.uniform() < 0.4:  # wall panels or wallpaper stripes
        period = int(rng.integers(6, 40))
        stripes = (np.arange(w) % period) < period // 2
        img[:, :horizon, stripes] *= rng.uniform(0.8, 0.95)
    kind = rng.integers(3)  # floor: tiles, planks or plain with reflections
    fh = h - horizon
    if kind == 0:
        t = int(rng.integers(8, 30))
        img[:, horizon:][:, _grid(fh, w, max(t // 2, 3), t)] *= rng.uniform(0.6, 0.85)
    elif kind == 1:
        img[:, horizon:][:, _grid(fh, w, int(rng.integers(4, 12)), 10**6)] *= rng.uniform(0.7, 0.9)
    img[:, horizon - 3 : horizon] = (_surface_colour(rng, 0.3) * 0.7)[:, None, None]  # skirting
    for _ in range(int(rng.integers(2, 8))):  # doors, windows, posters, cabinets, pillars
        what = rng.integers(5)
        cw, colour = int(rng.uniform(14, 70)), _surface_colour(rng, 0.7)
        x0 = int(rng.uniform(-10, w))
        if what == 0:  # door: reaches the floor, with a frame
            y0 = horizon - int(rng.uniform(0.6, 0.95) * horizon)
            _fill(img, y0 - 3, horizon, x0 - 3, x0 + cw + 3, colour * 0.6)
            _fill(img, y0, horizon, x0, x0 + cw, colour)
        elif what == 1:  # window: bright panes in a grid
            y0, ch = int(rng.uniform(0.05, 0.4) * horizon), int(rng.uniform(0.2, 0.45) * horizon)
            _fill(img, y0, y0 + ch, x0, x0 + cw, np.minimum(colour * 1.6 + 60, 255))
            sub = img[:, max(y0, 0) : y0 + ch, max(x0, 0) : x0 + cw]
            sub[:, _grid(sub.shape[1], sub.shape[2], int(rng.integers(8, 20)), int(rng.integers(8, 20)), 2)] *= 0.5
        elif what == 2:  # poster or notice board
            y0, ch = int(rng.uniform(0.1, 0.6) * horizon), int(rng.uniform(10, 40))
            _fill(img, y0, y0 + ch, x0, x0 + cw // 2 + 6, colour)
        elif what == 3:  # cabinet or bench standing on the floor line
            ch = int(rng.uniform(15, 60))
            _fill(img, horizon - ch, horizon + int(rng.uniform(2, 10)), x0, x0 + cw, colour)
            _fill(img, horizon - ch, horizon - ch + 3, x0, x0 + cw, colour * 0.7)
        else:  # pillar, floor to ceiling
            _fill(img, 0, horizon + int(rng.uniform(5, 20)), x0, x0 + cw // 2 + 4, colour)
            _fill(img, 0, horizon + 5, x0 + cw // 2, x0 + cw // 2 + 4, colour * 0.7)
    if rng.uniform() < 0.5:  # plants and pot-grown trees: foliage like the outdoor trees, in a few places
        leaves = (np.array([50, 100, 45], np.float32) if rng.uniform() < 0.7 else _surface_colour(rng, 0.8))
        foliage = _smooth_noise(rng, h, w, int(rng.integers(6, 16))) > rng.uniform(0.5, 0.7)
        spots = np.zeros(w, bool)
        for _ in range(int(rng.integers(1, 4))):
            x0 = int(rng.uniform(0, w))
            spots[x0 : x0 + int(rng.uniform(15, 60))] = True
        rows = np.arange(h)[:, None]
        cover = foliage & spots[None] & (rows > horizon - rng.uniform(40, 120)) & (rows < horizon + 10)
        shade = 0.6 + 0.8 * _smooth_noise(rng, h, w, 3)
        img = np.where(cover[None], leaves[:, None, None] * rng.uniform(0.6, 1.4) * shade[None], img)
    if rng.uniform() < 0.5:  # a textured rug, mat or mural: a patch of any colour and grain
        y0 = int(rng.uniform(0.2, 1.0) * h)
        x0, pw, ph = int(rng.uniform(-20, w)), int(rng.uniform(30, 120)), int(rng.uniform(15, 60))
        patch = img[:, max(y0 - ph, 0) : y0, max(x0, 0) : x0 + pw]
        if patch.size:
            grain = _smooth_noise(rng, patch.shape[1], patch.shape[2], int(rng.integers(2, 8)))
            patch[:] = _surface_colour(rng, 0.8)[:, None, None] * (0.6 + 0.8 * grain)[None]
    if rng.uniform() < 0.5:  # shadows of furniture and passers-by on the floor
        shadows = _smooth_noise(rng, h, w, int(rng.integers(20, 50))) > rng.uniform(0.6, 0.8)
        shadows[:horizon] = False
        img[:, shadows] *= rng.uniform(0.55, 0.8)
    # ceiling lights: pools of light on the wall, reflections on a polished floor
    pools = 1.0 + rng.uniform(0.1, 0.35) * (_smooth_noise(rng, h, w, int(rng.integers(30, 70))) - 0.5)
    img *= pools[None] * np.linspace(rng.uniform(1.0, 1.1), rng.uniform(0.88, 1.0), h, dtype=np.float32)[None, :, None]
    return img


def _outdoor(rng: np.random.Generator) -> np.ndarray:
    """A street or park: sky, buildings with windows, trees, poles, parked cars, paving or grass, cast shadows."""
    h, w = FRAME_H, FRAME_W
    img = np.empty((3, h, w), np.float32)
    horizon = int(rng.uniform(0.12, 0.4) * h)
    sky = np.array([150, 190, 235], np.float32) * rng.uniform(0.75, 1.05) if rng.uniform() < 0.6 else (
        np.full(3, rng.uniform(150, 235), np.float32))  # blue or overcast
    img[:, :horizon] = sky[:, None, None]
    ground_top = horizon + int(rng.uniform(15, 60))
    x = int(rng.uniform(-40, 0))
    while x < w:  # buildings: blocks with window grids, reaching down to the ground
        bw = int(rng.uniform(25, 95))
        top = int(rng.uniform(0.0, 0.7) * horizon)
        colour = _surface_colour(rng, 0.5)
        _fill(img, top, ground_top, x, x + bw, colour)
        block = img[:, max(top, 0) : ground_top, max(x, 0) : x + bw]
        if block.size and rng.uniform() < 0.85:
            step = int(rng.integers(7, 16))
            win = _grid(block.shape[1], block.shape[2], step, step, step // 2)
            block[:, ~win] = np.minimum(_surface_colour(rng, 0.3), 255)[:, None] * rng.uniform(0.3, 1.2)
        x += bw
    kind = rng.integers(3)  # ground: paving, asphalt or grass
    gh = h - ground_top
    ground = np.empty((3, gh, w), np.float32)
    ground[:] = (_surface_colour(rng, 0.35) if kind < 2 else np.array([70, 120, 50], np.float32)
                 * rng.uniform(0.7, 1.3))[:, None, None]
    if kind == 0:
        t = int(rng.integers(8, 24))
        ground[:, _grid(gh, w, t, t)] *= rng.uniform(0.6, 0.85)
    img[:, ground_top:] = ground
    _texture(rng, img, rng.uniform(0.1, 0.35))
    for _ in range(int(rng.integers(0, 4))):  # parked cars and street furniture on the ground line
        cw, ch = int(rng.uniform(30, 90)), int(rng.uniform(15, 40))
        x0, y1 = int(rng.uniform(-20, w)), ground_top + int(rng.uniform(0, 25))
        colour = _surface_colour(rng, 0.8)
        _fill(img, y1 - ch, y1, x0, x0 + cw, colour)
        _fill(img, y1 - ch, y1 - ch // 2, x0 + cw // 5, x0 + cw - cw // 5, colour * 0.45 + 40)  # windows
    foliage = _smooth_noise(rng, h, w, int(rng.integers(10, 24)))  # trees: textured blobs over everything above
    leaves = (np.array([50, 100, 45], np.float32) if rng.uniform() < 0.7 else _surface_colour(rng, 0.8)) * rng.uniform(
        0.6, 1.4)
    cover = (foliage > rng.uniform(0.6, 0.8)) & (np.arange(h)[:, None] < ground_top + int(rng.uniform(0, 30)))
    shade = 0.6 + 0.8 * _smooth_noise(rng, h, w, 3)
    img = np.where(cover[None], leaves[:, None, None] * shade[None], img)
    for _ in range(int(rng.integers(1, 6))):  # poles and trunks
        px, pw = int(rng.uniform(0, w - 2)), int(rng.uniform(2, 7))
        _fill(img, int(rng.uniform(0, horizon)), h - int(rng.uniform(0, 60)), px, px + pw, _surface_colour(rng, 0.3))
    shadows = _smooth_noise(rng, h, w, int(rng.integers(20, 50))) > rng.uniform(0.6, 0.8)  # cast shadows on ground
    shadows[:ground_top] = False
    img[:, shadows] *= rng.uniform(0.5, 0.75)
    return img
