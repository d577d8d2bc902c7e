"""Process-group helpers for ``torchrun``: one code path for 1 process, N GPUs, or N CPU processes (gloo).

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables; without them the
run is a single process and nothing is initialized. CUDA runs use NCCL with one GPU per local rank; CPU
runs use gloo, so multi-process training (and its tests) work on a laptop.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from lsi_perception.device import resolve_device as shared_resolve_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, evaluates and writes checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """``device.resolve_device`` for this process (``cuda`` without index -> ``cuda:<local_rank>``), made the
    current CUDA device; errors say ``runtime.device``."""
    try:
        device = shared_resolve_device(requested, local_rank)
    except RuntimeError as exc:
        raise RuntimeError(f"runtime.device: {exc}") from None
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def init_distributed(device: torch.device) -> DistInfo:
    """Join the ``torchrun`` process group if the environment describes one (NCCL on CUDA, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return info


def local_rank_from_env() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_object(obj: object, info: DistInfo) -> object:
    """Rank 0's ``obj`` on every rank (e.g. the validation result, so all ranks agree on "best")."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def max_replica_difference(module: torch.nn.Module, info: DistInfo) -> float:
    """Largest absolute difference between this rank's parameters/buffers and rank 0's (0.0 alone).

    DDP keeps replicas identical by construction; this is the cheap end-of-run proof.
    """
    if not info.enabled:
        return 0.0
    flat = torch.cat([t.detach().float().reshape(-1).cpu() for t in module.state_dict().values()])
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    diff = torch.tensor([(flat - reference).abs().max().item()], dtype=torch.float64)
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff.item())


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
