"""Drawing for the synthetic RGB-thermal street scenes (numpy + OpenCV only, no torch).

A drive has one wide background panorama (sky, buildings, sidewalk, road; lights at night) that the
camera pans across, plus foreground objects drawn far-to-near each frame: pedestrians (articulated
silhouettes), parked cars and street-light poles. Every object is drawn into both images and into an
instance map, so visibility (occlusion by nearer objects, clipping by the border) is measured from
what was really drawn, not estimated.

Thermal values are uint8 "apparent temperatures": people are warm (about 190-225), the sky cold,
asphalt and sun-facing walls warm by day (a hot wall reaches people's values and washes them out),
everything cooler at night. RGB at night is dark apart from street lights, lit windows and headlights.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

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
class Background:
    """A drive's static scene: panorama images wider than the view, and the night light map."""

    rgb: np.ndarray  # uint8 H x Wp x 3
    thermal: np.ndarray  # uint8 H x Wp
    light: np.ndarray  # float32 H x Wp, illumination multiplier for objects drawn on top (1 by day)


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
    skin_rgb: tuple[int, int, int]
    shirt_rgb: tuple[int, int, int]
    pants_rgb: tuple[int, int, int]
    skin_temp: float
    clothing_insulation: float  # 0..1: how much cooler clothes look than skin in thermal


