"""The data check: a dataset root read exactly as training will read it (the same ``build_dataset`` for the
train, validation and test splits), counted, and refused when something would train on nothing.

``lsi data check --dataset kaist ROOT`` prints it; ``lsi train`` runs it before building the model.

    result = check_data(cfg)      # TrainConfig
    print(result.report())
    result.raise_for_problems()   # ValueError listing every problem and its fix
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from lsi_perception.data.coverage import LabelCoverage, coverage_problems, label_coverage
from lsi_perception.train.config import TrainConfig
from lsi_perception.train.data import build_dataset, held_out_names, prepare_dataset


@dataclass
class SplitCheck:
    split: str  # train | val | test
    source: str  # the list (or split folder) it was read from
    coverage: LabelCoverage
    problems: list[str] = field(default_factory=list)


@dataclass
class DataCheck:
    kind: str
    root: str
    splits: list[SplitCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [f"{s.split}: {p}" for s in self.splits for p in s.problems]

    def report(self) -> str:
        lines = [f"data check: {self.kind} dataset at {self.root}", *(f"  {n}" for n in self.notes)]
        for s in self.splits:
            lines.append(f"[{s.split}] {s.source}")
            lines += ["  " + line for line in s.coverage.report().splitlines()]
        lines += [f"PROBLEM {p}" for p in self.problems] or ["no problem found"]
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ValueError("the data check refuses this dataset:\n  " + "\n  ".join(self.problems))

    def to_json(self) -> dict:
        import dataclasses

        return {"kind": self.kind, "root": self.root, "notes": self.notes, "problems": self.problems,
                "splits": {s.split: {"source": s.source, **dataclasses.asdict(s.coverage)} for s in self.splits}}


def check_data(cfg: TrainConfig, splits: tuple[str, ...] = ("train", "val", "test")) -> DataCheck:
    """Read the splits ``cfg`` trains, validates and tests on and collect their counts and problems.

    A missing root or list raises FileNotFoundError (from ``prepare_dataset``) before anything is counted.
    """
    data = cfg.data
    prepare_dataset(data, cfg.model.class_names)
    result = DataCheck(data.kind, data.root)
    names = tuple(cfg.model.class_names)
    if data.holdout_videos > 0:  # the whole training list first: a list that trains on nothing is named as such
        whole = replace(data, holdout_videos=0.0)
        cov = label_coverage(build_dataset(whole, "train", names, None), names)
        problems = coverage_problems(cov, data.max_unlabelled_fraction, data.missing_labels)
        if problems:
            result.splits.append(SplitCheck("train", data.train_list, cov, problems))
            return result
    for split in splits:
        if split == "test" and data.test_list is None:
            continue
        dataset = build_dataset(data, split, names, None)
        held = data.holdout_videos > 0 and split in ("train", "val")
        source = {"train": data.train_list, "val": data.train_list if held else data.val_list,
                  "test": data.test_list or ""}[split]
        if held:
            source += f" ({'without' if split == 'train' else 'only'} the held-out {data.holdout_videos:.0%})"
        cov = label_coverage(dataset, names)
        check = SplitCheck(split, source, cov, coverage_problems(cov, data.max_unlabelled_fraction,
                                                                 data.missing_labels, training=split == "train"))
        if split != "train" and cov.frames and cov.positives == 0 and cov.labelled:
            check.problems.append(f"the {cov.frames} {split} frames hold no pedestrian box: its MR / AP would be "
                                  "undefined; check the split's labels")
        if split == "val" and cov.entries == 0:
            check.problems.append("the validation split names no frame: check data.val_list (or data.holdout_videos)")
        if split == "test" and cov.entries == 0:
            result.notes.append(f"the test list {data.test_list} names no frame: the final report will score nothing")
        result.splits.append(check)
        if split == "val" and held:
            result.notes.append(f"validation held out of {data.train_list}: {', '.join(held_out_names(data, dataset))}"
                                + (" ..." if data.kind not in ("kaist", "synthetic") else ""))
    return result
