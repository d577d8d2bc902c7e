"""The KAIST recipe (config/train_kaist.yaml) on a tiny KAIST-layout fixture the tests write: end-to-end
run with a local "pretrained" file, refusal of random weights, label coverage, normalization stats,
held-out videos, paired labels, EMA."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import cv2
import numpy as np
import pytest
import timm
import torch
import yaml
from safetensors.torch import save_file

from lsi_perception.checkpoint import load_checkpoint
from lsi_perception.cli import main as cli_main
from lsi_perception.config import ModelConfig, ThermalPolicy
from lsi_perception.data import KaistDataset
from lsi_perception.data.coverage import check_coverage, label_coverage
from lsi_perception.data.images import read_rgb, read_thermal
from lsi_perception.inference import Detector
from lsi_perception.model import build_model
from lsi_perception.model.pretrained import PretrainedWeightsError, init_backbones
from lsi_perception.train.config import load_train_config
from lsi_perception.train.ema import ModelEMA
from lsi_perception.train.norm_stats import cached_normalization, measure_normalization
from lsi_perception.train.splits import holdout_videos, video_of
from lsi_perception.train.trainer import STATE_FILE, Trainer

torch.set_num_threads(2)
H, W = 96, 120
TRAIN_VIDEOS = ["set00/V000", "set00/V001", "set01/V000", "set03/V000", "set04/V000", "set05/V000"]
TEST_VIDEOS = ["set06/V000", "set09/V000"]
FRAMES = 4


def _frame(root: Path, name: str, rng: np.random.Generator) -> list[float]:
    """Write one pair with a warm, bright person; returns its (x, y, w, h)."""
    s, v, f = name.split("/")
    h = float(rng.integers(40, 70))
    w = round(h * 0.4)
    x, y = float(rng.integers(2, W - w - 2)), float(rng.integers(2, H - int(h) - 2))
    rgb = rng.integers(60, 120, (H, W, 3)).astype(np.uint8)
    rgb[int(y):int(y + h), int(x):int(x + w)] = (230, 200, 180)
    lwir = rng.integers(20, 50, (H, W)).astype(np.uint8)
    lwir[int(y):int(y + h), int(x):int(x + w)] = 210
    for sub, img in (("visible", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), ("lwir", cv2.merge([lwir] * 3))):
        folder = root / "images" / s / v / sub
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{f}.png"), img)
    return [x, y, float(w), h]


def write_kaist_fixture(root: Path, seed: int = 0) -> Path:
    """KAIST layout: 6 training videos (sanitized-style bbGt, one frame without a label file), 2 test
    videos with a KAIST-schema JSON, image-set files."""
    rng = np.random.default_rng(seed)
    train, test, images, anns = [], [], [], []
    for video in TRAIN_VIDEOS:
        for i in range(FRAMES):
            name = f"{video}/I{i:05d}"
            x, y, w, h = _frame(root, name, rng)
            label = root / "annotations" / f"{name}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text(f"% bbGt version=3\nperson {x} {y} {w} {h} 0 0 0 0 0 0 0\n"
                             f"people 0 0 5 12 0 0 0 0 0 0 0\n")
            train.append(name)
    _frame(root, "set00/V000/I00099", rng)  # no label file: must not become a pedestrian-free frame
    train.append("set00/V000/I00099")
    for video in TEST_VIDEOS:
        for i in range(3):
            name = f"{video}/I{i:05d}"
            x, y, w, h = _frame(root, name, rng)
            images.append({"id": len(images), "im_name": name, "height": H, "width": W})
            anns.append({"id": len(anns), "image_id": len(images) - 1, "category_id": 1, "bbox": [x, y, w, h],
                         "height": h, "occlusion": 0, "ignore": 0})
            test.append(name)
    (root / "imageSets").mkdir(parents=True, exist_ok=True)
    (root / "imageSets" / "train-all-02.txt").write_text("\n".join(train) + "\n")
    (root / "imageSets" / "test-all-20.txt").write_text("\n".join(test) + "\n")
    (root / "KAIST_annotation.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return root


@pytest.fixture(scope="module")
def kaist(tmp_path_factory) -> Path:
    return write_kaist_fixture(tmp_path_factory.mktemp("kaist"))


@pytest.fixture(scope="module")
def imagenet_b0(tmp_path_factory) -> Path:
    """A stand-in for timm's ImageNet file: a random pvt_v2_b0 classifier state dict (.safetensors)."""
    torch.manual_seed(5)
    donor = timm.create_model("pvt_v2_b0", pretrained=False)
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    save_file({k: v.contiguous() for k, v in donor.state_dict().items()}, str(path))
    return path


