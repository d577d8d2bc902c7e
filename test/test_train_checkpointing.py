"""A killed run can always resume (issue 13): checkpoints are one consistent unit, leftovers of killed
writes are removed, one save per step, strict-JSON metrics, and pickles are never executed."""
from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train import TINY_SYNTHETIC, tiny_overrides

from lsi_perception.checkpoint import load_checkpoint
from lsi_perception.data.synthetic import generate_dataset
from lsi_perception.train.config import load_train_config
from lsi_perception.train.trainer import STATE_FILE, Trainer

# Bit-exact comparisons need the same number of torch threads in this process and in the child (float
# reductions split over another number of threads round differently); set per test, since other test modules
# and library runners may have changed the process-wide count before this one runs.
THREADS = 2


@pytest.fixture(autouse=True)
def _same_threads_as_the_child():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(previous)


# Runs a training in a child process and SIGKILLs it at the save of step KILL_STEP, after the weights
# are written and while the train state is half written: the worst moment for a two-file checkpoint.
KILL_BETWEEN_FILES = """
import os, signal, sys, torch
from lsi_perception.train.config import load_train_config
from lsi_perception.train.trainer import Trainer
kill_step, threads, overrides = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
torch.set_num_threads(threads)
real_save = torch.save
def save(obj, f, *args, **kwargs):
    if isinstance(obj, dict) and "optimizer" in obj and obj.get("step") == kill_step:
        with open(f, "wb") as fh:
            fh.write(b"half a train state")
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *args, **kwargs)
torch.save = save
Trainer(load_train_config(None, overrides), command="killed").fit()
"""

# 4 steps per epoch (8 images, batches of 2), a checkpoint every 2 steps
COMMON = {"loss.delta": 0.1, "runtime.batch_size": 2, "runtime.max_steps": 4, "runtime.epochs": 10,
          "runtime.checkpoint_every": 2, "runtime.deterministic": True}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_synth_ckpt")
    generate_dataset(root, TINY_SYNTHETIC)
    return root


def _leftovers(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if "tmp" in p.name or p.name.endswith(".partial"))


def test_resume_after_sigkill_between_weights_and_state_is_bit_exact(tiny_data: Path, tmp_path: Path) -> None:
    straight = load_train_config(None, tiny_overrides(tiny_data, tmp_path / "a", **COMMON))
    Trainer(straight, command="straight").fit()

    overrides = tiny_overrides(tiny_data, tmp_path / "b", **COMMON)
    proc = subprocess.run([sys.executable, "-c", KILL_BETWEEN_FILES, "4", str(THREADS), *overrides], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -9, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = tmp_path / "b" / "tiny"
    # the run on disk is still the complete step-2 unit: weights and state agree
    assert torch.load(run / STATE_FILE, weights_only=True)["step"] == 2
    assert load_checkpoint(run / "last.safetensors")[1].provenance["step"] == 2

    Trainer(load_train_config(None, overrides), command="resumed").fit(resume=run)
    a, _ = load_checkpoint(tmp_path / "a" / "tiny" / "last.safetensors")
    b, meta_b = load_checkpoint(run / "last.safetensors")
    assert meta_b.provenance["step"] == 4
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert _leftovers(run) == []  # the half-written state and the partial unit are gone


def test_one_save_per_step_and_strict_json_metrics(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    """Step 4 is both a checkpoint step and an epoch end: saved once; a NaN metric is written as null."""
    saved_steps: list[int] = []
    real_save = torch.save

    def counting_save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "optimizer" in obj:
            saved_steps.append(obj["step"])
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", counting_save)
    monkeypatch.setattr(Trainer, "_validate", lambda self: {"mr_reasonable_all": math.nan, "val_seconds": 0.1})
    cfg = load_train_config(None, tiny_overrides(tiny_data, tmp_path, **{**COMMON, "runtime.eval_every": 1,
                                                                          "runtime.max_steps": 6}))
    Trainer(cfg, command="once").fit()
    assert saved_steps == [2, 4, 6]

    def no_constants(name: str):
        raise ValueError(f"metrics.jsonl holds {name}, which is not JSON")

    lines = (tmp_path / "tiny" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line, parse_constant=no_constants) for line in lines]
    assert [r["step"] for r in records] == [4, 6] and records[0]["mr_reasonable_all"] is None


def test_stale_temp_files_are_removed_at_start(tiny_data: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "tiny"
    run.mkdir(parents=True)
    (run / ".last.safetensors.abc123.tmp").write_bytes(b"x" * 1000)  # what a killed atomic write leaves
    (run / ".train_state.pt.tmp4242").write_bytes(b"x" * 1000)
    cfg = load_train_config(None, tiny_overrides(tiny_data, tmp_path, **{"runtime.max_steps": 1}))
    Trainer(cfg, command="clean").fit()
    assert _leftovers(run) == []
    assert "removed 2 leftovers of interrupted saves" in capsys.readouterr().out


class _Payload:
    """Unpickling this would create the marker file: proof that a pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_checkpoints_are_never_executed(tiny_data: Path, tmp_path: Path, random_checkpoint) -> None:
    from lsi_perception.inference import Detector

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="not a safetensors checkpoint"):
        Detector.from_checkpoint(evil, device="cpu")
    # as the train state of a run that --resume reads
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "last.safetensors").write_bytes(random_checkpoint.read_bytes())
    torch.save({"state": _Payload(marker)}, run / STATE_FILE)
    cfg = load_train_config(None, tiny_overrides(tiny_data, tmp_path / "runs", **{"runtime.max_steps": 1}))
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        Trainer(cfg, command="evil").fit(resume=run)
    assert not marker.exists()
