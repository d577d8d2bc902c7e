"""docs/experiment.md from whatever runs have finished: world check, calibration, arms, statistics, curves."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lsi_perception.eval import load_annotations
from lsi_perception.train.engine import reasonable_setting
from lsi_perception.train.experiment.config import RunSpec
from lsi_perception.train.experiment.runner import (
    Experiment,
    calibration_and_first_seed,
    choose_delta,
    later_seeds,
)
from lsi_perception.train.experiment.scoring import INFO_ESTIMATOR, VARIANTS, load_detections
from lsi_perception.train.experiment.stats import DriveBootstrap, bootstrap_mr, compare, match_run

TIMES = ("all", "day", "night")
ARMS = ("delta0", "lsi", "dropout")


def _f(v: float, digits: int = 1) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _ms(values: list[float]) -> str:
    """mean +- sd over seeds (sd only with two or more)."""
    vals = [v for v in values if v == v]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.1f} (1 seed)"
    return f"{np.mean(vals):.1f} ± {np.std(vals, ddof=1):.1f}"


def arm_rows(results: dict[str, dict], delta: float | None) -> dict[str, list[dict]]:
    """Finished runs per arm (LSI: the chosen delta only), sorted by seed."""
    out: dict[str, list[dict]] = {a: [] for a in ARMS}
    for row in results.values():
        if row["arm"] in ("delta0", "dropout") or (row["arm"] == "lsi" and delta is not None
                                                    and abs(row["delta"] - delta) < 1e-12):
            out[row["arm"]].append(row)
    for rows in out.values():
        rows.sort(key=lambda r: r["seed"])
    return out


def _world_section(exp: Experiment) -> list[str]:
    path = exp.out / "contrast.json"
    if not path.is_file():
        return []
    stats = json.loads(path.read_text())
    lines = ["## The world: per-modality contrast (`lsi data stats`)", "",
             "Person-vs-background contrast |mean(body) - mean(surround)| / (std(surround) + noise), median "
             "[p25-p75] over annotated pedestrians (200 images per split); \"washed out\" = contrast < 0.5.", "",
             "| split | time | people | RGB | thermal | RGB washed out | thermal washed out | thermal stronger |",
             "|---|---|---|---|---|---|---|---|"]
    for split, summary in stats.items():
        for t in ("day", "night"):
            if t in summary:
                r = summary[t]
                lines.append(f"| {split} | {t} | {int(r['people'])} | {r['rgb_median']:.2f} [{r['rgb_p25']:.2f}-"
                             f"{r['rgb_p75']:.2f}] | {r['thermal_median']:.2f} [{r['thermal_p25']:.2f}-"
                             f"{r['thermal_p75']:.2f}] | {r['rgb_washed_out']:.0%} | {r['thermal_washed_out']:.0%} | "
                             f"{r['thermal_stronger']:.0%} |")
    return lines + [""]


def _calibration_section(results: dict[str, dict], s0: int) -> tuple[list[str], list[str]]:
    rows = {a: results.get(RunSpec(a, s0).name) for a in ("rgb_only", "thermal_only", "delta0")}
    lines = [f"## Calibration: does the world have the imbalance? (seed {s0})", "",
             "Same two-stream network and budget; a single-modality model gets its other input blanked (zeros) in "
             "training, validation and test. Reasonable MR (%), lower is better.", "",
             "| model | MR all | MR day | MR night | thermal blanked day (zeros / mean) | "
             "RGB blanked night (zeros / mean) |", "|---|---|---|---|---|---|"]
    for a, r in rows.items():
        if r is None:
            lines.append(f"| {a} | not run yet | | | | |")
            continue
        m = r["mr"]
        blank = (f"{_f(m['thermal_zero']['day'])} / {_f(m['thermal_mean']['day'])}" if a == "delta0" else "-")
        blank_n = (f"{_f(m['rgb_zero']['night'])} / {_f(m['rgb_mean']['night'])}" if a == "delta0" else "-")
        lines.append(f"| {a} | {_f(m['both']['all'])} | {_f(m['both']['day'])} | {_f(m['both']['night'])} | "
                     f"{blank} | {blank_n} |")
    findings = []
    rgb, th, d0 = rows["rgb_only"], rows["thermal_only"], rows["delta0"]
    if rgb and th:
        dd = rgb["mr"]["both"]["day"] - th["mr"]["both"]["day"]
        dn = th["mr"]["both"]["night"] - rgb["mr"]["both"]["night"]
        findings.append(f"- By day RGB-only is {'better' if dd < 0 else 'NOT better'} than thermal-only "
                        f"({_f(rgb['mr']['both']['day'])} vs {_f(th['mr']['both']['day'])} MR); at night thermal-only is "
                        f"{'better' if dn < 0 else 'NOT better'} ({_f(th['mr']['both']['night'])} vs "
                        f"{_f(rgb['mr']['both']['night'])}).")
    if d0:
        m = d0["mr"]
        findings.append(f"- delta = 0, trained on 90 % day: blanking thermal moves its day MR from {_f(m['both']['day'])} "
                        f"to {_f(m['thermal_zero']['day'])} (zeros) / {_f(m['thermal_mean']['day'])} (mean image); "
                        f"blanking RGB moves its night MR from {_f(m['both']['night'])} to {_f(m['rgb_zero']['night'])} / "
                        f"{_f(m['rgb_mean']['night'])}.")
        if th:
            findings.append(f"- Its night MR ({_f(m['both']['night'])}) vs the thermal-only model's "
                            f"({_f(th['mr']['both']['night'])}): {_f(m['both']['night'] - th['mr']['both']['night'])} points.")
    return lines + [""], findings


def _arms_section(arms: dict[str, list[dict]]) -> list[str]:
    lines = ["## Arms (test split, mean ± sd over seeds; Reasonable MR %)", "",
             "| arm | seeds | MR all | MR day | MR night | I_vis / I_th day | I_vis / I_th night |", "|---|---|---|---|---|---|---|"]
    for arm, rows in arms.items():
        if not rows:
            lines.append(f"| {arm} | none finished | | | | | |")
            continue
        cells = [_ms([r["mr"]["both"][t] for r in rows]) for t in TIMES]
        ratios = [_ms([r["information"].get(f"ratio_{t}", float("nan")) for r in rows]) for t in ("day", "night")]
        lines.append(f"| {arm} | {', '.join(str(r['seed']) for r in rows)} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    lines += ["", "Blanked modalities (mean ± sd over seeds): which input does each arm rely on?", "",
              "| arm | RGB zero day | RGB zero night | RGB mean night | thermal zero day | thermal mean day | "
              "thermal zero night |", "|---|---|---|---|---|---|---|"]
    for arm, rows in arms.items():
        if rows:
            keys = [("rgb_zero", "day"), ("rgb_zero", "night"), ("rgb_mean", "night"), ("thermal_zero", "day"),
                    ("thermal_mean", "day"), ("thermal_zero", "night")]
            lines.append(f"| {arm} | " + " | ".join(_ms([r["mr"][v][t] for r in rows]) for v, t in keys) + " |")
    return lines + [""]


def _comparisons(exp: Experiment, arms: dict[str, list[dict]]) -> tuple[list[str], list[str]]:
    ref = {r["seed"]: r for r in arms["delta0"]}
    ann = load_annotations(exp.cfg.split_root("test") / "annotations" / "train.json")
    boot = DriveBootstrap(ann, exp.cfg.bootstrap, seed=0)
    setting = reasonable_setting(exp.cfg.reasonable_min_height)
    cache: dict[str, object] = {}

    def matched(name: str):
        if name not in cache:
            cache[name] = match_run(ann, load_detections(exp.out / "detections" / f"{name}.npz", "both"), setting)
        return cache[name]

    lines = ["## Paired comparisons against delta = 0 (same seeds)", "",
             f"Difference = arm - delta0 in MR points (negative: arm better). Effect claimed only when every seed "
             f"has the same sign and |mean| exceeds the larger across-seed sd of the two arms. 95 % CI: bootstrap "
             f"over test drives ({exp.cfg.bootstrap} resamples, day and night drives resampled separately).", "",
             "| arm | metric | per-seed differences | mean | sd | seed spread | 95 % drive CI | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    findings = []
    for arm in ("lsi", "dropout"):
        pairs = [(r, ref[r["seed"]]) for r in arms[arm] if r["seed"] in ref]
        if len(pairs) < 2:
            lines.append(f"| {arm} | - | {len(pairs)} paired seed(s) finished: no comparison | | | | | |")
            continue
        for t in ("night", "day", "all"):
            a = [p[0]["mr"]["both"][t] for p in pairs]
            b = [p[1]["mr"]["both"][t] for p in pairs]
            ba = bootstrap_mr([matched(p[0]["name"]) for p in pairs], boot, t)
            bb = bootstrap_mr([matched(p[1]["name"]) for p in pairs], boot, t)
            c = compare(t, a, b, ba, bb)
            lines.append(f"| {arm} | MR {t} | {', '.join(f'{d:+.1f}' for d in c.diffs)} | {c.mean:+.1f} | {_f(c.sd)} | "
                         f"{_f(c.spread)} | [{c.ci[0]:+.1f}, {c.ci[1]:+.1f}] | {c.verdict()} |")
            if t == "night":
                findings.append(f"- {arm} vs delta = 0 on night MR (primary): {c.mean:+.1f} points "
                                f"(seeds {', '.join(f'{d:+.1f}' for d in c.diffs)}; drive CI [{c.ci[0]:+.1f}, "
                                f"{c.ci[1]:+.1f}]): {c.verdict() if c.effect else 'null result, no effect claimed'}.")
    return lines + [""], findings


def _curves(exp: Experiment, results: dict[str, dict], path: Path) -> bool:
    """Validation MR and training loss per step of every finished run -> PNG; False if nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    drawn = False
    for name, row in sorted(results.items()):
        run_dir = Path(row["run_dir"])
        hist = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()] \
            if (run_dir / "metrics.jsonl").is_file() else []
        if hist:
            ax1.plot([h["step"] for h in hist], [h.get("mr_reasonable_all", np.nan) for h in hist], label=name)
            drawn = True
        try:
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

            acc = EventAccumulator(str(run_dir / "tb"))
            acc.Reload()
            events = acc.Scalars("loss/total")
            ax2.plot([e.step for e in events], [e.value for e in events], label=name)
        except (KeyError, ImportError, OSError):
            pass
    ax1.set(xlabel="step", ylabel="val Reasonable MR all (%)", title="validation")
    ax2.set(xlabel="step", ylabel="training loss (total)", title="training")
    ax1.legend(fontsize=6)
    fig.tight_layout()
    if drawn:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
    plt.close(fig)
    return drawn


