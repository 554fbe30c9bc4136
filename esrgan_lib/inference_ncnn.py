"""The ncnn backend of ``upscale``: an RRDBNet exported once to ncnn's format and run by Tencent's runtime.

``upscale(model, image, backend="ncnn")`` (or ``"auto"`` on a CPU) hands each batch of tiles to an
``NcnnRunner`` instead of PyTorch; everything else (image kinds, grey, alpha, 16 bit, padding, tiles) is
``esrgan_lib.inference``'s, shared by both backends. ncnn is what Upscayl, chaiNNer's NCNN nodes and
Real-ESRGAN-ncnn-vulkan run: on CPUs it is faster than PyTorch for these convolution chains (Winograd
kernels), and it uses a Vulkan GPU when it sees one.

How a model reaches ncnn:

1. ``weights_sha256(model)``: a SHA-256 of its configuration and of every weight as fp32 bytes. It names the
   export, so changed weights never reuse a stale one.
2. ``export_location(model)``: the cached export, ``<stem>.ncnn-<key16>.param`` / ``.bin`` / ``.json``
   beside the weights file the model was loaded from (``load_generator`` records it in
   ``model.metadata["source"]``) when that folder is writable and not part of an installed package,
   else ``<cache>/ncnn/<arch>-<key16>.*`` in the user cache (``_cache_root()``: ``ncnn/`` in
   ``esrgan_lib.download.cache_home()``, ``$ESRGAN_HOME`` or ``~/.cache/esrgan_lib``), which keeps the
   ``CACHE_KEEP`` most recently used exports (``BESIDE_KEEP`` per weights file beside it). Written with
   ``checkpoint.write_ncnn`` (fp32 weights: exact) and atomically; the ``.json`` manifest, written last,
   holds the weights' hash and the SHA-256 of both files. An entry whose manifest is missing or whose
   files do not match it (truncated, damaged, a crash between writes) is rebuilt with a warning, never used.
3. Loaded once per process: the ``ncnn.Net`` is kept with the model (a weak reference: it goes when the
   model goes) and reused for every later call and tile while PyTorch's version counters say the weights
   are unchanged (optimizer steps, ``load_state_dict`` and in-place ops under ``no_grad`` all count;
   edits through ``.data`` bypass the counters, so call ``unload_all()`` after those).

Options: ``torch.get_num_threads()`` CPU threads (set on every call); ncnn's own defaults otherwise
(Winograd and sgemm convolutions, packed layouts, light mode), which were the fastest measured here
(``benchmarks/bench_upscale.py``). ncnn computes in fp32 on x86 CPUs; on Vulkan GPUs and ARM CPUs it
stores activations in fp16 unless ``precision="fp32"``. Importing this module does not import ncnn.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
import os
import platform
import sysconfig
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._atomic import atomic_path
from .checkpoint.ncnn import write_ncnn, writes_ncnn
from .download import cache_home, sha256sum
from .models import registry

__all__ = ["NcnnRunner", "available", "check_supported", "supports", "weights_sha256", "export_location",
           "computes_in_fp32", "gpu_count", "loaded_options", "unload_all", "CACHE_KEEP", "BESIDE_KEEP"]

EXPORT_FORMAT = "esrgan_lib ncnn export 1"  # in every hash and manifest: bump it when the export changes
CACHE_KEEP = 8  # exports kept in the user cache (least recently used go first)
BESIDE_KEEP = 2  # exports kept beside one weights file
_REDUCED_PRECISION = ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage",
                      "use_bf16_packed")
_REPORTED_OPTIONS = ("num_threads", "use_vulkan_compute", "use_winograd_convolution", "use_sgemm_convolution",
                     "use_packing_layout", "lightmode", *_REDUCED_PRECISION)


# ----------------------------------------------------------------------------------------------
# can ncnn run it?


def available() -> bool:
    """Whether the ``ncnn`` package can be imported."""
    try:
        import ncnn  # noqa: F401
    except ImportError:
        return False
    return True


def supports(model: nn.Module) -> bool:
    """Whether the exporter writes ``model`` in ncnn's format (``checkpoint.ncnn.writes_ncnn``)."""
    return writes_ncnn(model)


