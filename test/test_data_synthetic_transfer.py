"""The transfer knobs of the synthetic world (issue 22): camera rig, figures, per-part thermal, thermal 8-bit
mapping, camera JPEG and colour cast. Each does what it says; the drawn labels stay true."""
from __future__ import annotations

import numpy as np
import pytest

from lsi_perception.data.synthetic import SyntheticConfig, WorldPhysics, generate_drive, plan_drives
from lsi_perception.data.synthetic_physics import ThermalCamera
from lsi_perception.data.synthetic_render import PART_HAIR, PART_PANTS, PART_SHIRT, PART_SKIN, person_patch
from lsi_perception.data.synthetic_scene import DriveSimulator

SMALL = dict(height=128, width=160, frames=12, frames_per_drive=3, person_height_range=(40.0, 240.0),
             ignore_below_height=6.0, people_per_frame=5.0, test_fraction=0.5)
TRANSFER = dict(horizon_range=(0.35, 0.5), height_per_row_range=(0.85, 1.3), frontal_fraction=0.6,
                figure_variety=True, part_thermal_spread_k=4.0, clutter_variety=True, poles_per_view=4.0, sensor_jpeg_quality=(50, 90), rgb_color_cast=0.1,
                physics=WorldPhysics(thermal_equalize_mix=(0.3, 1.0), thermal_dde_gain=(0.0, 1.5)))


def _mask_extent(view: str) -> tuple[int, int]:
    patch, _, _ = person_patch(100.0, 0.0, 1, view=view)
    ys, xs = np.nonzero(patch)
    return int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def test_people_seen_from_the_front_are_wider_than_in_profile_and_as_tall() -> None:
    (side_w, side_h), (front_w, front_h), (back_w, back_h) = (_mask_extent(v) for v in ("side", "front", "back"))
    assert front_w >= 1.4 * side_w and back_w == front_w  # shoulders and arms beside the torso
    assert abs(front_h - side_h) <= 2 and abs(back_h - side_h) <= 2


def test_figure_parts_hair_coat_bag_and_hands() -> None:
    plain, _, _ = person_patch(120.0, 0.3, 1, view="front")
    dressed, _, _ = person_patch(120.0, 0.3, 1, view="front", coat=0.6, bag=True, hair=True, hands=True)
    assert PART_HAIR not in plain and PART_HAIR in dressed
    # the coat covers part of the legs; the bag widens the silhouette
    assert (dressed == PART_PANTS).sum() < 0.8 * (plain == PART_PANTS).sum()
    assert (dressed == PART_SHIRT).sum() > (plain == PART_SHIRT).sum()
    assert (dressed > 0).sum() > (plain > 0).sum()
    back, _, _ = person_patch(120.0, 0.3, 1, view="back", hair=True)
    front, _, _ = person_patch(120.0, 0.3, 1, view="front", hair=True)
    assert (back == PART_HAIR).sum() > (front == PART_HAIR).sum()  # the back of the head is all hair
    assert (back == PART_SKIN).sum() < (front == PART_SKIN).sum()


def test_default_knobs_draw_the_profile_walker_of_the_street_world() -> None:
    patch, _, _ = person_patch(80.0, 1.0, -1)
    assert set(np.unique(patch)) <= {0, PART_SKIN, PART_SHIRT, PART_PANTS}


def test_plateau_equalization_and_detail_enhancement() -> None:
    rng = np.random.default_rng(0)
    scene = (20.0 + 0.3 * rng.standard_normal((64, 80))).astype(np.float32)  # a large, nearly uniform road
    scene[0:8] = 40.0  # something hot at the top
    scene[20:50, 30:36] = 27.0  # a person
    linear = ThermalCamera(WorldPhysics(), 64, 80, np.random.default_rng(0), noise=0.0)
    equalized = ThermalCamera(WorldPhysics(), 64, 80, np.random.default_rng(0), noise=0.0, equalize_mix=1.0)
    a, b = (cam.agc(cam.sense(scene)).astype(np.float32) for cam in (linear, equalized))
    road = (slice(52, 64), slice(0, 80))
    assert b[road].std() > 2 * a[road].std()  # equalization spends output levels on the big uniform area
    assert b[35, 33] > np.median(b[road]) and a[35, 33] > np.median(a[road])  # the order of temperatures is kept

    flat = np.full((256, 320), 15.0, np.float32)
    flat[96:160, 128:192] = 30.0
    flat[:, :12] = 0.0  # cold sky at the edge: the background lies mid-range, where a dark halo can show
    plain = ThermalCamera(WorldPhysics(), 256, 320, np.random.default_rng(0), noise=0.0)
    dde = ThermalCamera(WorldPhysics(), 256, 320, np.random.default_rng(0), noise=0.0, dde_gain=1.0)
    p, d = (cam.agc(cam.sense(flat)).astype(np.float32) for cam in (plain, dde))
    ring, far = d[128, 194], d[128, 300]  # just outside the hot block vs far from it: the dark halo
    assert ring < far - 10 and abs(p[128, 194] - p[128, 300]) < abs(ring - far) / 3


