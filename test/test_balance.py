"""The modality-balancing remedies: OGM-GE and MMPareto arithmetic, their objectives' gradients, a resumable run."""
from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
from test_train import TINY_SYNTHETIC, tiny_overrides

from lsi_perception.config import ModelConfig
from lsi_perception.data.synthetic import generate_dataset
from lsi_perception.losses.balance import ge_noise, min_norm_weight, mmpareto_combine, ogm_coefficients
from lsi_perception.losses.config import LossConfig
from lsi_perception.losses.criterion import build_criterion
from lsi_perception.model import build_model
from lsi_perception.train.config import BalanceConfig, load_train_config
from lsi_perception.train.engine import TrainingObjective
from lsi_perception.train.ogm_ge import OGMGEObjective, contribution_score
from lsi_perception.train.trainer import STATE_FILE, Trainer
from lsi_perception.train.unimodal_heads import UnimodalHeadsObjective

TINY_MODEL = ModelConfig(neck_channels=32, head_channels=32, head_convs=1, allow_download=False)


def test_ogm_coefficients_slow_only_the_leading_modality() -> None:
    k_vis, k_th, rho = ogm_coefficients(0.6, 0.3, alpha=0.5)
    assert rho == pytest.approx(2.0) and k_vis == pytest.approx(1 - math.tanh(1.0)) and k_th == 1.0
    k_vis, k_th, rho = ogm_coefficients(0.2, 0.8, alpha=0.5)
    assert k_vis == 1.0 and k_th == pytest.approx(1 - math.tanh(2.0)) and rho == pytest.approx(0.25)
    assert ogm_coefficients(0.0, 0.5, 1.0)[:2] == (1.0, 1.0)
    g = torch.randn(400, 50, generator=torch.Generator().manual_seed(0)) * 3
    assert float(ge_noise(g).std()) == pytest.approx(float(g.std()), rel=0.05)


def test_mmpareto_sums_agreeing_gradients_and_finds_a_common_direction_for_conflicting_ones() -> None:
    g1, g2 = [torch.tensor([1.0, 0.0]), torch.tensor([2.0])], [torch.tensor([0.5, 0.5]), torch.tensor([1.0])]
    out, info = mmpareto_combine(g1, g2, gamma=1.5)
    assert info["w_mm"] == 0.5 and all(torch.allclose(o, 1.5 * (a + b)) for o, a, b in zip(out, g1, g2))
    a, b = [torch.tensor([1.0, 0.0])], [torch.tensor([-0.5, 1.0])]  # cosine < 0
    out, info = mmpareto_combine(a, b, gamma=1.0)
    assert info["cos"] < 0 and 0 < info["w_mm"] < 1
    assert float(out[0] @ a[0]) >= -1e-6 and float(out[0] @ b[0]) >= -1e-6  # no objective made worse
    assert float(out[0].norm()) >= float((a[0] + b[0]).norm()) - 1e-6  # magnitude kept up to the plain sum's
    assert min_norm_weight([torch.tensor([1.0, 0.0])], [torch.tensor([0.0, 1.0])]) == pytest.approx(0.5)
    assert min_norm_weight([torch.tensor([1.0])], [torch.tensor([0.0])]) == pytest.approx(0.0)


def test_contribution_score_is_the_mean_probability_of_the_right_answer() -> None:
    logits = torch.full((1, 1, 2, 2), -10.0)
    logits[0, 0, 0, 0] = 10.0
    target = torch.zeros(1, 1, 4)
    target[0, 0, 0] = 1.0
    assert contribution_score(logits, target, torch.ones(1, 4)) == pytest.approx(1.0, abs=1e-4)
    assert contribution_score(-logits, target, torch.ones(1, 4)) == pytest.approx(0.0, abs=1e-4)


def _batch():
    gen = torch.Generator().manual_seed(3)
    rgb, th = torch.randn(2, 3, 32, 64, generator=gen), torch.randn(2, 1, 32, 64, generator=gen)
    targets = [{"boxes": torch.tensor([[10.0, 2.0, 20.0, 30.0]]), "labels": torch.tensor([0])},
               {"boxes": torch.tensor([[30.0, 4.0, 40.0, 28.0]]), "labels": torch.tensor([0])}]
    return rgb, th, targets


