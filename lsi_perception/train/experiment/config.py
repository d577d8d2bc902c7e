"""ExperimentConfig: the modality-imbalance experiment's design in one typed place (config/experiment_*.yaml).

Three synthetic splits, each generated once at training resolution from its own seed and cached under
``data_root``: ``train`` (day-heavy), ``val`` (checkpoint and delta selection) and ``test`` (>= 40
drives, half day / half night). Every run trains ``train`` (a TrainConfig; data paths are filled in
by the runner) with one arm's changes and one seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lsi_perception.data.synthetic import SyntheticConfig
from lsi_perception.train.config import TrainConfig


@dataclass
class RunSpec:
    """One training run of the experiment."""

    arm: str  # "delta0" | "lsi" | "dropout" | "rgb_only" | "thermal_only"
    seed: int
    delta: float = 0.0
    modality_dropout: float = 0.0
    modality: str = "both"

    @property
    def name(self) -> str:
        tag = f"_d{self.delta:g}" if self.arm == "lsi" else ""
        return f"{self.arm}{tag}_s{self.seed}"


@dataclass
class ExperimentConfig:
    """What ``python -m lsi_perception.train.experiment --config config/experiment_cpu.yaml`` runs."""

    name: str = "experiment_cpu"
    scale_note: str = "2 CPU cores"  # what the budget was sized for (goes into the report)
    data_root: str = "data/experiment_cpu"  # generated splits (git-ignored)
    out_dir: str = "runs/experiment_cpu"  # runs, per-run results, curves (git-ignored)
    report: str = "docs/experiment.md"
    seeds: tuple[int, ...] = (0, 1, 2)
    lsi_deltas: tuple[float, ...] = (0.1, 1.0)  # candidates, chosen on val MR with seeds[0]
    dropout_p: float = 0.2
    reasonable_min_height: float = 13.75  # KAIST's 55 px at 512 rows, scaled to the images' height
    bootstrap: int = 1000  # resamples of test drives (stratified by time of day)
    mean_image_count: int = 200  # training images averaged for the "mean image" blanking
    threads: int = 2  # torch CPU threads (1 is faster on an oversubscribed machine: no OpenMP spin)
    train: TrainConfig = field(default_factory=TrainConfig)
    train_data: SyntheticConfig = field(default_factory=SyntheticConfig)
    val_data: SyntheticConfig = field(default_factory=SyntheticConfig)
    test_data: SyntheticConfig = field(default_factory=SyntheticConfig)

    def validate(self) -> None:
        if len(self.seeds) < 1 or not self.lsi_deltas or any(d <= 0 for d in self.lsi_deltas):
            raise ValueError("experiment: give at least one seed and positive lsi_deltas")
        if not 0 < self.dropout_p <= 1:
            raise ValueError(f"experiment.dropout_p={self.dropout_p} must be in (0, 1]")
        for what, cfg in (("train_data", self.train_data), ("val_data", self.val_data), ("test_data", self.test_data)):
            cfg.validate()
            if cfg.test_fraction != 0.0:
                raise ValueError(f"experiment.{what}.test_fraction must be 0: each split is its own dataset")
        seeds = {self.train_data.seed, self.val_data.seed, self.test_data.seed}
        if len(seeds) != 3:
            raise ValueError("experiment: train_data, val_data and test_data need three different seeds")
        self.train.validate()

    def split_root(self, split: str) -> Path:
        return Path(self.data_root) / split

    def run_config(self, spec: RunSpec) -> TrainConfig:
        """The TrainConfig of one run: the base ``train`` with this arm's loss, augmentation and seed."""
        base = self.train
        data = replace(base.data, kind="synthetic", root=str(self.split_root("train")), train_list="train.txt",
                       val_root=str(self.split_root("val")), val_list="train.txt",
                       val_annotations="annotations/train.json", synthetic=self.train_data,
                       val_synthetic=self.val_data,
                       augment=replace(base.data.augment, modality_dropout=spec.modality_dropout,
                                       modality=spec.modality))
        runtime = replace(base.runtime, seed=spec.seed, out_dir=self.out_dir,
                          eval_reasonable_min_height=self.reasonable_min_height)
        return replace(base, name=spec.name, data=data, runtime=runtime, loss=replace(base.loss, delta=spec.delta))
