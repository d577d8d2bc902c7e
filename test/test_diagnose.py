"""``lsi diagnose``: blanking, per-slice MR and the information ratio of a checkpoint on a labelled set."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lsi_perception.cli import main as lsi_main
from lsi_perception.config import ModelConfig, PreprocessConfig
from lsi_perception.data.synthetic import SyntheticConfig, generate_dataset
from lsi_perception.testing import make_random_checkpoint


@pytest.fixture(scope="module")
def sliced_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sliced")
    generate_dataset(root, SyntheticConfig(frames=8, frames_per_drive=2, test_fraction=1.0, height=96, width=128,
                                           person_height_range=(120.0, 320.0), rgb_only_fraction=0.5, seed=2))
    return root


def test_diagnose_reports_every_variant_slice_and_the_information_ratio(sliced_set: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = make_random_checkpoint(tmp_path / "m.safetensors",
                                  ModelConfig(neck_channels=32, head_channels=32, head_convs=1, allow_download=False),
                                  PreprocessConfig(input_size=(64, 96)))
    out = tmp_path / "d.json"
    assert lsi_main(["diagnose", str(ckpt), str(sliced_set), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "[slice rgb_only]" in text and "I_vis / I_th" in text and "thermal_zero" in text
    d = json.loads(out.read_text())
    assert set(d["mr"]) == {"both", "rgb_zero", "rgb_mean", "thermal_zero", "thermal_mean"}
    assert set(d["slices"]) == {"rgb_only", "rest"}
    assert d["images"] == len((sliced_set / "imageSets" / "test.txt").read_text().split())
    assert d["min_height"] == pytest.approx(55 * 96 / 512)
    assert d["information"]["ratio_all"] > 0
    assert lsi_main(["diagnose", str(ckpt), str(tmp_path / "nowhere")]) == 2  # a clear error, not a traceback
    assert "not a folder" in capsys.readouterr().err
    assert lsi_main(["diagnose", str(ckpt), str(sliced_set), "--list", "val.txt"]) == 2  # no such list
    assert "val.txt" in capsys.readouterr().err
