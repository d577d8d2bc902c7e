"""Checkpoints: one safetensors file, metadata round trip, identical outputs, clear errors."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file

from lsi_perception.checkpoint import (
    CheckpointMeta,
    build_model_from_checkpoint,
    collect_provenance,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from lsi_perception.config import InferenceConfig, ModelConfig, PreprocessConfig, ThermalPolicy
from lsi_perception.model import build_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    cfg = ModelConfig(class_names=("person", "car"), fusion="gated")
    net = build_model(cfg).eval()
    with torch.no_grad():  # make the weights differ from any fresh init
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    meta = CheckpointMeta(
        model=cfg,
        preprocess=PreprocessConfig(input_size=(256, 320), thermal=ThermalPolicy(mode="linear", low=2e4, high=3e4)),
        inference=InferenceConfig(score_threshold=0.2),
        provenance=collect_provenance(dataset="synthetic", epochs=3, metrics={"mr_all": 12.5}),
    )
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.safetensors", net, meta)
    return path, net, meta


def test_round_trip_gives_identical_outputs(saved):
    path, net, _ = saved
    loaded, _ = build_model_from_checkpoint(path)
    rgb, th = torch.randn(1, 3, 64, 96), torch.randn(1, 1, 64, 96)
    with torch.inference_mode():
        a, b = net(rgb, th), loaded(rgb, th)
    for key in ("score_logits", "iou_logits", "box_ltrb"):
        assert torch.equal(a[key], b[key])


def test_metadata_round_trip_without_loading_tensors(saved):
    path, _, meta = saved
    got = read_checkpoint_meta(path)
    assert got == meta
    assert got.class_names == ("person", "car")
    assert got.preprocess.input_size == (256, 320)
    assert got.preprocess.thermal.mode == "linear"
    assert got.provenance["metrics"] == {"mr_all": 12.5}
    assert "git_commit" in got.provenance and "created" in got.provenance


def test_save_is_one_file_and_leaves_no_temp_files(saved):
    path, _, _ = saved
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.safetensors"]


def test_half_precision_checkpoint_loads_into_fp32_model(tmp_path, saved):
    _, net, meta = saved
    path = save_checkpoint(tmp_path / "half.safetensors", net, meta, dtype=torch.float16)
    state, _ = load_checkpoint(path)
    assert state["head.score_out.weight"].dtype == torch.float16
    loaded, _ = build_model_from_checkpoint(path)
    assert loaded.head.score_out.weight.dtype == torch.float32
    torch.testing.assert_close(loaded.head.score_out.weight, net.head.score_out.weight, atol=1e-3, rtol=1e-3)


def test_wrapper_prefixes_are_stripped(tmp_path, saved):
    _, net, meta = saved
    ddp_style = {f"module._orig_mod.{k}": v for k, v in net.state_dict().items()}
    path = save_checkpoint(tmp_path / "ddp.safetensors", ddp_style, meta)
    state, _ = load_checkpoint(path)
    assert set(state) == set(net.state_dict())


def test_wrong_shapes_are_named(tmp_path, saved):
    _, net, meta = saved
    wrong = replace(meta, model=replace(meta.model, class_names=("person", "car", "bike")))
    path = save_checkpoint(tmp_path / "wrong.safetensors", net, wrong)
    with pytest.raises(ValueError, match=r"(?s)shape mismatch.*head\.score_out\.weight: checkpoint \(2, 64, 3, 3\) vs model \(3, 64, 3, 3\)"):
        build_model_from_checkpoint(path)


def test_missing_and_foreign_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_checkpoint_meta(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"definitely not a safetensors file")
    with pytest.raises(ValueError, match="not a safetensors checkpoint"):
        load_checkpoint(junk)
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))
    with pytest.raises(ValueError, match="without lsi_perception metadata"):
        read_checkpoint_meta(bare)


def test_newer_format_version_is_refused():
    text = CheckpointMeta(format_version=99).to_json()
    with pytest.raises(ValueError, match="newer"):
        CheckpointMeta.from_json(text)
