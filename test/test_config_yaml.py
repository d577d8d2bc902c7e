"""Config files and ``key=value`` overrides read numbers the way a user writes them."""
from __future__ import annotations

from pathlib import Path

import pytest

from lsi_perception.train.config import load_train_config


def test_exponent_without_a_dot_is_a_number_in_files_and_overrides(tmp_path: Path) -> None:
    # PyYAML's YAML 1.1 reads "1e-3" as a string; a learning rate must not silently become text.
    path = tmp_path / "train.yaml"
    path.write_text("optim:\n  lr: 2e-4\n  weight_decay: 5E-2\n")
    cfg = load_train_config(path, ["loss.delta=3e-5", "runtime.max_steps=1_000"])
    assert cfg.optim.lr == pytest.approx(2e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.optim.weight_decay == pytest.approx(0.05)
    assert cfg.loss.delta == pytest.approx(3e-5) and isinstance(cfg.loss.delta, float)
    assert cfg.runtime.max_steps == 1000


def test_text_values_stay_text(tmp_path: Path) -> None:
    cfg = load_train_config(None, ["model.backbone=pvt_v2_b1", "name=e2e-3"])
    assert cfg.model.backbone == "pvt_v2_b1" and cfg.name == "e2e-3"
