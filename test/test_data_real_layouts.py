"""Every dataset read from a root laid out as its real download (fixtures in test/real_layouts.py): the labels
in their own formats, the counts ``lsi data check`` reports, and each broken case it refuses with the fix."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from real_layouts import (
    TRAIN_VIDEOS,
    real_test_frames,
    write_flir,
    write_kaist_download,
    write_kaist_paired,
    write_llvip,
    write_utokyo,
)

from lsi_perception.cli import main as lsi_main
from lsi_perception.data import FlirAlignedDataset, KaistDataset, LLVIPDataset, UTokyoDataset
from lsi_perception.data.coverage import label_coverage
from lsi_perception.data.kaist_labels import detect_format, resolve_labels
from lsi_perception.eval.settings import SETTINGS_BY_NAME
from lsi_perception.train.config import load_train_config
from lsi_perception.train.data import annotations_from_dataset, build_dataset
from lsi_perception.train.splits import holdout_blocks

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def kaist(tmp_path_factory) -> Path:
    return write_kaist_download(tmp_path_factory.mktemp("kaist-cvpr15"))


def _check(dataset: str, root: Path, *overrides: str) -> tuple[int, str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = lsi_main(["data", "check", "--dataset", dataset, str(root), *overrides])
    return rc, out.getvalue()


def test_kaist_xml_download_with_occlusion_levels(kaist: Path) -> None:
    assert detect_format(kaist / "annotations-xml-new-sanitized") == "xml"
    assert resolve_labels(kaist, "auto").kind == "xml"  # the download's own folder is found
    ds = KaistDataset(kaist, "train-all-02.txt", annotation_source="annotations-xml-new-sanitized", missing_labels="skip")
    assert len(ds) == 3 * len(TRAIN_VIDEOS) and ds.names[0] == "set00/V000/I00000"  # CRLF list read
    cov = label_coverage(ds)
    n = len(ds)
    assert (cov.positives, cov.ignored, cov.frames_with_people) == (n, n, n)
    assert cov.occlusion == {"none": n // 3, "partial": n // 3, "heavy": n // 3}
    sample = ds[0]
    assert sample["occlusion"].tolist() == [0, 0] and sample["ignore"].tolist() == [False, True]
    # Occlusion reaches the evaluator: heavy pedestrians are out of the Reasonable setting in validation too.
    cfg = load_train_config(REPO / "config" / "train_kaist.yaml", [f"data.root={kaist}", "data.holdout_videos=0.3"])
    ann = annotations_from_dataset(build_dataset(cfg.data, "val", ("person",), None))
    heavy = ann.gt_occlusion == 2
    assert heavy.any() and (ann.gt_occlusion == 1).any()
    assert not SETTINGS_BY_NAME["reasonable"].gt_in_scope(ann.gt_height, ann.gt_occlusion)[heavy].any()


def test_kaist_data_check_counts_and_refusals(kaist: Path, tmp_path: Path) -> None:
    rc, out = _check("kaist", kaist)
    assert rc == 0, out
    assert "xml labels in" in out and "occlusion: none" in out and "[test] test-all-20.txt" in out
    assert f"{len(real_test_frames())} frames" in out and "no problem found" in out
    # Zero boxes: class names that match no label.
    rc, out = _check("kaist", kaist, "model.class_names=[pedestrian]")
    assert rc == 1 and "no pedestrian box" in out and "model.class_names" in out
    # A modality half-read: the lwir frames were not unpacked.
    broken = tmp_path / "no_lwir"
    shutil.copytree(kaist, broken)
    for folder in broken.glob("images/set*/V*/lwir"):
        shutil.rmtree(folder)
    rc, out = _check("kaist", broken)
    assert rc == 1 and "a modality is missing" in out and "no thermal image" in out
    # A list that matches no file.
    (broken / "imageSets" / "other.txt").write_text("set42/V000/I00000\nset42/V000/I00001\n")
    rc, out = _check("kaist", kaist, f"data.train_list={broken / 'imageSets' / 'other.txt'}")
    assert rc == 1 and "matches no file" in out
    # The label folder named by the recipe does not exist: named, with the folder the download has.
    rc2 = lsi_main(["data", "check", "--dataset", "kaist", str(kaist), "data.train_annotations=annotations-xml-nope"])
    assert rc2 == 2


def test_kaist_paired_layout_is_detected_and_never_half_read(kaist: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "paired"
    shutil.copytree(kaist, root)
    shutil.rmtree(root / "annotations-xml-new-sanitized")
    names = [line for line in (root / "imageSets" / "train-all-02.txt").read_text().split() if line]
    write_kaist_paired(root, names)
    assert detect_format(root / "annotations") == "paired"
    with pytest.raises(ValueError, match="KAIST-Paired"):
        KaistDataset(root, "train-all-02.txt", annotation_source="bbgt")
    for spec in ("paired", "annotations", "auto"):
        ds = KaistDataset(root, "train-all-02.txt", annotation_source=spec, paired_target="mean", missing_labels="skip")
        assert ds.labels.kind == "paired" and len(ds) == len(names)
    assert ds[0]["boxes"][0, 0] == pytest.approx(ds.labels.modality_objects(names[0], "visible")[0].box[0] + 2.0)
    rc, out = _check("kaist", root, "data.train_annotations=annotations")
    counts = re.search(r"boxes read per modality: visible (\d+), lwir (\d+)", out)
    assert rc == 0 and counts and counts.group(1) == counts.group(2) != "0"
    # Half of the paired release unpacked: the lwir files are missing.
    for folder in (root / "annotations").glob("set*/V*/lwir"):
        shutil.rmtree(folder)
    rc, out = _check("kaist", root, "data.train_annotations=paired")
    assert rc == 1 and "for one modality only" in out and "none of the 18 training frames has a label file" in out


def test_utokyo_label_sources_time_tags_and_generated_split(tmp_path: Path) -> None:
    root = write_utokyo(tmp_path / "ir_det_dataset")
    fir = UTokyoDataset(root)  # FIR YOLO labels by default
    assert len(fir) == 8 and fir.label_kind == "fir"
    s = fir[0]
    assert s["rgb"].shape == (60, 80, 3) and s["thermal"].shape == (60, 80) and len(s["boxes"]) == 1  # car dropped
    conv = UTokyoDataset(root, label_source="voc_converted")
    c = conv[0]
    assert c["rgb"].shape == (32, 40, 3)  # ConvertedImages: the frame Annotations_Converted is in
    np.testing.assert_allclose(c["boxes"][0] * [2, 60 / 32, 2, 60 / 32], s["boxes"][0], atol=1.5)
    assert [conv.time_of_day(i) for i in range(2)] == ["day", "night"]
    shutil.rmtree(root / "ConvertedImages")  # converted labels on the original images: scaled from <size>
    scaled = UTokyoDataset(root, label_source="voc_converted")
    assert scaled[0]["rgb"].shape == (60, 80, 3)
    np.testing.assert_allclose(scaled[0]["boxes"][0], s["boxes"][0], atol=1.5)
    with pytest.raises(FileNotFoundError, match="data.label_source"):
        UTokyoDataset(root, label_source="rgb")
    split = holdout_blocks(fir.names, 0.3, seed=0, block=2)
    assert split == holdout_blocks(list(reversed(fir.names)), 0.3, seed=0, block=2) and 0 < len(split) < 8
    rc, out = _check("utokyo", root, "data.holdout_block=2")
    assert rc == 0 and "[val]" in out and "frames by time of day: day 3, night 3" in out
    rc, out = _check("utokyo", root, "data.holdout_block=2", "model.class_names=[cyclist]")
    assert rc == 1 and "no pedestrian box" in out


def test_llvip_and_flir_downloads(tmp_path: Path) -> None:
    llvip = write_llvip(tmp_path / "LLVIP")
    (llvip / "infrared" / "train" / "010008.jpg").unlink()  # one missing partner
    train, test = LLVIPDataset(llvip, "train"), LLVIPDataset(llvip, "test")
    assert (len(train), len(test)) == (7, 3) and train.missing_pairs == ["010008"]
    assert train[0]["boxes"].shape == (1, 4) and train.time_of_day(0) == "unknown"
    rc, out = _check("llvip", llvip, "data.holdout_block=2")
    assert rc == 0 and "no thermal image: 1" in out and "[test] test" in out
    flir = write_flir(tmp_path / "FLIR_aligned")
    ds = FlirAlignedDataset(flir, "align_train.txt")
    assert len(ds) == 8 and ds.names[0] == "FLIR_00001"
    assert ds[0]["labels"].tolist() == [0]  # car and dog are not pedestrians
    assert label_coverage(FlirAlignedDataset(flir, "align_train.txt", ("person", "car"))).per_class == {"person": 8, "car": 8}
    rc, out = _check("flir", flir, "data.holdout_block=2")
    assert rc == 0 and "[test] align_validation.txt" in out
    rc, out = _check("flir", flir, "data.holdout_block=2", "data.train_list=align_validation.txt",
                     "data.test_list=null", "model.class_names=[dog_walker]")
    assert rc == 1 and "no pedestrian box" in out


def test_gt_export_for_ap(tmp_path: Path, capsys) -> None:
    llvip = write_llvip(tmp_path / "LLVIP")
    out = tmp_path / "llvip_test.json"
    assert lsi_main(["data", "gt", "--dataset", "llvip", str(llvip), "--split", "test", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [i["im_name"] for i in doc["images"]] == ["190001", "190002", "190003"] and len(doc["annotations"]) == 3
