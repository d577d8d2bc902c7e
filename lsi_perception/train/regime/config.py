"""RegimeConfig: the design of the neglect-regime experiment in one typed place (config/experiment_regime_*.yaml).

The splits are the current synthetic world with a profile (``train_data`` / ``val_data`` /
``test_data``: physics overrides and ``rgb_only_fraction``), each generated once from its own seed.
Runs: the diagnostics (RGB-only, thermal-only, delta = 0; probes on frozen backbones) for every seed,
then, only when the declared rule (``rule``) finds that delta = 0 neglects RGB, the remedy arms.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lsi_perception.data.synthetic import SyntheticConfig
from lsi_perception.train.config import TrainConfig

DIAGNOSTIC_ARMS = ("rgb_only", "thermal_only", "delta0")
CANDIDATE_ARMS = ("lsi", "lsi_gat", "ogm_ge", "aux")  # arms with a hyperparameter chosen on validation
REMEDY_ARMS = ("lsi", "lsi_gat", "dropout", "ogm_ge", "aux")
PROBES = {"probe_fused": "delta0", "probe_rgb_only": "rgb_only"}  # probe name -> the run whose backbones it reads
LATE_FUSION = "late_fusion"  # box fusion of rgb_only and thermal_only (no training)


@dataclass
class NeglectRule:
    """When the delta = 0 model counts as neglecting RGB: all three checks, in every seed (MR points)."""

    probe_gap: float = 10.0  # (1) day MR of the probe on delta0's RGB backbone >= probe on rgb_only's + this
    rgb_blank_max: float = 5.0  # (2) blanking RGB (mean image) raises delta0's MR on the rest by <= this
    slice_gap: float = 10.0  # (3) delta0's MR on the RGB-only slice >= the RGB-only model's + this


@dataclass
class RegimeRun:
    """One training run (or probe, or late fusion) of the experiment."""

    arm: str  # DIAGNOSTIC_ARMS | REMEDY_ARMS | PROBES keys | LATE_FUSION
    seed: int
    value: float = 0.0  # lsi / lsi_gat: delta; ogm_ge: alpha; dropout: p
    variant: str = ""  # aux: "sum" | "mmpareto"

    @property
    def name(self) -> str:
        tag = {"lsi": f"_d{self.value:g}", "lsi_gat": f"_d{self.value:g}", "ogm_ge": f"_a{self.value:g}",
               "aux": f"_{self.variant}"}.get(self.arm, "")
        return f"{self.arm}{tag}_s{self.seed}"

    @property
    def trains(self) -> bool:
        return self.arm in DIAGNOSTIC_ARMS or self.arm in REMEDY_ARMS


@dataclass
class RegimeConfig:
    """What ``python -m lsi_perception.train.regime --config config/experiment_regime_cpu.yaml`` runs."""

    name: str = "experiment_regime_cpu"
    scale_note: str = "2 CPU cores"
    data_root: str = "data/experiment_regime_cpu"
    out_dir: str = "runs/experiment_regime_cpu"
    report: str = "docs/experiment_regime.md"
    seeds: tuple[int, ...] = (0, 1, 2)
    jobs: int = 2  # runs trained at once (processes), each with ``threads`` torch threads
    threads: int = 1
    lsi_deltas: tuple[float, ...] = (0.1, 0.3)  # paper's balance form (loss.lsi_combine: imbalance)
    gat_deltas: tuple[float, ...] = (1.0e-5, 3.0e-5)  # Gat et al.'s form (loss.lsi_combine: gat)
    ogm_alphas: tuple[float, ...] = (0.3, 1.0)
    aux_variants: tuple[str, ...] = ("sum", "mmpareto")
    dropout_p: float = 0.2
    probe_steps: int = 240
    late_fusion_iou: float = 0.5
    rule: NeglectRule = field(default_factory=NeglectRule)
    profile_notes: tuple[str, ...] = ()  # how the profile came to be (earlier versions, why they changed)
    run_arms_without_neglect: bool = False  # true: run the remedies even when the rule finds no neglect
    reasonable_min_height: float = 10.3
    bootstrap: int = 1000
    mean_image_count: int = 200
    train: TrainConfig = field(default_factory=TrainConfig)
    train_data: SyntheticConfig = field(default_factory=SyntheticConfig)
    val_data: SyntheticConfig = field(default_factory=SyntheticConfig)
    test_data: SyntheticConfig = field(default_factory=SyntheticConfig)

    def validate(self) -> None:
        if not self.seeds or self.jobs < 1 or self.threads < 1 or self.probe_steps < 1:
            raise ValueError("regime: give at least one seed; jobs, threads and probe_steps must be >= 1")
        for name in ("lsi_deltas", "gat_deltas", "ogm_alphas"):
            values = getattr(self, name)
            if not values or any(v <= 0 for v in values):
                raise ValueError(f"regime.{name}={values}: give at least one positive candidate")
        if not self.aux_variants or any(v not in ("sum", "mmpareto") for v in self.aux_variants):
            raise ValueError(f"regime.aux_variants={self.aux_variants} must be a non-empty subset of sum, mmpareto")
        if not 0 < self.dropout_p <= 1:
            raise ValueError(f"regime.dropout_p={self.dropout_p} must be in (0, 1]")
        for what, cfg in (("train_data", self.train_data), ("val_data", self.val_data), ("test_data", self.test_data)):
            cfg.validate()
            if cfg.test_fraction != 0.0:
                raise ValueError(f"regime.{what}.test_fraction must be 0: each split is its own dataset")
        if len({self.train_data.seed, self.val_data.seed, self.test_data.seed}) != 3:
            raise ValueError("regime: train_data, val_data and test_data need three different seeds")
        if self.test_data.rgb_only_fraction <= 0:
            raise ValueError("regime.test_data.rgb_only_fraction must be > 0: the RGB-only slice is the primary metric")
        self.train.validate()

    def candidates(self, arm: str) -> list[RegimeRun]:
        """The validation candidates of an arm at seeds[0]."""
        s0 = self.seeds[0]
        if arm == "lsi":
            return [RegimeRun("lsi", s0, d) for d in self.lsi_deltas]
        if arm == "lsi_gat":
            return [RegimeRun("lsi_gat", s0, d) for d in self.gat_deltas]
        if arm == "ogm_ge":
            return [RegimeRun("ogm_ge", s0, a) for a in self.ogm_alphas]
        if arm == "aux":
            return [RegimeRun("aux", s0, variant=v) for v in self.aux_variants]
        raise KeyError(arm)

    def split_root(self, split: str) -> Path:
        return Path(self.data_root) / split

    def run_config(self, run: RegimeRun) -> TrainConfig:
        """The TrainConfig of one training run: the base ``train`` with only this arm's change and seed."""
        base = self.train
        modality = {"rgb_only": "rgb", "thermal_only": "thermal"}.get(run.arm, "both")
        augment = replace(base.data.augment, modality=modality,
                          modality_dropout=run.value if run.arm == "dropout" else 0.0)
        data = replace(base.data, kind="synthetic", root=str(self.split_root("train")), train_list="train.txt",
                       val_root=str(self.split_root("val")), val_list="train.txt",
                       val_annotations="annotations/train.json", synthetic=self.train_data,
                       val_synthetic=self.val_data, augment=augment)
        loss = replace(base.loss, delta=run.value if run.arm in ("lsi", "lsi_gat") else 0.0,
                       lsi_combine="gat" if run.arm == "lsi_gat" else base.loss.lsi_combine)
        balance = base.balance
        if run.arm == "ogm_ge":
            balance = replace(balance, method="ogm_ge", alpha=run.value)
        elif run.arm == "aux":
            balance = replace(balance, method="unimodal_heads", aux_combine=run.variant)
        runtime = replace(base.runtime, seed=run.seed, out_dir=self.out_dir,
                          eval_reasonable_min_height=self.reasonable_min_height)
        return replace(base, name=run.name, data=data, runtime=runtime, loss=loss, balance=balance)
