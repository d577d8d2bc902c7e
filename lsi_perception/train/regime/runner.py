"""The regime experiment's loop: splits once, diagnostics for every seed, then (if RGB is neglected) the arms.

Resumable like the existing experiment: a finished run leaves ``<out_dir>/results/<run>.json`` (and its
test detections) and is skipped on a rerun; an interrupted training resumes from its last checkpoint.
``jobs`` runs train at once in worker processes (``threads`` torch threads each); every run records its
wall time and the CPU time of its process and the data-loading workers it started, so a budget can be
read off a shared machine too. Order: delta0 / rgb_only / thermal_only for every seed, the probes and the
late fusion as their sources finish; once every seed's diagnostics are in and the rule finds neglect
(or ``run_arms_without_neglect``), each arm's validation candidates at seeds[0], dropout for every seed,
and the chosen candidates at the later seeds.
"""
from __future__ import annotations

import dataclasses
import json
import resource
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context, set_start_method
from pathlib import Path

import torch

from lsi_perception.cpu_threads import torch_threads
from lsi_perception.train.experiment.runner import prepare_outputs
from lsi_perception.train.probe import train_probe
from lsi_perception.train.regime.config import (
    CANDIDATE_ARMS,
    DIAGNOSTIC_ARMS,
    LATE_FUSION,
    PROBES,
    RegimeConfig,
    RegimeRun,
)
from lsi_perception.train.regime.diagnostics import neglect_verdict, slice_mr
from lsi_perception.train.regime.scoring import score_late_fusion, score_regime_run
from lsi_perception.train.trainer import STATE_FILE, Trainer


def choose(cfg: RegimeConfig, arm: str, results: dict[str, dict]) -> tuple[RegimeRun | None, dict[str, float]]:
    """The candidate of ``arm`` with the lowest validation MR (all) at seeds[0]; None until all have run."""
    candidates = cfg.candidates(arm)
    val: dict[str, float] = {}
    for run in candidates:
        row = results.get(run.name)
        if row is None:
            return None, val
        val[run.name] = float(row["val_metrics"].get("mr_reasonable_all", float("nan")))
    finite = [r for r in candidates if val[r.name] == val[r.name]]
    return (min(finite, key=lambda r: val[r.name]) if finite else candidates[0]), val


def at_seed(run: RegimeRun, seed: int) -> RegimeRun:
    return RegimeRun(run.arm, seed, run.value, run.variant)


def dependencies(run: RegimeRun) -> list[str]:
    """Runs whose results this one reads (probes: the run whose backbones; late fusion: both single models)."""
    if run.arm in PROBES:
        return [RegimeRun(PROBES[run.arm], run.seed).name]
    if run.arm == LATE_FUSION:
        return [RegimeRun("rgb_only", run.seed).name, RegimeRun("thermal_only", run.seed).name]
    return []


