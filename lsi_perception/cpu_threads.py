"""CPU thread behaviour for processes that share a few cores with other processes (the node, the benches).

PyTorch's CPU kernels run on an OpenMP (libgomp) thread team. By default an idle team member
busy-waits (spins) for a while after each parallel region before it sleeps, and the thread that waits
at a region's barrier spins too. Alone on a machine that saves a few microseconds per operator; on a
robot's few cores shared with a camera driver, or with a second process running a model, the spinning
threads take the cores the working threads need. Measured on 2 shared cores (README, "CPU threads"):
the shipped model's torch forward went from about 55 ms to seconds when another process was busy,
and back to about 100 ms with passive waiting.

``prefer_passive_omp_wait()`` sets ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once) unless the
user chose a policy or set ``LSI_KEEP_OMP_SPIN=1`` (keep libgomp's default, e.g. to measure the difference). libgomp reads the variable when it is loaded, i.e. when torch is first imported,
so it must run before that; it says whether it took effect. ONNX Runtime has its own pool, whose
spinning the onnxruntime backend turns off (``OrtOptions.allow_spinning``).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

OMP_WAIT_VAR = "OMP_WAIT_POLICY"
KEEP_SPIN_VAR = "LSI_KEEP_OMP_SPIN"


def prefer_passive_omp_wait(env: MutableMapping[str, str] | None = None) -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE in ``env`` (default: this process's environment) unless it is
    already set (or LSI_KEEP_OMP_SPIN=1). For this process it only works before torch is imported: returns False (and changes
    nothing) when the user set a policy or when torch is already loaded here."""
    target = os.environ if env is None else env
    if OMP_WAIT_VAR in target or target.get(KEEP_SPIN_VAR, "") not in ("", "0"):
        return False
    if env is None and "torch" in sys.modules:
        return False
    target[OMP_WAIT_VAR] = "PASSIVE"
    return True


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads, then give the caller back its own count.

    ``torch.set_num_threads`` is process-wide: a runner that sets it for its trainings and returns would
    change every later computation of its caller (a test process, a notebook), and float reductions
    split over another number of threads round differently."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