def _grads(objective, scaler=None) -> dict[str, torch.Tensor]:
    rgb, th, targets = _batch()
    objective.zero_grad(set_to_none=True)
    losses, stats = objective(rgb, th, targets)
    objective.backward(losses, scaler or torch.amp.GradScaler("cpu", enabled=False))
    objective.last_stats = stats
    return {n: p.grad.clone() for n, p in objective.named_parameters() if p.grad is not None}


def test_ogm_ge_scales_the_leading_backbones_gradients_and_nothing_else() -> None:
    torch.manual_seed(0)
    net = build_model(TINY_MODEL)
    criterion = build_criterion(LossConfig(delta=0.0), 1, net.stride)
    plain = _grads(TrainingObjective(copy.deepcopy(net), criterion, None, 0.0))
    ogm = OGMGEObjective(copy.deepcopy(net), criterion, None, 0.0, BalanceConfig("ogm_ge", alpha=1.0, ge_noise=False))
    modulated = _grads(ogm)
    stats = ogm.last_stats
    k = {"rgb_backbone": stats["ogm_k_vis"], "thermal_backbone": stats["ogm_k_th"]}
    assert min(k.values()) < 1.0 == max(k.values()) and math.isfinite(stats["ogm_rho"])
    for name, g in plain.items():
        part = name.split(".")[1]
        scale = k.get(part, 1.0) if g.ndim >= 2 else 1.0  # norms and biases are not modulated
        assert torch.allclose(modulated[name], scale * g, atol=1e-6, rtol=1e-4), name


def test_unimodal_heads_gradients_sum_or_mmpareto() -> None:
    torch.manual_seed(0)
    net = build_model(TINY_MODEL)
    criterion = build_criterion(LossConfig(delta=0.0), 1, net.stride)
    fused_only = _grads(TrainingObjective(copy.deepcopy(net), criterion, None, 0.0))
    torch.manual_seed(1)
    heads = UnimodalHeadsObjective(copy.deepcopy(net), criterion, None, 0.0, BalanceConfig("unimodal_heads"), TINY_MODEL)
    summed = _grads(heads)
    heads.combine = "mmpareto"
    pareto = _grads(heads)
    assert any(n.startswith("heads.rgb.") for n in summed) and any(n.startswith("heads.thermal.") for n in summed)
    for name, g in fused_only.items():
        if ".fusion." in name or ".neck." in name or ".head." in name:  # the fused path: fused loss only
            assert torch.allclose(summed[name], g, atol=1e-6) and torch.allclose(pareto[name], g, atol=1e-6), name
    for name in summed:
        if name.startswith("heads."):  # the aux heads: their own loss, either way
            assert torch.allclose(summed[name], pareto[name], atol=1e-6), name
    enc = [n for n in summed if "_backbone." in n]
    assert enc and any(not torch.allclose(summed[n], pareto[n]) for n in enc)
    assert {"pareto_cos_rgb", "pareto_cos_thermal"} <= set(heads(*_batch())[1])
    assert heads.auxiliary is heads.heads and not any(k.startswith("heads.") for k in heads.net.state_dict())


@pytest.mark.slow
def test_a_run_with_unimodal_heads_keeps_them_in_the_train_state_and_resumes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    generate_dataset(root, TINY_SYNTHETIC)
    extra = {"runtime.max_steps": 3, "runtime.epochs": 10, "runtime.stop_at_step": 2,
             "balance.method": "unimodal_heads", "balance.aux_combine": "mmpareto"}
    cfg = load_train_config(None, tiny_overrides(root, tmp_path / "runs", **extra))
    Trainer(cfg, command="pytest").fit()
    state = torch.load(cfg.run_dir / STATE_FILE, weights_only=True)
    assert state["step"] == 2 and any(k.startswith("rgb.") for k in state["auxiliary"])
    cfg = load_train_config(None, tiny_overrides(root, tmp_path / "runs", **{**extra, "runtime.stop_at_step": "null"}))
    trainer = Trainer(cfg, command="pytest")
    trainer.fit(resume=cfg.run_dir)
    assert trainer.state.step == 3
    with pytest.raises(ValueError, match="DDP"):
        from lsi_perception.train.objectives import build_objective

        build_objective(cfg, build_model(TINY_MODEL), build_criterion(cfg.loss, 1, 4), None, distributed=True)