def recipe(kaist: Path, out: Path, weights: Path | None, **extra: object):
    """config/train_kaist.yaml shrunk to a CPU test: pvt_v2_b0, 64x80 input, 2 steps."""
    items = {
        "data.root": str(kaist), "model.backbone": "pvt_v2_b0", "model.pretrained_path": str(weights) if weights else None,
        "model.neck_channels": 32, "model.head_channels": 32, "model.head_convs": 1,
        "preprocess.input_size": [64, 80], "data.norm_stats_frames": 100, "data.holdout_videos": 0.3,
        "data.augment.modality_shift": 2, "data.max_unlabelled_fraction": 0.1, "optim.ema_tau": 1.0, "schedule.warmup_steps": 1,
        "runtime.max_steps": 2, "runtime.epochs": 1, "runtime.batch_size": 2, "runtime.workers": 0,
        "runtime.progress": False, "runtime.out_dir": str(out), "runtime.eval_score_threshold": 0.05,
        # this fixture's variant of the layout: bbGt labels, its own test JSON (the download's: test_train_commands.py)
        "data.train_annotations": "bbgt", "data.test_annotations": "KAIST_annotation.json",
    }
    items.update(extra)
    repo = Path(__file__).resolve().parent.parent
    return load_train_config(repo / "config" / "train_kaist.yaml",
                             [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in items.items()])


def test_recipe_runs_end_to_end(kaist: Path, imagenet_b0: Path, tmp_path: Path, capsys) -> None:
    cfg = recipe(kaist, tmp_path, imagenet_b0)
    trainer = Trainer(cfg, command="pytest")
    trainer.fit()
    log = capsys.readouterr().out
    assert "label coverage (bbgt labels" in log and "held out" in log and "test set test-all-20.txt" in log
    run = tmp_path / "kaist_b2"
    weights, meta = load_checkpoint(run / "best.safetensors")
    prov = meta.provenance
    assert prov["backbone_init"].startswith("ImageNet (local file")
    held = set(prov["dataset"]["validation"]["held_out_videos"])
    assert held and held < set(TRAIN_VIDEOS)
    assert prov["dataset"]["label_coverage"]["unlabelled"] == 1  # dropped, not counted as empty
    # The measured normalization reaches the checkpoint and the Detector.
    train_names = [n for n in trainer.train_loader.dataset.dataset.names]
    assert not {video_of(n) for n in train_names} & held
    th = np.concatenate([read_thermal(kaist / "images" / n.rsplit("/", 1)[0] / "lwir" / (n.rsplit("/", 1)[1] + ".png"))
                         [::2, ::2].ravel() / 255.0 for n in train_names])
    assert meta.preprocess.thermal_mean == pytest.approx(th.mean(), abs=2e-3)
    assert meta.preprocess.thermal_std == pytest.approx(th.std(), abs=2e-3)
    assert Detector.from_checkpoint(run / "best.safetensors", device="cpu").preprocess.thermal_mean == meta.preprocess.thermal_mean
    assert yaml.safe_load((run / "config.yaml").read_text())["preprocess"]["thermal_mean"] == meta.preprocess.thermal_mean
    # The test set is scored once, with best.safetensors, into test_metrics.json.
    report = json.loads((run / "test_metrics.json").read_text())
    assert report["images"] == 6 and 0.0 <= report["mr_reasonable_all"] <= 100.0
    # Its detections are kept as a benchmark results file, and the recorded command re-scores them.
    assert Path(report["results_file"]) == run / "test_results.txt"
    command = shlex.split(report["rescore_command"])
    assert command[0] == "lsi" and command[-2:] == ["--breakdown", f"{meta.inference.score_threshold:g}"]
    capsys.readouterr()
    assert cli_main([*command[1:], "--json", "-"]) == 0
    rescored = json.loads(capsys.readouterr().out)
    assert rescored["results"]["test_results"]["reasonable"]["all"] == pytest.approx(report["mr_reasonable_all"], abs=1e-6)
    assert rescored["breakdown"]["test_results"]["ground_truth"]["all"]["all"]["count"] > 0
    # EMA: the checkpoints hold the average; the train state holds the network's own weights.
    state = torch.load(run / STATE_FILE, weights_only=True)
    assert state["ema"]["updates"] == 2
    online = state["online_weights"]
    key = "head.score_out.weight" if "head.score_out.weight" in weights else next(k for k in weights if k.startswith("head."))
    assert not torch.equal(online[key], weights[key])


