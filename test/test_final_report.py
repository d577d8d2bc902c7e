"""The final test report finds its ground truth the way validation does."""
from __future__ import annotations

from pathlib import Path

from lsi_perception.train import data as train_data
from lsi_perception.train.config import DataConfig


def test_test_set_uses_the_annotation_json_with_occlusion_when_the_root_has_one(tmp_path: Path) -> None:
    # Ground truth rebuilt from per-frame labels has no occlusion levels: every heavily occluded person
    # would count as a Reasonable miss (the shipped model's test MR read 56 % instead of 46 %).
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "test.json").write_text("{}")
    (tmp_path / "annotations" / "train.json").write_text("{}")
    cfg = DataConfig(kind="synthetic", root=str(tmp_path), train_list="train.txt", val_list="train.txt",
                     test_list="test.txt")
    assert train_data.test_annotations_path(cfg) == tmp_path / "annotations" / "test.json"
    assert train_data.val_annotations_path(cfg) == tmp_path / "annotations" / "train.json"
    (tmp_path / "annotations" / "test.json").unlink()
    assert train_data.test_annotations_path(cfg) is None  # then the dataset's own labels
    (tmp_path / "other.json").write_text("{}")
    explicit = DataConfig(kind="synthetic", root=str(tmp_path), test_list="test.txt", test_annotations="other.json")
    assert train_data.test_annotations_path(explicit) == tmp_path / "other.json"
    assert train_data.test_annotations_path(DataConfig(kind="synthetic", root=str(tmp_path))) is None
