"""What a checkpoint was trained on, and the one WARN the node, ``lsi predict`` and ``lsi bag detect`` print for a
model that never saw a real camera frame (issue 22)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lsi_perception.checkpoint import CheckpointMeta, read_checkpoint_meta
from lsi_perception.cli import main as lsi_main
from lsi_perception.resources import default_checkpoint_path
from lsi_perception.testing import make_random_checkpoint, synthetic_pair
from lsi_perception.training_data import (
    TrainingData,
    synthetic_only_warning,
    training_data_for_kind,
    training_data_of,
)


def _meta(provenance: dict) -> CheckpointMeta:
    return CheckpointMeta(provenance=provenance)


def test_recorded_training_data_wins_over_the_dataset_description() -> None:
    meta = _meta({"training_data": {"kinds": ["kaist"], "real_images": True}, "dataset": {"kind": "synthetic"}})
    assert training_data_of(meta) == TrainingData(kinds=("kaist",), real_images=True)
    assert synthetic_only_warning(meta) is None


@pytest.mark.parametrize(("kind", "real"), [("synthetic", False), ("kaist", True), ("llvip", True), ("flir", True)])
def test_checkpoints_written_before_the_record_are_read_from_their_dataset_kind(kind: str, real: bool) -> None:
    assert training_data_of(_meta({"dataset": {"kind": kind}})) == TrainingData((kind,), real)
    assert training_data_for_kind(kind).real_images is real


def test_unknown_training_data_gives_no_warning() -> None:
    for provenance in ({}, {"dataset": "none (random init)"}, {"training_data": {"kinds": "bad"}}):
        facts = training_data_of(_meta(provenance))
        assert facts.real_images is None and not facts.synthetic_only
        assert synthetic_only_warning(_meta(provenance)) is None


def test_the_shipped_model_warns_and_points_to_the_figures_and_the_fix() -> None:
    path = default_checkpoint_path()
    text = synthetic_only_warning(read_checkpoint_meta(path), path.name)
    assert text is not None
    assert path.name in text and "models/README.md" in text and "docs/kaist.md" in text and "lsi train" in text


@pytest.mark.parametrize(("kind", "warns"), [("synthetic", 1), ("kaist", 0)])
def test_lsi_predict_warns_once_for_a_synthetic_only_model(tmp_path: Path, capsys, kind: str, warns: int) -> None:
    import cv2

    for i in range(3):
        rgb, thermal = synthetic_pair(96, 120, seed=i)
        (tmp_path / "rgb").mkdir(exist_ok=True)
        (tmp_path / "th").mkdir(exist_ok=True)
        assert cv2.imwrite(str(tmp_path / "rgb" / f"{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert cv2.imwrite(str(tmp_path / "th" / f"{i:03d}.png"), thermal)
    checkpoint = make_random_checkpoint(tmp_path / f"{kind}.safetensors", trained_on=kind)
    rc = lsi_main(["predict", "--rgb", str(tmp_path / "rgb"), "--thermal", str(tmp_path / "th"), "--out",
                   str(tmp_path / "out"), "--checkpoint", str(checkpoint), "--device", "cpu", "--no-overlays"])
    assert rc == 0
    err = capsys.readouterr().err
    assert err.count("WARN:") == warns
    if warns:
        assert f"{checkpoint.name} was trained only on generated (synthetic) RGB-thermal frames" in err