def test_refuses_random_weights_with_instructions(kaist: Path, tmp_path: Path) -> None:
    cfg = recipe(kaist, tmp_path, None, **{"model.allow_download": False})
    with pytest.raises(PretrainedWeightsError) as err:
        Trainer(cfg, command="pytest").fit()
    msg = str(err.value)
    assert "timm/pvt_v2_b0.in1k" in msg and "model.allow_random_init=true" in msg and "pretrained_path" in msg
    assert "timm.create_model('pvt_v2_b0', pretrained=True)" in msg


def test_offline_hub_gives_the_instructions(monkeypatch, tmp_path: Path) -> None:
    from huggingface_hub import constants  # read at import time: patch the module, not the environment

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))  # an empty cache
    cfg = ModelConfig(allow_download=True)
    with pytest.raises(PretrainedWeightsError, match="could not fetch timm/pvt_v2_b0.in1k"):
        init_backbones(build_model(cfg), cfg)
    with pytest.warns(UserWarning, match="random weights"):
        assert init_backbones(build_model(cfg), ModelConfig(allow_random_init=True)).startswith("random")


def test_label_coverage_and_implausible_labels(kaist: Path, tmp_path: Path) -> None:
    ds = KaistDataset(kaist, "train-all-02.txt", missing_labels="skip")
    cov = label_coverage(ds)
    n = len(TRAIN_VIDEOS) * FRAMES
    assert (cov.frames, cov.labelled, cov.unlabelled) == (n + 1, n, 1)
    assert (cov.positives, cov.ignored, cov.frames_with_people) == (n, n, n)
    assert "set00/V000/I00099" in cov.report()
    check_coverage(cov, 0.05, "skip")
    with pytest.raises(ValueError, match="data.missing_labels=empty"):
        check_coverage(cov, 0.01, "skip")
    check_coverage(cov, 0.01, "empty")  # declared pedestrian-free on purpose
    with pytest.raises(FileNotFoundError, match="I00099"):
        KaistDataset(kaist, "train-all-02.txt", missing_labels="error")
    empty = KaistDataset(kaist, "train-all-02.txt", missing_labels="empty")
    assert len(empty) == n + 1 and label_coverage(empty).unlabelled == 1
    # Labels that hold only ignore regions (e.g. a class_names typo): no pedestrian at all.
    with pytest.raises(ValueError, match="no pedestrian box"):
        check_coverage(label_coverage(KaistDataset(kaist, "train-all-02.txt", ("pedestrian",), missing_labels="skip")),
                       0.05, "skip")
    # No label file anywhere (wrong annotation folder).
    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").symlink_to(kaist / "images")
    bare = KaistDataset(tmp_path, kaist / "imageSets" / "train-all-02.txt", missing_labels="skip")
    with pytest.raises(ValueError, match="none of the"):
        check_coverage(label_coverage(bare), 0.05, "skip")


