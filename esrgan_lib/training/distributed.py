"""Multi-process training with PyTorch's own engine (``torchrun`` + ``DistributedDataParallel``).

``torchrun --nproc_per_node=N -m esrgan_lib.train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their environment;
``setup_distributed()`` reads them and joins the process group (nccl on GPUs, gloo on CPU). Without
those variables everything here is a no-op and training runs in a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "setup_distributed", "device_and_processes", "cleanup_distributed",
           "average_gradients"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes checkpoints, logs and samples."""
        return self.rank == 0


def setup_distributed(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment variables (if any).

    ``device_type`` ("cuda" or "cpu") picks the backend: nccl for GPUs, gloo for CPUs. On GPUs each
    process uses ``cuda:LOCAL_RANK``. Returns the rank information (world size 1 when not distributed).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def device_and_processes(name: str) -> tuple[torch.device, DistInfo]:
    """The device of this process (``TrainConfig.device``: "auto", "cpu", "cuda", "cuda:1" ...) and the
    process group joined; under torchrun each GPU process uses ``cuda:LOCAL_RANK``. ``ValueError``
    naming ``TrainConfig.device`` when that device is not present."""
    from ..runtime import default_device

    device = torch.device(name) if name != "auto" else default_device()
    present = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not present.get(device.type, False):
        raise ValueError(f"TrainConfig.device={str(device)!r}: no such device on this machine (try 'auto')")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"TrainConfig.device={str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) visible"
        )
    info = setup_distributed(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    return device, info


def cleanup_distributed(*, wait: bool = True) -> None:
    """Leave the process group (nothing without one). ``wait``: after a barrier, so that no process tears
    its connections down while another still writes its checkpoint (a rank that left early aborted at exit
    in a 2-process test, exit code -6). ``wait=False`` on an error path, where the others may never come."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


@torch.no_grad()
def average_gradients(module: nn.Module, info: DistInfo) -> None:
    """Average ``.grad`` of every parameter of ``module`` over processes, in one all-reduce.

    Used for the discriminator, whose loss calls it several times per step (real, fake, gradient
    penalty with ``create_graph``): a pattern DDP's gradient hooks do not support. The result is the
    same as DDP's: the gradient of the loss averaged over the global batch.
    """
    if not info.enabled:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