def check_supported(model: nn.Module, precision: str = "auto") -> None:
    """``ValueError`` if ncnn cannot run ``model`` at ``precision``; ``ModuleNotFoundError`` without ncnn."""
    if not supports(model):
        raise ValueError(f"{type(model).__name__} cannot run with backend 'ncnn' (its exporter writes "
                         "RRDBNet generators); use backend 'torch'")
    if precision not in ("auto", "fp32", "fp16"):
        raise ValueError(f"backend 'ncnn' takes precision 'auto', 'fp32' or 'fp16', got {precision!r}")
    if not available():
        raise ModuleNotFoundError("backend 'ncnn' needs Tencent's ncnn runtime: pip install ncnn")


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (ncnn's C++ prints 'dlopen failed libvulkan...' when there is no Vulkan)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def gpu_count() -> int:
    """Vulkan devices ncnn sees (0 without Vulkan); asked once per process."""
    import ncnn

    with _quiet_stderr():
        return int(ncnn.get_gpu_count())


def computes_in_fp32(precision: str = "auto") -> bool:
    """Whether ncnn computes in fp32 here: with ``precision="fp32"``, or on an x86 CPU without a Vulkan GPU
    (its x86 convolutions have no fp16 path). Elsewhere its defaults store activations in fp16."""
    x86 = platform.machine().lower() in ("x86_64", "amd64", "x86", "i386", "i686")
    return precision == "fp32" or (x86 and gpu_count() == 0)


# ----------------------------------------------------------------------------------------------
# the cached export


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 (hex) of the export format, ``model.config`` and every state-dict tensor as fp32 bytes."""
    h = hashlib.sha256(f"{EXPORT_FORMAT}\n{json.dumps(model.config, sort_keys=True)}\n".encode())
    for name, t in model.state_dict().items():
        a = t.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name} {tuple(a.shape)}\n".encode())
        h.update(a.numpy().data)
    return h.hexdigest()


def _cache_root() -> Path:
    """The user cache's folder for ncnn exports: ``ncnn/`` in ``esrgan_lib.download.cache_home()``."""
    return cache_home() / "ncnn"


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def _in_installed_package(path: Path) -> bool:
    """Inside site-packages or esrgan_lib's own folder (weights shipped with a package stay untouched)."""
    roots = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    roots.add(Path(__file__).resolve().parent)
    return any(root == path or root in path.parents for root in roots)


def _beside(model: nn.Module) -> Path | None:
    """The weights file ``model`` was loaded from, when its export may go beside it."""
    source = (getattr(model, "metadata", None) or {}).get("source")
    if not source:
        return None
    src = Path(source).resolve()
    ok = src.is_file() and _writable(src.parent) and not _in_installed_package(src)
    return src if ok else None


def export_location(model: nn.Module) -> Path:
    """The ``.param`` path where the export of ``model``'s current weights is (or will be) cached."""
    return _location(model, weights_sha256(model))


def _location(model: nn.Module, key: str, *, beside: bool = True) -> Path:
    src = _beside(model) if beside else None
    if src is not None:
        return src.parent / f"{src.stem}.ncnn-{key[:16]}.param"
    return _cache_root() / f"{registry.spec_of(model).name}-{key[:16]}.param"


def _damage(param: Path, key: str) -> str | None:
    """Why the cache entry at ``param`` cannot be used ("missing" when it is simply not there), or None."""
    bin_, manifest = param.with_suffix(".bin"), param.with_suffix(".json")
    if not (param.exists() or bin_.exists() or manifest.exists()):
        return "missing"
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
        if info.get("format") != EXPORT_FORMAT or info.get("weights_sha256") != key:
            return f"{manifest.name} is for other weights or another export format"
        for path, field in ((param, "param_sha256"), (bin_, "bin_sha256")):
            if sha256sum(path) != info.get(field):
                return f"{path.name} does not match its SHA-256 in {manifest.name}"
    except (OSError, ValueError, AttributeError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def _write_entry(model: nn.Module, param: Path, key: str) -> None:
    """Export (``.bin`` then ``.param``, each atomic), then the manifest that makes the entry valid."""
    write_ncnn(model, param)
    info = {"format": EXPORT_FORMAT, "weights_sha256": key, "config": model.config,
            "source": (getattr(model, "metadata", None) or {}).get("source"),
            "param_sha256": sha256sum(param), "bin_sha256": sha256sum(param.with_suffix(".bin"))}
    with atomic_path(param.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def _prune(folder: Path, pattern: str, keep: int) -> None:
    """Delete all but the ``keep`` most recently used entries matching ``pattern`` (a ``.param`` glob)."""
    def used(param: Path) -> float:
        for p in (param.with_suffix(".json"), param):
            with contextlib.suppress(OSError):
                return p.stat().st_mtime
        return 0.0

    entries = sorted(folder.glob(pattern), key=used, reverse=True)
    for param in entries[keep:]:
        for ext in (".json", ".param", ".bin"):
            with contextlib.suppress(OSError):
                param.with_suffix(ext).unlink()


def _ensure_export(model: nn.Module, key: str) -> Path:
    """The ``.param`` of a valid cache entry for ``model`` (``key`` its weights' hash), exported if needed."""
    param = _location(model, key)
    why = _damage(param, key)
    if why is None:
        with contextlib.suppress(OSError):  # mark as recently used (a read-only cache still works)
            os.utime(param.with_suffix(".json"))
        return param
    if why != "missing":
        warnings.warn(f"{param}: the cached ncnn export was damaged ({why}); rebuilt it", stacklevel=6)
    beside = param.parent != _cache_root()
    try:
        _write_entry(model, param, key)
    except OSError:
        if not beside:
            raise
        param = _location(model, key, beside=False)  # the folder refused the files
        if _damage(param, key) is not None:
            _write_entry(model, param, key)
        beside = False
    if beside:
        _prune(param.parent, glob.escape(param.name.split(".ncnn-")[0]) + ".ncnn-*.param", BESIDE_KEEP)
    else:
        _prune(param.parent, "*.param", CACHE_KEEP)
    return param


# ----------------------------------------------------------------------------------------------
# the loaded Net, kept with its model


def _load_net(param: Path, *, fp32: bool, vulkan: bool):
    """``(net, pools)``: an ``ncnn.Net`` with ``param`` and its ``.bin`` loaded and its two allocators (kept
    alive as long as the Net), or None when ncnn refuses the files.

    Blobs and workspaces come from pool allocators (as in ncnn's own tools): buffers are reused from layer
    to layer and tile to tile instead of going back to malloc, which fragments (measured: the resident
    memory of repeated calls settles lower). They stay filled between calls, as in ncnn's own runtime
    (emptying them made every call fault its workspaces in again); ``unload_all()`` frees them."""
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = vulkan
    net.opt.num_threads = torch.get_num_threads()
    pools = (ncnn.UnlockedPoolAllocator(), ncnn.PoolAllocator())
    net.opt.blob_allocator, net.opt.workspace_allocator = pools
    if fp32:
        for name in _REDUCED_PRECISION:
            setattr(net.opt, name, False)
    if net.load_param(str(param)) != 0 or net.load_model(str(param.with_suffix(".bin"))) != 0:
        return None
    return net, pools


@dataclass
class _Loaded:
    signature: tuple | None  # the weights' (object, data pointer, version) when loaded
    options: tuple  # (fp32, vulkan)
    net: object
    pools: tuple  # (blob, workspace) allocators
    param: Path
    input_name: str
    output_name: str


_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> _Loaded


def _signature(model: nn.Module) -> tuple | None:
    """Which tensor each weight is, where its data lives and how often it was changed in place; None when
    PyTorch cannot say (tensors made under ``inference_mode`` keep no version counter)."""
    try:
        return tuple((id(t), t.data_ptr(), t._version) for t in (*model.parameters(), *model.buffers()))
    except RuntimeError:
        return None


def _loaded_for(model: nn.Module, precision: str) -> _Loaded:
    options = (precision == "fp32", gpu_count() > 0)
    signature = _signature(model)
    hit = _LOADED.get(model)
    if hit is not None and signature is not None and hit.signature == signature and hit.options == options:
        return hit
    _LOADED.pop(model, None)  # free the old Net before loading another
    key = weights_sha256(model)
    param = _ensure_export(model, key)
    got = _load_net(param, fp32=options[0], vulkan=options[1])
    if got is None:  # the files changed after they were checked (another process pruning): export again
        for ext in (".json", ".param", ".bin"):
            with contextlib.suppress(OSError):
                param.with_suffix(ext).unlink()
        param = _ensure_export(model, key)
        got = _load_net(param, fp32=options[0], vulkan=options[1])
        if got is None:
            raise RuntimeError(f"ncnn could not load {param} (and its .bin), written just now")
    net, pools = got
    loaded = _Loaded(signature, options, net, pools, param, net.input_names()[0], net.output_names()[0])
    _LOADED[model] = loaded
    return loaded


def loaded_options(model: nn.Module) -> dict:
    """The ncnn options of the Net loaded for ``model`` (``KeyError`` when none is)."""
    opt = _LOADED[model].net.opt
    return {name: getattr(opt, name) for name in _REPORTED_OPTIONS}


def unload_all() -> None:
    """Drop every loaded Net (their memory goes; the exports on disk stay)."""
    _LOADED.clear()


def _memory_budget() -> int:
    """Bytes one ncnn pass may use: half the memory available now (4 GiB where the system does not say)."""
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            available = 8 << 30
    return available // 2


# ncnn's peak memory per output pixel and feature channel (Winograd and im2col-GEMM workspaces; measured
# 48-66 bytes for nf 16..64, x1..x4, in benchmarks' fashion: VmHWM of one pass), with margin. PyTorch's
# direct convolutions need about a sixth of it.
_BYTES_PER_OUTPUT_VALUE = 80


class NcnnRunner:
    """``inference``'s runner contract through ncnn: (B, C, h, w) CPU float in [0, 1], h and w multiples of
    ``multiple`` -> (B, C', h*s, w*s) CPU float32. The Net is loaded (and exported if needed) here, once.

    ``max_pixels``: the largest input (h * w) one pass takes within ``_memory_budget()``; a bigger image
    without ``tile`` is cut into the largest tiles that fit (ncnn's fast convolutions need several times
    PyTorch's memory; an image that fits runs whole)."""

    def __init__(self, model: nn.Module, *, scale: int, multiple: int, precision: str = "auto"):
        check_supported(model, precision)
        self.loaded = _loaded_for(model, precision)
        self.scale, self.multiple = scale, multiple
        per_pixel = _BYTES_PER_OUTPUT_VALUE * scale**2 * max(int(model.config.get("nf", 64)), 16)
        self.max_pixels = max(_memory_budget() // per_pixel, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import ncnn

        loaded = self.loaded
        loaded.net.opt.num_threads = torch.get_num_threads()  # copied into each extractor
        outs = []
        for image in x:  # ncnn takes one (C, h, w) image at a time
            arr = np.ascontiguousarray(image.numpy(), dtype=np.float32)  # ncnn.Mat wraps it, no copy
            extractor = loaded.net.create_extractor()
            extractor.input(loaded.input_name, ncnn.Mat(arr))
            rc, out = extractor.extract(loaded.output_name)
            if rc != 0:
                raise RuntimeError(f"ncnn failed (code {rc}) on a {tuple(arr.shape)} input: {loaded.param}")
            outs.append(torch.from_numpy(np.array(out)))  # copied out of ncnn's memory
        return outs[0][None] if len(outs) == 1 else torch.stack(outs)

    def close(self) -> None:
        """The end of one image: the Net, its weights and its pooled buffers stay loaded for the next call
        (``unload_all()`` frees them)."""
