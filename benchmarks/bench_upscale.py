"""Benchmark: esrgan_lib's ``upscale`` (torch and ncnn backends) against spandrel and ncnn's raw runtime.

    python benchmarks/bench_upscale.py                 # 256x256, nf 64, nb 23, x4
    python benchmarks/bench_upscale.py --weights realesrgan-x4plus --size 64 --runs 5
    python benchmarks/bench_upscale.py --size 128 --runs 3 --levers [--compile]
    python benchmarks/bench_upscale.py --big --nf 8 --nb 1   # peak memory of a 2000x2000 tiled upscale

All sides get the same weights (random ones of ``--nf``/``--nb``, or ``--weights``: a file or a packaged
ncnn model name) and the same input, timed in interleaved rounds (one call of each per round, so a load
change on a shared machine hits all alike):

- spandrel, as chaiNNer's CPU path runs it: fp32, contiguous tensors, ``torch.no_grad``;
- esrgan_lib torch: ``upscale(model, x, backend="torch")``;
- esrgan_lib ncnn: ``upscale(model, x, backend="ncnn")`` (the export and load happen in the warm-up);
- ncnn runtime: Tencent's ``ncnn.Net`` on the very ``.param``/``.bin`` the ncnn backend exported, its
  default options and the same thread count, fed the float image directly (what ncnn's own tools do).

Printed: seconds per image, each side's time relative to ncnn's runtime, the PSNR of each output against
spandrel's, each side's share of the machine's fp32 matmul peak (``_roofline.py``), and the peak resident
memory of each phase measured in a fresh subprocess (``resource.getrusage`` max RSS; torch allocations are
invisible to tracemalloc). ``--threads`` sets ``torch.set_num_threads`` (ncnn follows it).

``--levers`` also times the CPU options one by one (channels_last, inference_mode,
torch.compile, mkldnn prepacking, bf16, tile batching) with their PSNR against the fp32 output:
only what is faster *and* >= 40 dB stays a default.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def make_models(nf: int, nb: int, scale: int = 4, weights: str | None = None):
    """(ours, spandrel's) with identical weights (random, or from ``weights``), eval mode, on the CPU."""
    from spandrel import ModelLoader

    from esrgan_lib.checkpoint import load_generator, packaged_ncnn_model, to_basicsr_keys
    from esrgan_lib.checkpoint.ncnn import PACKAGED_NCNN_MODELS
    from esrgan_lib.models import RRDBNet

    if weights is not None:
        path = packaged_ncnn_model(weights) if weights in PACKAGED_NCNN_MODELS else weights
        ours = load_generator(path, device="cpu")
        state = {k: v.clone() for k, v in ours.state_dict().items()}
    else:
        torch.manual_seed(0)
        state = RRDBNet(nf=nf, nb=nb, scale=scale).state_dict()
        ours = load_generator(to_basicsr_keys(state), device="cpu")
    theirs = ModelLoader().load_from_state_dict({"params_ema": state}).model.eval()
    return ours, theirs


def ncnn_raw_call(model):
    """``fn(x)`` running ncnn's own ``Net`` (default options) on the files the ncnn backend exported."""
    import ncnn
    import numpy as np

    from esrgan_lib import inference_ncnn

    param = inference_ncnn.export_location(model)
    net = ncnn.Net()
    net.opt.use_vulkan_compute = inference_ncnn.gpu_count() > 0
    net.opt.num_threads = torch.get_num_threads()
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0

    def call(x):
        extractor = net.create_extractor()
        extractor.input("data", ncnn.Mat(np.ascontiguousarray(x[0].numpy())))
        _, out = extractor.extract("output")
        return torch.from_numpy(np.array(out))[None]

    return call


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(1 / mse)


def spandrel_call(model, x):
    with torch.no_grad():
        return model(x.contiguous())


def timeit(fn, runs: int, warmup: int) -> tuple[float, torch.Tensor]:
    """Median seconds per call, and the last output."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2], out


# ----------------------------------------------------------------------------------------------
# peak memory of one phase, in a fresh process


def _reset_peak_rss() -> None:
    """Linux: reset this process's peak RSS (VmHWM) so imports do not hide the phase's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmHWM: peak RSS, VmRSS: current) in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not Linux: the lifetime peak (includes imports)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, nf: int, nb: int, size: int, tile: int | None, weights: str | None = None) -> dict:
    import numpy as np

    from esrgan_lib.inference import upscale

    ours, theirs = make_models(nf, nb, weights=weights)
    backend = name.rsplit("-", 1)[-1] if name.startswith(("ours-", "big-")) else "torch"
    if backend == "ncnn":
        upscale(ours, torch.rand(1, 3, 8, 8), backend="ncnn")  # export and load before the phase
    base = _status_mb("VmRSS")
    _reset_peak_rss()
    t = time.perf_counter()
    if name == "spandrel":
        spandrel_call(theirs, torch.rand(1, 3, size, size))
    elif name.startswith("ours-"):
        upscale(ours, torch.rand(1, 3, size, size), tile=tile, backend=backend)
    elif name.startswith("big-"):
        img = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
        upscale(ours, img, tile=tile, backend=backend)
    return {"phase": name, "seconds": round(time.perf_counter() - t, 2),
            "rss_before_mb": round(base), "peak_rss_mb": round(_status_mb("VmHWM"))}


