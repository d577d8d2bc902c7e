"""Trainer tests on CPU with tiny synthetic data: learning, exact resume, 2-process gloo DDP, clear errors."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lsi_perception.checkpoint import load_checkpoint
from lsi_perception.data.synthetic import SyntheticConfig, generate_dataset
from lsi_perception.model import build_model
from lsi_perception.train.config import load_train_config
from lsi_perception.train.data import build_val_loader
from lsi_perception.train.engine import AmpSettings, validate_model
from lsi_perception.train.trainer import STATE_FILE, Trainer

torch.set_num_threads(2)

# 256x320 frames with tall people (Reasonable needs >= 55 px), trained letterboxed to 64x80.
TINY_SYNTHETIC = SyntheticConfig(frames=8, frames_per_drive=2, test_fraction=0.0, height=256, width=320,
                                 person_height_range=(130.0, 260.0), tiny_person_fraction=0.0,
                                 people_per_frame=3.0, crowd_probability=0.0, seed=6)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_synth")
    generate_dataset(root, TINY_SYNTHETIC)
    return root


def tiny_overrides(root: Path, out: Path, **extra: object) -> list[str]:
    """A run that trains and validates on the same 8 images (val = train: "its own training images")."""
    items = {
        "name": "tiny",
        "preprocess.input_size": "[64, 80]",
        "model.neck_channels": 32, "model.head_channels": 32, "model.head_convs": 1,
        "model.allow_download": False, "model.allow_random_init": True,
        "loss.delta": 0.0,
        "data.root": str(root), "data.train_list": "train.txt", "data.val_list": "train.txt",
        "data.val_annotations": "annotations/train.json", "data.augment.hflip": 0.0,
        "data.augment.scale_range": "[1.0, 1.0]",
        "optim.lr": 3e-3, "schedule.warmup_steps": 2,
        "runtime.batch_size": 4, "runtime.workers": 0, "runtime.log_every": 1, "runtime.eval_every": 0,
        "runtime.progress": False, "runtime.out_dir": str(out), "runtime.seed": 7,
        "runtime.eval_score_threshold": 0.05,
    }
    items.update(extra)
    return [f"{k}={v}" for k, v in items.items()]


def test_tiny_run_lowers_loss_and_beats_untrained_mr(tiny_data: Path, tmp_path: Path) -> None:
    cfg = load_train_config(None, tiny_overrides(tiny_data, tmp_path, **{"runtime.max_steps": 50,
                                                                          "runtime.epochs": 100}))
    loader, ann = build_val_loader(cfg, torch.device("cpu"))
    torch.manual_seed(cfg.runtime.seed)
    untrained = build_model(cfg.model)
    mr_untrained = validate_model(untrained, loader, ann, cfg.inference.__class__(score_threshold=0.05),
                            torch.device("cpu"), AmpSettings()).mr["reasonable"]["all"]

    trainer = Trainer(cfg, command="pytest")
    metrics = trainer.fit()
    history = trainer.state.history
    assert history and history[-1]["step"] == 50
    logged = [json.loads(line) for line in (tmp_path / "tiny" / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["step"] == 50 and logged[-1]["protocol"] == "strict"  # validation names its protocol
    losses = [h for h in _tb_scalars(tmp_path / "tiny" / "tb", "loss/total")]
    assert len(losses) >= 40
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first, f"loss did not go down: {first:.3f} -> {last:.3f}"
    assert metrics["mr_reasonable_all"] < mr_untrained, (metrics, mr_untrained)

    weights, meta = load_checkpoint(tmp_path / "tiny" / "best.safetensors")
    assert meta.provenance["step"] == 50 and meta.provenance["command"] == "pytest"
    assert meta.provenance["training_data"] == {"kinds": ["synthetic"], "real_images": False}  # the node's WARN
    assert meta.provenance["metrics"]["mr_reasonable_all"] == pytest.approx(metrics["mr_reasonable_all"])
    assert tuple(meta.preprocess.input_size) == (64, 80)
    state = torch.load(tmp_path / "tiny" / STATE_FILE, weights_only=True)
    assert state["step"] == 50


def _tb_scalars(folder: Path, tag: str) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return [e.value for e in acc.Scalars(tag)]


def test_resume_equals_uninterrupted_run(tiny_data: Path, tmp_path: Path) -> None:
    """6 steps straight vs 3 steps, stop, --resume, 3 more: identical weights, bit for bit.

    The LSI regularizer is on (its Gaussian noise comes from the restored RNG) and the 2-image
    batches make 4 steps per epoch, so the resume lands mid-epoch.
    """
    common = {"loss.delta": 0.1, "runtime.batch_size": 2, "runtime.max_steps": 6, "runtime.epochs": 10,
              "runtime.deterministic": True, "data.augment.hflip": 0.5, "data.augment.scale_range": "[0.9, 1.2]"}
    straight = load_train_config(None, tiny_overrides(tiny_data, tmp_path / "a", **common))
    Trainer(straight, command="straight").fit()

    first = load_train_config(None, tiny_overrides(tiny_data, tmp_path / "b", **common, **{"runtime.stop_at_step": 3}))
    Trainer(first, command="first half").fit()
    assert torch.load(tmp_path / "b" / "tiny" / STATE_FILE, weights_only=True)["step"] == 3
    second = load_train_config(None, tiny_overrides(tiny_data, tmp_path / "b", **common))
    Trainer(second, command="resumed").fit(resume=tmp_path / "b" / "tiny")

    a, _ = load_checkpoint(tmp_path / "a" / "tiny" / "last.safetensors")
    b, meta_b = load_checkpoint(tmp_path / "b" / "tiny" / "last.safetensors")
    assert meta_b.provenance["step"] == 6
    assert a.keys() == b.keys()
    mismatched = [k for k in a if not torch.equal(a[k], b[k])]
    assert not mismatched, f"{len(mismatched)} tensors differ after resume, e.g. {mismatched[:3]}"


@pytest.mark.slow
def test_two_process_gloo_torchrun(tiny_data: Path, tmp_path: Path, repo_root: Path) -> None:
    overrides = tiny_overrides(tiny_data, tmp_path, **{"runtime.max_steps": 2, "runtime.batch_size": 2,
                                                        "loss.delta": 0.1})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "lsi_perception.cli", "train", "--config", str(repo_root / "config" / "train_synthetic.yaml"),
           *overrides]
    # Own process group: on a timeout the workers go too, not only the torchrun launcher.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"2-process run timed out:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert "2 process(es)" in stdout
    assert "weights identical on all 2 ranks" in stdout
    _, meta = load_checkpoint(tmp_path / "tiny" / "last.safetensors")
    assert meta.provenance["world_size"] == 2 and meta.provenance["step"] == 2


def test_missing_dataset_root_is_a_clear_error_before_training(tmp_path: Path) -> None:
    cfg = load_train_config(None, ["data.kind=kaist", f"data.root={tmp_path / 'nowhere'}",
                                   f"runtime.out_dir={tmp_path}", "preprocess.input_size=[64, 64]"])
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Trainer(cfg).fit()
    assert not (tmp_path / cfg.name).exists()


def test_unknown_config_key_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid keys"):
        load_train_config(None, ["runtime.batchsize=4"])


def test_augment_probabilities_are_checked() -> None:
    for key in ("featureless_pair", "modality_dropout"):
        with pytest.raises(ValueError, match=f"data.augment.{key}=1.5 must be a probability"):
            load_train_config(None, [f"data.augment.{key}=1.5"])


def test_shipped_config_loads(repo_root: Path) -> None:
    for name in ("train_synthetic.yaml", "train_kaist.yaml", "train_utokyo.yaml"):
        cfg = load_train_config(repo_root / "config" / name)
        assert cfg.preprocess.input_size is not None
    # the experiment's configs (an ExperimentConfig holding a TrainConfig) are checked in test_experiment.py
