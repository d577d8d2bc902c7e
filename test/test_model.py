"""The two-stream network: shapes, the fusion split used by the LSI regularizer, gradients, init, weights."""
from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from lsi_perception.config import ModelConfig
from lsi_perception.model import build_model
from lsi_perception.model.pretrained import PretrainedWeightsError, init_backbones


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_model(ModelConfig()).eval()


def test_b0_shapes_at_kaist_size(net):
    rgb, th = torch.randn(1, 3, 512, 640), torch.randn(1, 1, 512, 640)
    with torch.inference_mode():
        vis, thf = net.extract_features(rgb, th)
        out = net.forward_fused(vis, thf)
    assert [tuple(f.shape) for f in vis] == [(1, 32, 128, 160), (1, 64, 64, 80), (1, 160, 32, 40), (1, 256, 16, 20)]
    assert [tuple(f.shape) for f in thf] == [tuple(f.shape) for f in vis]
    assert out["stride"] == net.stride == 4
    assert out["score_logits"].shape == (1, 1, 128, 160)
    assert out["iou_logits"].shape == (1, 1, 128, 160)
    assert out["box_ltrb"].shape == (1, 4, 128, 160)


def test_odd_size_is_padded_and_maps_cropped(net):
    rgb, th = torch.randn(2, 3, 100, 130), torch.randn(2, 1, 100, 130)
    with torch.inference_mode():
        out = net(rgb, th)
    assert out["score_logits"].shape == (2, 1, 25, 33)   # ceil(100 / 4), ceil(130 / 4)
    assert out["box_ltrb"].shape == (2, 4, 25, 33)
    assert torch.all(out["box_ltrb"] >= 0)


def test_forward_equals_fused_path_and_perturbing_one_modality_changes_output(net):
    torch.manual_seed(1)
    rgb, th = torch.randn(1, 3, 64, 96), torch.randn(1, 1, 64, 96)
    with torch.inference_mode():
        full = net(rgb, th)
        vis, thf = net.extract_features(rgb, th)
        split = net.forward_fused(vis, thf)
        noisy = net.forward_fused([v + 0.5 * torch.randn_like(v) for v in vis], thf)
    for key in ("score_logits", "iou_logits", "box_ltrb"):
        torch.testing.assert_close(full[key], split[key])
    assert not torch.allclose(noisy["score_logits"], split["score_logits"])


def test_initial_outputs_follow_the_priors(net):
    with torch.inference_mode():
        out = net(torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 64))
    score = torch.sigmoid(out["score_logits"])
    assert score.mean().item() == pytest.approx(0.01, rel=0.3)        # focal prior
    assert out["box_ltrb"].mean().item() == pytest.approx(8.0, rel=0.3)  # 2 strides per side


def test_gradients_reach_both_backbones_and_every_trainable_layer():
    torch.manual_seed(0)
    model = build_model(ModelConfig(fusion="gated", class_names=("person", "car", "bike"))).train()
    out = model(torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64, 64))
    assert out["score_logits"].shape == (2, 3, 16, 16)
    (out["score_logits"].sum() + out["iou_logits"].sum() + out["box_ltrb"].mean()).backward()
    for name in ("rgb_backbone", "thermal_backbone"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None for g in grads), f"{name} has parameters without gradient"
        assert sum(g.abs().sum().item() for g in grads) > 0
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient (would break DDP): {missing[:5]}"


@pytest.mark.parametrize("stride, size", [(8, (8, 8)), (16, (4, 4))])
def test_coarser_output_strides(stride, size):
    model = build_model(ModelConfig(output_stride=stride)).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 64))
    assert out["score_logits"].shape[-2:] == size and out["stride"] == stride


def test_bad_inputs_are_rejected(net):
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        net(torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="share"):
        net(torch.randn(1, 3, 64, 64), torch.randn(1, 1, 64, 96))
    with pytest.raises(ValueError, match="backbone"):
        build_model(ModelConfig(backbone="resnet50"))


def test_local_pretrained_file_loads_and_thermal_stem_sums_rgb_kernels(tmp_path):
    """Pretrained weights from a local file (no download); the 1-channel stem = sum of the RGB kernels."""
    torch.manual_seed(3)
    donor = timm.create_model("pvt_v2_b0", pretrained=False)
    path = tmp_path / "pvt_v2_b0_imagenet.safetensors"
    save_file({k: v.contiguous() for k, v in donor.state_dict().items()}, str(path))
    net = build_model(ModelConfig(pretrained_path=str(path)))
    assert "ImageNet" in init_backbones(net, ModelConfig(pretrained_path=str(path)))
    rgb, thermal = net.rgb_backbone, net.thermal_backbone
    stem = donor.patch_embed.proj.weight
    torch.testing.assert_close(rgb.body.patch_embed.proj.weight, stem)
    torch.testing.assert_close(thermal.body.patch_embed.proj.weight, stem.sum(dim=1, keepdim=True))
    deep = "stages_3.blocks.1.attn.q.weight"
    for stream in (rgb, thermal):
        torch.testing.assert_close(dict(stream.body.named_parameters())[deep],
                                   donor.state_dict()[deep.replace("_", ".", 1)])
    with pytest.raises(PretrainedWeightsError, match="pretrained_path"):
        init_backbones(net, ModelConfig(pretrained_path=str(tmp_path / "missing.pth")))


def test_b0_parameter_count_is_small():
    model = build_model(ModelConfig())
    n = sum(p.numel() for p in model.parameters())
    assert 5e6 < n < 9e6, n  # two b0 streams (~3.4 M each) + light fusion/neck/heads
