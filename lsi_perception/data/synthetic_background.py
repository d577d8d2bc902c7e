"""The static background of a synthetic drive: climate, sky, buildings, ground, shadows and night lights.

One wide panorama per drive (the camera pans across it): sky, buildings with windows, sidewalk and road
with lane marks; building shadows on the ground by day (visible as darker and cooler), lamp pools and
headlight beams at night. Units as in ``synthetic_render``: radiance and degrees Celsius.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .synthetic_physics import WorldPhysics, uniform
from .synthetic_render import Car, Pole, SceneLayout


@dataclass
class Climate:
    """One drive's temperatures (C): everything else is drawn relative to these."""

    is_day: bool
    air: float
    shade: float  # shaded surfaces (by day) / cooled background (at night)
    sunlit: float  # sun-heated surfaces (by day; = shade at night)
    ground: float  # road and sidewalk outside shadow
    sky: float

    @classmethod
    def sample(cls, rng: np.random.Generator, is_day: bool, phys: WorldPhysics) -> Climate:
        air = uniform(rng, phys.air_day_c if is_day else phys.air_night_c)
        shade = air + uniform(rng, phys.shade_delta_k)
        sunlit = shade + uniform(rng, phys.sunlit_surface_delta_k) if is_day else shade
        ground = sunlit if is_day else air + uniform(rng, phys.night_ground_delta_k)
        return cls(is_day, air, shade, sunlit, ground, air + uniform(rng, phys.sky_delta_k))


@dataclass
class Background:
    """A drive's static scene: panorama layers wider than the view, and the illumination map."""

    rgb: np.ndarray  # float32 H x Wp x 3 radiance
    thermal: np.ndarray  # float32 H x Wp temperature C
    light: np.ndarray  # float32 H x Wp illumination of objects standing there (sun 1, shadow sky_fill)



