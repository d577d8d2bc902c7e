"""The physics of the synthetic RGB-thermal world: scene temperatures, illumination and the two cameras.

Everything the generator assumes about the world is a field of ``WorldPhysics`` (one place, with the
real-world source of each number where there is one). The scene is rendered in physical units:

- thermal: apparent surface temperature in degrees Celsius (float32), per pixel;
- visible: linear scene radiance relative to a white surface under full sun (float32; emissive lamps > 1).

The camera models here turn those into what a KAIST-like rig records:

- ``ThermalCamera``: a FLIR-A35-like uncooled microbolometer (KAIST's thermal camera: 320x256,
  NETD < 50 mK): native resolution ``thermal_native_scale`` of the RGB image, optical blur, fixed-pattern
  column noise (residual non-uniformity after NUC, fixed per drive), temporal noise, and a per-frame
  percentile AGC to 8 bit (so a hot engine in view compresses everyone else's contrast), optionally blended
  with plateau histogram equalization and a detail-enhancement high-pass (halos), upsampled to the RGB
  size. ``radiometric`` gives the 16-bit linear output (centi-kelvin, FLIR "TLinear" convention).
- ``VisibleCamera``: an optional white-balance error (colour cast), auto exposure (median to mid-grey,
  exposure capped at night), photon shot noise and read noise in electrons, digital gain, clipping, bloom around over-exposed sources, horizontal motion
  blur from the pan during the longer night exposure, sRGB-like gamma to 8 bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

THERMAL_SENSOR_WIDTH_PX = 320  # FLIR A35 (KAIST): the width at which thermal_blur_px is given


@dataclass
class WorldPhysics:
    """Every physical constant of the synthetic world (degrees Celsius, kelvin differences, relative radiance)."""

    # --- air and reference surfaces
    air_day_c: tuple[float, float] = (18.0, 30.0)  # KAIST was recorded in Seoul in daytime summer/autumn
    air_night_c: tuple[float, float] = (8.0, 20.0)
    # Clothed people by day are within a few kelvin of shaded surroundings ("thermal crossover"):
    # clothing surface ~ 25-35 C vs air 20-30 C (e.g. Hwang et al. CVPR 2015 note washed-out daytime
    # pedestrians in KAIST; Teutsch et al., "Low resolution person detection with a moving thermal
    # infrared camera", 2014). Relative to the shaded-surface temperature:
    person_day_delta_k: tuple[float, float] = (-3.0, 4.0)
    person_sun_gain_k: tuple[float, float] = (0.0, 5.0)  # extra for people standing in the sun (dark clothes)
    # At night clothed people are 8-15 K warmer than the cooled background (skin ~33 C vs air 8-20 C).
    person_night_delta_k: tuple[float, float] = (8.0, 15.0)
    skin_extra_k: tuple[float, float] = (1.0, 3.0)  # exposed skin (face, hands) over clothing
    # Sun-heated asphalt, walls and car bodies: 5-20 K hotter than people. Pavement reaches 48-67 C in
    # summer sun (US EPA, "Reducing Urban Heat Islands: Cool Pavements", 2012).
    sunlit_surface_delta_k: tuple[float, float] = (5.0, 20.0)  # over the shaded-surface temperature
    shade_delta_k: tuple[float, float] = (-1.5, 1.5)  # shaded surfaces around air temperature
    night_ground_delta_k: tuple[float, float] = (0.0, 4.0)  # asphalt releasing the day's heat
    night_wall_delta_k: tuple[float, float] = (-2.0, 2.0)
    # Clear sky's effective radiant temperature is 20-40 K below air (e.g. Berdahl & Martin, 1984).
    sky_delta_k: tuple[float, float] = (-40.0, -20.0)
    engine_c: tuple[float, float] = (60.0, 95.0)  # hood / grille of a running car
    # With clutter_variety, by day: the street furniture's temperature over shade, drawn per item (None: in the
    # sun or in the shade like the street, +-1 K). On RoadScene / FLIR ADAS frames sun-warmed trunks, posts and
    # bins are as bright as the people, and they are where a warm-day model's false boxes stand.
    clutter_day_delta_k: tuple[float, float] | None = None
    surface_texture_k: float = 2.0  # amplitude of temperature texture on ground and walls (patches, stains)
    sunlit_wall_probability: float = 0.5  # by day, share of building walls in the sun
    ground_shadow_fraction: tuple[float, float] = (0.2, 0.6)  # by day, share of ground in building shadow

    # --- thermal camera (FLIR A35: 320x256, NETD < 50 mK; KAIST upsampled it to the 640x512 RGB frame)
    thermal_native_scale: float = 0.5
    # Optical blur sigma in pixels of the real 320-px-wide sensor (~2 px in a 640-px RGB frame); scaled
    # with the rendered size, so a frame rendered at 128 px is not blurred five times as much.
    thermal_blur_px: float = 1.0
    thermal_netd_k: float = 0.05  # temporal noise sigma
    thermal_column_fpn_k: float = 0.15  # fixed-pattern column noise sigma (per drive)
    # Per-drive factor on both noises above. The default camera gives ~1 grey level of pixel noise in its
    # 8-bit frames (`lsi data stats`, "thermal noise"); real FLIR ADAS frames (RoadScene) ~4: automotive
    # cores run hotter, their detail enhancement and JPEG add to it.
    thermal_noise_gain: tuple[float, float] = (1.0, 1.0)
    thermal_agc_percentiles: tuple[float, float] = (1.0, 99.0)  # per-frame linear AGC to 0..255
    # Automotive LWIR cores (e.g. FLIR ADAS's Tau 2) map to 8 bit by plateau histogram equalization, not
    # linearly, and add "digital detail enhancement" (a local high-pass boost that draws bright and dark
    # halos around hot objects). Per drive, the 8-bit image is a blend of the linear AGC and a plateau
    # equalization with this weight (0 = linear, as KAIST), and the high-pass gain is drawn from
    # thermal_dde_gain (0 = none) with a Gaussian of thermal_dde_sigma_px (at 320 px width) as the low pass.
    thermal_equalize_mix: tuple[float, float] = (0.0, 0.0)
    thermal_plateau: float = 3.0  # histogram bins are clipped at this multiple of the mean bin count
    thermal_dde_gain: tuple[float, float] = (0.0, 0.0)
    thermal_dde_sigma_px: float = 4.0

    # --- visible illumination (relative to full sun on a white surface)
    sun_irradiance: float = 1.0
    sky_fill: float = 0.3  # illumination in shadow by day (skylight only)
    night_ambient: tuple[float, float] = (0.01, 0.03)  # outside lamp pools (issue 11; dark urban street)
    lamp_pool: tuple[float, float] = (0.15, 0.4)  # peak illumination under a street lamp
    headlight_beam: float = 0.8  # peak illumination in front of a running car's headlights at night
    lamp_radiance: float = 30.0  # emissive lamp / headlight radiance: saturates and blooms
    window_radiance: tuple[float, float] = (0.2, 0.6)  # lit windows at night
    night_sky_radiance: float = 0.004
    clothing_albedo: tuple[float, float] = (0.04, 0.7)
    clothing_texture: float = 0.25  # relative albedo modulation (stripes, folds)

    # --- visible camera (small-pixel automotive CMOS)
    full_well_e: float = 800.0  # electrons at the top of the range (small pixels at high analog gain)
    read_noise_e: float = 6.0
    exposure_target: float = 0.35  # auto exposure maps the scene's median to this
    # Night exposure is capped: a vehicle camera keeps its shutter short (about 1/30 s at 30 fps, against
    # motion blur) and its analog gain moderate, so an unlit street stays dark and noisy (KAIST's night
    # RGB frames: people readable under lamps and headlights, hardly elsewhere).
    max_exposure_gain: float = 2.0  # longest shutter x analog gain relative to the day exposure
    max_digital_gain: float = 2.0  # extra gain after read-out (amplifies noise too)
    bloom_sigma_fraction: float = 0.02  # bloom kernel sigma as a fraction of the image width
    bloom_strength: float = 0.08  # share of over-range radiance spread into the neighbourhood
    night_motion_blur_frames: float = 1.5  # exposure length at night in units of the per-frame pan

    # --- misregistration (labels are the RGB image's)
    registration_offset_px: float = 3.0  # per-drive offset uniform in +-this, at 640 px width
    parallax_px: float = 6.0  # disparity of the nearest ground row (image bottom) at 640 px width

    def validate(self) -> None:
        for name in ("air_day_c", "air_night_c", "person_day_delta_k", "person_night_delta_k",
                     "sunlit_surface_delta_k", "night_ambient", "lamp_pool", "clothing_albedo",
                     "thermal_agc_percentiles", "ground_shadow_fraction", "thermal_equalize_mix",
                     "thermal_dde_gain", "thermal_noise_gain"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"physics.{name}={getattr(self, name)} must be (low, high) with low <= high")
        if self.clutter_day_delta_k is not None and self.clutter_day_delta_k[0] > self.clutter_day_delta_k[1]:
            raise ValueError(f"physics.clutter_day_delta_k={self.clutter_day_delta_k} must be (low, high) with low <= high")
        if not 0.1 <= self.thermal_native_scale <= 1.0:
            raise ValueError(f"physics.thermal_native_scale={self.thermal_native_scale} must be in [0.1, 1]")
        lo, hi = self.thermal_agc_percentiles
        if not 0 <= lo < hi <= 100:
            raise ValueError(f"physics.thermal_agc_percentiles={self.thermal_agc_percentiles} must be 0 <= lo < hi <= 100")
        lo, hi = self.thermal_equalize_mix
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"physics.thermal_equalize_mix={self.thermal_equalize_mix} must be within [0, 1]")
        if self.thermal_noise_gain[0] < 0:
            raise ValueError(f"physics.thermal_noise_gain={self.thermal_noise_gain} must be >= 0")
        if self.thermal_dde_gain[0] < 0 or self.thermal_plateau <= 0 or self.thermal_dde_sigma_px <= 0:
            raise ValueError("physics.thermal_dde_gain must be >= 0, thermal_plateau and thermal_dde_sigma_px > 0")
        for name in ("full_well_e", "exposure_target", "max_exposure_gain", "max_digital_gain"):
            if getattr(self, name) <= 0:
                raise ValueError(f"physics.{name} must be > 0")


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


class ThermalCamera:
    """Per-drive thermal camera: fixed column pattern drawn once; ``sense`` then ``agc`` per frame.

    ``equalize_mix`` and ``dde_gain`` are this camera's 8-bit mapping (drawn per drive by the caller from
    ``WorldPhysics.thermal_equalize_mix`` / ``thermal_dde_gain``); 0 and 0 give the linear percentile AGC.
    """

    def __init__(self, phys: WorldPhysics, height: int, width: int, rng: np.random.Generator, noise: float,
                 equalize_mix: float = 0.0, dde_gain: float = 0.0) -> None:
        self.phys, self.height, self.width, self.noise = phys, height, width, noise
        self.native = (max(8, int(round(width * phys.thermal_native_scale))),
                       max(8, int(round(height * phys.thermal_native_scale))))
        self.columns = rng.normal(0.0, phys.thermal_column_fpn_k * noise, self.native[0]).astype(np.float32)
        self.rng = rng
        self.equalize_mix, self.dde_gain = float(equalize_mix), float(dde_gain)

    def sense(self, temp_c: np.ndarray) -> np.ndarray:
        """Scene temperatures (float32 C, RGB size) -> what the sensor measures at native resolution (C)."""
        native = cv2.resize(temp_c, self.native, interpolation=cv2.INTER_AREA)
        sigma = self.phys.thermal_blur_px * self.native[0] / THERMAL_SENSOR_WIDTH_PX
        if sigma >= 0.3:  # below that the kernel is a single tap
            native = cv2.GaussianBlur(native, (0, 0), sigma)
        if self.noise > 0:
            native = native + self.columns[None, :]
            native = native + self.rng.normal(0.0, self.phys.thermal_netd_k * self.noise, native.shape).astype(np.float32)
        return native

    def agc(self, native_c: np.ndarray) -> np.ndarray:
        """Per-frame percentile AGC to uint8, upsampled to the RGB size (what KAIST's lwir images are)."""
        lo, hi = np.percentile(native_c, self.phys.thermal_agc_percentiles)
        span = max(float(hi - lo), 1e-3)
        img8 = np.clip((native_c - lo) * (255.0 / span), 0, 255).astype(np.float32)
        if self.equalize_mix > 0:
            img8 = (1.0 - self.equalize_mix) * img8 + self.equalize_mix * self._plateau_equalize(native_c)
        if self.dde_gain > 0:
            sigma = self.phys.thermal_dde_sigma_px * self.native[0] / THERMAL_SENSOR_WIDTH_PX
            img8 = np.clip(img8 + self.dde_gain * (img8 - cv2.GaussianBlur(img8, (0, 0), max(sigma, 0.5))), 0, 255)
        up = cv2.resize(img8, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return np.clip(up + 0.5, 0, 255).astype(np.uint8)

    def _plateau_equalize(self, native_c: np.ndarray) -> np.ndarray:
        """Plateau histogram equalization to 0..255 (float32): each bin's share is capped at thermal_plateau
        times the mean, so large uniform areas (sky, road) do not take the whole output range."""
        bins = 256
        lo, hi = float(native_c.min()), float(native_c.max())
        if hi - lo < 1e-3:
            return np.zeros_like(native_c)
        hist, edges = np.histogram(native_c, bins=bins, range=(lo, hi))
        hist = np.minimum(hist, self.phys.thermal_plateau * native_c.size / bins).astype(np.float64)
        cdf = np.cumsum(hist)
        cdf = (cdf - cdf[0]) / max(cdf[-1] - cdf[0], 1e-9) * 255.0
        return np.interp(native_c, 0.5 * (edges[:-1] + edges[1:]), cdf).astype(np.float32)

    def radiometric(self, native_c: np.ndarray) -> np.ndarray:
        """16-bit linear output in centi-kelvin (FLIR TLinear, 0.01 K resolution), upsampled to the RGB size."""
        up = cv2.resize(native_c, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return np.clip((up + 273.15) * 100.0 + 0.5, 0, 65535).astype(np.uint16)


class VisibleCamera:
    """Auto-exposing colour camera: ``capture(radiance, is_day, pan_px)`` -> uint8 RGB."""

    def __init__(self, phys: WorldPhysics, rng: np.random.Generator, noise: float,
                 white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        self.phys, self.rng, self.noise = phys, rng, noise
        self.white_balance = np.asarray(white_balance, np.float32)  # per-channel gains: a colour cast

    def capture(self, radiance: np.ndarray, is_day: bool, pan_px: float) -> np.ndarray:
        p = self.phys
        h, w = radiance.shape[:2]
        if not np.all(self.white_balance == 1.0):
            radiance = radiance * self.white_balance
        # Bloom: over-range light (lamps, headlights) scatters in the lens and sensor around its source.
        over = np.maximum(radiance - 1.0, 0.0)
        if over.any():
            sigma = max(1.0, p.bloom_sigma_fraction * w)
            radiance = radiance + p.bloom_strength * cv2.GaussianBlur(over, (0, 0), sigma) \
                + 0.5 * p.bloom_strength * cv2.GaussianBlur(over, (0, 0), 4 * sigma)
        # Auto exposure on the scene's median, limited by the longest shutter / highest analog gain.
        median = float(np.median(radiance)) + 1e-6
        exposure = min(p.exposure_target / median, p.max_exposure_gain)
        digital = float(np.clip(p.exposure_target / (median * exposure), 1.0, p.max_digital_gain))
        if not is_day and p.night_motion_blur_frames > 0:
            length = int(round(abs(pan_px) * p.night_motion_blur_frames))
            if length >= 2:
                radiance = cv2.blur(radiance, (length, 1))
        signal = np.clip(radiance * exposure, 0.0, 4.0)  # relative to full well (beyond 1 clips anyway)
        if self.noise > 0:
            electrons = signal * p.full_well_e
            shot = self.rng.poisson(np.minimum(electrons, 4 * p.full_well_e)).astype(np.float32)
            read = self.rng.normal(0.0, p.read_noise_e, electrons.shape).astype(np.float32)
            signal = (shot + read * self.noise) / p.full_well_e
        value = np.clip(signal * digital, 0.0, 1.0)
        encoded = np.power(value, 1 / 2.2)
        return np.clip(encoded * 255.0 + 0.5, 0, 255).astype(np.uint8)


def disparity(row: np.ndarray | float, horizon: float, height: int, width: int, phys: WorldPhysics) -> np.ndarray | float:
    """Thermal-vs-RGB parallax (px, +x) of a point standing on the ground at image ``row``.

    Disparity is f * baseline / depth, and on a flat road depth is proportional to 1 / (row - horizon):
    so disparity grows linearly from 0 at the horizon to ``parallax_px`` (scaled to the width) at the
    image bottom.
    """
    scale = phys.parallax_px * width / 640.0
    return scale * np.clip((np.asarray(row, dtype=np.float32) - horizon) / max(height - horizon, 1), 0.0, None)