@dataclass
class Car:
    x: float  # left end in panorama coordinates
    foot_y: float
    length: float
    height: float
    body_rgb: tuple[int, int, int]
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
    rgb: np.ndarray
    thermal: np.ndarray
    instance_map: np.ndarray  # uint16 H x W: 0 background, person instance ids, OCCLUDER_ID
    people: list[DrawnPerson] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- background


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Low-frequency texture in [-1, 1] (random grid upsampled), float32 h x w."""
    small = rng.uniform(-1.0, 1.0, (max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def render_background(
    rng: np.random.Generator, layout: SceneLayout, pano_width: int, is_day: bool, poles: list[Pole],
    hot_wall_probability: float,
) -> Background:
    """Sky, buildings with windows, sidewalk and road with lane marks; street-light glow at night."""
    h, w, hz = layout.height, pano_width, layout.horizon
    rgb = np.zeros((h, w, 3), np.float32)
    th = np.zeros((h, w), np.float32)
    rows = np.arange(h, dtype=np.float32)[:, None]

    # Sky: vertical gradient.
    t = rows[:hz] / max(hz, 1)
    if is_day:
        rgb[:hz] = (np.array([110, 160, 225]) * (1 - t)[..., None] + np.array([190, 210, 235]) * t[..., None])
        th[:hz] = 35 + 10 * t
    else:
        rgb[:hz] = np.array([8, 10, 22]) * (1 - 0.5 * t)[..., None] + np.array([20, 20, 30]) * t[..., None]
        th[:hz] = 22 + 6 * t

    # Ground: sidewalk band then road.
    sw0, sw1 = hz, layout.sidewalk_front
    texture = _smooth_noise(rng, h, w, max(4, h // 24))
    if is_day:
        rgb[sw0:sw1] = np.array([168, 162, 155])
        rgb[sw1:] = np.array([92, 92, 98])
        th[sw0:sw1] = 135 + rng.uniform(-10, 15)
        th[sw1:] = 145 + rng.uniform(-15, 25)
    else:
        rgb[sw0:sw1] = np.array([34, 32, 30])
        rgb[sw1:] = np.array([20, 20, 23])
        th[sw0:sw1] = 78 + rng.uniform(-5, 5)
        th[sw1:] = 82 + rng.uniform(-5, 8)
    rgb[sw0:] += texture[sw0:, :, None] * (10 if is_day else 3)
    th[sw0:] += texture[sw0:] * 6
    # Curb line and dashed lane markings.
    cv2.line(rgb, (0, sw1), (w - 1, sw1), (200, 200, 195) if is_day else (50, 50, 50), max(1, h // 170))
    lane_y = int(sw1 + 0.45 * (h - sw1))
    dash = max(8, w // 40)
    for x0 in range(int(rng.integers(0, dash)), w, 3 * dash):
        cv2.rectangle(rgb, (x0, lane_y), (x0 + dash, lane_y + max(1, h // 110)),
                      (230, 230, 225) if is_day else (70, 70, 66), -1)
        cv2.rectangle(th, (x0, lane_y), (x0 + dash, lane_y + max(1, h // 110)), float(th[lane_y, x0] - 8), -1)

    # Buildings standing on the far edge of the sidewalk.
    x = -int(rng.integers(0, w // 8 + 1))
    base = hz + max(1, h // 60)
    while x < w:
        bw = int(rng.uniform(0.12, 0.35) * layout.width)
        top = int(rng.uniform(0.04, 0.30) * h)
        facade = rng.uniform(60, 200, 3)
        hot = is_day and rng.random() < hot_wall_probability
        wall_temp = rng.uniform(185, 215) if hot else (rng.uniform(100, 130) if is_day else rng.uniform(70, 95))
        color = facade if is_day else facade * 0.12
        cv2.rectangle(rgb, (x, top), (x + bw, base), color.tolist(), -1)
        cv2.rectangle(th, (x, top), (x + bw, base), float(wall_temp), -1)
        # Window grid.
        win = max(3, int(0.035 * h))
        gap = max(2, int(win * 0.8))
        for wy in range(top + gap, base - 2 * win, win + gap):
            for wx in range(x + gap, x + bw - win, win + gap):
                lit = (not is_day) and rng.random() < 0.35
                wcol = (255, 215, 140) if lit else ((70, 80, 100) if is_day else (10, 12, 18))
                cv2.rectangle(rgb, (wx, wy), (wx + win - 1, wy + win - 1), wcol, -1)
                wt = wall_temp - (12 if is_day else -12 if lit else 4)
                cv2.rectangle(th, (wx, wy), (wx + win - 1, wy + win - 1), float(wt), -1)
        x += bw + int(rng.integers(0, max(2, layout.width // 30)))

    light = np.ones((h, w), np.float32)
    if not is_day:
        # Street lights: a glow around each lamp and a lit pool on the ground around each pole.
        light[:] = 0.1
        cols = np.arange(w, dtype=np.float32)[None, :]
        for pole in poles:
            lamp_y = pole.foot_y - pole.height
            sigma = max(6.0, 0.9 * pole.height)
            ground = np.exp(-0.5 * ((cols - pole.x) / sigma) ** 2)
            light[hz:] += 0.6 * ground[:, :] * np.ones((h - hz, 1), np.float32)
            glow_r = int(max(4, 0.35 * pole.height))
            y0, y1 = int(max(0, lamp_y - glow_r)), int(min(h, lamp_y + glow_r))
            x0, x1 = int(max(0, pole.x - glow_r)), int(min(w, pole.x + glow_r))
            if y1 > y0 and x1 > x0:
                yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
                d2 = ((yy - lamp_y) ** 2 + (xx - pole.x) ** 2) / (0.4 * glow_r) ** 2
                rgb[y0:y1, x0:x1] += (np.exp(-d2)[..., None] * np.array([255, 220, 160]))
        rgb[hz:] *= np.clip(light[hz:], 0.0, 2.0)[..., None] / 0.1 * 0.2 + 0.8
    return Background(
        np.clip(rgb, 0, 255).astype(np.uint8), np.clip(th, 0, 255).astype(np.uint8), np.clip(light, 0, 1.5)
    )


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
    # Legs (opposite phases); the foot of a vertical leg touches the ground line.
    for sign in (1.0, -1.0):
        ang = 0.38 * sign * swing
        foot = (fx + leg_len * np.sin(ang), hip_y + leg_len * np.cos(ang) - leg_w / 2.0)
        cv2.line(patch, _pt(fx, hip_y), _pt(*foot), PART_PANTS, leg_w, cv2.LINE_8, _SUBPIXEL_BITS)
    # Torso: a tapered quad from shoulders to hips.
    sw, hw = 0.10 * h, 0.085 * h
    lean = 0.02 * h * facing
    quad = np.array([_pt(fx - sw + lean, shoulder_y), _pt(fx + sw + lean, shoulder_y),
                     _pt(fx + hw, hip_y + 0.03 * h), _pt(fx - hw, hip_y + 0.03 * h)], np.int32)
    cv2.fillConvexPoly(patch, quad, PART_SHIRT, cv2.LINE_8, _SUBPIXEL_BITS)
    # Arms swing against the legs.
    for sign in (1.0, -1.0):
        ang = -0.45 * sign * swing
        hand = (fx + lean + arm_len * np.sin(ang), shoulder_y + 0.02 * h + arm_len * np.cos(ang))
        cv2.line(patch, _pt(fx + lean, shoulder_y + 0.02 * h), _pt(*hand), PART_SHIRT, arm_w, cv2.LINE_8,
                 _SUBPIXEL_BITS)
    # Neck and head.
    cv2.line(patch, _pt(fx + lean, shoulder_y), _pt(fx + lean * 1.5, shoulder_y - 0.06 * h), PART_SKIN,
             max(1, int(round(0.05 * h))), cv2.LINE_8, _SUBPIXEL_BITS)
    cv2.circle(patch, _pt(fx + 1.5 * lean + 0.01 * h * facing, fy - 0.925 * h), int(round(0.065 * h * _SUB)),
               PART_SKIN, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    return patch, fx, fy


def _paste(layers: FrameLayers, patch_mask: np.ndarray, x0: int, y0: int, rgb_lut: np.ndarray,
           th_lut: np.ndarray, labels: np.ndarray, instance_id: int) -> int:
    """Paint a label patch at image offset (x0, y0); returns how many of its pixels are inside the image."""
    H, W = layers.instance_map.shape
    ph, pw = labels.shape
    ix0, iy0, ix1, iy1 = max(0, x0), max(0, y0), min(W, x0 + pw), min(H, y0 + ph)
    if ix1 <= ix0 or iy1 <= iy0:
        return 0
    sub = labels[iy0 - y0: iy1 - y0, ix0 - x0: ix1 - x0]
    m = patch_mask[iy0 - y0: iy1 - y0, ix0 - x0: ix1 - x0]
    rgb_view = layers.rgb[iy0:iy1, ix0:ix1]
    rgb_view[m] = rgb_lut[sub[m]]
    layers.thermal[iy0:iy1, ix0:ix1][m] = th_lut[sub[m]]
    layers.instance_map[iy0:iy1, ix0:ix1][m] = instance_id
    return int(m.sum())


def draw_person(layers: FrameLayers, person: Pedestrian, x: float, height: float, light: float,
                ambient_temp: float, instance_id: int) -> DrawnPerson:
    """Draw ``person`` with feet at image (x, person.foot_y) and the given pixel height."""
    facing = 1 if person.vx >= 0 else -1
    labels, fx, fy = person_patch(height, person.phase, facing)
    mask = labels > 0
    x0, y0 = int(round(x - fx)), int(round(person.foot_y - fy))
    ys, xs = np.nonzero(mask)
    box = (float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1), float(y0 + ys.max() + 1))
    rgb_lut = np.zeros((4, 3), np.uint8)
    for part, color in ((PART_SKIN, person.skin_rgb), (PART_SHIRT, person.shirt_rgb), (PART_PANTS, person.pants_rgb)):
        rgb_lut[part] = np.clip(np.asarray(color, np.float32) * light, 0, 255).astype(np.uint8)
    skin = person.skin_temp
    clothes = skin - person.clothing_insulation * max(skin - ambient_temp, 0.0) * 0.35
    th_lut = np.array([0, skin, clothes, clothes - 4.0], np.float32).clip(0, 255).astype(np.uint8)
    in_frame = _paste(layers, mask, x0, y0, rgb_lut, th_lut, labels, instance_id)
    return DrawnPerson(person.track_id, box, int(mask.sum()), in_frame, instance_id)


# ---------------------------------------------------------------------------------------------- occluders


def draw_car(layers: FrameLayers, car: Car, x: float, light: float, is_day: bool) -> None:
    """Side view of a parked car with its left end at image x; a hot engine and headlights if running."""
    H, W = layers.instance_map.shape
    L, Hc, y = car.length, car.height, car.foot_y
    wheel_r = 0.18 * Hc
    body_top, body_bot = y - 0.62 * Hc, y - wheel_r * 0.8
    cab = [(x + 0.22 * L, body_top), (x + 0.32 * L, y - Hc), (x + 0.72 * L, y - Hc), (x + 0.82 * L, body_top)]
    body = [(x, body_top), (x + L, body_top), (x + L, body_bot), (x, body_bot)]
    color = tuple(float(c) * light for c in car.body_rgb)
    glass = (40, 55, 70) if is_day else (8, 10, 14)
    front_x0 = x + 0.8 * L if car.faces_right else x
    for img, body_val, cab_val, wheel_val, front_val in (
        (layers.rgb, color, glass, (20, 20, 20), color),
        (layers.thermal, car.body_temp, car.body_temp - 10, car.body_temp + 15, car.engine_temp),
        (layers.instance_map, OCCLUDER_ID, OCCLUDER_ID, OCCLUDER_ID, OCCLUDER_ID),
    ):
        cv2.fillConvexPoly(img, np.array([_pt(*p) for p in body], np.int32), body_val, cv2.LINE_8, _SUBPIXEL_BITS)
        cv2.fillConvexPoly(img, np.array([_pt(*p) for p in cab], np.int32), cab_val, cv2.LINE_8, _SUBPIXEL_BITS)
        if img is layers.thermal:
            cv2.rectangle(img, _pt(front_x0, body_top), _pt(front_x0 + 0.2 * L, body_bot), front_val, -1,
                          cv2.LINE_8, _SUBPIXEL_BITS)
        for wx in (x + 0.2 * L, x + 0.8 * L):
            cv2.circle(img, _pt(wx, y - wheel_r), int(round(wheel_r * _SUB)), wheel_val, -1, cv2.LINE_8,
                       _SUBPIXEL_BITS)
    if car.headlights_on:
        hx = x + L - 0.03 * L if car.faces_right else x + 0.03 * L
        hy = body_top + 0.25 * (body_bot - body_top)
        r = max(1.0, 0.08 * Hc)
        cv2.circle(layers.rgb, _pt(hx, hy), int(round(r * _SUB)), (255, 250, 225), -1, cv2.LINE_AA, _SUBPIXEL_BITS)
        if not is_day:  # a soft glow around the lamp
            g = int(max(2, 4 * r))
            x0, y0, x1, y1 = int(max(0, hx - g)), int(max(0, hy - g)), int(min(W, hx + g)), int(min(H, hy + g))
            if x1 > x0 and y1 > y0:
                yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
                glow = np.exp(-((yy - hy) ** 2 + (xx - hx) ** 2) / (1.5 * r) ** 2)[..., None] * 200.0
                view = layers.rgb[y0:y1, x0:x1]
                view[:] = np.clip(view + glow, 0, 255).astype(np.uint8)


def draw_pole(layers: FrameLayers, pole: Pole, x: float, light: float, is_day: bool) -> None:
    top = pole.foot_y - pole.height
    p0, p1 = _pt(x - pole.width / 2, top), _pt(x + pole.width / 2, pole.foot_y)
    gray = 70.0 * (light if not is_day else 1.0) + (0 if is_day else 10)
    cv2.rectangle(layers.rgb, p0, p1, (gray, gray, gray + 5), -1, cv2.LINE_8, _SUBPIXEL_BITS)
    cv2.rectangle(layers.thermal, p0, p1, pole.temp, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    cv2.rectangle(layers.instance_map, p0, p1, OCCLUDER_ID, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    lamp = (255, 240, 200) if not is_day else (90, 90, 95)
    r = max(1.0, 1.2 * pole.width)
    cv2.circle(layers.rgb, _pt(x, top), int(round(r * _SUB)), lamp, -1, cv2.LINE_8, _SUBPIXEL_BITS)