def test_paired_labels_read_both_modalities(kaist: Path, tmp_path: Path) -> None:
    paired = tmp_path / "paired"
    for modality, dx in (("visible", 0), ("lwir", 6)):
        folder = paired / "set00" / "V000" / modality
        folder.mkdir(parents=True)
        (folder / "I00000.txt").write_text(f"% bbGt version=3\nperson {10 + dx} 5 10 40 0 0 0 0 0 0 0\n")
    lst = tmp_path / "one.txt"
    lst.write_text("set00/V000/I00000\nset00/V000/I00001\n")
    boxes = {}
    for target in ("visible", "lwir", "mean", "union"):
        ds = KaistDataset(kaist, lst, annotation_source="paired", paired_root=paired, paired_target=target,
                          missing_labels="skip")
        assert ds.names == ["set00/V000/I00000"]  # I00001 has no paired file
        boxes[target] = ds[0]["boxes"][0].tolist()
    assert boxes == {"visible": [10, 5, 20, 45], "lwir": [16, 5, 26, 45], "mean": [13, 5, 23, 45],
                     "union": [10, 5, 26, 45]}
    cov = label_coverage(ds)
    assert cov.per_modality == {"visible": 1, "lwir": 1} and "lwir 1" in cov.report()


def test_normalization_pass_and_cache(kaist: Path, tmp_path: Path) -> None:
    ds = KaistDataset(kaist, "train-all-02.txt", missing_labels="skip")
    stats = measure_normalization(ds, 1000, ThermalPolicy())
    rgb = np.stack([read_rgb(p)[::2, ::2].reshape(-1, 3) / 255.0 for p, _ in ds._pairs]).reshape(-1, 3)
    np.testing.assert_allclose(stats.rgb_mean, rgb.mean(0), atol=1e-4)
    np.testing.assert_allclose(stats.rgb_std, rgb.std(0), atol=1e-4)
    assert stats.frames == len(ds)
    first, path, cached = cached_normalization(ds, kaist, tmp_path, 1000, ThermalPolicy())
    assert not cached and path.is_file() and path.parent == kaist / ".lsi_cache"
    again, path2, cached2 = cached_normalization(ds, kaist, tmp_path, 1000, ThermalPolicy())
    assert cached2 and path2 == path and again == first
    ds.restrict(lambda n: n.startswith("set00"))  # another split: another key, measured anew
    _, path3, cached3 = cached_normalization(ds, kaist, tmp_path, 1000, ThermalPolicy())
    assert not cached3 and path3 != path


def test_validation_videos_are_held_out_whole() -> None:
    names = [f"{v}/I{i:05d}" for v in TRAIN_VIDEOS + ["set01/V001", "set02/V000"] for i in range(5)]
    held = holdout_videos(names, 0.3, seed=1)
    assert held == holdout_videos(names, 0.3, seed=1)
    day, night = {v for v in held if v < "set03"}, {v for v in held if v >= "set03"}
    assert day and night  # both times of day are validated
    assert len(held) == round(0.3 * 5) + round(0.3 * 3)
    with pytest.raises(ValueError, match="fewer than 2"):
        holdout_videos(["set00/V000/I00001"], 0.2)


def test_ema_follows_the_weights() -> None:
    net = torch.nn.Linear(3, 1)
    ema = ModelEMA(net, decay=0.5, tau=1e-6)  # full decay from the first update
    with torch.no_grad():
        net.weight.fill_(1.0)
    start = ema.module.weight.clone()
    ema.update(net)
    torch.testing.assert_close(ema.module.weight, 0.5 * start + 0.5)
    restored = ModelEMA(torch.nn.Linear(3, 1), decay=0.5)
    restored.load_state_dict(ema.state_dict(), ema.module.state_dict())
    assert restored.updates == 1
    torch.testing.assert_close(restored.module.weight, ema.module.weight)


