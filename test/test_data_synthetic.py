"""The synthetic generator: deterministic per seed, annotations match the drawing, KAIST layout loads."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lsi_perception.data import KaistDataset, SyntheticConfig, generate_dataset, generate_drive, plan_drives
from lsi_perception.data.synthetic import WorldPhysics, main

SMALL = dict(height=128, width=160, frames=12, frames_per_drive=3, person_height_range=(40.0, 240.0),  # x128/512: 10-60 px
             ignore_below_height=6.0, people_per_frame=5.0, test_fraction=0.5)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, SyntheticConfig(seed=3, **SMALL))
    return root


def test_deterministic_per_seed(synth_root: Path, tmp_path: Path) -> None:
    generate_dataset(tmp_path / "again", SyntheticConfig(seed=3, **SMALL))
    generate_dataset(tmp_path / "other", SyntheticConfig(seed=4, **SMALL))
    assert _digest(tmp_path / "again") == _digest(synth_root)
    assert _digest(tmp_path / "other") != _digest(synth_root)


def test_kaist_naming_and_json_schema(synth_root: Path) -> None:
    for split, day_sets, night_sets in (("train", {0, 1, 2}, {3, 4, 5}), ("test", {6, 7, 8}, {9, 10, 11})):
        data = json.loads((synth_root / "annotations" / f"{split}.json").read_text())
        names = (synth_root / "imageSets" / f"{split}.txt").read_text().split()
        assert [im["im_name"] for im in data["images"]] == names
        assert [im["id"] for im in data["images"]] == list(range(len(names)))
        assert {im["time_of_day"] for im in data["images"]} == {"day", "night"}
        for im in data["images"]:
            set_id = int(im["im_name"][3:5])
            assert set_id in (day_sets if im["time_of_day"] == "day" else night_sets)
        assert data["annotations"], "no pedestrians generated"
        for a in data["annotations"]:
            assert {"id", "image_id", "category_id", "bbox", "height", "occlusion", "ignore", "area"} <= set(a)
            assert a["category_id"] == 1 and a["occlusion"] in (0, 1, 2) and a["ignore"] in (0, 1)
            assert a["height"] == pytest.approx(a["bbox"][3])
            if a["height"] < SMALL["ignore_below_height"]:
                assert a["ignore"] == 1


def test_loads_through_kaist_dataset_with_both_label_sources(synth_root: Path) -> None:
    by_txt = KaistDataset(synth_root, "train.txt")
    by_json = KaistDataset(synth_root, "train.txt", annotation_source=synth_root / "annotations" / "train.json")
    assert len(by_txt) == len(by_json) > 0
    for i in range(len(by_txt)):
        a, b = by_txt[i], by_json[i]
        assert a["rgb"].shape == (128, 160, 3) and a["thermal"].shape == (128, 160)
        np.testing.assert_allclose(a["boxes"], b["boxes"], atol=0.01)
        np.testing.assert_array_equal(a["ignore"], b["ignore"])


def test_annotations_match_what_is_drawn() -> None:
    cfg = SyntheticConfig(seed=11, noise=0.0, **SMALL)
    checked = 0
    for plan in plan_drives(cfg)[:2]:
        for frame in generate_drive(cfg, plan, keep_instance_map=True):
            inst = frame.instance_map
            for o in frame.objects:
                ys, xs = np.nonzero(inst == o.instance_id)
                assert len(ys) > 0
                x1, y1, x2, y2 = o.box
                # every visible pixel of the person lies in its box
                assert xs.min() >= x1 - 0.5 and xs.max() + 1 <= x2 + 0.5
                assert ys.min() >= y1 - 0.5 and ys.max() + 1 <= y2 + 0.5
                if o.visible_fraction == 1.0:
                    # a fully visible person fills its box: the box is the silhouette's tight box
                    assert abs(xs.min() - x1) <= 1 and abs(xs.max() + 1 - x2) <= 1
                    assert abs(ys.min() - y1) <= 1 and abs(ys.max() + 1 - y2) <= 1
                    checked += 1
    assert checked > 5


REGISTERED = dict(noise=0.0, misalignment_jitter=0.0, thermal_radiometric=True,
                  physics=WorldPhysics(parallax_px=0.0))


def _first_frames(cfg: SyntheticConfig) -> list:
    (plan,) = plan_drives(cfg)
    return list(generate_drive(cfg, plan, keep_instance_map=True))


def _person_and_background_kelvin(frames: list) -> tuple[np.ndarray, np.ndarray]:
    person, background = [], []
    for frame in frames:
        ids = [o.instance_id for o in frame.objects if o.height > 15 and o.visible_fraction == 1.0]
        inner = cv2.erode(np.isin(frame.instance_map, ids).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        ground = (frame.instance_map == 0) & (np.arange(frame.instance_map.shape[0])[:, None] > 0.55 * 128)
        person.append(frame.thermal_radiometric[inner] / 100.0)
        background.append(frame.thermal_radiometric[ground] / 100.0)
    return np.concatenate(person), np.concatenate(background)


def test_night_people_are_warm_day_people_are_not_and_night_rgb_is_dark() -> None:
    common = {**SMALL, "frames": 3, "frames_per_drive": 3, "test_fraction": 0.0, "people_per_frame": 12.0}
    night = _first_frames(SyntheticConfig(seed=5, day_fraction=0.0, **REGISTERED, **common))
    day = _first_frames(SyntheticConfig(seed=5, day_fraction=1.0, **REGISTERED, **common))
    person, ground = _person_and_background_kelvin(night)
    assert person.size > 50 and np.median(person) - np.median(ground) > 5.0  # 8-15 K warmer than the air
    person, ground = _person_and_background_kelvin(day)
    assert np.median(person) < np.median(ground)  # sun-heated ground is hotter than people (inverted)
    assert np.mean([f.rgb.mean() for f in night]) < 0.7 * np.mean([f.rgb.mean() for f in day])


def test_misalignment_shifts_thermal_only() -> None:
    base = dict(seed=2, **REGISTERED, **{**SMALL, "frames": 1, "test_fraction": 0.0})
    (plan,) = plan_drives(SyntheticConfig(**base))
    a = next(generate_drive(SyntheticConfig(**base), plan))
    b = next(generate_drive(SyntheticConfig(misalignment=(4.0, -2.0), **base), plan))
    np.testing.assert_array_equal(a.rgb, b.rgb)
    shifted = b.thermal_radiometric[8:98, 24:144].astype(np.int32)
    assert np.abs(a.thermal_radiometric[10:100, 20:140].astype(np.int32) - shifted).max() <= 2  # 0.02 K
    assert [o.box for o in a.objects] == [o.box for o in b.objects]


def test_parallax_moves_near_people_more_than_far_ones_in_thermal() -> None:
    from lsi_perception.data.synthetic_physics import disparity

    phys = WorldPhysics(parallax_px=6.0)
    near, far, horizon = disparity(500.0, 215, 512, 640, phys), disparity(250.0, 215, 512, 640, phys), 215
    assert near > far > disparity(float(horizon), horizon, 512, 640, phys) == 0.0
    assert near == pytest.approx(6.0 * (500 - 215) / (512 - 215))


def test_thermal_agc_compresses_people_when_a_hot_engine_is_in_view() -> None:
    from lsi_perception.data.synthetic_physics import ThermalCamera

    cam = ThermalCamera(WorldPhysics(), 64, 80, np.random.default_rng(0), noise=0.0)
    scene = np.full((64, 80), 15.0, np.float32)
    scene[20:50, 30:36] = 27.0  # a person 12 K above the background
    plain = cam.agc(cam.sense(scene))
    scene[40:60, 0:20] = 90.0  # a running engine
    with_engine = cam.agc(cam.sense(scene))
    assert int(plain[35, 33]) - int(plain[35, 60]) > 2 * (int(with_engine[35, 33]) - int(with_engine[35, 60]))


def test_thermal_blur_is_the_same_optics_at_any_rendered_size() -> None:
    """A warm edge spreads over the same share of the image whether rendered at 640 or at 128 px."""
    from lsi_perception.data.synthetic_physics import ThermalCamera

    def edge_width_share(width: int) -> float:
        height = width * 4 // 5
        cam = ThermalCamera(WorldPhysics(), height, width, np.random.default_rng(0), noise=0.0)
        scene = np.zeros((height, width), np.float32)
        scene[:, width // 2:] = 10.0
        row = cam.sense(scene)[height // 4]
        rising = np.count_nonzero((row > 1.0) & (row < 9.0))  # native pixels between 10 % and 90 %
        return rising / row.size

    full, small = edge_width_share(640), edge_width_share(128)
    assert full > 0.004  # ~2.6 px of a 320-px sensor: blurred
    assert small < 0.025  # a 1-native-px sigma at 64 px would spread it over 4 % of the image


def test_contrast_statistic_sees_a_person_and_not_flat_background(tmp_path: Path) -> None:
    from lsi_perception.data.contrast import dataset_contrast, person_contrast

    img = np.full((64, 64), 100, np.uint8)
    img[20:50, 28:36] = 160
    assert person_contrast(img, (28, 20, 8, 30), noise=1.0) > 10
    assert person_contrast(np.full((64, 64), 100, np.uint8), (28, 20, 8, 30), noise=1.0) == pytest.approx(0.0)
    generate_dataset(tmp_path / "d", SyntheticConfig(seed=1, **{**SMALL, "frames": 8, "frames_per_drive": 2}))
    summary = dataset_contrast(tmp_path / "d").summary()
    assert {"day", "night", "all"} <= set(summary) and summary["all"]["people"] > 0
    from lsi_perception.cli import main as lsi_main

    assert lsi_main(["data", "stats", str(tmp_path / "d"), "--json", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["all"]["people"] == summary["all"]["people"]
    assert lsi_main(["data", "stats", str(tmp_path / "missing")]) == 2


def test_thermal_polarity_follows_the_day_temperature_knobs(tmp_path: Path) -> None:
    """The signed statistic: a dark figure is negative; by day the default world's people are mostly darker
    than the sunlit street, and warmer people over cooler sun (config/train_synthetic_warm_day.yaml) turn that round."""
    from dataclasses import replace

    from lsi_perception.data.contrast import dataset_contrast, person_contrast

    img = np.full((64, 64), 100, np.uint8)
    img[20:50, 28:36] = 40
    assert person_contrast(img, (28, 20, 8, 30), noise=1.0, signed=True) < -5
    assert person_contrast(img, (28, 20, 8, 30), noise=1.0) > 5
    day = SyntheticConfig(seed=2, **{**SMALL, "frames": 8, "frames_per_drive": 2, "day_fraction": 1.0})
    warm = replace(day, physics=replace(day.physics, person_day_delta_k=(4.0, 10.0), sunlit_surface_delta_k=(0.0, 8.0)))
    shares = {}
    for name, cfg in (("default", day), ("warm", warm)):
        generate_dataset(tmp_path / name, cfg)
        shares[name] = dataset_contrast(tmp_path / name).summary()["day"]["thermal_brighter"]
    assert shares["default"] < 0.6 < shares["warm"], shares


def test_thermal_noise_gain_raises_the_measured_noise_and_changes_nothing_else(tmp_path: Path) -> None:
    """physics.thermal_noise_gain scales the thermal camera's noise (what `lsi data stats` reports as
    "thermal noise"), drawn from a stream of its own: the RGB images stay byte for byte, and a gain of
    1 is the world without the knob."""
    from dataclasses import replace

    from lsi_perception.data.contrast import dataset_contrast

    base = SyntheticConfig(seed=3, **{**SMALL, "frames": 4, "frames_per_drive": 2, "sensor_jpeg_quality": (0, 0)})
    noisy = replace(base, physics=replace(base.physics, thermal_noise_gain=(6.0, 8.0)))
    one = replace(base, physics=replace(base.physics, thermal_noise_gain=(1.0, 1.0)))
    for name, cfg in (("base", base), ("noisy", noisy), ("one", one)):
        generate_dataset(tmp_path / name, cfg)
    noise = {n: dataset_contrast(tmp_path / n).summary()["all"]["thermal_noise"] for n in ("base", "noisy")}
    assert noise["noisy"] > 2.0 * noise["base"], noise
    for img in sorted((tmp_path / "base" / "images").rglob("*.*")):
        rel = img.relative_to(tmp_path / "base")
        assert img.read_bytes() == (tmp_path / "one" / rel).read_bytes()
        if "visible" in rel.parts:
            assert img.read_bytes() == (tmp_path / "noisy" / rel).read_bytes()
    with pytest.raises(ValueError, match="thermal_noise_gain"):
        replace(base.physics, thermal_noise_gain=(-1.0, 2.0)).validate()


def test_cli_and_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path / "cli"), "--frames", "2", "--frames-per-drive", "1", "--size", "96", "64"]) == 0
    assert "wrote 2 frames" in capsys.readouterr().out
    assert len(list((tmp_path / "cli" / "images").rglob("*.jpg"))) == 4
    with pytest.raises(ValueError, match="day_fraction"):
        SyntheticConfig(day_fraction=1.5).validate()


def test_the_world_is_recorded_and_a_changed_config_is_named(synth_root: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """``world.json`` holds the knobs; lsi train's data step names the knobs a config changed since and
    uses the files as they are; a dataset without a record gets a one-line note."""
    from dataclasses import replace

    from lsi_perception.data.synthetic import WORLD_RECORD, world_differences
    from lsi_perception.train.data import _generate_if_missing

    cfg = SyntheticConfig(seed=3, **SMALL)
    assert json.loads((synth_root / WORLD_RECORD).read_text())["physics"]["person_day_delta_k"] == [-3.0, 4.0]
    assert world_differences(synth_root, cfg) == []
    changed = replace(cfg, frames=24, physics=replace(cfg.physics, person_day_delta_k=(4.0, 10.0)))
    assert world_differences(synth_root, changed) == ["frames", "physics.person_day_delta_k"]
    before = _digest(synth_root)
    _generate_if_missing(synth_root, changed)
    out = capsys.readouterr().out
    assert "WARN" in out and "frames, physics.person_day_delta_k" in out and "delete the folder" in out
    assert _digest(synth_root) == before  # used as it is
    _generate_if_missing(synth_root, cfg)
    assert capsys.readouterr().out == ""
    bare = tmp_path / "bare"
    (bare / "imageSets").mkdir(parents=True)
    assert world_differences(bare, cfg) is None
    _generate_if_missing(bare, cfg)
    assert "no record of its world" in capsys.readouterr().out
