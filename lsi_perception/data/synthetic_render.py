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

# Body parts in the per-person label patch: skin (face, neck, hands), shirt (torso, arms, coat or skirt),
# pants (legs), hair, and a carried bag.
PART_SKIN, PART_SHIRT, PART_PANTS, PART_HAIR, PART_BAG = 1, 2, 3, 4, 5
N_PARTS = 6  # label values 0..5


@dataclass
class SceneLayout:
    """Image rows of the scene's horizontal bands (pixels, for one image size)."""

    height: int
    width: int
    horizon: int
    sidewalk_front: int  # front (near) edge of the far sidewalk; poles stand here
    # Pixels of a 1.7 m person per row of foot distance below the horizon: on a flat ground plane this is
    # person height / camera height (1.13 for a camera about 1.5 m up; smaller for a higher camera).
    height_per_row: float = PERSON_HEIGHT_PER_ROW

    @classmethod
    def for_size(cls, height: int, width: int, horizon_fraction: float = 0.42,
                 height_per_row: float = PERSON_HEIGHT_PER_ROW) -> SceneLayout:
        """The layout of a ``height`` x ``width`` image with the horizon ``horizon_fraction`` of the way down."""
        horizon = int(round(horizon_fraction * height))
        return cls(height, width, horizon, horizon + int(round(0.10 * height)), height_per_row)

    def person_height_at(self, foot_y: float, stature: float) -> float:
        return max(0.0, self.height_per_row * stature * (foot_y - self.horizon))

    def foot_y_for_height(self, person_height: float, stature: float) -> float:
        return self.horizon + person_height / (self.height_per_row * stature)


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
    # The figure (defaults: the side-view walker of the street world). ``view``: "side", "front" (walking
    # toward the camera) or "back" (walking away); ``coat``: share of the legs a coat or skirt covers.
    view: str = "side"
    coat: float = 0.0
    bag: bool = False
    hair: bool = False  # a cold hair cap on the head (the whole head seen from behind)
    hands: bool = False  # bare (warm) hands at the ends of the sleeves
    hair_rgb: tuple[float, float, float] = (0.05, 0.04, 0.03)
    bag_rgb: tuple[float, float, float] = (0.1, 0.1, 0.1)
    # Thermal of the parts, in kelvin relative to ``clothing_temp`` (insulating coats are colder than
    # trousers; hair is near air temperature); the bag's is absolute (C).
    torso_dk: float = 0.0
    legs_dk: float = -0.5
    hair_dk: float = -3.0
    bag_temp: float = 15.0
    # A rider on a bicycle (side view only): the person pedals (``phase`` turns the cranks) and the bicycle
    # is drawn under them as street furniture (OCCLUDER_ID), not as part of the person's box.
    rider: bool = False
    bike_rgb: tuple[float, float, float] = (0.2, 0.2, 0.2)
    bike_temp: float = 15.0  # C: frame and tyres, near the air's or the shade's temperature


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


# Pole.kind with clutter_variety: share of the poles, then height and width ranges in units of a person's height
# at the item's foot (a lamp pole keeps its own size: 2.6 x 0.06).
CLUTTER_SHAPES: dict[str, tuple[float, tuple[float, float], tuple[float, float]]] = {
    "pole": (0.3, (2.6, 2.6), (0.06, 0.06)),
    "tree": (0.25, (2.5, 4.5), (0.08, 0.2)),
    "bollard": (0.15, (0.5, 0.65), (0.08, 0.14)),
    "sign": (0.1, (1.3, 1.7), (0.03, 0.05)),
    "traffic_light": (0.1, (1.8, 2.5), (0.05, 0.08)),
    "bin": (0.1, (0.5, 0.65), (0.25, 0.4)),
}
CLUTTER_KINDS = tuple(CLUTTER_SHAPES)


@dataclass
class Pole:
    """Upright street furniture standing on the sidewalk: a street-light pole unless ``kind`` says otherwise."""

    x: float
    foot_y: float
    height: float
    width: float
    temp: float
    lamp_on: bool
    kind: str = "pole"  # one of CLUTTER_KINDS
    rgb: tuple[float, float, float] = (0.25, 0.25, 0.2625)  # albedo of the post / trunk / body
    crown_temp: float = 0.0  # tree: the canopy's temperature (C); sign / traffic light: the panel's
    signal_green: bool = False  # traffic light: the lit lamp is green (else red)


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


