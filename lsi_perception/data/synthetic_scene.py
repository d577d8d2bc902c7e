"""One synthetic drive as a simulation: walking people, parked cars, poles, and the two cameras.

``DriveSimulator(cfg, plan)`` builds a drive's static scene (background panorama, occluders, climate,
camera fixed patterns) from the drive's own seed; ``step(t)`` moves the people, ``render(t)`` draws
frame t in physical units (``synthetic_render``) and passes it through both camera models
(``synthetic_physics``). Annotations are measured on the RGB image's instance map.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .synthetic_background import Background, Climate, render_background
from .synthetic_physics import ThermalCamera, VisibleCamera, disparity, uniform
from .synthetic_render import (
    CLUTTER_KINDS,
    CLUTTER_SHAPES,
    Car,
    FrameLayers,
    Pedestrian,
    Pole,
    SceneLayout,
    draw_car,
    draw_person,
    draw_pole,
)

SLICE_STREAM = 4242  # third seed word of the per-drive stream that picks the RGB-only slice
NOISE_STREAM = 3333  # third seed word of the per-drive thermal noise factor (physics.thermal_noise_gain)
VARIETY_STREAM = 2222  # third seed word of the per-drive stream of the transfer knobs (rig, figures, sensors)
RIDER_STREAM = 5555  # third seed word of the per-drive stream that picks and shapes the riders (rider_fraction)

if TYPE_CHECKING:
    from .synthetic import DrivePlan, SyntheticConfig


@dataclass
class SyntheticObject:
    """One annotated pedestrian in a frame (RGB-image coordinates)."""

    track_id: int
    box: tuple[float, float, float, float]  # xyxy, clipped to the image
    height: float
    occlusion: int  # 0 none, 1 partial (<= 50 % hidden), 2 heavy
    ignore: bool
    visible_fraction: float
    instance_id: int = 0  # value of this person's pixels in SyntheticFrame.instance_map
    rgb_only: bool = False  # no thermal signature: the RGB-only slice (SyntheticConfig.rgb_only_fraction)


@dataclass
class SyntheticFrame:
    rgb: np.ndarray  # uint8 HxWx3 RGB
    thermal: np.ndarray  # uint8 HxW (per-frame AGC)
    objects: list[SyntheticObject]
    index: int  # frame number within the drive
    stamp: float  # seconds since the drive started
    time_of_day: str
    instance_map: np.ndarray | None = field(default=None, repr=False)  # uint16 HxW, RGB frame
    thermal_radiometric: np.ndarray | None = field(default=None, repr=False)  # uint16 centi-kelvin


class DriveSimulator:
    """State of one drive: background, occluders and walking people; ``render(t)`` draws frame t."""

    def __init__(self, cfg: SyntheticConfig, plan: DrivePlan) -> None:
        self.cfg, self.plan = cfg, plan
        self.phys = cfg.physics
        self.rng = np.random.default_rng([cfg.seed, plan.index])
        # Who has no thermal signature comes from a stream of its own: the world is otherwise the same.
        self.slice_rng = np.random.default_rng([cfg.seed, plan.index, SLICE_STREAM])
        self.variety_rng = vrng = np.random.default_rng([cfg.seed, plan.index, VARIETY_STREAM])
        self.rider_rng = np.random.default_rng([cfg.seed, plan.index, RIDER_STREAM])
        self.layout = SceneLayout.for_size(cfg.height, cfg.width, uniform(vrng, cfg.horizon_range),
                                           uniform(vrng, cfg.height_per_row_range))
        self.scale = cfg.height / 512.0
        rng = self.rng
        self.pan = cfg.pan_speed * self.scale * rng.uniform(0.5, 1.5) * (1 if rng.random() < 0.5 else -1)
        travel = int(abs(self.pan) * plan.frames) + 2
        self.pano_width = cfg.width + travel
        self.start_offset = 0.0 if self.pan >= 0 else float(travel - 1)
        jitter = cfg.misalignment_jitter * cfg.width / 640.0
        self.shift = (cfg.misalignment[0] + rng.uniform(-jitter, jitter), cfg.misalignment[1] + rng.uniform(-jitter, jitter))
        self.climate = Climate.sample(rng, plan.is_day, self.phys)
        self.poles = self._make_poles()
        self.cars = self._make_cars()
        self.background: Background = render_background(rng, self.layout, self.pano_width, self.climate,
                                                         self.poles, self.cars, self.phys)
        rows = np.arange(cfg.height, dtype=np.float32)
        ground_row = np.maximum(rows, self.layout.horizon + max(1, cfg.height // 60))  # buildings: their base
        self.row_disparity = np.rint(self._disparity(ground_row)).astype(np.int64)
        # The thermal noise factor has a stream of its own: a world without it is the same frame for frame.
        noise_gain = uniform(np.random.default_rng([cfg.seed, plan.index, NOISE_STREAM]), self.phys.thermal_noise_gain)
        self.thermal_camera = ThermalCamera(self.phys, cfg.height, cfg.width, rng, cfg.noise * noise_gain,
                                            uniform(vrng, self.phys.thermal_equalize_mix),
                                            uniform(vrng, self.phys.thermal_dde_gain))
        cast = cfg.rgb_color_cast
        white_balance = tuple(float(g) for g in 1.0 + vrng.uniform(-cast, cast, 3)) if cast > 0 else (1.0, 1.0, 1.0)
        self.visible_camera = VisibleCamera(self.phys, rng, cfg.noise, white_balance)
        self.people: list[Pedestrian] = []
        self.next_track = 1
        for _ in range(self._poisson(cfg.people_per_frame)):
            self._spawn(anywhere=True)

    # ---- setup
    def _disparity(self, row):
        return disparity(row, self.layout.horizon, self.cfg.height, self.cfg.width, self.phys)

    def _poisson(self, mean: float) -> int:
        return int(self.rng.poisson(max(mean, 0.0)))

    def _make_poles(self) -> list[Pole]:
        lay, rng, clim = self.layout, self.rng, self.climate
        count = self._poisson(self.cfg.poles_per_view * self.pano_width / self.cfg.width)
        poles = []
        for _ in range(count):
            foot = lay.sidewalk_front + rng.uniform(-1.0, 1.0) * self.scale
            person_h = lay.person_height_at(foot, 1.0)
            temp = (clim.sunlit if rng.random() < 0.5 else clim.shade) if clim.is_day else clim.air
            poles.append(Pole(x=rng.uniform(0, self.pano_width), foot_y=foot, height=2.6 * person_h,
                              width=max(1.5, 0.06 * person_h), temp=temp,
                              lamp_on=not clim.is_day and rng.random() < 0.8))
            if self.cfg.clutter_variety:
                self._vary_clutter(poles[-1])
        return poles

    def _vary_clutter(self, item: Pole) -> None:
        """The transfer knob's street furniture: the pole becomes a tree, bollard, sign, traffic light or bin,
        at a depth of its own (from the knobs' stream)."""
        vrng, clim, lay = self.variety_rng, self.climate, self.layout
        weights = np.array([CLUTTER_SHAPES[k][0] for k in CLUTTER_KINDS])
        item.kind = CLUTTER_KINDS[int(vrng.choice(len(CLUTTER_KINDS), p=weights / weights.sum()))]
        if item.kind == "pole":
            return
        item.foot_y = float(item.foot_y + vrng.uniform(-0.02, 0.12) * self.cfg.height)
        person_h = lay.person_height_at(item.foot_y, 1.0)
        _, heights, widths = CLUTTER_SHAPES[item.kind]
        item.height = float(uniform(vrng, heights) * person_h)
        item.width = float(max(1.5, uniform(vrng, widths) * person_h))
        item.lamp_on = item.kind == "traffic_light"
        item.signal_green = bool(vrng.random() < 0.5)
        item.rgb = tuple(float(v) for v in vrng.uniform(0.05, 0.45) * vrng.uniform(0.7, 1.0, 3))
        if clim.is_day and self.phys.clutter_day_delta_k is not None:
            item.temp = clim.shade + float(uniform(vrng, self.phys.clutter_day_delta_k))
            item.crown_temp = clim.shade + float(vrng.uniform(-2.0, 1.0))
        elif clim.is_day:
            item.temp = float(clim.sunlit if vrng.random() < 0.5 else clim.shade) + float(vrng.uniform(-1, 1))
            item.crown_temp = clim.shade + float(vrng.uniform(-2.0, 1.0))
        else:  # trunks and bins keep some of the day's heat; leaves and panels are at or below air
            item.temp = clim.air + float(vrng.uniform(0.0, 4.0))
            item.crown_temp = clim.air + float(vrng.uniform(-3.0, 0.5))

    def _make_cars(self) -> list[Car]:
        lay, rng, clim, phys = self.layout, self.rng, self.climate, self.phys
        count = self._poisson(self.cfg.cars_per_view * self.pano_width / self.cfg.width)
        cars = []
        for _ in range(count):
            foot = lay.sidewalk_front + rng.uniform(0.02, 0.16) * self.cfg.height
            height = 0.85 * lay.person_height_at(foot, 1.0)
            running = rng.random() < 0.4
            if clim.is_day:  # dark bodies in the sun are the hottest (absorptivity)
                body_temp = clim.sunlit + rng.uniform(-3, 8) if rng.random() < 0.7 else clim.shade
            else:
                body_temp = clim.air + rng.uniform(0, 2)
            cars.append(Car(
                x=rng.uniform(-height, self.pano_width), foot_y=foot, length=2.6 * height, height=height,
                body_rgb=tuple(float(c) for c in rng.uniform(0.03, 0.7, 3)), body_temp=body_temp,
                engine_temp=uniform(rng, phys.engine_c) if running else body_temp + 2,
                faces_right=bool(rng.random() < 0.5), headlights_on=running and not clim.is_day,
            ))
        return cars

    def _random_person(self, x: float, foot_y: float, vx_sign: float, stature: float | None = None) -> Pedestrian:
        rng, phys, clim = self.rng, self.phys, self.climate
        skin = tuple(float(v) for v in np.array([0.6, 0.42, 0.32]) * rng.uniform(0.35, 1.1))
        lo, hi = phys.clothing_albedo
        shirt = tuple(float(v) for v in rng.uniform(lo, hi) * rng.uniform(0.6, 1.0, 3))
        pants = tuple(float(v) for v in rng.uniform(lo, 0.5 * (lo + hi)) * rng.uniform(0.6, 1.0, 3))
        if clim.is_day:
            clothing = clim.shade + uniform(rng, phys.person_day_delta_k)
        else:
            clothing = clim.air + uniform(rng, phys.person_night_delta_k)
        hidden = clim.is_day and self.cfg.rgb_only_fraction > 0 and self.slice_rng.random() < self.cfg.rgb_only_fraction
        speed = rng.uniform(0.012, 0.03)  # fraction of own height per frame (about 0.5-1.4 m/s at 20 Hz)
        person = Pedestrian(
            track_id=self.next_track, x=x, foot_y=foot_y,
            stature=float(stature if stature is not None else rng.uniform(0.9, 1.1)),
            vx=vx_sign * speed, vy=rng.normal(0.0, 0.0015) * self.cfg.height,
            phase=rng.uniform(0, 2 * np.pi), phase_rate=0.45 + 12.0 * speed,
            skin_rgb=skin, shirt_rgb=shirt, pants_rgb=pants, clothing_temp=clothing,
            skin_extra=uniform(rng, phys.skin_extra_k), sun_gain=uniform(rng, phys.person_sun_gain_k),
            stripe_period=rng.uniform(0.04, 0.15), stripe_phase=rng.uniform(0, 2 * np.pi),
            thermal_visible=not hidden,
        )
        self._vary_figure(person)
        if self.cfg.rider_fraction > 0 and self.rider_rng.random() < self.cfg.rider_fraction:
            self._make_rider(person)
        return person

    def _make_rider(self, person: Pedestrian) -> None:
        """Put ``person`` on a bicycle: side view, riding along the street, cranks turning (own stream)."""
        rrng, clim = self.rider_rng, self.climate
        person.rider, person.view, person.coat, person.bag = True, "side", 0.0, False
        person.vx = (1.0 if person.vx >= 0 else -1.0) * float(rrng.uniform(0.075, 0.15))  # 2.5-5 m/s at 20 Hz
        person.vy = float(rrng.normal(0.0, 0.0005)) * self.cfg.height
        person.phase_rate = float(rrng.uniform(0.3, 0.5))  # crank: 60-95 rpm at 20 Hz
        person.bike_rgb = tuple(float(v) for v in rrng.uniform(0.03, 0.7, 3))
        person.bike_temp = (clim.shade if clim.is_day else clim.air) + float(rrng.uniform(-1.0, 2.0))

    def _vary_figure(self, person: Pedestrian) -> None:
        """The transfer knobs' figure: view, coat, bag, hair, hands, per-part thermal (from their own stream)."""
        cfg, vrng, clim = self.cfg, self.variety_rng, self.climate
        if cfg.frontal_fraction > 0 and vrng.random() < cfg.frontal_fraction:
            toward = vrng.random() < 0.5  # walking toward the camera: the feet come down the image
            person.view = "front" if toward else "back"
            person.vx *= vrng.uniform(-0.25, 0.25)  # mostly along the line of sight
            person.vy = (1.0 if toward else -1.0) * vrng.uniform(0.1, 0.5) * self.scale  # px per frame
        if not cfg.figure_variety:
            return
        spread = cfg.part_thermal_spread_k
        person.hair = vrng.random() < 0.85
        person.hands = True
        person.hair_rgb = tuple(float(v) for v in np.array([0.06, 0.045, 0.03]) * vrng.uniform(0.5, 4.0))
        if vrng.random() < 0.35:  # a coat or a skirt: an insulating outer layer
            person.coat = float(vrng.uniform(0.2, 0.8))
            person.torso_dk = -float(vrng.uniform(0.3, 1.0)) * spread
        else:
            person.torso_dk = -float(vrng.uniform(0.0, 0.6)) * spread
        person.legs_dk = float(vrng.uniform(-0.5, 0.5)) * spread
        person.hair_dk = -float(vrng.uniform(2.0, 6.0))
        if vrng.random() < 0.2:
            person.bag = True
            person.bag_rgb = tuple(float(v) for v in vrng.uniform(0.03, 0.5, 3))
            person.bag_temp = (clim.shade if clim.is_day else clim.air) + float(vrng.uniform(-1.0, 2.0))

    def _sample_height(self) -> float:
        lo, hi = (v * self.scale for v in self.cfg.person_height_range)
        if self.rng.random() < self.cfg.tiny_person_fraction:
            return float(self.rng.uniform(0.5 * lo, lo))
        return float(np.exp(self.rng.uniform(np.log(lo), np.log(hi))))

    def _spawn(self, anywhere: bool, view_x: float = 0.0) -> None:
        rng, cfg = self.rng, self.cfg
        group = int(rng.integers(3, 8)) if rng.random() < cfg.crowd_probability else 1
        height = self._sample_height()
        stature = rng.uniform(0.9, 1.1)
        foot = self.layout.foot_y_for_height(height, stature)
        direction = 1.0 if rng.random() < 0.5 else -1.0
        if anywhere:
            x = view_x + rng.uniform(0, cfg.width)
        else:  # enter from the side the person walks away from
            x = view_x - 0.3 * height if direction > 0 else view_x + cfg.width + 0.3 * height
        for k in range(group):
            st = stature * rng.uniform(0.93, 1.07)
            fy = foot + rng.normal(0, 0.012) * cfg.height * (k > 0)
            px = x - direction * k * rng.uniform(0.15, 0.45) * height
            self.people.append(self._random_person(px, fy, direction, st))
            self.next_track += 1

    # ---- per frame
    def view_x(self, t: int) -> float:
        return self.start_offset + self.pan * t

    def step(self, t: int) -> None:
        """Advance everyone one frame, drop people who left the view, spawn newcomers."""
        view = self.view_x(t)
        lay = self.layout
        for p in self.people:
            h = lay.person_height_at(p.foot_y, p.stature)
            p.x += p.vx * h
            p.foot_y = float(np.clip(p.foot_y + p.vy, lay.horizon + 2, self.cfg.height * 0.98))
            p.phase += p.phase_rate
        margin = 0.5 * self.cfg.width
        self.people = [p for p in self.people if view - margin < p.x < view + self.cfg.width + margin]
        if len(self.people) < self.cfg.people_per_frame and self.rng.random() < 0.15:
            self._spawn(anywhere=False, view_x=view)

    def _background_view(self, x0: int) -> FrameLayers:
        """The background under the view at pano column x0; the thermal rows shifted by their parallax."""
        H, W = self.cfg.height, self.cfg.width
        bg = self.background
        cols = np.clip(x0 + np.arange(W)[None, :] - self.row_disparity[:, None], 0, self.pano_width - 1)
        thermal = bg.thermal[np.arange(H)[:, None], cols]
        return FrameLayers(bg.rgb[:, x0:x0 + W].copy(), thermal.astype(np.float32), np.zeros((H, W), np.uint16))

    def render(self, t: int, keep_instance_map: bool = False) -> SyntheticFrame:
        cfg, lay, phys, day = self.cfg, self.layout, self.phys, self.plan.is_day
        H, W = cfg.height, cfg.width
        view = self.view_x(t)
        x0 = min(max(int(round(view)), 0), self.pano_width - W)
        frac = view - x0  # sub-pixel part of the pan, applied to foreground objects
        layers = self._background_view(x0)
        light = self.background.light[:, x0:x0 + W]

        def light_at(x: float, y: float) -> float:
            return float(light[int(np.clip(y, 0, H - 1)), int(np.clip(x, 0, W - 1))])

        items: list[tuple[float, int, object]] = []  # far-to-near drawing order over every foreground object
        items += [(p.foot_y, 0, p) for p in self.people]
        items += [(c.foot_y, 1, c) for c in self.cars]
        items += [(q.foot_y, 2, q) for q in self.poles]
        items.sort(key=lambda it: (it[0], it[1]))
        drawn = []
        for n, (foot_y, kind, obj) in enumerate(items):
            th_dx = float(self._disparity(foot_y))
            if kind == 0:
                p: Pedestrian = obj  # type: ignore[assignment]
                h = lay.person_height_at(p.foot_y, p.stature)
                x = p.x - view
                if h < 2 or x < -h or x > W + h:
                    continue
                lit = light_at(x, p.foot_y)
                drawn.append(draw_person(layers, p, x, h, lit, day and lit > 0.5, th_dx, n + 1, phys))
            elif kind == 1:
                c: Car = obj  # type: ignore[assignment]
                x = c.x - x0 - frac
                if x + c.length >= 0 and x <= W:
                    draw_car(layers, c, x, light_at(x + c.length / 2, c.foot_y), th_dx, phys)
            else:
                q: Pole = obj  # type: ignore[assignment]
                x = q.x - x0 - frac
                if -q.width <= x <= W + q.width:
                    draw_pole(layers, q, x, light_at(x, q.foot_y), th_dx, phys)

        objects = self._annotate(layers, drawn, {p.track_id for p in self.people if not p.thermal_visible})
        temp = layers.thermal
        dx, dy = self.shift
        if dx or dy:
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            temp = cv2.warpAffine(temp, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        native = self.thermal_camera.sense(temp)
        thermal = self.thermal_camera.agc(native)
        radiometric = self.thermal_camera.radiometric(native) if cfg.thermal_radiometric else None
        rgb = self.visible_camera.capture(layers.rgb, day, self.pan)
        if cfg.sensor_jpeg_quality[1] > 0:  # the cameras' own compression, before the dataset's
            rgb = np.ascontiguousarray(self._jpeg_round_trip(np.ascontiguousarray(rgb[..., ::-1]))[..., ::-1])
            thermal = self._jpeg_round_trip(thermal)
        return SyntheticFrame(rgb, thermal, objects, t, t / cfg.fps, self.plan.time_of_day,
                              layers.instance_map if keep_instance_map else None, radiometric)

    def _jpeg_round_trip(self, img: np.ndarray) -> np.ndarray:
        lo, hi = self.cfg.sensor_jpeg_quality
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(self.variety_rng.integers(lo, hi + 1))])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode a synthetic frame")
        return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)

    def _annotate(self, layers: FrameLayers, drawn: list, rgb_only: set[int]) -> list[SyntheticObject]:
        cfg = self.cfg
        H, W = cfg.height, cfg.width
        counts = np.bincount(layers.instance_map.ravel(), minlength=len(drawn) + 2)
        objects = []
        for d in drawn:
            if d.area_in_frame == 0:
                continue
            visible = int(counts[d.instance_id]) if d.instance_id < len(counts) else 0
            vis_frac = visible / d.area_in_frame
            if vis_frac < cfg.min_visible_fraction:
                continue
            x1, y1, x2, y2 = d.box
            box = (max(0.0, x1), max(0.0, y1), min(float(W), x2), min(float(H), y2))
            height = box[3] - box[1]
            hidden = 1.0 - vis_frac
            occlusion = 0 if hidden < 0.1 else (1 if hidden <= 0.5 else 2)
            ignore = height < cfg.ignore_below_height or d.area_in_frame / d.area < cfg.min_in_frame_fraction
            objects.append(SyntheticObject(d.track_id, box, height, occlusion, bool(ignore), vis_frac, d.instance_id,
                                           d.track_id in rgb_only))
        return objects
