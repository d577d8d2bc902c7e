"""Drawing for the synthetic RGB-thermal street scenes (numpy + OpenCV only, no torch).

A drive has one wide background panorama (``synthetic_background``) that the camera pans across, plus
foreground objects drawn far-to-near each frame: pedestrians (articulated silhouettes), parked cars and street-light poles.
Every object is drawn into both images and into an instance map, so visibility (occlusion by nearer
objects, clipping by the border) is measured from what was really drawn, not estimated.

Units are physical (see ``synthetic_physics``): the visible layer holds linear radiance (1 = a white
surface in full sun; lamps are emissive and far brighter), the thermal layer apparent temperature in
degrees Celsius. Objects are drawn into the thermal layer shifted by their parallax ``th_dx`` (the
thermal camera sits beside the RGB one); the instance map and the labels are the RGB image's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .synthetic_physics import WorldPhysics

# Pedestrian pixel height per pixel of foot distance below the horizon (1.7 m person, ~1.5 m camera).
PERSON_HEIGHT_PER_ROW = 1.13
OCCLUDER_ID = 65535  # instance-map value of cars and poles
_SUBPIXEL_BITS = 3  # OpenCV "shift": coordinates in 1/8 px for smooth motion
_SUB = 1 << _SUBPIXEL_BITS

# Body parts in the per-person label patch.
PART_SKIN, PART_SHIRT, PART_PANTS = 1, 2, 3


@dataclass
class SceneLayout:
    """Image rows of the scene's horizontal bands (pixels, for one image size)."""

    height: int
    width: int
    horizon: int
    sidewalk_front: int  # front (near) edge of the far sidewalk; poles stand here

    @classmethod
    def for_size(cls, height: int, width: int) -> SceneLayout:
        horizon = int(round(0.42 * height))
        return cls(height, width, horizon, horizon + int(round(0.10 * height)))

    def person_height_at(self, foot_y: float, stature: float) -> float:
        return max(0.0, PERSON_HEIGHT_PER_ROW * stature * (foot_y - self.horizon))

    def foot_y_for_height(self, person_height: float, stature: float) -> float:
        return self.horizon + person_height / (PERSON_HEIGHT_PER_ROW * stature)


@dataclass
class Pedestrian:
    """One walking person in panorama coordinates (x of the feet, y of the ground contact)."""

    track_id: int
    x: float
    foot_y: float
    stature: float  # 0.9-1.1 relative to the nominal 1.7 m
    vx: float  # px/frame at the nominal height (scaled with distance)
    vy: float
    phase: float
    phase_rate: float
    skin_rgb: tuple[float, float, float]  # albedo 0..1
    shirt_rgb: tuple[float, float, float]
    pants_rgb: tuple[float, float, float]
    clothing_temp: float  # C, in shade (by day) / at night
    skin_extra: float  # K of exposed skin over clothing
    sun_gain: float  # K added to clothing when the person stands in the sun
    stripe_period: float  # texture of the clothes, in units of the person's height
    stripe_phase: float
    thermal_visible: bool = True  # False: no thermal signature (behind glass, insulated, crossover)


@dataclass
class Car:
    x: float  # left end in panorama coordinates
    foot_y: float
    length: float
    height: float
    body_rgb: tuple[float, float, float]  # albedo
    body_temp: float
    engine_temp: float
    faces_right: bool
    headlights_on: bool


@dataclass
class Pole:
    x: float
    foot_y: float
    height: float
    width: float
    temp: float
    lamp_on: bool


@dataclass
class DrawnPerson:
    """What was drawn for one pedestrian in one frame (image coordinates)."""

    track_id: int
    box: tuple[float, float, float, float]  # tight xyxy box of the full silhouette, unclipped
    area: int  # silhouette pixels, including any outside the image
    area_in_frame: int
    instance_id: int


@dataclass
class FrameLayers:
    rgb: np.ndarray  # float32 radiance
    thermal: np.ndarray  # float32 C
    instance_map: np.ndarray  # uint16 H x W: 0 background, person instance ids, OCCLUDER_ID
    people: list[DrawnPerson] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- people


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _SUB)), int(round(y * _SUB))


