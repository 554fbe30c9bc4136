"""Hardware levers shared by training and inference: device, precision, memory format.

``pick_precision`` decides what ``precision="auto"`` means on the machine at hand:

=====================  ==========================================================
hardware               auto precision
=====================  ==========================================================
CUDA, compute >= 8.0   ``bf16`` autocast (Ampere, Ada, Hopper)
CUDA, older (T4, V100) ``fp16`` autocast (training adds a gradient scaler)
CPU with AMX or        ``bf16`` autocast (Sapphire Rapids and newer Xeons, Zen 4+
AVX512-BF16            with AVX512-BF16)
any other CPU          ``fp32`` (bf16 there is emulated and slower than fp32)
=====================  ==========================================================

Nothing here runs at import time.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import torch

__all__ = [
    "PRECISIONS",
    "default_device",
    "cpu_has_bf16",
    "pick_precision",
    "autocast",
    "describe_hardware",
]

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def default_device() -> torch.device:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def cpu_has_bf16() -> bool:
    """True if this CPU has native bf16 matrix instructions (AMX-BF16 or AVX512-BF16).

    Asks torch's CPU feature probes (``torch.cpu``); on CPUs without these units bf16 matmuls are
    emulated and slower than fp32, so ``auto`` stays in fp32 there.
    """
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def pick_precision(device: torch.device | str, requested: str = "auto") -> str:
    """Resolve ``requested`` ("auto", "bf16", "fp16", "fp32") to what will actually run.

    fp16 on a CPU is never used (it is slow or unsupported there, the source of the familiar
    "Half not implemented on CPU"): it falls back to bf16 when the CPU has it, else fp32, with a
    warning. bf16 on a GPU without bf16 support falls back to fp16, with a warning.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    device = torch.device(device)
    if device.type == "cuda":
        bf16_ok = _cuda_has_bf16()
        if requested == "auto":
            return "bf16" if bf16_ok else "fp16"
        if requested == "bf16" and not bf16_ok:
            warnings.warn("this GPU has no native bf16; using fp16 instead", stacklevel=2)
            return "fp16"
        return requested
    if device.type == "cpu":
        if requested == "auto":
            return "bf16" if cpu_has_bf16() else "fp32"
        if requested == "fp16":
            fallback = "bf16" if cpu_has_bf16() else "fp32"
            warnings.warn(f"fp16 is not used on CPU; running in {fallback} instead", stacklevel=2)
            return fallback
        return requested
    # mps and others: stay safe
    return "fp32" if requested == "auto" else requested


def _cuda_has_bf16() -> bool:
    if not torch.cuda.is_available():
        return False
    return torch.cuda.is_bf16_supported(including_emulation=False)  # native units only


def autocast(device: torch.device | str, precision: str):
    """A context manager running the block in ``precision`` ("bf16", "fp16", "fp32").

    ``fp32`` gives a no-op context. Weights stay fp32; autocast picks per-op dtypes.
    """
    device = torch.device(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision not in _DTYPES:
        raise ValueError(f"autocast needs a resolved precision (bf16/fp16/fp32), got {precision!r}")
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def describe_hardware(device: torch.device | str | None = None) -> str:
    """One line naming the device and what ``auto`` picks there, for logs and benchmark output."""
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({torch.get_num_threads()} threads, bf16 units: {'yes' if cpu_has_bf16() else 'no'})"
    return f"{name}; torch {torch.__version__}; auto precision: {pick_precision(device)}"
