"""Articulated walking body: per-identity gait traits and the 3-D capsules of a walk cycle.

Coordinates are person-local metres: ``a`` to the person's right, ``b`` up, ``c`` forward (walking direction).
Identity lives in the traits (proportions, widths, stride, cadence, arm swing, knee flexion, posture, hair volume);
every sequence perturbs them slightly, like a person walking a little differently each time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRAIT_RANGES", "PRIMITIVES", "MATERIALS", "sample_traits", "perturb_traits", "walk_capsules"]

# name: (low, high) of the identity distribution (uniform). Lengths are fractions of body height unless noted.
TRAIT_RANGES: dict[str, tuple[float, float]] = {
    "height": (1.55, 1.92),  # metres
    "leg": (0.45, 0.53),  # hip-to-heel length
    "thigh_frac": (0.46, 0.54),
    "torso": (0.28, 0.33),  # pelvis centre to neck base
    "neck": (0.06, 0.09),
    "head_r": (0.055, 0.070),
    "hair": (0.0, 1.0),  # hair volume / length (0: short, 1: long)
    "shoulder_w": (0.095, 0.130),  # half-width
    "hip_w": (0.065, 0.095),
    "torso_depth": (0.050, 0.078),  # capsule radius of each torso half
    "thigh_r": (0.034, 0.050),
    "shin_r": (0.024, 0.036),
    "arm": (0.37, 0.44),  # shoulder to wrist
    "arm_r": (0.020, 0.030),
    "foot": (0.13, 0.16),
    "stride": (14.0, 26.0),  # hip flexion amplitude, degrees
    "cadence": (0.80, 1.10),  # gait cycles per second
    "arm_swing": (4.0, 38.0),  # shoulder swing amplitude, degrees
    "elbow": (5.0, 35.0),  # mean elbow flexion, degrees
    "knee": (42.0, 72.0),  # peak swing knee flexion, degrees
    "knee_stance": (4.0, 20.0),  # loading-response knee flexion, degrees
    "lean": (-3.0, 8.0),  # forward trunk lean, degrees
    "head_tilt": (-5.0, 12.0),  # forward head tilt, degrees
    "sway": (0.0, 0.025),  # lateral pelvis sway, fraction of height
    "pelvis_rot": (0.0, 9.0),  # transverse pelvis rotation, degrees
    "toe_out": (0.0, 16.0),  # degrees
    "abduction": (3.0, 14.0),  # arm abduction, degrees
}

# Every body has the same primitive list; absent ones (bag, coat) get a negative radius.
PRIMITIVES: tuple[str, ...] = (
    "head", "hair", "neck", "torso_r", "torso_l", "torso_c", "shoulders", "pelvis",
    "thigh_r", "shin_r", "foot_r", "thigh_l", "shin_l", "foot_l",
    "upper_arm_r", "forearm_r", "hand_r", "upper_arm_l", "forearm_l", "hand_l",
    "bag", "strap", "coat_r", "coat_l",
)  # fmt: skip
MATERIALS: tuple[str, ...] = ("skin", "hair", "shirt", "pants", "shoes", "bag", "coat", "sleeve")

_PRIM_INDEX = {name: i for i, name in enumerate(PRIMITIVES)}


def sample_traits(rng: np.random.Generator) -> dict[str, float]:
    """Draw one identity's traits uniformly from ``TRAIT_RANGES``."""
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in TRAIT_RANGES.items()}


def perturb_traits(traits: dict[str, float], rng: np.random.Generator, scale: float = 0.06) -> dict[str, float]:
    """Per-sequence variation: each trait moves by ``scale`` × its identity range (Gaussian), clipped to the range."""
    out = {}
    for k, v in traits.items():
        lo, hi = TRAIT_RANGES[k]
        out[k] = float(np.clip(v + rng.normal(0.0, scale * (hi - lo)), lo, hi))
    return out


