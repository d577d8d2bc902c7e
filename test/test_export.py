"""ONNX export (``lsi export``): onnxruntime on CPU matches PyTorch, before and after the same NMS."""
from __future__ import annotations

import json

import onnx
import pytest

from lsi_perception.checkpoint import META_KEY, read_checkpoint_meta
from lsi_perception.cli import main as lsi_main
from lsi_perception.onnx_export import onnx_parity
from lsi_perception.testing import make_random_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    ckpt = make_random_checkpoint(root / "random.safetensors")
    out = root / "random.onnx"
    assert lsi_main(["export", str(ckpt), "--onnx", str(out)]) == 0
    return ckpt, out


def test_onnx_matches_pytorch_at_the_trace_size(exported):
    ckpt, out = exported
    diff = onnx_parity(out, ckpt, 128, 160)
    assert diff["detections"] > 0
    assert diff["dense_scores"] < 1e-4 and diff["dense_boxes"] < 1e-2
    assert diff["det_scores"] < 1e-4 and diff["det_boxes"] < 1e-2


def test_onnx_batch_and_size_are_dynamic(exported):
    ckpt, out = exported
    diff = onnx_parity(out, ckpt, 96, 224, batch=2)  # letterboxed to 69x160, padded to 96x160
    assert diff["detections"] > 0
    assert diff["det_scores"] < 1e-4 and diff["det_boxes"] < 1e-2


def test_onnx_carries_the_checkpoint_metadata(exported):
    ckpt, out = exported
    props = {p.key: p.value for p in onnx.load(str(out), load_external_data=False).metadata_props}
    assert json.loads(props[META_KEY]) == json.loads(read_checkpoint_meta(ckpt).to_json())
    assert "no NMS" in props["lsi_perception.outputs"]


def test_export_rejects_sizes_that_are_not_multiples_of_32(exported, tmp_path):
    ckpt, _ = exported
    assert lsi_main(["export", str(ckpt), "--onnx", str(tmp_path / "x.onnx"), "--height", "100"]) == 2


def test_default_trace_size_is_the_checkpoint_input_padded_like_the_detector(exported):
    from dataclasses import replace

    from lsi_perception.onnx_export import export_size

    meta = read_checkpoint_meta(exported[0])
    odd = replace(meta, preprocess=replace(meta.preprocess, input_size=(192, 240)))
    assert export_size(odd) == (192, 256)
    assert export_size(odd, height=224, width=320) == (224, 320)
    with pytest.raises(ValueError, match="multiple of 32"):
        export_size(odd, height=100)