def _person_sample(h: int = 100, w: int = 120) -> dict:
    rgb = np.full((h, w, 3), 40, np.uint8)
    thermal = np.full((h, w), 30, np.uint8)
    boxes = np.array([[30, 20, 50, 80], [80, 40, 100, 90]], np.float32)
    for x0, y0, x1, y1 in boxes.astype(int):
        rgb[y0:y1, x0:x1] = 250
        thermal[y0:y1, x0:x1] = 250
    return {"rgb": rgb, "thermal": thermal, "boxes": boxes, "labels": np.zeros(2, np.int64),
            "ignore": np.zeros(2, bool), "image_id": "set00/V000/I00000", "index": 0}


def _bright_box(img: np.ndarray, box: np.ndarray, margin: int = 3) -> np.ndarray:
    """Tight box of the bright pixels around ``box`` (searched in it grown by ``margin`` px)."""
    gray = img if img.ndim == 2 else img.mean(axis=2)
    x0, y0 = max(int(box[0]) - margin, 0), max(int(box[1]) - margin, 0)
    ys, xs = np.nonzero(gray[y0:int(np.ceil(box[3])) + margin, x0:int(np.ceil(box[2])) + margin] > 145)
    return np.array([xs.min() + x0, ys.min() + y0, xs.max() + x0 + 1, ys.max() + y0 + 1], np.float32)


@pytest.mark.parametrize("seed", range(12))
def test_random_resized_crop_moves_boxes_with_both_images(seed: int) -> None:
    import random

    from lsi_perception.data.transforms import RandomResizedCrop

    out = RandomResizedCrop((64, 80), area=(0.25, 4.0), rng=random.Random(seed))(_person_sample())
    assert out["rgb"].shape == (64, 80, 3) and out["thermal"].shape == (64, 80)
    for box, ignore in zip(out["boxes"], out["ignore"]):
        if ignore:
            continue  # cut by the window edge: its visible part is what the box holds
        for img in (out["rgb"], out["thermal"]):
            np.testing.assert_allclose(_bright_box(img, box), box, atol=1.5)


def test_modality_shift_moves_thermal_only() -> None:
    import random

    from lsi_perception.data.transforms import ModalityShift

    sample = _person_sample()
    rng = random.Random(3)
    out = ModalityShift(4, rng=rng)(sample)
    np.testing.assert_array_equal(out["rgb"], sample["rgb"])
    np.testing.assert_array_equal(out["boxes"], sample["boxes"])  # boxes stay in the RGB frame
    shift = _bright_box(out["thermal"], sample["boxes"][0], margin=6) - sample["boxes"][0]
    dx, dy = shift[0], shift[1]
    assert (dx, dy) != (0, 0) and max(abs(dx), abs(dy)) <= 4
    np.testing.assert_allclose(shift, [dx, dy, dx, dy])


def test_recipe_augmentation_keeps_people_inside_their_boxes(kaist: Path, tmp_path: Path) -> None:
    """The whole KAIST training pipeline (flip, random-resized crop, jitter; no shift) on a sample."""
    import random

    from lsi_perception.data.transforms import build_train_transforms

    cfg = recipe(kaist, tmp_path, None, **{"data.augment.modality_shift": 0})
    a = cfg.data.augment
    tf = build_train_transforms(cfg.preprocess, a.scale_range, 1.0, resized_crop_area=a.resized_crop_area,
                                resized_crop_ratio=a.resized_crop_ratio, rgb_jitter=a.rgb_jitter,
                                thermal_jitter=a.thermal_jitter, jitter_p=a.jitter_p)
    random.seed(0)
    for _ in range(8):
        out = tf(_person_sample())
        for box, ignore in zip(out["boxes"], out["ignore"]):
            x0, y0, x1, y1 = np.round(box).astype(int)
            if ignore or x1 - x0 < 4 or y1 - y0 < 4:
                continue
            for img in (out["rgb"].mean(axis=2), out["thermal"].astype(float)):
                inside = img[y0 + 1:y1 - 1, x0 + 1:x1 - 1].mean()
                ring = np.concatenate([img[max(y0 - 3, 0):y0, x0:x1].ravel(), img[y1:y1 + 3, x0:x1].ravel()])
                assert ring.size == 0 or inside > ring.mean() + 40