def _cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class RegimeExperiment:
    """``RegimeExperiment(cfg, command).run(max_runs=None, on_result=None)``; the report reads ``results()``."""

    def __init__(self, cfg: RegimeConfig, command: str) -> None:
        cfg.validate()
        self.cfg, self.command = cfg, command
        self.out = Path(cfg.out_dir)
        self.results_dir = self.out / "results"

    def results(self) -> dict[str, dict]:
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.results_dir.glob("*.json"))}

    # ------------------------------------------------------------------ planning
    def verdict(self, results: dict[str, dict] | None = None) -> bool | None:
        return neglect_verdict(self.results() if results is None else results, self.cfg.seeds, self.cfg.rule)

    def all_runs(self, results: dict[str, dict]) -> list[RegimeRun]:
        """Every run the experiment wants given what has finished (later seeds only once chosen)."""
        cfg = self.cfg
        runs = [RegimeRun(a, s) for s in cfg.seeds for a in DIAGNOSTIC_ARMS]
        runs += [RegimeRun(p, s) for s in cfg.seeds for p in (*PROBES, LATE_FUSION)]
        verdict = self.verdict(results)
        if verdict or (verdict is not None and cfg.run_arms_without_neglect):
            for arm in CANDIDATE_ARMS:
                runs += cfg.candidates(arm)
            runs += [RegimeRun("dropout", s, cfg.dropout_p) for s in cfg.seeds]
            for arm in CANDIDATE_ARMS:
                chosen, _ = choose(cfg, arm, results)
                if chosen is not None:
                    runs += [at_seed(chosen, s) for s in cfg.seeds[1:]]
        return runs

    def plan(self, busy: set[str] = frozenset()) -> list[RegimeRun]:  # type: ignore[assignment]
        """Runs that can start now: not finished, not in flight, their sources finished."""
        done = self.results()
        return [r for r in self.all_runs(done) if r.name not in done and r.name not in busy
                and all(d in done for d in dependencies(r))]

    def missing(self) -> list[str]:
        done = self.results()
        return [r.name for r in self.all_runs(done) if r.name not in done]

    # ------------------------------------------------------------------ running
    def prepare(self) -> None:
        cfg = self.cfg
        splits = {split: (cfg.split_root(split), syn)
                  for split, syn in (("train", cfg.train_data), ("val", cfg.val_data), ("test", cfg.test_data))}
        prepare_outputs(self.out, splits, cfg.run_config(RegimeRun("delta0", cfg.seeds[0])), cfg.mean_image_count)

    def _means(self):
        saved = torch.load(self.out / "mean_images.pt", weights_only=True)
        return saved["rgb"], saved["thermal"]

    def run_one(self, run: RegimeRun) -> dict:
        """Train (or probe, or fuse) and score one run; writes and returns its result row."""
        with torch_threads(self.cfg.threads):
            return self._run_one(run)

    def _run_one(self, run: RegimeRun) -> dict:
        cfg = self.cfg
        wall0, cpu0, started = time.perf_counter(), _cpu_seconds(), time.time()
        test_root, dets = cfg.split_root("test"), self.out / "detections" / f"{run.name}.npz"
        row: dict
        if run.arm == LATE_FUSION:
            rgb, th = (self.out / "detections" / f"{n}.npz" for n in dependencies(run))
            row = score_late_fusion(rgb, th, test_root, cfg.reasonable_min_height, dets, cfg.late_fusion_iou)
            row["run_dir"] = ""
            trained = 0.0
        elif run.arm in PROBES:
            source = self.results()[dependencies(run)[0]]
            run_cfg = cfg.run_config(RegimeRun("rgb_only", run.seed))
            run_cfg = dataclasses.replace(run_cfg, name=run.name)
            train_probe(Path(source["run_dir"]) / "best.safetensors", run_cfg, run_cfg.run_dir, cfg.probe_steps, "rgb")
            trained = time.perf_counter() - wall0
            row = score_regime_run(run_cfg, test_root, self._means(), "thermal", cfg.reasonable_min_height, dets)
            row["run_dir"] = str(run_cfg.run_dir)
        else:
            run_cfg = cfg.run_config(run)
            resume = run_cfg.run_dir if (run_cfg.run_dir / STATE_FILE).is_file() else None
            Trainer(run_cfg, command=self.command).fit(resume=resume)
            trained = time.perf_counter() - wall0
            unused = {"rgb_only": "thermal", "thermal_only": "rgb"}.get(run.arm)
            row = score_regime_run(run_cfg, test_root, self._means(), unused, cfg.reasonable_min_height, dets)
            row["run_dir"] = str(run_cfg.run_dir)
        row.update({"name": run.name, "arm": run.arm, "seed": run.seed, "value": run.value, "variant": run.variant,
                    "train_seconds": trained, "score_seconds": time.perf_counter() - wall0 - trained,
                    "cpu_seconds": _cpu_seconds() - cpu0, "threads": cfg.threads, "started": started,
                    "finished": time.time()})
        self.results_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.results_dir / f".{run.name}.json.tmp"
        tmp.write_text(json.dumps(row, indent=2))
        tmp.replace(self.results_dir / f"{run.name}.json")
        return row

    def run(self, max_runs: int | None = None, on_result: Callable[[], None] | None = None) -> int:
        """Run what is planned, ``cfg.jobs`` at a time; returns the number of runs done."""
        self.prepare()
        started = 0

        def report(run: RegimeRun, row: dict) -> None:
            print(f"[regime] {run.name}: slice MR {slice_mr(row):.1f} all {row['mr']['both']['all']:.1f} "
                  f"({row['train_seconds']:.0f} s training, "
                  f"{row['cpu_seconds']:.0f} s CPU)", flush=True)
            if on_result is not None:
                on_result()

        if self.cfg.jobs == 1:
            while max_runs is None or started < max_runs:
                todo = self.plan()
                if not todo:
                    break
                started += 1
                report(todo[0], self.run_one(todo[0]))
            return started
        with ProcessPoolExecutor(self.cfg.jobs, mp_context=get_context("spawn")) as pool:
            inflight: dict[str, tuple[RegimeRun, Future]] = {}
            while True:
                for run in self.plan(set(inflight)):
                    if len(inflight) >= self.cfg.jobs or (max_runs is not None and started >= max_runs):
                        break
                    inflight[run.name] = (run, pool.submit(_run_in_worker, self.cfg, self.command, run))
                    started += 1
                    print(f"[regime] started {run.name} ({len(inflight)} running)", flush=True)
                if not inflight:
                    break
                finished, _ = wait([f for _, f in inflight.values()], return_when=FIRST_COMPLETED)
                for name, (run, future) in list(inflight.items()):
                    if future in finished:
                        del inflight[name]
                        report(run, future.result())  # a failed run raises here and stops the experiment
        return started


def _run_in_worker(cfg: RegimeConfig, command: str, run: RegimeRun) -> dict:
    # A spawned worker inherits "spawn" as its default start method; its DataLoader workers would then have
    # to pickle the dataset. Fork them, as a run started from the command line does.
    set_start_method("fork", force=True)
    return RegimeExperiment(cfg, command).run_one(run)