def _bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Periodic Gaussian bump in gait phase (radians)."""
    d = np.angle(np.exp(1j * (phase - centre)))  # wrapped to (-pi, pi]
    return np.exp(-0.5 * (d / width) ** 2)


def _leg(hip: np.ndarray, phase: np.ndarray, t: dict[str, float], side: float):
    """Knee, ankle, heel and toe positions ``[T, 3]`` of one leg; phase 0 = thigh vertical moving forward."""
    h = t["height"]
    thigh = h * t["leg"] * t["thigh_frac"]
    shin = h * t["leg"] * (1.0 - t["thigh_frac"]) - 0.04 * h
    flex = np.radians(t["stride"]) * np.sin(phase)  # thigh angle from vertical, + forward
    knee_flex = np.radians(t["knee"]) * _bump(phase, -0.25, 0.55) + np.radians(t["knee_stance"]) * _bump(
        phase, np.pi / 2 + 0.5, 0.35
    )
    shank = flex - knee_flex
    knee = hip + thigh * np.stack([np.zeros_like(flex), -np.cos(flex), np.sin(flex)], -1)
    ankle = knee + shin * np.stack([np.zeros_like(flex), -np.cos(shank), np.sin(shank)], -1)
    # Toe up at heel strike, down at push-off.
    pitch = np.radians(15.0) * _bump(phase, np.pi / 2, 0.4) - np.radians(25.0) * _bump(phase, -np.pi / 2 + 0.3, 0.45)
    yaw = side * np.radians(t["toe_out"])
    direction = np.stack([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)], -1)  # [T, 3]
    foot = h * t["foot"]
    heel = ankle + np.array([0.0, -0.04 * h, 0.0]) - 0.22 * foot * direction
    toe = heel + foot * direction
    drop = thigh * np.cos(flex) + shin * np.cos(shank) + 0.04 * h + 0.02 * h  # hip to sole
    return knee, ankle, heel, toe, drop


def walk_capsules(
    t: dict[str, float],
    times: np.ndarray,
    phase0: float,
    bag: str | None = None,
    coat: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """3-D capsules of a walking body at each time.

    Args:
        t: traits (see ``TRAIT_RANGES``).
        times: ``[T]`` seconds.
        phase0: gait phase at time 0 (radians).
        bag: None, "backpack", "shoulder" or "hand".
        coat: wear a long coat (wider torso and sleeves, a skirt over the thighs).

    Returns:
        ``(a, b, r, local_depth_bias)``: endpoints ``[T, P, 3]`` person-local (pelvis travels along ``c``, not
        included), radii ``[P]`` (negative: absent), and a per-primitive depth bias ``[P]`` in metres that breaks
        ties the capsule centres get wrong (coat over thighs, hands over a hand-held bag, ...).
    """
    h = t["height"]
    n_t = times.shape[0]
    phase = phase0 + 2.0 * np.pi * t["cadence"] * times  # [T]
    sway = t["sway"] * h * np.sin(phase)
    rot = np.radians(t["pelvis_rot"]) * np.sin(phase)
    hip_w = t["hip_w"] * h
    # Hip joints rotate with the pelvis: the forward leg's hip is ahead.
    hip_r = np.stack([sway + hip_w * np.cos(rot), np.zeros(n_t), hip_w * np.sin(rot)], -1)  # [T, 3]
    hip_l = np.stack([sway - hip_w * np.cos(rot), np.zeros(n_t), -hip_w * np.sin(rot)], -1)
    knee_r, ankle_r, heel_r, toe_r, drop_r = _leg(hip_r, phase, t, 1.0)
    knee_l, ankle_l, heel_l, toe_l, drop_l = _leg(hip_l, phase + np.pi, t, -1.0)
    # The stance leg carries the pelvis, so vertical bob follows from stride and knee flexion.
    lift = np.maximum(drop_r, drop_l)[:, None] * np.array([0.0, 1.0, 0.0])  # [T, 3]
    for arr in (hip_r, hip_l, knee_r, ankle_r, heel_r, toe_r, knee_l, ankle_l, heel_l, toe_l):
        arr += lift
    pelvis = (hip_r + hip_l) / 2
    lean = np.radians(t["lean"]) + np.radians(2.0) * np.cos(2 * phase)
    spine = np.stack([np.zeros(n_t), np.cos(lean), np.sin(lean)], -1)  # [T, 3]
    neck_base = pelvis + t["torso"] * h * spine
    tilt = lean + np.radians(t["head_tilt"])
    head_dir = np.stack([np.zeros(n_t), np.cos(tilt), np.sin(tilt)], -1)
    head_r = t["head_r"] * h
    head = neck_base + (t["neck"] * h + 0.6 * head_r) * head_dir
    sh_rot = -0.6 * rot
    sw = t["shoulder_w"] * h
    drop = np.array([0.0, -0.04 * h, 0.0])
    sh_r = neck_base + drop + np.stack([sw * np.cos(sh_rot), np.zeros(n_t), sw * np.sin(sh_rot)], -1)
    sh_l = neck_base + drop + np.stack([-sw * np.cos(sh_rot), np.zeros(n_t), -sw * np.sin(sh_rot)], -1)

    def arm(shoulder, ph, side, swing_scale):
        swing = -swing_scale * np.radians(t["arm_swing"]) * np.sin(ph) - np.radians(3.0)
        elbow_flex = np.radians(t["elbow"]) * (0.6 + 0.8 * np.maximum(0.0, -np.sin(ph)))
        ab = np.radians(t["abduction"]) + (np.radians(12.0) if coat else 0.0)
        upper = 0.55 * t["arm"] * h
        fore = 0.45 * t["arm"] * h

        def direction(angle):
            return np.stack(
                [side * np.sin(ab) * np.ones_like(angle), -np.cos(angle) * np.cos(ab), np.sin(angle) * np.cos(ab)], -1
            )

        elbow = shoulder + upper * direction(swing)
        fdir = direction(swing + elbow_flex)
        wrist = elbow + fore * fdir
        return elbow, wrist, wrist + 0.07 * h * fdir

    hand_bag = bag == "hand"
    elbow_r, wrist_r, hand_r = arm(sh_r, phase, 1.0, 0.3 if hand_bag else 1.0)
    elbow_l, wrist_l, hand_l = arm(sh_l, phase + np.pi, -1.0, 1.0)

    tw_sh = max(sw - t["torso_depth"] * h, 0.02 * h)
    tw_hip = max(hip_w - 0.3 * t["torso_depth"] * h, 0.02 * h)
    depth_r = t["torso_depth"] * h * (1.25 if coat else 1.0)
    side_x = np.array([1.0, 0.0, 0.0])
    chest_top = neck_base + np.array([0.0, -0.07 * h, 0.0])
    waist = pelvis + np.array([0.0, 0.03 * h, 0.0])

    P = len(PRIMITIVES)
    a = np.zeros((n_t, P, 3))
    b = np.zeros((n_t, P, 3))
    r = np.full(P, -1.0)
    bias = np.zeros(P)

    def put(name, pa, pb, radius, depth_bias=0.0):
        i = _PRIM_INDEX[name]
        a[:, i] = pa
        b[:, i] = pb
        r[i] = radius
        bias[i] = depth_bias

    put("head", head, head + head_dir * 0.15 * head_r, head_r)
    # Hair sits on the back of the head; long hair reaches the neck.
    back = np.stack([np.zeros(n_t), np.zeros(n_t), -np.ones(n_t)], -1)
    up = np.array([0.0, 1.0, 0.0])
    hair_top = head + 0.25 * head_r * up + 0.15 * head_r * back
    hair_low = head - t["hair"] * 1.3 * head_r * up + 0.45 * head_r * back
    put("hair", hair_top, hair_low, head_r * (0.85 + 0.12 * t["hair"]), 0.01)
    put("neck", neck_base, head, 0.045 * h, 0.02)
    put("torso_r", waist + tw_hip * side_x, chest_top + tw_sh * side_x, depth_r)
    put("torso_l", waist - tw_hip * side_x, chest_top - tw_sh * side_x, depth_r)
    put("torso_c", waist, chest_top, depth_r, 0.005)
    put("shoulders", sh_r, sh_l, t["arm_r"] * h * (1.3 if coat else 1.1))
    put("pelvis", hip_r, hip_l, t["thigh_r"] * h * 1.1, 0.03)
    put("thigh_r", hip_r, knee_r, t["thigh_r"] * h)
    put("shin_r", knee_r, ankle_r, t["shin_r"] * h)
    put("foot_r", heel_r, toe_r, 0.028 * h, -0.01)
    put("thigh_l", hip_l, knee_l, t["thigh_r"] * h)
    put("shin_l", knee_l, ankle_l, t["shin_r"] * h)
    put("foot_l", heel_l, toe_l, 0.028 * h, -0.01)
    arm_r = t["arm_r"] * h * (1.25 if coat else 1.0)
    put("upper_arm_r", sh_r, elbow_r, arm_r)
    put("forearm_r", elbow_r, wrist_r, 0.85 * arm_r)
    put("hand_r", wrist_r, hand_r, 0.022 * h, -0.005)
    put("upper_arm_l", sh_l, elbow_l, arm_r)
    put("forearm_l", elbow_l, wrist_l, 0.85 * arm_r)
    put("hand_l", wrist_l, hand_l, 0.022 * h, -0.005)
    if bag == "backpack":
        behind = np.array([0.0, 0.0, -(depth_r + 0.06 * h)])
        put("bag", chest_top + behind, waist + 0.3 * (chest_top - waist) + behind, 0.085 * h, 0.05)
    elif bag == "shoulder":
        hang = hip_l + np.array([-0.05 * h, 0.03 * h, 0.0])
        put("bag", hang + np.array([0.0, 0.0, -0.07 * h]), hang + np.array([0.0, 0.0, 0.07 * h]), 0.06 * h, -0.02)
        put("strap", sh_r + np.array([0.0, 0.0, depth_r * 0.9]), hang, 0.008 * h, -0.08)
    elif bag == "hand":
        put("bag", hand_r + np.array([0.0, -0.02 * h, 0.0]), hand_r + np.array([0.0, -0.13 * h, 0.0]), 0.055 * h, 0.01)
    elif bag is not None:
        raise ValueError(f"bag must be None, 'backpack', 'shoulder' or 'hand', got {bag!r}")
    if coat:
        put("coat_r", hip_r + np.array([0.01 * h, 0.04 * h, 0.0]), 0.45 * hip_r + 0.55 * knee_r, 1.55 * t["thigh_r"] * h, -0.05)
        put("coat_l", hip_l + np.array([-0.01 * h, 0.04 * h, 0.0]), 0.45 * hip_l + 0.55 * knee_l, 1.55 * t["thigh_r"] * h, -0.05)
    return a, b, r, bias
