"""The experiment's loop: generate the splits once, train and score each (arm, seed) run, write the report.

Resumable and incremental: each finished run leaves ``<out_dir>/results/<run>.json`` (and its test
detections), a rerun skips it; a run interrupted mid-training resumes from its last checkpoint; the
report is rewritten after every run from whatever has finished, naming what is missing.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from lsi_perception.cpu_threads import torch_threads
from lsi_perception.data.contrast import dataset_contrast
from lsi_perception.data.synthetic import SyntheticConfig, generate_dataset
from lsi_perception.train.config import TrainConfig
from lsi_perception.train.experiment.config import ExperimentConfig, RunSpec
from lsi_perception.train.experiment.scoring import mean_images, score_run
from lsi_perception.train.trainer import STATE_FILE, Trainer


def ensure_split(root: Path, cfg: SyntheticConfig) -> None:
    """Generate a split once (at training resolution); an existing folder is reused as is."""
    if (root / "imageSets" / "train.txt").is_file():
        return
    print(f"[experiment] generating {cfg.frames} frames under {root} ...", flush=True)
    info = generate_dataset(root, cfg)
    print(f"[experiment] wrote {sum(info.frames.values())} frames in {info.seconds:.0f} s", flush=True)


def prepare_outputs(out: Path, splits: dict[str, tuple[Path, SyntheticConfig]], means_from: TrainConfig,
                    mean_count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate each split once, write ``contrast.json`` (train and test) and ``mean_images.pt`` (from
    ``means_from``'s training images) under ``out`` if missing; returns the mean RGB and thermal inputs."""
    for root, syn in splits.values():
        ensure_split(root, syn)
    out.mkdir(parents=True, exist_ok=True)
    contrast_path = out / "contrast.json"
    if not contrast_path.is_file():
        summary = {split: dataset_contrast(splits[split][0], max_images=200).summary() for split in ("train", "test")}
        contrast_path.write_text(json.dumps(summary, indent=2))
    means_path = out / "mean_images.pt"
    if not means_path.is_file():
        rgb, th = mean_images(means_from, mean_count)
        torch.save({"rgb": rgb, "thermal": th}, means_path)
    saved = torch.load(means_path, weights_only=True)
    return saved["rgb"], saved["thermal"]


def calibration_and_first_seed(cfg: ExperimentConfig) -> list[RunSpec]:
    """Runs that do not depend on the delta choice, in the order they are worth having."""
    s0 = cfg.seeds[0]
    specs = [RunSpec("delta0", s0), RunSpec("rgb_only", s0, modality="rgb"),
             RunSpec("thermal_only", s0, modality="thermal")]
    specs += [RunSpec("lsi", s0, delta=d) for d in cfg.lsi_deltas]
    specs.append(RunSpec("dropout", s0, modality_dropout=cfg.dropout_p))
    return specs


def later_seeds(cfg: ExperimentConfig, delta: float) -> list[RunSpec]:
    specs = []
    for s in cfg.seeds[1:]:
        specs += [RunSpec("delta0", s), RunSpec("lsi", s, delta=delta),
                  RunSpec("dropout", s, modality_dropout=cfg.dropout_p)]
    return specs


def choose_delta(cfg: ExperimentConfig, results: dict[str, dict]) -> tuple[float | None, dict[float, float]]:
    """The LSI delta with the lowest validation MR (all) at seeds[0]; None until every candidate has run."""
    val = {}
    for d in cfg.lsi_deltas:
        row = results.get(RunSpec("lsi", cfg.seeds[0], delta=d).name)
        if row is None:
            return None, val
        val[d] = float(row["val_metrics"].get("mr_reasonable_all", float("nan")))
    return min(val, key=lambda d: (val[d] != val[d], val[d])), val


class Experiment:
    """``Experiment(cfg, command).run(max_runs=None)``; ``write_report()`` alone for the doc."""

    def __init__(self, cfg: ExperimentConfig, command: str) -> None:
        cfg.validate()
        self.cfg, self.command = cfg, command
        self.out = Path(cfg.out_dir)
        self.results_dir = self.out / "results"

    def results(self) -> dict[str, dict]:
        rows = {}
        for path in sorted(self.results_dir.glob("*.json")):
            rows[path.stem] = json.loads(path.read_text())
        return rows

    def prepare(self) -> None:
        cfg = self.cfg
        splits = {split: (cfg.split_root(split), syn)
                  for split, syn in (("train", cfg.train_data), ("val", cfg.val_data), ("test", cfg.test_data))}
        self.means = prepare_outputs(self.out, splits, cfg.run_config(RunSpec("delta0", cfg.seeds[0])),
                                     cfg.mean_image_count)

    def plan(self) -> list[RunSpec]:
        """Every run still to do, in order (later seeds only once the delta is chosen)."""
        done = self.results()
        specs = calibration_and_first_seed(self.cfg)
        delta, _ = choose_delta(self.cfg, done)
        if delta is not None:
            specs += later_seeds(self.cfg, delta)
        return [s for s in specs if s.name not in done]

    def run_one(self, spec: RunSpec) -> dict:
        run_cfg = self.cfg.run_config(spec)
        tic = time.perf_counter()
        resume = run_cfg.run_dir if (run_cfg.run_dir / STATE_FILE).is_file() else None
        Trainer(run_cfg, command=self.command).fit(resume=resume)
        trained = time.perf_counter() - tic
        unused = {"rgb": "thermal", "thermal": "rgb"}.get(spec.modality)
        row = score_run(run_cfg, self.cfg.split_root("test"), self.means, unused, self.cfg.reasonable_min_height,
                        self.out / "detections" / f"{spec.name}.npz")
        row.update({"name": spec.name, "arm": spec.arm, "seed": spec.seed, "delta": spec.delta,
                    "modality_dropout": spec.modality_dropout, "modality": spec.modality,
                    "train_seconds": trained, "score_seconds": time.perf_counter() - tic - trained,
                    "run_dir": str(run_cfg.run_dir)})
        self.results_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.results_dir / f".{spec.name}.json.tmp"
        tmp.write_text(json.dumps(row, indent=2))
        tmp.replace(self.results_dir / f"{spec.name}.json")
        return row

    def run(self, max_runs: int | None = None, on_result=None) -> None:
        with torch_threads(self.cfg.threads):
            self._run(max_runs, on_result)

    def _run(self, max_runs: int | None, on_result) -> None:
        from tqdm import tqdm

        self.prepare()
        done = 0
        total = len(self.plan()) + len(self.cfg.seeds[1:]) * 3 * (choose_delta(self.cfg, self.results())[0] is None)
        bar = tqdm(total=total, desc="experiment runs", unit="run", position=1, leave=True)
        try:
            while max_runs is None or done < max_runs:
                todo = self.plan()
                if not todo:
                    break
                spec = todo[0]
                bar.set_postfix(run=spec.name)
                row = self.run_one(spec)
                done += 1
                bar.update(1)
                print(f"[experiment] {spec.name}: test MR night {row['mr']['both']['night']:.1f} "
                      f"day {row['mr']['both']['day']:.1f} ({row['train_seconds']:.0f} s training)", flush=True)
                if on_result is not None:
                    on_result()
        finally:
            bar.close()
