"""docs/experiment_regime.md from whatever runs have finished: profile, diagnostics, arms, paired differences, time.

Everything is regenerated on each write except the hand-written reading between ``READING_START`` and
``READING_END``, which is carried over from the existing report.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lsi_perception.data.synthetic import WorldPhysics
from lsi_perception.eval.slices import REST, slice_views
from lsi_perception.train.engine import reasonable_setting
from lsi_perception.train.experiment.report import _f, _ms
from lsi_perception.train.experiment.scoring import INFO_ESTIMATOR, load_detections
from lsi_perception.train.experiment.stats import DriveBootstrap, bootstrap_mr, compare, match_run
from lsi_perception.train.regime.config import CANDIDATE_ARMS, LATE_FUSION, RegimeConfig, RegimeRun
from lsi_perception.train.regime.diagnostics import RGB_ONLY, seed_checks, slice_mr
from lsi_perception.train.regime.runner import RegimeExperiment, choose
from lsi_perception.train.regime.scoring import test_annotations

READING_START = "<!-- reading:start (written by hand; make experiment-regime keeps everything up to reading:end) -->"
READING_END = "<!-- reading:end -->"
READING_PLACEHOLDER = "## Reading (written by hand)\n\nNot written yet: the runs above are what was measured so far."
ARM_TITLES = {"delta0": "delta = 0", "lsi": "LSI, balance form", "lsi_gat": "LSI, Gat et al.'s form",
              "dropout": "modality dropout", "ogm_ge": "OGM-GE", "aux": "unimodal heads",
              LATE_FUSION: "late fusion (RGB-only + thermal-only boxes)"}
COMPARED = ("lsi", "lsi_gat", "dropout", "ogm_ge", "aux", LATE_FUSION)
METRICS = (("slice", "RGB-only slice (primary)"), ("all", "MR all"), ("day", "MR day"), ("night", "MR night"))


def kept_reading(path: Path) -> str:
    """The hand-written section of an existing report (markers included), else the placeholder."""
    if path.is_file():
        text = path.read_text()
        start, end = text.find(READING_START), text.find(READING_END)
        if start >= 0 and end > start:
            return text[start:end + len(READING_END)]
    return f"{READING_START}\n{READING_PLACEHOLDER}\n{READING_END}"


def metric(row: dict, key: str, variant: str = "both") -> float:
    """The value of one reported metric: "slice" (RGB-only slice, day), "rest" (all), or all / day / night."""
    if key == "slice":
        return slice_mr(row, variant)
    if key == "rest":
        return slice_mr(row, variant, REST, "all")
    return float(row["mr"].get(variant, {}).get(key, float("nan")))


def arm_rows(exp: RegimeExperiment, results: dict[str, dict]) -> dict[str, list[dict]]:
    """Finished runs per arm at its chosen candidate, sorted by seed."""
    cfg = exp.cfg
    chosen = {arm: choose(cfg, arm, results)[0] for arm in CANDIDATE_ARMS}
    names: dict[str, list[str]] = {"delta0": [RegimeRun("delta0", s).name for s in cfg.seeds],
                                   "dropout": [RegimeRun("dropout", s, cfg.dropout_p).name for s in cfg.seeds],
                                   LATE_FUSION: [RegimeRun(LATE_FUSION, s).name for s in cfg.seeds]}
    for arm, run in chosen.items():
        names[arm] = [] if run is None else [RegimeRun(run.arm, s, run.value, run.variant).name for s in cfg.seeds]
    out = {}
    for arm in ("delta0", "lsi", "lsi_gat", "dropout", "ogm_ge", "aux", LATE_FUSION):
        out[arm] = [results[n] for n in names[arm] if n in results]
    return out


# ---------------------------------------------------------------------------------------------- sections


def _profile_section(cfg: RegimeConfig, counts: dict[str, dict[str, int]]) -> list[str]:
    default, phys = WorldPhysics(), cfg.train_data.physics
    changed = [(k, getattr(default, k), getattr(phys, k)) for k in default.__dataclass_fields__
               if getattr(default, k) != getattr(phys, k)]
    lines = ["## The profile (declared before any arm ran: `config/experiment_regime_cpu.yaml`)", "",
             "The current synthetic world (`data/synthetic*.py`) with these changes, the same in every split:", "",
             "| physics field | current world | this profile |", "|---|---|---|"]
    lines += [f"| `{k}` | {a} | {b} |" for k, a, b in changed]
    lines += ["", "and the RGB-only slice: by day, each pedestrian independently (from a random stream of its own) "
              "has no thermal signature with probability `rgb_only_fraction` (behind glass, which is opaque in "
              "LWIR; heat-insulating clothing; thermal crossover): it is drawn, with its shadow, in RGB only and "
              "annotated `\"slice\": \"rgb_only\"`.", "",
              "| split | frames | day | seed | `rgb_only_fraction` (of day people) | annotated pedestrians | "
              "in the RGB-only slice |", "|---|---|---|---|---|---|---|"]
    for split, syn in (("train", cfg.train_data), ("val", cfg.val_data), ("test", cfg.test_data)):
        c = counts.get(split, {})
        share = f"{c['slice']} ({c['slice'] / max(c['people'], 1):.1%})" if c else "not generated yet"
        lines.append(f"| {split} | {syn.frames} ({syn.frames // syn.frames_per_drive} drives) | "
                     f"{syn.day_fraction:.0%} | {syn.seed} | {syn.rgb_only_fraction:g} | {c.get('people', '-')} | {share} |")
    if cfg.profile_notes:
        lines += ["", "How the profile came to be:", "", *(f"- {note}" for note in cfg.profile_notes)]
    t, r = cfg.train, cfg.rule
    lines += ["", f"- Model {t.model.backbone} (random init), input {t.preprocess.input_size[1]}x"
              f"{t.preprocess.input_size[0]}, {t.runtime.max_steps} steps of batch {t.runtime.batch_size}, AdamW lr "
              f"{t.optim.lr}, repulsion weight {t.loss.repulsion_weight:g}; seeds {list(cfg.seeds)}; the same budget "
              "for every arm.",
              f"- Metric: KAIST log-average MR over FPPI 1e-2..1, Reasonable with the height floor scaled to the "
              f"images ({cfg.reasonable_min_height} px). **Primary: MR on the RGB-only slice** (the other pedestrians "
              "become ignore regions; day images, where the slice lives). Secondary: MR all, day, night.",
              "- **Neglect rule** (delta = 0 neglects RGB when all three hold in every seed):",
              f"  1. a probe (fresh fusion + neck + heads, {cfg.probe_steps} steps, thermal blank, on frozen backbones) "
              f"on delta = 0's backbones detects at least {r.probe_gap:g} MR points worse by day than the same probe "
              "on the RGB-only model's backbones (the fused model with thermal blanked is reported beside it);",
              f"  2. replacing RGB by the mean training image raises delta = 0's MR on the rest of the test set "
              f"(pedestrians outside the slice) by at most {r.rgb_blank_max:g} points;",
              f"  3. delta = 0's MR on the RGB-only slice is at least {r.slice_gap:g} points above the RGB-only model's.",
              "- Arms (only on a profile where the rule finds neglect): delta = 0; LSI, paper's balance form "
              f"(`imbalance`, delta among {list(cfg.lsi_deltas)}); LSI, Gat et al.'s form (`gat`, delta among "
              f"{list(cfg.gat_deltas)}); modality dropout (p = {cfg.dropout_p}); OGM-GE (alpha among "
              f"{list(cfg.ogm_alphas)}); unimodal heads ({' or '.join(cfg.aux_variants)}); late fusion of the "
              f"RGB-only and thermal-only models (IoU {cfg.late_fusion_iou}, no training). Each candidate is chosen "
              f"on validation MR (all) at seed {cfg.seeds[0]}.",
              f"- I_vis / I_th: Fisher information with a fixed estimator ({INFO_ESTIMATOR.lsi_functional} "
              f"functional, top-{INFO_ESTIMATOR.lsi_topk}) on the test images: descriptive only.", ""]
    return lines


def _world_section(exp: RegimeExperiment) -> list[str]:
    path = exp.out / "contrast.json"
    if not path.is_file():
        return []
    stats = json.loads(path.read_text())
    lines = ["## The world: per-modality contrast (`lsi data stats`)", "",
             "|mean(body) - mean(surround)| / (std(surround) + noise), median [p25-p75], 200 images per split; "
             "\"washed out\" = contrast < 0.5. The slice's thermal figure is the statistic's floor here: nothing "
             "of the person is drawn in thermal.", "",
             "| split | group | people | RGB | thermal | RGB washed out | thermal washed out |",
             "|---|---|---|---|---|---|---|"]
    for split, summary in stats.items():
        for group in ("day", f"day {RGB_ONLY}", "night"):
            if group in summary:
                r = summary[group]
                lines.append(f"| {split} | {group.replace(' ', ', ')} | {int(r['people'])} | {r['rgb_median']:.2f} "
                             f"[{r['rgb_p25']:.2f}-{r['rgb_p75']:.2f}] | {r['thermal_median']:.2f} "
                             f"[{r['thermal_p25']:.2f}-{r['thermal_p75']:.2f}] | {r['rgb_washed_out']:.0%} | "
                             f"{r['thermal_washed_out']:.0%} |")
    return lines + [""]


def _diagnostics_section(exp: RegimeExperiment, results: dict[str, dict]) -> tuple[list[str], list[str]]:
    cfg = exp.cfg
    lines = ["## Diagnostics (every seed)", "",
             "Test MR (%), lower is better. Single-modality models see the other input blank in training and test; "
             "the probes are scored with thermal blank.", "",
             "| seed | model | MR all | MR day | MR night | RGB-only slice | rest | thermal blanked, day (zeros / mean) "
             "| RGB blanked, rest (zeros / mean) |", "|---|---|---|---|---|---|---|---|---|"]
    models = ("rgb_only", "thermal_only", "delta0", "probe_rgb_only", "probe_fused", LATE_FUSION)
    for s in cfg.seeds:
        for arm in models:
            row = results.get(RegimeRun(arm, s).name)
            if row is None:
                lines.append(f"| {s} | {arm} | not run yet | | | | | | |")
                continue
            th_blank = rgb_blank = "-"
            if arm == "delta0":
                th_blank = f"{_f(metric(row, 'day', 'thermal_zero'))} / {_f(metric(row, 'day', 'thermal_mean'))}"
                rgb_blank = f"{_f(metric(row, 'rest', 'rgb_zero'))} / {_f(metric(row, 'rest', 'rgb_mean'))}"
            lines.append(f"| {s} | {arm} | " + " | ".join(_f(metric(row, k)) for k in ("all", "day", "night", "slice",
                                                                                     "rest"))
                         + f" | {th_blank} | {rgb_blank} |")
    r = cfg.rule
    lines += ["", "The three checks (MR points; pass marks in brackets):", "",
              f"| seed | (1) probe on delta0 - probe on rgb_only, day [>= {r.probe_gap:g}] | delta0 thermal blanked - "
              f"rgb_only, day (better blank) | (2) delta0 rest, RGB mean image - both [<= {r.rgb_blank_max:g}] | "
              f"same, RGB zeros | (3) delta0 - rgb_only on the slice [>= {r.slice_gap:g}] | neglects RGB |",
              "|---|---|---|---|---|---|---|"]
    findings = []
    verdict = exp.verdict(results)
    for s in cfg.seeds:
        c = seed_checks(results, s, cfg.rule)
        if c is None:
            lines.append(f"| {s} | not all diagnostics run yet | | | | | |")
            continue
        mark = ["pass" if p else "FAIL" for p in c.passes]
        lines.append(f"| {s} | {c.probe_gap:+.1f} ({mark[0]}) | {c.blank_gap:+.1f} | {c.rgb_blank_change:+.1f} "
                     f"({mark[1]}) | {c.rgb_zero_change:+.1f} | {c.slice_gap:+.1f} ({mark[2]}) | "
                     f"{'yes' if c.neglects else 'no'} |")
    if verdict is None:
        findings.append("- Diagnostics not finished: no verdict yet, no remedy run.")
    elif verdict:
        findings.append("- By the declared rule, delta = 0 **neglects RGB** in every seed: the remedies ran.")
    else:
        failed = [str(s) for s in cfg.seeds if not seed_checks(results, s, cfg.rule).neglects]  # type: ignore[union-attr]
        findings.append(f"- By the declared rule, delta = 0 does **not** neglect RGB (seed(s) {', '.join(failed)} fail "
                        "a check)" + (": the remedies ran anyway (run_arms_without_neglect)."
                                      if cfg.run_arms_without_neglect else ": no remedy was run on this profile."))
    return lines + [""], findings


def _arms_section(exp: RegimeExperiment, arms: dict[str, list[dict]], results: dict[str, dict]) -> list[str]:
    cfg = exp.cfg
    lines = ["## Arms (test, mean ± sd over seeds; MR %)", "",
             "| arm | setting | seeds | RGB-only slice (primary) | MR all | MR day | MR night | rest | I_vis / I_th day "
             "| I_vis / I_th night |", "|---|---|---|---|---|---|---|---|---|---|"]
    for arm, rows in arms.items():
        setting = _setting(cfg, arm, rows)
        if not rows:
            lines.append(f"| {ARM_TITLES[arm]} | {setting} | none finished | | | | | | | |")
            continue
        cells = [_ms([metric(r, k) for r in rows]) for k in ("slice", "all", "day", "night", "rest")]
        ratios = [_ms([r.get("information", {}).get(f"ratio_{t}", float("nan")) for r in rows]) for t in ("day", "night")]
        lines.append(f"| {ARM_TITLES[arm]} | {setting} | {', '.join(str(r['seed']) for r in rows)} | "
                     + " | ".join(cells + ratios) + " |")
    choices = []
    for arm in CANDIDATE_ARMS:
        val = choose(cfg, arm, results)[1]
        if val:
            choices.append(", ".join(f"{n.rsplit('_s', 1)[0]} {v:.1f}" for n, v in val.items()))
    lines += ["", f"Validation choices (seed {cfg.seeds[0]}, val MR all): {'; '.join(choices) or 'none yet'}.", ""]
    return lines


def _setting(cfg: RegimeConfig, arm: str, rows: list[dict]) -> str:
    if arm in ("lsi", "lsi_gat"):
        return f"delta {rows[0]['value']:g}" if rows else "delta not chosen yet"
    if arm == "ogm_ge":
        return f"alpha {rows[0]['value']:g}" if rows else "alpha not chosen yet"
    if arm == "aux":
        return rows[0]["variant"] if rows else "not chosen yet"
    if arm == "dropout":
        return f"p {cfg.dropout_p:g}"
    return "-"


def _comparisons(exp: RegimeExperiment, arms: dict[str, list[dict]]) -> tuple[list[str], list[str]]:
    cfg = exp.cfg
    ann, labels = test_annotations(cfg.split_root("test"))
    views = {"slice": slice_views(ann, labels)[RGB_ONLY]}
    boot = DriveBootstrap(ann, cfg.bootstrap, seed=0)
    setting = reasonable_setting(cfg.reasonable_min_height)
    cache: dict[tuple[str, str], object] = {}

    def matched(name: str, key: str):
        if (name, key) not in cache:
            dets = load_detections(exp.out / "detections" / f"{name}.npz", "both")
            cache[(name, key)] = match_run(views.get(key, ann), dets, setting)
        return cache[(name, key)]

    ref = {r["seed"]: r for r in arms["delta0"]}
    lines = ["## Paired differences against delta = 0 (same seeds)", "",
             "Difference = arm - delta0 in MR points (negative: arm better). Effect claimed only when every seed has "
             "the same sign and |mean| exceeds the larger across-seed sd of the two arms (the existing experiment's "
             f"rule). 95 % CI: bootstrap over test drives ({cfg.bootstrap} resamples, day and night drives resampled "
             "separately); the slice's figures use day drives.", "",
             "| arm | metric | per-seed differences | mean | sd | seed spread | 95 % drive CI | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    findings = []
    for arm in COMPARED:
        pairs = [(r, ref[r["seed"]]) for r in arms[arm] if r["seed"] in ref]
        if len(pairs) < 2:
            lines.append(f"| {ARM_TITLES[arm]} | - | {len(pairs)} paired seed(s) finished: no comparison | | | | | |")
            continue
        for key, title in METRICS:
            time = "day" if key == "slice" else key
            a, b = [metric(p[0], key) for p in pairs], [metric(p[1], key) for p in pairs]
            ba = bootstrap_mr([matched(p[0]["name"], key) for p in pairs], boot, time)
            bb = bootstrap_mr([matched(p[1]["name"], key) for p in pairs], boot, time)
            c = compare(key, a, b, ba, bb)
            lines.append(f"| {ARM_TITLES[arm]} | {title} | {', '.join(f'{d:+.1f}' for d in c.diffs)} | {c.mean:+.1f} | "
                         f"{_f(c.sd)} | {_f(c.spread)} | [{c.ci[0]:+.1f}, {c.ci[1]:+.1f}] | {c.verdict()} |")
            if key == "slice":
                findings.append(f"- {ARM_TITLES[arm]} vs delta = 0 on the RGB-only slice (primary): {c.mean:+.1f} "
                                f"points (seeds {', '.join(f'{d:+.1f}' for d in c.diffs)}; drive CI [{c.ci[0]:+.1f}, "
                                f"{c.ci[1]:+.1f}]): {c.verdict() if c.effect else 'no effect claimed'}.")
    return lines + [""], findings


def _time_section(exp: RegimeExperiment, results: dict[str, dict]) -> list[str]:
    if not results:
        return []
    rows = list(results.values())
    cpu = sum(r.get("cpu_seconds", 0.0) for r in rows)
    wall = sum(r.get("train_seconds", 0.0) + r.get("score_seconds", 0.0) for r in rows)
    starts, ends = [r["started"] for r in rows if "started" in r], [r["finished"] for r in rows if "finished" in r]
    span = (max(ends) - min(starts)) if starts and ends else float("nan")
    kinds: dict[str, list[dict]] = {}
    for r in rows:
        kinds.setdefault(r["arm"], []).append(r)
    jobs = exp.cfg.jobs
    lines = ["## Time", "",
             f"{len(rows)} runs: {cpu / 60:.0f} min of CPU time in all (each run's process and its data-loading "
             f"workers), {wall / 60:.0f} min of run wall time, {jobs} run(s) at a time; first start to last "
             f"finish {span / 60:.0f} min (wall, on a machine shared with other jobs; includes any pause between "
             f"invocations). On {exp.cfg.scale_note} that nothing else uses, CPU time / {jobs} is the "
             f"estimate: {cpu / 60 / jobs:.0f} min, plus data generation.", "",
             "| run kind | runs | CPU s per run (mean) | wall s per run (mean) | wall / CPU |", "|---|---|---|---|---|"]
    for kind, rs in sorted(kinds.items()):
        c = float(np.mean([r.get("cpu_seconds", math.nan) for r in rs]))
        w = float(np.mean([r.get("train_seconds", 0.0) + r.get("score_seconds", 0.0) for r in rs]))
        lines.append(f"| {kind} | {len(rs)} | {c:.0f} | {w:.0f} | {w / c if c else math.nan:.2f} |")
    return lines + [""]


def split_counts(cfg: RegimeConfig) -> dict[str, dict[str, int]]:
    """Annotated (non-ignored) pedestrians and how many are in the RGB-only slice, per generated split."""
    out = {}
    for split in ("train", "val", "test"):
        path = cfg.split_root(split) / "annotations" / "train.json"
        if path.is_file():
            anns = [a for a in json.loads(path.read_text())["annotations"] if not a.get("ignore", 0)]
            out[split] = {"people": len(anns), "slice": sum(a.get("slice") == RGB_ONLY for a in anns)}
    return out


def write_report(exp: RegimeExperiment) -> Path:
    cfg = exp.cfg
    results = exp.results()
    report = Path(cfg.report)
    reading = kept_reading(report)
    missing = exp.missing()
    lines = ["# Modality neglect: does LSI help a fused model that neglects a useful modality?", "",
             "The existing experiment (docs/experiment.md) found no model that neglects a modality. This one builds "
             "the regime the paper's claim is about (KAIST-like: thermal is the easy cue by day and by night; a "
             "slice of people visible in RGB only, rare in training and a large, separately scored part of the "
             "test set), checks that a fused model trained without a regularizer does neglect RGB there, and only "
             "then compares the remedies.", "",
             "Reproduce: `make experiment-regime` (`python -m lsi_perception.train.regime --scale cpu`, config "
             "`config/experiment_regime_cpu.yaml`; `--scale gpu` for one GPU: not run here, no GPU was lent). "
             f"Written by that command from {len(results)} finished runs.", ""]
    if missing:
        lines += [f"**Not finished (missing from the tables below): {', '.join(missing)}.**", ""]
    lines += _profile_section(cfg, split_counts(cfg))
    lines += _world_section(exp)
    diag, diag_findings = _diagnostics_section(exp, results)
    lines += diag
    arms = arm_rows(exp, results)
    comp_findings: list[str] = []
    if exp.verdict(results) or any(arms[a] for a in COMPARED if a != LATE_FUSION):
        lines += _arms_section(exp, arms, results)
        comp, comp_findings = _comparisons(exp, arms)
        lines += comp
    lines += _time_section(exp, results)
    lines += ["## What the numbers show (generated)", "", *diag_findings, *comp_findings, "", reading, "",
              f"Per-run numbers (every input variant, slices, val metrics, timings): `{exp.results_dir}/*.json`.", ""]
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines))
    return report


__all__ = ["write_report", "kept_reading", "READING_START", "READING_END"]