def test_transfer_world_labels_match_what_is_drawn_and_the_rig_varies() -> None:
    cfg = SyntheticConfig(seed=5, noise=0.0, **SMALL, **TRANSFER)
    views, horizons, kinds, checked = set(), set(), set(), 0
    for plan in plan_drives(cfg):
        sim = DriveSimulator(cfg, plan)
        horizons.add(sim.layout.horizon)
        views |= {p.view for p in sim.people}
        kinds |= {q.kind for q in sim.poles}
        for frame in generate_drive(cfg, plan, keep_instance_map=True):
            for o in frame.objects:
                ys, xs = np.nonzero(frame.instance_map == o.instance_id)
                x1, y1, x2, y2 = o.box
                assert xs.min() >= x1 - 0.5 and xs.max() + 1 <= x2 + 0.5
                assert ys.min() >= y1 - 0.5 and ys.max() + 1 <= y2 + 0.5
                checked += 1
    assert checked > 10 and len(horizons) > 1 and {"side", "front", "back"} <= views
    assert len(kinds) >= 4 and "tree" in kinds  # street furniture besides lamp poles


def test_clutter_is_drawn_as_an_occluder_in_both_images() -> None:
    from lsi_perception.data.synthetic_render import OCCLUDER_ID, FrameLayers, Pole, draw_pole

    for kind in ("tree", "bollard", "sign", "traffic_light", "bin"):
        layers = FrameLayers(np.zeros((100, 100, 3), np.float32), np.full((100, 100), 10.0, np.float32),
                             np.zeros((100, 100), np.uint16))
        draw_pole(layers, Pole(x=50, foot_y=90, height=60, width=6, temp=20.0, lamp_on=False, kind=kind,
                               rgb=(0.3, 0.3, 0.3), crown_temp=8.0), 50.0, 1.0, 0.0, WorldPhysics())
        drawn = layers.instance_map == OCCLUDER_ID
        assert drawn[89, 50] and not drawn[5, 5], kind  # it stands on its foot, and only there
        assert layers.thermal[85, 50] == pytest.approx(20.0) and layers.rgb[85, 50, 0] > 0, kind


def test_transfer_knobs_change_appearance_not_the_scene() -> None:
    """The knobs draw from their own stream: the same people walk the same paths, only seen differently."""
    base = SyntheticConfig(seed=2, **SMALL)
    sensors = SyntheticConfig(seed=2, **SMALL, sensor_jpeg_quality=(40, 60), rgb_color_cast=0.2,
                              physics=WorldPhysics(thermal_equalize_mix=(1.0, 1.0)))
    (plan, *_) = plan_drives(base)
    a, b = next(iter(generate_drive(base, plan))), next(iter(generate_drive(sensors, plan)))
    assert [o.box for o in a.objects] == [o.box for o in b.objects]
    assert not np.array_equal(a.rgb, b.rgb) and not np.array_equal(a.thermal, b.thermal)


def test_warm_clutter_by_day_spans_the_knob_over_shade() -> None:
    """physics.clutter_day_delta_k sets the day temperature of the street furniture (not of lamp poles)."""
    warm = WorldPhysics(clutter_day_delta_k=(6.0, 12.0))
    cfg = SyntheticConfig(seed=4, **SMALL, clutter_variety=True, poles_per_view=8.0, day_fraction=1.0, physics=warm)
    seen = 0
    for plan in plan_drives(cfg):
        sim = DriveSimulator(cfg, plan)
        for q in sim.poles:
            if q.kind != "pole":
                assert 6.0 <= q.temp - sim.climate.shade <= 12.0
                seen += 1
    assert seen >= 5
    with pytest.raises(ValueError, match="clutter_day_delta_k"):
        WorldPhysics(clutter_day_delta_k=(5.0, 1.0)).validate()