def write_report(exp: Experiment, note: str = "") -> Path:
    cfg = exp.cfg
    results = exp.results()
    delta, val = choose_delta(cfg, results)
    planned = calibration_and_first_seed(cfg) + later_seeds(cfg, delta if delta is not None else float("nan"))
    missing = [s.name for s in planned if s.name not in results]
    arms = arm_rows(results, delta)
    t = cfg.train
    seconds = sum(r.get("train_seconds", 0) + r.get("score_seconds", 0) for r in results.values())
    report = Path(cfg.report)
    curves = report.with_name(report.stem + "_curves.png")
    lines = ["# Modality imbalance: delta = 0 vs LSI vs modality dropout", "",
             "Does the LSI regularizer keep both modalities useful when the training data favour one of them? "
             "Synthetic RGB-T drives whose physics gives RGB the edge by day and thermal at night; training is "
             f"{cfg.train_data.day_fraction:.0%} day.", "",
             f"Reproduce: `make experiment` (`python -m lsi_perception.train.experiment --scale cpu`, config "
             f"`config/experiment_cpu.yaml`; `--scale gpu` for one GPU). Written by that command from "
             f"{len(results)} finished runs ({seconds / 60:.0f} min of run time, {cfg.scale_note}).", ""]
    if missing:
        lines += [f"**Not finished (missing from every table below): {', '.join(missing)}.**", ""]
    lines += ["## Setup", "",
              f"- Data, generated once at {cfg.train_data.width}x{cfg.train_data.height}: train {cfg.train_data.frames} "
              f"frames ({cfg.train_data.day_fraction:.0%} day, seed {cfg.train_data.seed}); val {cfg.val_data.frames} "
              f"({cfg.val_data.day_fraction:.0%} day, seed {cfg.val_data.seed}: best checkpoint and delta); test "
              f"{cfg.test_data.frames} frames in {cfg.test_data.frames // cfg.test_data.frames_per_drive} drives "
              f"({cfg.test_data.day_fraction:.0%} day, seed {cfg.test_data.seed}).",
              f"- Model {t.model.backbone} (random init), input {t.preprocess.input_size[1]}x{t.preprocess.input_size[0]}, "
              f"{t.runtime.max_steps} steps of batch {t.runtime.batch_size}, AdamW lr {t.optim.lr}; seeds "
              f"{list(cfg.seeds)}.",
              f"- Arms: delta0 (no regularizer); lsi (functional `{t.loss.lsi_functional}`, combination "
              f"`{t.loss.lsi_combine}`, delta chosen on val among {list(cfg.lsi_deltas)}: "
              + (", ".join(f"{d:g} -> val MR {v:.1f}" for d, v in val.items()) or "not yet")
              + (f"; chosen {delta:g}" if delta is not None else "") + f"); dropout (p = {cfg.dropout_p}: half the "
              "dropped samples lose RGB, half thermal).",
              f"- Metric: KAIST log-average MR over FPPI 1e-2..1, Reasonable (occlusion none/partial) with the "
              f"height floor scaled to the images: {cfg.reasonable_min_height} px (55 px at 512 rows).",
              f"- I_vis / I_th: Fisher information of each modality with a fixed estimator "
              f"({INFO_ESTIMATOR.lsi_functional} functional, top-{INFO_ESTIMATOR.lsi_topk}, one noise sample, noise "
              "seed 0) on the test images: descriptive only.", ""]
    lines += _world_section(exp)
    cal, cal_findings = _calibration_section(results, cfg.seeds[0])
    lines += cal + _arms_section(arms)
    comp, comp_findings = _comparisons(exp, arms)
    lines += comp
    if _curves(exp, results, curves):
        lines += ["## Training curves", "", f"![curves]({curves.name})", ""]
    lines += ["## What the numbers show", "", *cal_findings, *comp_findings]
    if note:
        lines += ["", note.strip()]
    lines += ["", "Per-run numbers (all variants, val metrics, timings): `" + str(exp.results_dir) + "/*.json`.", ""]
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines))
    return report


__all__ = ["write_report", "VARIANTS"]