def person_patch(height: float, phase: float, facing: int) -> tuple[np.ndarray, float, float]:
    """Label patch (0 background, PART_* ids) of a side-view walking person ``height`` px tall.

    Returns (patch uint8, foot_x, foot_y): the foot point's position inside the patch, so the patch's
    top-left lands at (x - foot_x, y - foot_y) in the image.
    """
    h = max(float(height), 4.0)
    ph, pw = int(np.ceil(1.04 * h)) + 4, int(np.ceil(0.75 * h)) + 4
    fx, fy = pw / 2.0, ph - 2.0
    patch = np.zeros((ph, pw), np.uint8)
    swing = np.sin(phase)
    leg_len, leg_w = 0.50 * h, max(1, int(round(0.085 * h)))
    arm_len, arm_w = 0.33 * h, max(1, int(round(0.06 * h)))
    hip_y, shoulder_y = fy - 0.50 * h, fy - 0.80 * h
    for sign in (1.0, -1.0):  # legs (opposite phases); the foot of a vertical leg touches the ground line
        ang = 0.38 * sign * swing
        foot = (fx + leg_len * np.sin(ang), hip_y + leg_len * np.cos(ang) - leg_w / 2.0)
        cv2.line(patch, _pt(fx, hip_y), _pt(*foot), PART_PANTS, leg_w, cv2.LINE_8, _SUBPIXEL_BITS)
    sw, hw = 0.10 * h, 0.085 * h  # torso: a tapered quad from shoulders to hips
    lean = 0.02 * h * facing
    quad = np.array([_pt(fx - sw + lean, shoulder_y), _pt(fx + sw + lean, shoulder_y),
                     _pt(fx + hw, hip_y + 0.03 * h), _pt(fx - hw, hip_y + 0.03 * h)], np.int32)
    cv2.fillConvexPoly(patch, quad, PART_SHIRT, cv2.LINE_8, _SUBPIXEL_BITS)
    for sign in (1.0, -1.0):  # arms swing against the legs
        ang = -0.45 * sign * swing
        hand = (fx + lean + arm_len * np.sin(ang), shoulder_y + 0.02 * h + arm_len * np.cos(ang))
        cv2.line(patch, _pt(fx + lean, shoulder_y + 0.02 * h), _pt(*hand), PART_SHIRT, arm_w, cv2.LINE_8,
                 _SUBPIXEL_BITS)
    cv2.line(patch, _pt(fx + lean, shoulder_y), _pt(fx + lean * 1.5, shoulder_y - 0.06 * h), PART_SKIN,
             max(1, int(round(0.05 * h))), cv2.LINE_8, _SUBPIXEL_BITS)
    cv2.circle(patch, _pt(fx + 1.5 * lean + 0.01 * h * facing, fy - 0.925 * h), int(round(0.065 * h * _SUB)),
               PART_SKIN, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    return patch, fx, fy


def _paste(target: np.ndarray, mask: np.ndarray, values: np.ndarray, x0: int, y0: int) -> int:
    """Write ``values[mask]`` into ``target`` with the patch's top-left at (x0, y0); returns pixels inside."""
    H, W = target.shape[:2]
    ph, pw = mask.shape
    ix0, iy0, ix1, iy1 = max(0, x0), max(0, y0), min(W, x0 + pw), min(H, y0 + ph)
    if ix1 <= ix0 or iy1 <= iy0:
        return 0
    m = mask[iy0 - y0: iy1 - y0, ix0 - x0: ix1 - x0]
    target[iy0:iy1, ix0:ix1][m] = values[iy0 - y0: iy1 - y0, ix0 - x0: ix1 - x0][m]
    return int(m.sum())


def draw_person(layers: FrameLayers, person: Pedestrian, x: float, height: float, light: float, sunlit: bool,
                th_dx: float, instance_id: int, phys: WorldPhysics) -> DrawnPerson:
    """Draw ``person`` with feet at image (x, person.foot_y), ``height`` px tall, under illumination ``light``.

    By day a person in the sun is shaded across the body (lit side toward the sun), casts a shadow on
    the ground, and its clothes warm by ``sun_gain``; the thermal silhouette lands ``th_dx`` px over.
    A person without ``thermal_visible`` is drawn (with its shadow) in RGB and the instance map only.
    """
    facing = 1 if person.vx >= 0 else -1
    labels, fx, fy = person_patch(height, person.phase, facing)
    mask = labels > 0
    x0, y0 = int(round(x - fx)), int(round(person.foot_y - fy))
    ys, xs = np.nonzero(mask)
    box = (float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1), float(y0 + ys.max() + 1))
    ph, pw = labels.shape
    if sunlit and height >= 4:  # cast shadow: a flat ellipse on the ground beside the feet
        for img in (layers.rgb, layers.thermal) if person.thermal_visible else (layers.rgb,):
            off = th_dx if img is layers.thermal else 0.0
            c = _pt(x + off + 0.35 * height, person.foot_y)
            axes = (int(round(0.45 * height * _SUB)), int(round(0.05 * height * _SUB)) + _SUB)
            shadow = np.zeros(img.shape[:2], np.uint8)
            cv2.ellipse(shadow, c, axes, 0, 0, 360, 1, -1, cv2.LINE_8, _SUBPIXEL_BITS)
            s = shadow.astype(bool) & (layers.instance_map == 0)
            if img is layers.rgb:
                img[s] *= phys.sky_fill
            else:
                img[s] -= 0.6 * (img[s] - (person.clothing_temp - 1.0)).clip(min=0)
    albedo = np.zeros((4, 3), np.float32)
    for part, color in ((PART_SKIN, person.skin_rgb), (PART_SHIRT, person.shirt_rgb), (PART_PANTS, person.pants_rgb)):
        albedo[part] = color
    rows = (np.arange(ph, dtype=np.float32) / max(height, 1.0))[:, None]
    cols = (np.arange(pw, dtype=np.float32) - fx) / max(0.2 * height, 1.0)
    stripes = 1.0 + phys.clothing_texture * np.sign(np.sin(2 * np.pi * rows / person.stripe_period + person.stripe_phase))
    shading = np.clip(0.8 + 0.25 * cols, 0.55, 1.05)[None, :] if sunlit else np.ones((1, pw), np.float32)
    tex = np.where(labels == PART_SKIN, 1.0, stripes * shading).astype(np.float32)
    rgb_patch = albedo[labels] * (tex * light)[..., None]
    clothes = person.clothing_temp + (person.sun_gain if sunlit else 0.0)
    temps = np.array([0.0, clothes + person.skin_extra, clothes, clothes - 0.5], np.float32)
    th_patch = temps[labels] + 0.3 * (stripes - 1.0)
    ids = np.full(labels.shape, instance_id, np.uint16)
    in_frame = _paste(layers.rgb, mask, rgb_patch, x0, y0)
    _paste(layers.instance_map, mask, ids, x0, y0)
    if person.thermal_visible:
        _paste(layers.thermal, mask, th_patch, int(round(x + th_dx - fx)), y0)
    return DrawnPerson(person.track_id, box, int(mask.sum()), in_frame, instance_id)