def test_ema_resume_continues_exactly(kaist: Path, imagenet_b0: Path, tmp_path: Path) -> None:
    common = {"runtime.max_steps": 2, "runtime.deterministic": True, "data.test_list": None, "runtime.eval_every": 0,
              "loss.delta": 0.0, "data.holdout_videos": 0.0, "data.val_list": "test-all-20.txt",
              "data.val_annotations": "KAIST_annotation.json", "data.val_max_images": 1}
    Trainer(recipe(kaist, tmp_path / "a", imagenet_b0, **common), command="straight").fit()
    Trainer(recipe(kaist, tmp_path / "b", imagenet_b0, **common, **{"runtime.stop_at_step": 1}), command="half").fit()
    resumed = Trainer(recipe(kaist, tmp_path / "b", imagenet_b0, **common), command="resumed")
    resumed.fit(resume=tmp_path / "b" / "kaist_b2")
    assert resumed.backbone_init == "from the resumed run"
    a_weights, _ = load_checkpoint(tmp_path / "a" / "kaist_b2" / "last.safetensors")
    b_weights, _ = load_checkpoint(tmp_path / "b" / "kaist_b2" / "last.safetensors")
    for key in a_weights:
        torch.testing.assert_close(b_weights[key], a_weights[key], rtol=0, atol=0)
    a_state = torch.load(tmp_path / "a" / "kaist_b2" / STATE_FILE, weights_only=True)
    b_state = torch.load(tmp_path / "b" / "kaist_b2" / STATE_FILE, weights_only=True)
    assert a_state["ema"] == b_state["ema"]
    for key, value in a_state["online_weights"].items():
        torch.testing.assert_close(b_state["online_weights"][key], value, rtol=0, atol=0)


def test_cli_refusal_is_a_message_not_a_traceback(kaist: Path, tmp_path: Path, capsys) -> None:
    from lsi_perception.cli import main

    repo = Path(__file__).resolve().parent.parent
    rc = main(["train", "--config", str(repo / "config" / "train_kaist.yaml"), f"data.root={kaist}",
               "model.backbone=pvt_v2_b0", "model.allow_download=false", "preprocess.input_size=[64,80]",
               "data.max_unlabelled_fraction=0.1", f"runtime.out_dir={tmp_path}", "runtime.workers=0",
               "runtime.progress=false", "data.train_annotations=bbgt", "data.test_annotations=KAIST_annotation.json"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "lsi train: error:" in err and "timm/pvt_v2_b0.in1k" in err and "allow_random_init=true" in err


def test_pth_weights_nested_and_prefixed_load_and_wrong_size_is_named(imagenet_b0: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    donor = load_file(str(imagenet_b0))
    pth = tmp_path / "pvt_v2_b0.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in donor.items()}, "epoch": 300}, pth)
    cfg = ModelConfig(pretrained_path=str(pth))
    net = build_model(cfg)
    init_backbones(net, cfg)
    stem = donor["patch_embed.proj.weight"]
    torch.testing.assert_close(net.rgb_backbone.body.patch_embed.proj.weight, stem)
    torch.testing.assert_close(net.thermal_backbone.body.patch_embed.proj.weight, stem.sum(1, keepdim=True))
    wrong = ModelConfig(backbone="pvt_v2_b1", pretrained_path=str(imagenet_b0))
    with pytest.raises(PretrainedWeightsError, match="does not fit pvt_v2_b1"):
        init_backbones(build_model(wrong), wrong)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="could not be read"):
        init_backbones(net, ModelConfig(pretrained_path=str(junk)))