def person_patch(height: float, phase: float, facing: int, view: str = "side", coat: float = 0.0,
                 bag: bool = False, hair: bool = False, hands: bool = False) -> tuple[np.ndarray, float, float]:
    """Label patch (0 background, PART_* ids) of a walking person ``height`` px tall.

    ``view`` "side" draws the profile of a walker (legs and arms swinging in the image plane); "front" and
    "back" draw a person walking toward or away from the camera (legs side by side, one foot lifting in
    turn, arms beside a wider torso, the face or the back of the head). ``coat`` covers that share of the
    legs with a flared coat or skirt; ``bag`` hangs a bag at the hip; ``hair`` caps the head with hair;
    ``hands`` ends the arms in bare hands. Returns (patch uint8, foot_x, foot_y): the foot point's position
    inside the patch, so the patch's top-left lands at (x - foot_x, y - foot_y) in the image.
    """
    h = max(float(height), 4.0)
    ph, pw = int(np.ceil(1.04 * h)) + 4, int(np.ceil(0.75 * h)) + 4
    fx, fy = pw / 2.0, ph - 2.0
    patch = np.zeros((ph, pw), np.uint8)
    swing = np.sin(phase)
    frontal = view in ("front", "back")
    leg_len, leg_w = 0.50 * h, max(1, int(round(0.085 * h)))
    arm_len, arm_w = 0.33 * h, max(1, int(round(0.06 * h)))
    hip_y, shoulder_y = fy - 0.50 * h, fy - 0.80 * h

    def line(p0, p1, part, width):
        cv2.line(patch, _pt(*p0), _pt(*p1), part, width, cv2.LINE_8, _SUBPIXEL_BITS)

    if frontal:  # legs side by side; the swinging foot lifts (foreshortened stride)
        for sign in (1.0, -1.0):
            lift = 0.05 * h * max(0.0, sign * swing)
            line((fx + sign * 0.045 * h, hip_y), (fx + sign * 0.055 * h, fy - leg_w / 2.0 - lift), PART_PANTS, leg_w)
    else:
        for sign in (1.0, -1.0):  # legs (opposite phases); the foot of a vertical leg touches the ground line
            ang = 0.38 * sign * swing
            line((fx, hip_y), (fx + leg_len * np.sin(ang), hip_y + leg_len * np.cos(ang) - leg_w / 2.0), PART_PANTS,
                 leg_w)
    sw, hw = (0.125 * h, 0.105 * h) if frontal else (0.10 * h, 0.085 * h)  # torso: shoulders to hips
    lean = 0.0 if frontal else 0.02 * h * facing
    quad = np.array([_pt(fx - sw + lean, shoulder_y), _pt(fx + sw + lean, shoulder_y),
                     _pt(fx + hw, hip_y + 0.03 * h), _pt(fx - hw, hip_y + 0.03 * h)], np.int32)
    cv2.fillConvexPoly(patch, quad, PART_SHIRT, cv2.LINE_8, _SUBPIXEL_BITS)
    if coat > 0:  # a coat or skirt flaring from the hips over the upper legs
        hem = hip_y + min(coat, 0.9) * leg_len
        flare = hw * (1.0 + 0.5 * min(coat, 0.9))
        skirt = np.array([_pt(fx - hw + lean, hip_y), _pt(fx + hw + lean, hip_y), _pt(fx + flare, hem),
                          _pt(fx - flare, hem)], np.int32)
        cv2.fillConvexPoly(patch, skirt, PART_SHIRT, cv2.LINE_8, _SUBPIXEL_BITS)
    hand_points = []
    for sign in (1.0, -1.0):
        if frontal:  # arms hang beside the torso and swing a little toward and away from the camera
            top = (fx + sign * (sw + 0.01 * h), shoulder_y + 0.03 * h)
            hand = (fx + sign * (sw + 0.035 * h), shoulder_y + 0.03 * h + arm_len * (1.0 - 0.06 * abs(swing)))
        else:  # arms swing against the legs
            ang = -0.45 * sign * swing
            top = (fx + lean, shoulder_y + 0.02 * h)
            hand = (fx + lean + arm_len * np.sin(ang), shoulder_y + 0.02 * h + arm_len * np.cos(ang))
        line(top, hand, PART_SHIRT, arm_w)
        hand_points.append(hand)
    if bag:  # a bag hanging at the hip on the camera's right of the body
        bx = fx + (sw + 0.03 * h if frontal else -0.05 * h * facing)
        cv2.rectangle(patch, _pt(bx - 0.05 * h, hip_y - 0.06 * h), _pt(bx + 0.05 * h, hip_y + 0.08 * h), PART_BAG, -1,
                      cv2.LINE_8, _SUBPIXEL_BITS)
    if hands:
        for hx, hy in hand_points:
            cv2.circle(patch, _pt(hx, hy), int(round(0.03 * h * _SUB)), PART_SKIN, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    line((fx + lean, shoulder_y), (fx + lean * 1.5, shoulder_y - 0.06 * h), PART_SKIN, max(1, int(round(0.05 * h))))
    head = (fx + 1.5 * lean + (0.0 if frontal else 0.01 * h * facing), fy - 0.925 * h)
    r = 0.065 * h
    head_part = PART_HAIR if hair and view == "back" else PART_SKIN
    cv2.circle(patch, _pt(*head), int(round(r * _SUB)), head_part, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    if hair and view != "back":  # a hair cap over the top (and, in profile, the back) of the head
        cap = (head[0] - (0.0 if frontal else 0.25 * r * facing), head[1] - 0.35 * r)
        cv2.ellipse(patch, _pt(*cap), (int(round(r * _SUB)), int(round(0.7 * r * _SUB))), 0, 180, 360, PART_HAIR, -1,
                    cv2.LINE_8, _SUBPIXEL_BITS)
    return patch, fx, fy


def _knee(hip: tuple[float, float], foot: tuple[float, float], segment: float, facing: int) -> tuple[float, float]:
    """The knee of a two-segment leg from ``hip`` to ``foot``, bent toward ``facing`` (+1 right, -1 left)."""
    dx, dy = foot[0] - hip[0], foot[1] - hip[1]
    d = max(float(np.hypot(dx, dy)), 1e-6)
    reach = min(d, 2.0 * segment * 0.999)
    along, out = reach / 2.0, float(np.sqrt(max(segment ** 2 - (reach / 2.0) ** 2, 0.0)))
    ux, uy = dx / d, dy / d  # along hip -> foot
    nx, ny = -uy, ux  # a normal to it; flipped to point the knee forward
    if nx * facing < 0:
        nx, ny = uy, -ux
    return hip[0] + ux * along + nx * out, hip[1] + uy * along + ny * out


def rider_patch(height: float, phase: float, facing: int, hair: bool = False,
                hands: bool = False) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Label patch of a person ``height`` px tall (standing) riding a bicycle, in profile, and the bicycle's mask.

    Proportions of a 1.7 m adult on a city bike (wheels 0.7 m, wheelbase 1.05 m, saddle 0.95 m up): the
    rider sits on the saddle, leans forward to the handlebar and pedals, ``phase`` being the crank angle;
    the top of the head is about as high as a walker's. ``facing`` +1 rides right. Returns (person labels
    uint8 PART_*, bicycle mask uint8 1 frame / 2 tyre, foot_x, foot_y): (foot_x, foot_y) is the point on
    the ground under the cranks.
    """
    h = max(float(height), 4.0)
    ph, pw = int(np.ceil(1.06 * h)) + 4, int(np.ceil(1.1 * h)) + 4
    fx, fy = pw / 2.0, ph - 2.0
    labels = np.zeros((ph, pw), np.uint8)
    bike = np.zeros((ph, pw), np.uint8)
    f = float(facing)

    def line(img, p0, p1, value, width):
        cv2.line(img, _pt(*p0), _pt(*p1), value, max(1, int(round(width))), cv2.LINE_8, _SUBPIXEL_BITS)

    wheel_r, tyre_w = 0.2 * h, max(1.0, 0.02 * h)
    rear, front = (fx - 0.31 * h * f, fy - wheel_r), (fx + 0.31 * h * f, fy - wheel_r)
    crank = (fx, fy - 0.17 * h)
    saddle = (fx - 0.1 * h * f, fy - 0.56 * h)
    bar = (fx + 0.25 * h * f, fy - 0.62 * h)
    head_tube = (fx + 0.23 * h * f, fy - 0.5 * h)
    for hub in (rear, front):
        cv2.circle(bike, _pt(*hub), int(round(wheel_r * _SUB)), 2, max(1, int(round(tyre_w))), cv2.LINE_8, _SUBPIXEL_BITS)
    tube = max(1.0, 0.018 * h)
    for a, b in ((rear, crank), (crank, saddle), (saddle, head_tube), (crank, head_tube), (head_tube, front),
                 (head_tube, bar), (rear, saddle)):
        line(bike, a, b, 1, tube)
    # The rider: hips on the saddle, feet on the pedals, torso leaning forward, hands on the bar.
    leg_w, arm_w = max(1, int(round(0.085 * h))), max(1, int(round(0.06 * h)))
    hip = (saddle[0], saddle[1] - 0.03 * h)
    shoulder = (hip[0] + 0.17 * h * f, hip[1] - 0.27 * h)
    for angle in (phase, phase + np.pi):
        pedal = (crank[0] + 0.1 * h * np.cos(angle), crank[1] + 0.1 * h * np.sin(angle))
        knee = _knee(hip, pedal, 0.25 * h, facing)
        line(labels, hip, knee, PART_PANTS, leg_w)
        line(labels, knee, pedal, PART_PANTS, leg_w)
    quad = np.array([_pt(shoulder[0] - 0.09 * h, shoulder[1]), _pt(shoulder[0] + 0.09 * h, shoulder[1]),
                     _pt(hip[0] + 0.085 * h, hip[1] + 0.03 * h), _pt(hip[0] - 0.085 * h, hip[1] + 0.03 * h)], np.int32)
    cv2.fillConvexPoly(labels, quad, PART_SHIRT, cv2.LINE_8, _SUBPIXEL_BITS)
    elbow = ((shoulder[0] + bar[0]) / 2.0, (shoulder[1] + bar[1]) / 2.0 + 0.03 * h)
    line(labels, shoulder, elbow, PART_SHIRT, arm_w)
    line(labels, elbow, bar, PART_SHIRT, arm_w)
    if hands:
        cv2.circle(labels, _pt(*bar), int(round(0.03 * h * _SUB)), PART_SKIN, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    neck_top = (shoulder[0] + 0.04 * h * f, shoulder[1] - 0.06 * h)
    line(labels, shoulder, neck_top, PART_SKIN, 0.05 * h)
    r = 0.065 * h
    head = (neck_top[0] + 0.02 * h * f, neck_top[1] - 0.05 * h)
    cv2.circle(labels, _pt(*head), int(round(r * _SUB)), PART_SKIN, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    if hair:
        cap = (head[0] - 0.25 * r * f, head[1] - 0.35 * r)
        cv2.ellipse(labels, _pt(*cap), (int(round(r * _SUB)), int(round(0.7 * r * _SUB))), 0, 180, 360, PART_HAIR, -1,
                    cv2.LINE_8, _SUBPIXEL_BITS)
    return labels, bike, fx, fy


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
    bike = None
    if person.rider:
        labels, bike, fx, fy = rider_patch(height, person.phase, facing, person.hair, person.hands)
    else:
        labels, fx, fy = person_patch(height, person.phase, facing, person.view, person.coat, person.bag, person.hair,
                                      person.hands)
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
    albedo = np.zeros((N_PARTS, 3), np.float32)
    for part, color in ((PART_SKIN, person.skin_rgb), (PART_SHIRT, person.shirt_rgb), (PART_PANTS, person.pants_rgb),
                        (PART_HAIR, person.hair_rgb), (PART_BAG, person.bag_rgb)):
        albedo[part] = color
    rows = (np.arange(ph, dtype=np.float32) / max(height, 1.0))[:, None]
    cols = (np.arange(pw, dtype=np.float32) - fx) / max(0.2 * height, 1.0)
    stripes = 1.0 + phys.clothing_texture * np.sign(np.sin(2 * np.pi * rows / person.stripe_period + person.stripe_phase))
    shading = np.clip(0.8 + 0.25 * cols, 0.55, 1.05)[None, :] if sunlit else np.ones((1, pw), np.float32)
    tex = np.where((labels == PART_SKIN) | (labels == PART_HAIR), 1.0, stripes * shading).astype(np.float32)
    rgb_patch = albedo[labels] * (tex * light)[..., None]
    clothes = person.clothing_temp + (person.sun_gain if sunlit else 0.0)
    temps = np.array([0.0, clothes + person.skin_extra, clothes + person.torso_dk, clothes + person.legs_dk,
                      clothes + person.hair_dk, person.bag_temp], np.float32)
    th_patch = temps[labels] + 0.3 * (stripes - 1.0)
    ids = np.full(labels.shape, instance_id, np.uint16)
    if bike is not None:  # the bicycle first, where the rider does not cover it; it hides what is behind
        frame = (bike > 0) & ~mask
        bike_rgb = np.where((bike == 2)[..., None], np.float32(0.04), np.asarray(person.bike_rgb, np.float32))
        _paste(layers.rgb, frame, (bike_rgb * light).astype(np.float32), x0, y0)
        _paste(layers.instance_map, frame, np.full(labels.shape, OCCLUDER_ID, np.uint16), x0, y0)
        if person.thermal_visible:
            tyre_warmth = np.where(bike == 2, np.float32(1.0), np.float32(0.0))  # rolling tyres run a little warm
            _paste(layers.thermal, frame, (person.bike_temp + tyre_warmth).astype(np.float32),
                   int(round(x + th_dx - fx)), y0)
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
    """Draw upright clutter with its foot at image x: a lamp pole, or a tree, bollard, sign, traffic light, bin."""
    if pole.kind != "pole":
        _draw_clutter(layers, pole, x, light, th_dx, phys)
        return
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


def _draw_clutter(layers: FrameLayers, item: Pole, x: float, light: float, th_dx: float, phys: WorldPhysics) -> None:
    """Trees (trunk + canopy), bollards and bins (short posts), signs and traffic lights (post + panel)."""
    top, w, foot = item.foot_y - item.height, item.width, item.foot_y
    color = tuple(float(c) * light for c in item.rgb)
    shapes: list[tuple[str, tuple, float, tuple[float, float, float]]] = []  # (kind, geometry, temp, rgb)
    if item.kind in ("bollard", "bin"):
        shapes.append(("rect", (x - w / 2, top, x + w / 2, foot), item.temp, color))
    else:
        post_top = top + (0.0 if item.kind == "tree" else 0.15 * item.height)
        shapes.append(("rect", (x - w / 2, post_top, x + w / 2, foot), item.temp, color))
        if item.kind == "tree":  # canopy: a wide dark ellipse over the trunk
            crown = (0.35 * item.height, 0.22 * item.height)
            shapes.append(("ellipse", (x, top + crown[1], *crown), item.crown_temp, tuple(0.4 * c for c in color)))
        else:
            pw = (3.0 if item.kind == "sign" else 1.6) * w
            ph = (0.12 if item.kind == "sign" else 0.22) * item.height
            panel = tuple(min(1.0, 2.5 * c) for c in color) if item.kind == "sign" else (0.03 * light,) * 3
            shapes.append(("rect", (x - pw / 2, top, x + pw / 2, top + ph), item.crown_temp, panel))
    for kind, geo, temp, rgb in shapes:
        for img, dx, val in ((layers.rgb, 0.0, rgb), (layers.thermal, th_dx, temp), (layers.instance_map, 0.0, OCCLUDER_ID)):
            if kind == "rect":
                cv2.rectangle(img, _pt(geo[0] + dx, geo[1]), _pt(geo[2] + dx, geo[3]), val, -1, cv2.LINE_8, _SUBPIXEL_BITS)
            else:
                cv2.ellipse(img, _pt(geo[0] + dx, geo[1]), (int(round(geo[2] * _SUB)), int(round(geo[3] * _SUB))), 0, 0,
                            360, val, -1, cv2.LINE_8, _SUBPIXEL_BITS)
    if item.kind == "traffic_light" and item.lamp_on:  # one lit lamp in the panel
        r = max(1.0, 0.5 * w)
        hue = (0.1, phys.lamp_radiance, 0.3) if item.signal_green else (phys.lamp_radiance, 0.1, 0.05)
        cv2.circle(layers.rgb, _pt(x, top + 0.06 * item.height), int(round(r * _SUB)), hue, -1, cv2.LINE_8,
                   _SUBPIXEL_BITS)
