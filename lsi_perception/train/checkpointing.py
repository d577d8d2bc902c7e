"""Training checkpoints as one consistent unit: the weights, the train state and ``best`` switch together.

A run folder (``runs/<name>/``) holds::

    checkpoints/step_00000020/last.safetensors   the weights at step 20
                             train_state.pt     what --resume needs besides them (same step)
                             best.safetensors   the best weights so far (a hard link, no copy)
    current -> checkpoints/step_00000020        the complete unit, switched atomically
    last.safetensors -> current/last.safetensors   (and train_state.pt, best.safetensors): stable paths

``save_unit`` writes every file of the new unit into ``checkpoints/.step_00000020.partial/``, syncs them,
renames the folder, then points ``current`` at it with one ``os.replace`` of a symlink: a process killed
at any moment (SIGKILL, power loss) leaves ``current`` on the previous complete unit, never weights of
one step with the state of another. Older units are deleted only after the switch. ``clean_stale``
removes what killed writes leave behind (partial units, units never switched to, temp files); the
trainer runs it at start and on resume. Runs written before this layout (plain files in the run
folder) still resume; their first save converts them.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATE_FILE = "train_state.pt"
LAST, BEST = "last.safetensors", "best.safetensors"
UNIT_FILES = (LAST, STATE_FILE, BEST)
CHECKPOINTS, CURRENT = "checkpoints", "current"
PARTIAL_SUFFIX = ".partial"


def current_unit(run_dir: Path) -> Path | None:
    """The folder of the complete unit ``current`` points at (None: no unit yet, or an older layout)."""
    link = Path(run_dir) / CURRENT
    if link.is_symlink() and link.resolve().is_dir():
        return link.resolve()
    return None


def save_unit(run_dir: Path, step: int, save_weights: Callable[[Path], Any], save_state: Callable[[Path], Any],
              best: bool) -> Path:
    """Write one checkpoint unit for ``step`` and make it current; returns its folder.

    ``save_weights(path)`` / ``save_state(path)`` write the two files; ``best``: these weights are also
    the new best (else the previous unit's best is carried over).
    """
    run_dir = Path(run_dir)
    units = run_dir / CHECKPOINTS
    units.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:08d}"
    k = 1
    while (units / name).exists():  # the same step saved again: never touch the current unit's folder
        name, k = f"step_{step:08d}_{k}", k + 1
    partial = units / f".{name}{PARTIAL_SUFFIX}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    save_weights(partial / LAST)
    save_state(partial / STATE_FILE)
    previous = current_unit(run_dir)
    if best:
        _link_or_copy(partial / LAST, partial / BEST)
    elif previous is not None and (previous / BEST).is_file():
        _link_or_copy(previous / BEST, partial / BEST)
    elif (run_dir / BEST).is_file():  # a run from before this layout
        _link_or_copy(run_dir / BEST, partial / BEST)
    for path in partial.iterdir():
        _fsync(path)
    final = units / name
    os.rename(partial, final)
    _fsync(units)
    _point(run_dir / CURRENT, f"{CHECKPOINTS}/{name}")
    for file in UNIT_FILES:
        if (final / file).exists():
            _point(run_dir / file, f"{CURRENT}/{file}")
    _fsync(run_dir)
    for other in units.iterdir():
        if other.name != name:
            _remove(other)
    return final


def clean_stale(run_dir: Path) -> list[Path]:
    """Remove what killed writes left: partial units, units ``current`` does not point at, and temp
    files of atomic writes (``.<name>.*tmp*``). Returns the removed paths."""
    run_dir = Path(run_dir)
    removed: list[Path] = []
    keep = current_unit(run_dir)
    units = run_dir / CHECKPOINTS
    if units.is_dir() and keep is not None:
        for other in units.iterdir():
            if other.resolve() != keep:
                _remove(other)
                removed.append(other)
    elif units.is_dir():  # no complete unit at all: only partial ones can go
        for other in units.glob(f".*{PARTIAL_SUFFIX}"):
            _remove(other)
            removed.append(other)
    for folder in (run_dir, keep):
        if folder is not None and folder.is_dir():
            for tmp in folder.glob(".*tmp*"):
                if tmp.is_file():
                    tmp.unlink()
                    removed.append(tmp)
    return removed


def resolve_resume_path(resume: str | Path) -> Path:
    """A run folder or a ``train_state.pt`` -> the state file of a complete unit (its folder also holds
    the matching ``last.safetensors``); a clear error when there is none."""
    path = Path(resume)
    if path.is_dir():
        unit = current_unit(path)
        state = unit / STATE_FILE if unit is not None else path / STATE_FILE
    else:
        state = path
    if not state.is_file():
        raise FileNotFoundError(
            f"--resume {resume}: no {STATE_FILE} there; pass the run folder (runs/<name>) or its {STATE_FILE}")
    state = state.resolve()
    if not (state.parent / LAST).is_file():
        raise FileNotFoundError(f"--resume {resume}: {state.parent / LAST} (the weights) is missing")
    return state


def strict_json(record: dict[str, Any]) -> str:
    """One JSON line that any parser reads: NaN and inf become null (json.dumps writes bare NaN)."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(record), allow_nan=False)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    _fsync(tmp)
    os.replace(tmp, path)


def _point(link: Path, target: str) -> None:
    """Make ``link`` a symlink to ``target`` (relative), atomically replacing whatever was there."""
    if link.is_symlink() and os.readlink(link) == target:
        return
    tmp = link.with_name(f".{link.name}.linktmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # file systems without hard links
        shutil.copy2(src, dst)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