# ---------------------------------------------------------------------------------------------- occluders


def draw_car(layers: FrameLayers, car: Car, x: float, light: float, th_dx: float, phys: WorldPhysics) -> None:
    """Side view of a parked car with its left end at image x; a hot engine and headlights if running."""
    L, Hc, y = car.length, car.height, car.foot_y
    wheel_r = 0.18 * Hc
    body_top, body_bot = y - 0.62 * Hc, y - wheel_r * 0.8

    def shapes(dx: float):
        cab = [(x + dx + 0.22 * L, body_top), (x + dx + 0.32 * L, y - Hc), (x + dx + 0.72 * L, y - Hc),
               (x + dx + 0.82 * L, body_top)]
        body = [(x + dx, body_top), (x + dx + L, body_top), (x + dx + L, body_bot), (x + dx, body_bot)]
        return np.array([_pt(*p) for p in body], np.int32), np.array([_pt(*p) for p in cab], np.int32)

    color = tuple(float(c) * light for c in car.body_rgb)
    glass = tuple(0.3 * light * v for v in (0.5, 0.55, 0.65))
    for img, dx, body_val, cab_val, wheel_val in (
        (layers.rgb, 0.0, color, glass, (0.03 * light,) * 3),
        (layers.thermal, th_dx, car.body_temp, car.body_temp - 8.0, car.body_temp + 3.0),
        (layers.instance_map, 0.0, OCCLUDER_ID, OCCLUDER_ID, OCCLUDER_ID),
    ):
        body, cab = shapes(dx)
        cv2.fillConvexPoly(img, body, body_val, cv2.LINE_8, _SUBPIXEL_BITS)
        cv2.fillConvexPoly(img, cab, cab_val, cv2.LINE_8, _SUBPIXEL_BITS)
        for wx in (x + dx + 0.2 * L, x + dx + 0.8 * L):
            cv2.circle(img, _pt(wx, y - wheel_r), int(round(wheel_r * _SUB)), wheel_val, -1, cv2.LINE_8,
                       _SUBPIXEL_BITS)
    front_x0 = x + th_dx + (0.8 * L if car.faces_right else 0.0)
    cv2.rectangle(layers.thermal, _pt(front_x0, body_top), _pt(front_x0 + 0.2 * L, body_bot), car.engine_temp, -1,
                  cv2.LINE_8, _SUBPIXEL_BITS)
    if car.headlights_on:
        hx = x + L - 0.03 * L if car.faces_right else x + 0.03 * L
        hy = body_top + 0.25 * (body_bot - body_top)
        r = max(1.0, 0.06 * Hc)
        cv2.circle(layers.rgb, _pt(hx, hy), int(round(r * _SUB)), (phys.lamp_radiance,) * 3, -1, cv2.LINE_8,
                   _SUBPIXEL_BITS)


def draw_pole(layers: FrameLayers, pole: Pole, x: float, light: float, th_dx: float, phys: WorldPhysics) -> None:
    top = pole.foot_y - pole.height
    p0, p1 = _pt(x - pole.width / 2, top), _pt(x + pole.width / 2, pole.foot_y)
    gray = 0.25 * light
    cv2.rectangle(layers.rgb, p0, p1, (gray, gray, gray * 1.05), -1, cv2.LINE_8, _SUBPIXEL_BITS)
    cv2.rectangle(layers.thermal, _pt(x + th_dx - pole.width / 2, top), _pt(x + th_dx + pole.width / 2, pole.foot_y),
                  pole.temp, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    cv2.rectangle(layers.instance_map, p0, p1, OCCLUDER_ID, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    r = max(1.0, 1.2 * pole.width)
    lamp = (phys.lamp_radiance,) * 3 if pole.lamp_on else (0.2 * light,) * 3
    cv2.circle(layers.rgb, _pt(x, top), int(round(r * _SUB)), lamp, -1, cv2.LINE_8, _SUBPIXEL_BITS)