def test_a_rider_sits_on_a_bicycle_as_tall_as_a_walker_and_wider() -> None:
    from lsi_perception.data.synthetic_render import rider_patch

    walker_w, walker_h = _mask_extent("side")
    for phase in np.linspace(0.0, 2 * np.pi, 7):
        person, bike, fx, fy = rider_patch(100.0, float(phase), 1, hair=True, hands=True)
        ys, xs = np.nonzero(person)
        assert 0.85 * walker_h <= ys.max() - ys.min() + 1 <= 1.05 * walker_h  # seated, the head about as high
        assert xs.max() - xs.min() + 1 >= 1.6 * walker_w  # leaning to the handlebar
        bys, bxs = np.nonzero(bike)
        assert bys.max() >= fy - 2 and bxs.min() < xs.min() and bxs.max() > xs.max()  # wheels on the ground, either side
        assert ys.max() < fy - 1  # the feet are on the pedals, off the ground
    # cranks turn: the legs are drawn differently half a turn apart; facing left mirrors the rider
    a, _, _, _ = rider_patch(100.0, 0.0, 1)
    b, _, _, _ = rider_patch(100.0, np.pi / 2, 1)
    left, _, _, _ = rider_patch(100.0, 0.0, -1)
    assert not np.array_equal(a == PART_PANTS, b == PART_PANTS)
    assert abs(int((left > 0).sum()) - int((a > 0).sum())) <= 0.03 * (a > 0).sum()
    assert np.nonzero(a == PART_SKIN)[1].mean() > np.nonzero(left == PART_SKIN)[1].mean()  # head leads


def test_riders_ride_bicycles_in_the_world_and_are_labelled_people() -> None:
    """rider_fraction puts people on bicycles (drawn as occluders), from a stream of its own: the same
    people start in the same places; with 0 the world is what it was."""
    from lsi_perception.data.synthetic_render import OCCLUDER_ID

    base = SyntheticConfig(seed=3, noise=0.0, **SMALL)
    riders = SyntheticConfig(seed=3, noise=0.0, **SMALL, rider_fraction=1.0)
    (plan, *_) = plan_drives(base)
    walkers, cyclists = DriveSimulator(base, plan), DriveSimulator(riders, plan)
    assert [p.x for p in walkers.people] == [p.x for p in cyclists.people] and all(p.rider for p in cyclists.people)
    assert all(abs(c.vx) > 2 * abs(w.vx) for w, c in zip(walkers.people, cyclists.people))
    a = next(iter(generate_drive(base, plan, keep_instance_map=True)))
    b = next(iter(generate_drive(riders, plan, keep_instance_map=True)))
    assert len(b.objects) > 0
    under = 0
    for o in b.objects:  # the label box is the rider's own pixels; the bicycle is below and beside it
        ys, xs = np.nonzero(b.instance_map == o.instance_id)
        x1, y1, x2, y2 = o.box
        assert xs.min() >= x1 - 0.5 and xs.max() + 1 <= x2 + 0.5 and ys.max() + 1 <= y2 + 0.5
        y = min(int(y2) + 1, b.instance_map.shape[0] - 1)
        under += bool((b.instance_map[max(0, y - 3): y + 1, max(0, int(x1) - 3): int(x2) + 3] == OCCLUDER_ID).any())
    assert under >= 0.5 * len(b.objects)
    again = next(iter(generate_drive(SyntheticConfig(seed=3, noise=0.0, **SMALL, rider_fraction=0.0), plan)))
    assert np.array_equal(a.rgb, again.rgb) and np.array_equal(a.thermal, again.thermal)


@pytest.mark.parametrize("bad", [dict(horizon_range=(0.6, 0.4)), dict(frontal_fraction=1.5), dict(rider_fraction=-0.1),
                                 dict(sensor_jpeg_quality=(0, 90)), dict(height_per_row_range=(0.0, 1.0)),
                                 dict(physics=WorldPhysics(thermal_equalize_mix=(0.5, 1.5)))])
def test_bad_transfer_knobs_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        SyntheticConfig(**bad).validate()


def test_the_sensors_recipe_gives_its_validation_world_the_same_cameras() -> None:
    from pathlib import Path

    from lsi_perception.train.config import load_train_config

    cfg = load_train_config(Path(__file__).resolve().parents[1] / "config" / "train_synthetic_sensors.yaml")
    train, val = cfg.data.synthetic, cfg.data.val_synthetic
    assert val is not None and (train.seed, val.seed) == (0, 1) and val.frames == 96
    for knobs in (train, val):
        assert knobs.sensor_jpeg_quality == (50, 90) and knobs.physics.thermal_equalize_mix == (0.3, 1.0)
        assert knobs.physics.thermal_dde_gain == (0.0, 1.5) and knobs.frontal_fraction == 0.0
    assert cfg.data.root != load_train_config(Path(__file__).resolve().parents[1] / "config" /
                                              "train_synthetic.yaml").data.root  # never reuses the shipped world
