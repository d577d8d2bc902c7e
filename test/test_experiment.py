"""The experiment's pieces: weighted MR and the drive bootstrap, the effect rule, arms' configs, modality dropout."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lsi_perception.config import load_yaml_config
from lsi_perception.eval import annotations_from_coco
from lsi_perception.eval import evaluate as evaluate_detections
from lsi_perception.resources import share_dir
from lsi_perception.train.engine import blank_for_training, drop_modalities, reasonable_setting
from lsi_perception.train.experiment import ExperimentConfig, RunSpec
from lsi_perception.train.experiment.stats import DriveBootstrap, compare, match_run, weighted_mr


def _toy(n_drives: int = 6, frames: int = 3, seed: int = 0):
    """Annotations (one 40 px person per frame) and noisy detections: some hits, some misses, some FPs."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], {}
    for d in range(n_drives):
        tod = "day" if d % 2 == 0 else "night"
        for f in range(frames):
            name = f"set{(0 if tod == 'day' else 3):02d}/V{d:03d}/I{f:05d}"
            i = len(images)
            images.append({"id": i, "im_name": name, "width": 160, "height": 128, "time_of_day": tod})
            anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [50, 40, 16, 40], "height": 40,
                         "occlusion": 0, "ignore": 0})
            rows = [[90, 30, 16, 40, rng.uniform(0, 1)]]  # a false positive
            if rng.random() < 0.7:
                rows.append([50 + rng.normal(0, 1), 40, 16, 40, rng.uniform(0, 1)])
            dets[name] = np.array(rows, np.float32)
    ann = annotations_from_coco({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]},
                                "toy")
    return ann, dets


def test_weighted_mr_with_unit_weights_is_the_evaluators_mr():
    ann, dets = _toy()
    setting = reasonable_setting(13.75)
    run = match_run(ann, dets, setting)
    result = evaluate_detections(ann, dets, settings=(setting,), protocol="strict")  # weighted_mr counts every GT
    boot = DriveBootstrap(ann, replicates=5, seed=1)
    for t in ("all", "day", "night"):
        assert weighted_mr(run, boot.image_weights(None, t)) == pytest.approx(result.mr["reasonable"][t], abs=1e-9)


def test_doubling_every_image_leaves_mr_unchanged_and_bootstrap_resamples_whole_drives():
    ann, dets = _toy()
    run = match_run(ann, dets, reasonable_setting(13.75))
    ones = np.ones(len(ann.im_names))
    assert weighted_mr(run, 2 * ones) == pytest.approx(weighted_mr(run, ones))
    boot = DriveBootstrap(ann, replicates=50, seed=0)
    for r in range(boot.replicates):
        w = boot.image_weights(r, "all")
        for d in range(len(boot.drive_ids)):  # frames of one drive share one weight
            assert len(set(w[boot.image_drive == d])) == 1
        assert w[np.array(ann.time_of_day) == "day"].sum() == w[np.array(ann.time_of_day) == "night"].sum()


def test_effect_needs_the_same_sign_in_every_seed_and_more_than_the_seed_spread():
    assert compare("night", [40, 41, 39], [50, 52, 49], None, None).effect
    assert not compare("night", [40, 55, 39], [50, 52, 49], None, None).effect  # one seed the other way
    noisy = compare("night", [40, 60, 30], [45, 62, 33], None, None)  # same sign, but within the spread
    assert not noisy.effect and noisy.mean < 0 and noisy.verdict() == "no effect claimed"


def test_every_arm_is_the_base_config_with_only_its_own_change():
    cfg = load_yaml_config(ExperimentConfig, share_dir() / "config" / "experiment_cpu.yaml")
    base = cfg.run_config(RunSpec("delta0", 0))
    lsi = cfg.run_config(RunSpec("lsi", 1, delta=0.1))
    drop = cfg.run_config(RunSpec("dropout", 0, modality_dropout=0.2))
    rgb = cfg.run_config(RunSpec("rgb_only", 0, modality="rgb"))
    assert (base.loss.delta, lsi.loss.delta, lsi.runtime.seed) == (0.0, 0.1, 1)
    assert drop.data.augment.modality_dropout == 0.2 and base.data.augment.modality_dropout == 0.0
    assert rgb.data.augment.modality == "rgb" and base.data.augment.modality == "both"
    assert len({base.name, lsi.name, drop.name, rgb.name}) == 4
    assert base.optim == lsi.optim == drop.optim and base.model == rgb.model
    assert cfg.test_data.frames // cfg.test_data.frames_per_drive >= 40 and cfg.test_data.day_fraction == 0.5
    assert len({cfg.train_data.seed, cfg.val_data.seed, cfg.test_data.seed}) == 3
    load_yaml_config(ExperimentConfig, share_dir() / "config" / "experiment_gpu.yaml")  # valid too


def test_modality_dropout_blanks_at_most_one_modality_per_sample_at_the_requested_rate():
    torch.manual_seed(0)
    rgb, th = torch.ones(4000, 3, 2, 2), torch.ones(4000, 1, 2, 2)
    r, t = drop_modalities(rgb, th, 0.2)
    rgb_gone = r.abs().amax(dim=(1, 2, 3)) < 0.1
    th_gone = t.abs().amax(dim=(1, 2, 3)) < 0.1
    assert not (rgb_gone & th_gone).any()
    assert rgb_gone.float().mean() == pytest.approx(0.1, abs=0.02)
    assert th_gone.float().mean() == pytest.approx(0.1, abs=0.02)
    blank = blank_for_training(torch.ones(2, 1, 8, 8), torch.tensor([True, False]))
    assert 0 < blank[0].std() < 0.01 and torch.equal(blank[1], torch.ones(1, 8, 8))
