"""``lsi predict`` on folders laid out as KAIST / LLVIP / FLIR-aligned downloads and on two videos, written by
the tests: the node's pipeline, the results files read back by ``lsi eval``, skipped pairs, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lsi_perception.cli import main as lsi_main
from lsi_perception.eval import load_annotations, load_results
from lsi_perception.inference import Detector
from lsi_perception.pipeline.processor import PairProcessor
from lsi_perception.predict.runner import run_predict
from lsi_perception.predict.sources import pair_folders
from lsi_perception.predict.writers import ResultsWriter
from lsi_perception.testing import make_random_checkpoint, synthetic_pair

H, W = 96, 120


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "rand.safetensors")


def _pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rgb, thermal = synthetic_pair(H, W, seed=seed)
    return rgb, thermal


def _write(path: Path, image: np.ndarray, gray3: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif gray3:
        image = cv2.merge([image] * 3)  # KAIST stores lwir frames as 3-channel grayscale JPEGs
    assert cv2.imwrite(str(path), image)


def kaist_images(root: Path) -> list[str]:
    names = ["set06/V000/I00019", "set06/V000/I00039", "set09/V000/I00019"]
    for i, name in enumerate(names):
        video, frame = name.rsplit("/", 1)
        rgb, thermal = _pair(i)
        _write(root / "images" / video / "visible" / f"{frame}.jpg", rgb)
        _write(root / "images" / video / "lwir" / f"{frame}.jpg", thermal, gray3=True)
    return names


def kaist_annotations(path: Path, names: list[str]) -> Path:
    images = [{"id": i, "im_name": n, "width": W, "height": H} for i, n in enumerate(names)]
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [20, 10, 16, 40], "height": 40, "occlusion": 0,
             "ignore": 0} for i in range(len(names))]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return path


def test_kaist_layout_results_are_read_back_by_lsi_eval(checkpoint, tmp_path, capsys):
    names = kaist_images(tmp_path / "kaist")
    ann = kaist_annotations(tmp_path / "gt.json", names)
    out = tmp_path / "pred"
    images = str(tmp_path / "kaist" / "images")
    rc = lsi_main(["predict", "--rgb", images, "--thermal", images, "--naming", "kaist", "--annotations", str(ann),
                   "--out", str(out), "--checkpoint", str(checkpoint), "--device", "cpu"])
    assert rc == 0
    assert "3 of 3 pairs detected" in capsys.readouterr().out
    # The same Detector + PairProcessor, pair by pair, gives what the files hold.
    detector = Detector.from_checkpoint(checkpoint, device="cpu")
    expected = {}
    for name in names:
        video, frame = name.rsplit("/", 1)
        rgb = cv2.cvtColor(cv2.imread(images + f"/{video}/visible/{frame}.jpg"), cv2.COLOR_BGR2RGB)
        thermal = cv2.imread(images + f"/{video}/lwir/{frame}.jpg", cv2.IMREAD_UNCHANGED)[..., 0]
        expected[name] = detector.predict(rgb, thermal)
    gt = load_annotations(ann)
    txt, coco = load_results(out / "results.txt", gt), load_results(out / "results.json", gt)
    for name, dets in expected.items():
        i = gt.index_of(name)
        assert len(txt.get(i, [])) == len(dets) > 0
        np.testing.assert_allclose(txt[i][:, :4], dets.to_xywh(), atol=1e-3)
        np.testing.assert_allclose(coco[i][:, 4], dets.scores, atol=1e-6)
    assert sorted(p.relative_to(out / "overlays").as_posix() for p in (out / "overlays").rglob("*.jpg")) == \
        sorted(f"{n}.jpg" for n in names)
    # lsi eval reads both files back.
    for results in ("results.txt", "results.json"):
        assert lsi_main(["eval", "--annotations", str(ann), "--results", str(out / results), "--json", "-"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert 0.0 <= doc["results"][Path(results).stem]["all"]["all"] <= 100.0  # 40 px: the All setting
    assert lsi_main(["eval", "--metric", "ap", "--annotations", str(ann), "--results", str(out / "results.json"),
                     "--json", "-"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["ap"]["results"]["all"]["ap50"] <= 100.0


def test_llvip_and_flir_naming_and_the_image_index(checkpoint, tmp_path):
    llvip = tmp_path / "LLVIP"
    for i in range(2):
        rgb, thermal = _pair(10 + i)
        _write(llvip / "visible" / "test" / f"19000{i}.jpg", rgb)
        _write(llvip / "infrared" / "test" / f"19000{i}.jpg", thermal, gray3=True)
    _write(llvip / "visible" / "test" / "190009.jpg", _pair(3)[0])  # no infrared partner
    flir = tmp_path / "FLIR_aligned" / "JPEGImages"
    rgb, thermal = _pair(20)
    _write(flir / "FLIR_08865_RGB.jpg", rgb)
    _write(flir / "FLIR_08865_PreviewData.jpeg", thermal)
    found = pair_folders(llvip / "visible" / "test", llvip / "infrared" / "test", "{name}.{ext}", "{name}.{ext}")
    assert [k for k, _, _ in found.pairs] == ["190000", "190001"] and len(found.rgb_without_partner) == 1
    found_flir = pair_folders(flir, flir, "{name}_RGB.{ext}", "{name}_PreviewData.{ext}")
    assert [k for k, _, _ in found_flir.pairs] == ["FLIR_08865"] and found_flir.thermal_unmatched == 0
    detector = Detector.from_checkpoint(checkpoint, device="cpu")
    out = tmp_path / "out"
    summary = run_predict(found, PairProcessor(detector), [ResultsWriter(out, detector.class_names)], progress=False)
    assert (summary.pairs, summary.detected) == (2, 2)
    index = load_annotations(out / "images.json")
    assert index.im_names == ("190000", "190001") and tuple(index.image_sizes[0]) == (W, H)
    assert set(load_results(out / "results.txt", index)) == {0, 1}
    with pytest.raises(ValueError, match="no RGB file"):
        pair_folders(flir, flir, "{name}.{ext}", "{name}_IR.{ext}")


def test_videos_are_paired_by_frame_index(checkpoint, tmp_path, capsys):
    paths = {}
    for modality in ("rgb", "thermal"):
        path = tmp_path / f"{modality}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
        assert writer.isOpened()
        for i in range(3):
            rgb, thermal = _pair(30 + i)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if modality == "rgb" else cv2.merge([thermal] * 3))
        writer.release()
        paths[modality] = path
    out = tmp_path / "out"
    assert lsi_main(["predict", "--rgb", str(paths["rgb"]), "--thermal", str(paths["thermal"]), "--out", str(out),
                     "--checkpoint", str(checkpoint), "--device", "cpu", "--no-overlays"]) == 0
    assert "3 of 3 pairs detected" in capsys.readouterr().out
    assert load_annotations(out / "images.json").im_names == ("frame_000000", "frame_000001", "frame_000002")
    assert not (out / "overlays").exists()


def test_bad_pairs_are_skipped_and_bad_arguments_named(checkpoint, tmp_path, capsys):
    root = tmp_path / "pairs"
    rgb, thermal = _pair(40)
    _write(root / "rgb" / "a.png", rgb)
    _write(root / "thermal" / "a.png", thermal)
    _write(root / "rgb" / "b.png", rgb)
    _write(root / "thermal" / "b.png", np.full((H, W), 7, np.uint8))  # closed shutter: constant frame
    (root / "rgb" / "c.png").write_bytes(b"not an image")
    _write(root / "thermal" / "c.png", thermal)
    common = ["--checkpoint", str(checkpoint), "--device", "cpu", "--out", str(tmp_path / "out")]
    assert lsi_main(["predict", "--rgb", str(root / "rgb"), "--thermal", str(root / "thermal"), *common]) == 0
    out = capsys.readouterr().out
    assert "1 of 3 pairs detected" in out and "skipped 2 pairs" in out and "decode: 2" in out
    assert lsi_main(["predict", "--rgb", str(root / "rgb"), "--thermal", str(tmp_path / "nowhere"), *common]) == 2
    assert "does not exist" in capsys.readouterr().err
    wrong = kaist_annotations(tmp_path / "gt.json", ["set06/V000/I00019"])
    assert lsi_main(["predict", "--rgb", str(root / "rgb"), "--thermal", str(root / "thermal"), "--annotations",
                     str(wrong), *common]) == 2
    assert "matches no image of the annotation file" in capsys.readouterr().err