def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Low-frequency texture in [-1, 1] (random grid upsampled), float32 h x w."""
    small = rng.uniform(-1.0, 1.0, (max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _shadow_columns(rng: np.random.Generator, w: int, fraction: float, seg: int) -> np.ndarray:
    """[w] bool: columns of the ground in building shadow (segments covering about ``fraction``)."""
    mask = np.zeros(w, bool)
    x = 0
    while x < w:
        length = int(rng.uniform(0.5, 1.5) * seg)
        if rng.random() < fraction:
            mask[x:x + length] = True
        x += length
    return mask


def render_background(rng: np.random.Generator, layout: SceneLayout, pano_width: int, climate: Climate,
                      poles: list[Pole], cars: list[Car], phys: WorldPhysics) -> Background:
    """Sky, buildings with windows, sidewalk and road with lane marks; shadows by day, lights at night."""
    h, w, hz = layout.height, pano_width, layout.horizon
    day = climate.is_day
    rgb = np.zeros((h, w, 3), np.float32)
    th = np.zeros((h, w), np.float32)
    t = np.arange(hz, dtype=np.float32)[:, None] / max(hz, 1)
    if day:
        rgb[:hz] = np.array([0.45, 0.6, 0.95]) * (1 - t)[..., None] + np.array([0.75, 0.82, 0.95]) * t[..., None]
    else:
        rgb[:hz] = phys.night_sky_radiance
    th[:hz] = climate.sky + 8.0 * t  # warmer toward the horizon (longer air path)

    sw1 = layout.sidewalk_front
    texture = _smooth_noise(rng, h, w, max(4, h // 24))
    fine = _smooth_noise(rng, h, w, max(2, h // 80))
    albedo = np.empty((h, w), np.float32)
    albedo[hz:sw1], albedo[sw1:] = 0.32, 0.11  # concrete sidewalk, asphalt road
    albedo[hz:] *= 1.0 + 0.15 * texture[hz:] + 0.1 * fine[hz:]
    th[hz:] = climate.ground + phys.surface_texture_k * (texture[hz:] + 0.5 * fine[hz:])
    light = np.ones((h, w), np.float32)
    if day:  # building shadows across the ground, reaching a random depth into the road
        frac = uniform(rng, phys.ground_shadow_fraction)
        cols = np.nonzero(_shadow_columns(rng, w, frac, max(8, layout.width // 5)))[0]
        depth = int(hz + rng.uniform(0.3, 0.9) * (h - hz))
        light[hz:depth, cols] = phys.sky_fill
        shade_th = climate.shade + 0.5 * phys.surface_texture_k * texture[hz:depth][:, cols]
        th[hz:depth, cols] = shade_th
    else:
        light[:] = uniform(rng, phys.night_ambient)
        xs = np.arange(w, dtype=np.float32)[None, :]
        ys = np.arange(h, dtype=np.float32)[:, None]
        for pole in poles:
            if pole.lamp_on and pole.kind == "pole":  # a traffic light lights no pool
                sigma = max(3.0, 0.35 * pole.height)
                pool = np.exp(-0.5 * (((xs - pole.x) / sigma) ** 2 + ((ys - pole.foot_y) / (0.5 * sigma)) ** 2))
                light += uniform(rng, phys.lamp_pool) * pool
        for car in cars:
            if car.headlights_on:  # a beam on the road ahead of the car
                x0 = car.x + car.length if car.faces_right else car.x - 1.5 * car.length
                sx, cx = 0.75 * car.length, x0 + 0.75 * car.length
                beam = np.exp(-0.5 * (((xs - cx) / sx) ** 2 + ((ys - car.foot_y) / (0.3 * car.height)) ** 2))
                light += phys.headlight_beam * beam
    rgb[hz:] = (albedo[hz:] * light[hz:])[..., None] * np.array([1.0, 0.98, 0.95], np.float32)
    lane_y = int(sw1 + 0.45 * (h - sw1))
    dash = max(8, w // 40)
    for x0 in range(int(rng.integers(0, dash)), w, 3 * dash):
        y1 = lane_y + max(1, h // 110)
        rgb[lane_y:y1, x0:x0 + dash] = 0.7 * light[lane_y:y1, x0:x0 + dash, None]
        th[lane_y:y1, x0:x0 + dash] -= 1.5 if day else 0.3  # white paint absorbs less sun
    _buildings(rng, layout, rgb, th, climate, phys)
    return Background(rgb, th, light)


def _buildings(rng: np.random.Generator, layout: SceneLayout, rgb: np.ndarray, th: np.ndarray,
               climate: Climate, phys: WorldPhysics) -> None:
    """Building facades on the far side of the sidewalk, with windows (lit at night at random)."""
    h, w, hz = layout.height, rgb.shape[1], layout.horizon
    day = climate.is_day
    x = -int(rng.integers(0, w // 8 + 1))
    base = hz + max(1, h // 60)
    ambient = 1.0 if day else uniform(rng, phys.night_ambient)
    while x < w:
        bw = int(rng.uniform(0.12, 0.35) * layout.width)
        top = int(rng.uniform(0.04, 0.30) * h)
        facade = rng.uniform(0.15, 0.6) * rng.uniform(0.7, 1.0, 3)
        sunlit = day and rng.random() < phys.sunlit_wall_probability
        illum = (1.0 if sunlit else phys.sky_fill) if day else ambient
        wall_temp = (climate.sunlit if sunlit else climate.shade + uniform(rng, phys.shade_delta_k)) if day \
            else climate.air + uniform(rng, phys.night_wall_delta_k)
        x1 = min(x + bw, w)
        if x1 > max(x, 0):
            tex = 1.0 + 0.08 * _smooth_noise(rng, base - top, x1 - max(x, 0), max(3, h // 40))
            rgb[top:base, max(x, 0):x1] = (facade * illum)[None, None, :] * tex[..., None]
            th[top:base, max(x, 0):x1] = wall_temp + 0.5 * phys.surface_texture_k * (tex - 1.0) / 0.08
        win = max(3, int(0.035 * h))
        gap = max(2, int(win * 0.8))
        for wy in range(top + gap, base - 2 * win, win + gap):
            for wx in range(x + gap, x + bw - win, win + gap):
                lit = (not day) and rng.random() < 0.35
                if lit:
                    val = np.array([1.0, 0.85, 0.55]) * uniform(rng, phys.window_radiance)
                else:  # glass reflects the sky (bright by day, black at night)
                    val = np.array([0.3, 0.35, 0.45]) * illum
                cv2.rectangle(rgb, (wx, wy), (wx + win - 1, wy + win - 1), val.tolist(), -1)
                wt = wall_temp + (3.0 if lit else (-6.0 if day else -2.0))  # glass shows the cold sky
                cv2.rectangle(th, (wx, wy), (wx + win - 1, wy + win - 1), float(wt), -1)
        x += bw + int(rng.integers(0, max(2, layout.width // 30)))
