"""The neglect-regime experiment: its config, the neglect rule, the plan's gate, the report, a tiny real run."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from lsi_perception.config import load_yaml_config
from lsi_perception.resources import share_dir
from lsi_perception.train.regime import RegimeConfig, RegimeRun
from lsi_perception.train.regime.config import NeglectRule
from lsi_perception.train.regime.diagnostics import neglect_verdict, seed_checks
from lsi_perception.train.regime.report import READING_END, READING_START, write_report
from lsi_perception.train.regime.runner import RegimeExperiment, choose

VARIANTS = ("both", "rgb_zero", "rgb_mean", "thermal_zero", "thermal_mean")


def _cfg(tmp_path: Path, **changes) -> RegimeConfig:
    cfg = load_yaml_config(RegimeConfig, share_dir() / "config" / "experiment_regime_cpu.yaml")
    return replace(cfg, data_root=str(tmp_path / "data"), out_dir=str(tmp_path / "runs"),
                   report=str(tmp_path / "report.md"), **changes)


def test_every_arm_is_the_base_config_with_only_its_own_change(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    base = cfg.run_config(RegimeRun("delta0", 0))
    runs = {"lsi": RegimeRun("lsi", 0, 0.3), "gat": RegimeRun("lsi_gat", 0, 3e-5), "drop": RegimeRun("dropout", 0, 0.2),
            "ogm": RegimeRun("ogm_ge", 0, 1.0), "aux": RegimeRun("aux", 0, variant="mmpareto"),
            "rgb": RegimeRun("rgb_only", 0)}
    c = {k: cfg.run_config(r) for k, r in runs.items()}
    assert (c["lsi"].loss.delta, c["lsi"].loss.lsi_combine) == (0.3, "imbalance")
    assert (c["gat"].loss.delta, c["gat"].loss.lsi_combine) == (3e-5, "gat")
    assert c["drop"].data.augment.modality_dropout == 0.2 and base.data.augment.modality_dropout == 0.0
    assert (c["ogm"].balance.method, c["ogm"].balance.alpha) == ("ogm_ge", 1.0)
    assert (c["aux"].balance.method, c["aux"].balance.aux_combine) == ("unimodal_heads", "mmpareto")
    assert c["rgb"].data.augment.modality == "rgb" and base.balance.method == "none" and base.loss.delta == 0.0
    for k, t in c.items():  # same model, optimizer, budget and data for everyone
        assert (t.model, t.optim, t.runtime.max_steps, t.data.root) == (base.model, base.optim, base.runtime.max_steps,
                                                                         base.data.root), k
    assert len({t.name for t in c.values()} | {base.name}) == len(c) + 1
    assert cfg.train_data.rgb_only_fraction < 0.1 < cfg.test_data.rgb_only_fraction  # rare in training
    assert cfg.test_data.frames // cfg.test_data.frames_per_drive >= 40
    load_yaml_config(RegimeConfig, share_dir() / "config" / "experiment_regime_gpu.yaml").validate()


def _row(name: str, mr: float, slice_mr: float, rest: float, val: float = 50.0, **variants: float) -> dict:
    """A result row: MR ``mr`` everywhere, RGB-only slice ``slice_mr``, rest ``rest``; ``variants`` override
    a blanked variant's MR (the same value in every subset)."""
    def table(v: float) -> dict:
        return {"all": v, "day": v, "night": v}
    arm, seed = name.rsplit("_s", 1)
    return {"name": name, "arm": arm, "seed": int(seed), "value": 0.0, "variant": "", "val_metrics": {"mr_reasonable_all": val},
            "mr": {v: table(variants.get(v, mr)) for v in VARIANTS},
            "slices": {"rgb_only": {v: table(variants.get(v, slice_mr)) for v in VARIANTS},
                       "rest": {v: table(variants.get(v, rest)) for v in VARIANTS}},
            "information": {}, "train_seconds": 10.0, "score_seconds": 1.0, "cpu_seconds": 9.0,
            "started": 0.0, "finished": 11.0}


def _diagnostics(seeds, rgb_blank: float) -> dict[str, dict]:
    rows = {}
    for s in seeds:
        for row in (_row(f"delta0_s{s}", 40, 85, 30, rgb_mean=30 + rgb_blank, thermal_mean=95, thermal_zero=92),
                    _row(f"rgb_only_s{s}", 60, 50, 62), _row(f"thermal_only_s{s}", 50, 95, 35),
                    _row(f"probe_fused_s{s}", 75, 70, 76), _row(f"probe_rgb_only_s{s}", 58, 52, 60),
                    _row(f"late_fusion_s{s}", 38, 55, 33)):
            rows[row["name"]] = row
    return rows