def run_phase(name: str, args, size: int, tile: int | None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--phase", name, "--nf", str(args.nf),
           "--nb", str(args.nb), "--size", str(size), "--threads", str(torch.get_num_threads())]
    cmd += (["--tile", str(tile)] if tile else []) + (["--weights", args.weights] if args.weights else [])
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        return {"phase": name, "error": res.stderr.strip().splitlines()[-1:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# CPU levers


def levers(ours, x, ref, runs, warmup, compile_too=False):
    """Time each option of our path; PSNR against the fp32 spandrel output ``ref``."""
    import copy

    from esrgan_lib.inference import upscale
    from esrgan_lib.runtime import cpu_has_bf16

    rows = []

    def add(name, fn):
        try:
            sec, out = timeit(fn, runs, warmup)
            rows.append((name, sec, psnr(out.float(), ref)))
        except Exception as e:  # report, do not stop the benchmark
            rows.append((name, None, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}"))

    plain = copy.deepcopy(ours)

    def plain_call():
        with torch.no_grad():
            return plain(x)

    add("fp32, contiguous, no_grad (plain)", plain_call)
    cl = copy.deepcopy(ours).to(memory_format=torch.channels_last)

    def cl_no_grad():
        with torch.no_grad():
            return cl(x.contiguous(memory_format=torch.channels_last))

    def cl_inference():
        with torch.inference_mode():
            return cl(x.contiguous(memory_format=torch.channels_last))

    add("+ channels_last, no_grad", cl_no_grad)
    add("+ channels_last, inference_mode", cl_inference)
    torch_up = functools.partial(upscale, backend="torch")
    add("upscale(backend='torch') defaults", lambda: torch_up(ours, x))
    add("upscale(backend='torch') channels_last=False", lambda: torch_up(ours, x, channels_last=False))
    half = x.shape[-1] // 2
    add(f"upscale(backend='torch') tile={half}, batch_tiles=1",
        lambda: torch_up(ours, x, tile=half, tile_pad=8))
    add(f"upscale(backend='torch') tile={half}, batch_tiles=4",
        lambda: torch_up(ours, x, tile=half, tile_pad=8, batch_tiles=4))

    def mkldnn_call():
        from torch.utils import mkldnn as mkldnn_utils

        m = mkldnn_utils.to_mkldnn(copy.deepcopy(ours))
        with torch.no_grad():
            return m(x.to_mkldnn()).to_dense()

    add("mkldnn prepacked weights (to_mkldnn)", mkldnn_call)

    if cpu_has_bf16() or os.environ.get("BENCH_BF16"):
        def bf16_call():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return cl(x.contiguous(memory_format=torch.channels_last))

        add("bf16 autocast + channels_last", bf16_call)
    else:
        rows.append(("bf16 autocast", None, "skipped: no AMX/AVX512-BF16 on this CPU (emulated, slower)"))

    if not compile_too:
        rows.append(("torch.compile", None, "skipped (add --compile; compiling takes minutes on 2 cores)"))
        return rows
    try:
        compiled = torch.compile(copy.deepcopy(ours).to(memory_format=torch.channels_last))

        def compiled_call():
            with torch.inference_mode():
                return compiled(x.contiguous(memory_format=torch.channels_last))

        t = time.perf_counter()
        compiled_call()  # compilation
        rows.append(("torch.compile: first call (compiles)", time.perf_counter() - t, ""))
        add("torch.compile (inductor) + channels_last", compiled_call)
    except Exception as e:
        rows.append(("torch.compile", None, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}"))
    return rows


# ----------------------------------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256, help="input height and width (default 256)")
    p.add_argument("--nf", type=int, default=64)
    p.add_argument("--nb", type=int, default=23)
    p.add_argument("--weights", default=None,
                   help="a generator file or packaged ncnn model (realesrgan-x4plus ...); default random")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (ncnn follows it)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--levers", action="store_true", help="also time each CPU option of the torch backend")
    p.add_argument("--compile", action="store_true", help="with --levers: also try torch.compile")
    p.add_argument("--no-memory", action="store_true", help="skip the per-phase memory subprocesses")
    p.add_argument("--big", action="store_true", help="peak memory of a 2000x2000 tiled upscale (slow)")
    p.add_argument("--big-size", type=int, default=2000)
    p.add_argument("--tile", type=int, default=None, help="tile for --big (default 256)")
    p.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.phase:
        print(json.dumps(phase(args.phase, args.nf, args.nb, args.size, args.tile, args.weights)))
        return 0

    from esrgan_lib import inference_ncnn
    from esrgan_lib.inference import pick_backend, upscale
    from esrgan_lib.runtime import cpu_has_bf16, describe_hardware, pick_precision

    print(f"hardware: {describe_hardware('cpu')}")
    ours, theirs = make_models(args.nf, args.nb, weights=args.weights)
    c = ours.config
    print(f"model: RRDBNet nf={c['nf']} nb={c['nb']} x{c['scale']}, {args.weights or 'random weights'}; "
          f"input 1x3x{args.size}x{args.size}")
    x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))

    sides = {"spandrel": lambda: spandrel_call(theirs, x),
             "esrgan_lib torch": lambda: upscale(ours, x, backend="torch")}
    if cpu_has_bf16():  # auto runs bf16 on this CPU: time its fp32 path too (what a CPU without bf16 runs)
        sides["esrgan_lib torch fp32"] = lambda: upscale(ours, x, backend="torch", precision="fp32")
    print(f"upscale(backend='auto') picks: {pick_backend(ours)} "
          f"(torch precision 'auto' = {pick_precision('cpu')})")
    if inference_ncnn.available():
        t = time.perf_counter()
        upscale(ours, x[..., :8, :8], backend="ncnn")
        print(f"ncnn backend, first call (export or cache look-up, load): {time.perf_counter() - t:.2f} s")
        raw = ncnn_raw_call(ours)
        sides["esrgan_lib ncnn"] = lambda: upscale(ours, x, backend="ncnn")
        sides["ncnn runtime"] = lambda: raw(x)
    else:
        print("ncnn is not installed (pip install ncnn): its two sides are left out")
    # interleaved (one of each per round), so a load change on a shared machine hits all alike
    times, outs = {k: [] for k in sides}, {}
    for i in range(args.warmup + args.runs):
        for name, fn in sides.items():
            sec, outs[name] = timeit(fn, 1, 0)
            if i >= args.warmup:
                times[name].append(sec)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    ref = "ncnn runtime" if "ncnn runtime" in med else "spandrel"
    print(f"median of {args.runs} interleaved rounds; ratio = time / {ref}'s time; PSNR vs spandrel's output")
    for name, sec in med.items():
        print(f"  {name:22s} {sec:8.3f} s/image  {sec / med[ref]:5.2f}x  "
              f"{psnr(outs[name].float(), outs['spandrel']):6.1f} dB")

    # How far from the hardware's limit is each? (the bound on what any fp32 lever can give)
    from _roofline import count_gflop, matmul_peak_gflops, report

    small = torch.rand(1, 3, 32, 32)  # work per output pixel is the same at every size: scale by pixels
    with torch.no_grad():
        work = count_gflop(lambda: theirs(small)) * (args.size / 32) ** 2
    for line in report(work, med, matmul_peak_gflops()):
        print(line)
    if "ncnn runtime" in med:
        print("  (ncnn's Winograd convolutions multiply less than the direct count used here: its shares are "
              "effective rates)")

    if not args.no_memory:
        names = ["spandrel", "ours-torch"] + (["ours-ncnn"] if inference_ncnn.available() else [])
        for name in names:
            r = run_phase(name, args, args.size, None)
            print(f"peak RSS [{name}, fresh process]: {r}")

    if args.levers:
        print(f"\nCPU levers of the torch backend (median of {args.runs}, PSNR vs spandrel fp32 output):")
        for name, sec, q in levers(ours, x, outs["spandrel"], args.runs, args.warmup, args.compile):
            shown = f"{sec:8.2f} s" if sec is not None else "       -  "
            qs = f"{q:.1f} dB" if isinstance(q, float) else q
            print(f"  {name:55s} {shown}  {qs}")

    if args.big:
        tile = args.tile or 256
        for backend in ["torch"] + (["ncnn"] if inference_ncnn.available() else []):
            r = run_phase(f"big-{backend}", args, args.big_size, tile)
            print(f"\n{args.big_size}x{args.big_size} x{c['scale']}, tile {tile}, nf={c['nf']} nb={c['nb']}, "
                  f"{backend}: {r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