def test_the_rule_needs_all_three_checks_in_every_seed() -> None:
    rule = NeglectRule()
    results = _diagnostics((0, 1), rgb_blank=2.0)
    c = seed_checks(results, 0, rule)
    assert c is not None and c.passes == (True, True, True)
    assert (c.probe_gap, c.slice_gap, c.rgb_blank_change) == (17, 35, 2)
    assert neglect_verdict(results, (0, 1), rule) is True
    results["delta0_s1"] = _row("delta0_s1", 40, 85, 30, rgb_mean=38)  # seed 1 uses RGB on the rest
    assert neglect_verdict(results, (0, 1), rule) is False
    del results["probe_fused_s1"]
    assert neglect_verdict(results, (0, 1), rule) is None


def test_remedies_are_planned_only_after_the_rule_finds_neglect(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, seeds=(0, 1))
    exp = RegimeExperiment(cfg, "pytest")
    arms = lambda results: {r.arm for r in exp.all_runs(results)}  # noqa: E731
    assert arms({}) == {"delta0", "rgb_only", "thermal_only", "probe_fused", "probe_rgb_only", "late_fusion"}
    assert "lsi" not in arms(_diagnostics((0, 1), rgb_blank=9.0))  # no neglect: no remedy
    results = _diagnostics((0, 1), rgb_blank=2.0)
    planned = [r.name for r in exp.all_runs(results)]
    assert {"lsi_d0.1_s0", "lsi_d0.3_s0", "ogm_ge_a0.3_s0", "aux_mmpareto_s0", "dropout_s1"} <= set(planned)
    assert not any(n.startswith("lsi_d") and n.endswith("_s1") for n in planned)  # not chosen yet
    results["lsi_d0.1_s0"] = _row("lsi_d0.1_s0", 40, 80, 30, val=45.0)
    results["lsi_d0.3_s0"] = _row("lsi_d0.3_s0", 40, 80, 30, val=41.0)
    assert choose(cfg, "lsi", results)[0].name == "lsi_d0.3_s0"
    assert "lsi_d0.3_s1" in [r.name for r in exp.all_runs(results)]
    assert exp.plan() == [r for r in exp.all_runs({}) if r.arm in ("rgb_only", "thermal_only", "delta0")]
    forced = RegimeExperiment(replace(cfg, run_arms_without_neglect=True), "pytest")
    assert "lsi" in {r.arm for r in forced.all_runs(_diagnostics((0, 1), rgb_blank=9.0))}


def test_the_report_says_what_failed_and_keeps_the_hand_written_reading(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, seeds=(0, 1))
    exp = RegimeExperiment(cfg, "pytest")
    exp.results_dir.mkdir(parents=True)
    for name, row in _diagnostics((0, 1), rgb_blank=9.0).items():
        (exp.results_dir / f"{name}.json").write_text(json.dumps(row))
    path = write_report(exp)
    text = path.read_text()
    assert "does **not** neglect RGB" in text and "+9.0 (FAIL)" in text and "no remedy was run" in text
    assert "How the profile came to be" in text and "person_day_delta_k" in text
    mine = f"{READING_START}\n## Reading (written by hand)\n\nThe world did not produce the failure.\n{READING_END}"
    path.write_text(text.replace(text[text.index(READING_START):text.index(READING_END) + len(READING_END)], mine))
    assert mine in write_report(exp).read_text()


@pytest.mark.slow
def test_a_tiny_real_run_of_the_diagnostics(tmp_path: Path) -> None:
    """Splits, three trainings, two probes and the late fusion at toy size, in one process; then the report."""
    raw = yaml.safe_load((share_dir() / "config" / "experiment_regime_cpu.yaml").read_text())
    raw.update(data_root=str(tmp_path / "data"), out_dir=str(tmp_path / "runs"), report=str(tmp_path / "r.md"),
               seeds=[0], jobs=1, probe_steps=2, bootstrap=10, mean_image_count=4, reasonable_min_height=6.0)
    for split, frames, per_drive in (("train_data", 8, 4), ("val_data", 4, 2), ("test_data", 80, 2)):
        raw[split].update(frames=frames, frames_per_drive=per_drive, height=48, width=64)
    raw["train"]["preprocess"]["input_size"] = [48, 64]
    raw["train"]["runtime"].update(max_steps=2, batch_size=4, workers=0, checkpoint_every=0, log_every=1)
    path = tmp_path / "regime.yaml"
    path.write_text(yaml.safe_dump(raw))
    from lsi_perception.train.regime import main

    assert main(["--config", str(path)]) == 0
    results = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "runs" / "results").glob("*.json")}
    assert set(results) == {"delta0_s0", "rgb_only_s0", "thermal_only_s0", "probe_fused_s0", "probe_rgb_only_s0",
                            "late_fusion_s0"}
    assert {"rgb_only", "rest"} <= set(results["delta0_s0"]["slices"])
    assert all(r["cpu_seconds"] > 0 for k, r in results.items() if k != "late_fusion_s0")
    text = (tmp_path / "r.md").read_text()
    assert "## Diagnostics" in text and READING_START in text
