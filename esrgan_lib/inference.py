"""Upscaling whole images of any size, kind and bit depth with a trained generator.

``upscale(model, image)`` returns the same kind of object it was given:

===========================  ===============================================================
input                        output
===========================  ===============================================================
PIL image                    PIL image, same mode (``P``/``CMYK``... come back as RGB/RGBA,
                             ``1`` as ``L``; 16-bit ``I;16``/``I`` stay 16-bit; ``F`` is
                             taken as 0..255)
numpy uint8 / uint16         same dtype, same layout: (H, W), (H, W, 1), (H, W, 2) grey+alpha,
                             (H, W, 3), (H, W, 4) RGBA; 16-bit goes to the model as float, never
                             through 8 bit
numpy float in [0, 1]        same dtype, clipped to [0, 1]
torch (C, H, W)/(B, C, H, W)  same dtype and device; float in [0, 1] (or uint8)
===========================  ===============================================================

Inputs are converted by ``esrgan_lib.img_util.to_batch``: numpy and torch float images follow one
rule, values more than ``img_util.RANGE_TOL`` outside [0, 1], or NaN, raise ``ValueError``.

How channels are handled (for an RGB model):

- grey (1 channel): repeated to RGB, run, and the three output channels averaged back to one;
- alpha (RGBA, grey+alpha): colour through the model; alpha upscaled separately, by default with
  bicubic interpolation (``alpha="bicubic"``, cheap and smooth) or through the model as a grey
  image (``alpha="model"``, sharper edges, costs one more pass). A fully opaque alpha is kept
  exactly opaque without computing anything.

Sizes: any size >= 2x2 pixels works; H and W are reflect-padded to ``model.min_multiple``
(x1/x2 RRDBNets pixel-unshuffle) and the output cropped back to exactly ``(H * s, W * s)``.

Tiling (``tile=N``): the image is cut into N x N low-resolution tiles, each read with ``tile_pad``
extra pixels of context on every side, moved to the device on its own and run; the central part
of each output is pasted into a CPU output tensor. Only one tile (or ``batch_tiles`` tiles) is on
the device at a time, so device memory is bounded by the tile size; CPU memory holds the input
and the float32 output image (about 12 bytes per output pixel for RGB, 768 MB for 2000x2000 x4).
Tiles differ from the untiled result only where a tile's receptive field is cut by the context
limit: with ``tile_pad=10`` and the random-weight models in the tests the difference is small
(see ``tests/test_inference.py`` for the measured maximum and PSNR; trained models behave alike).

Backends (``backend=``): ``"torch"`` runs the model with PyTorch; ``"ncnn"`` exports an RRDBNet once to
ncnn's format and runs Tencent's ncnn runtime (``esrgan_lib.inference_ncnn``: the cache, the options, its
memory); ``"auto"`` (default) is ncnn on a CPU when it can run the model, torch otherwise (``pick_backend``).
Both go through the same image handling here: a runner turns (B, C, h, w) float batches into upscaled
ones, and everything above (kinds, channels, padding, tiles) is shared.

Precision: ``"auto"`` follows ``esrgan_lib.runtime.pick_precision`` (fp32 on CPUs without bf16
units, bf16 on AMX/AVX512-BF16 CPUs and Ampere+ GPUs, fp16 on older GPUs); ``"fp16"`` on a CPU
falls back with a warning instead of failing with "Half not implemented". The model runs in
``torch.inference_mode`` with channels_last memory format (measured faster on CPU).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import runtime
from .img_util import to_batch
from .runtime import autocast, pick_precision

__all__ = ["upscale", "pick_backend", "BACKENDS", "MIN_SIZE"]

MIN_SIZE = 2  # smallest accepted height/width (reflect padding needs two pixels)
BACKENDS = ("auto", "torch", "ncnn")


# ----------------------------------------------------------------------------------------------
# running the model


def _pad_to_multiple(x: torch.Tensor, m: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if not ph and not pw:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _model_properties(model) -> dict:
    """``scale`` (0: unknown), ``multiple`` and ``in_ch`` of ``model``: from its spec in the model registry,
    else (any other module mapping images to images) from its attributes."""
    from .models import registry

    try:
        return registry.inference_properties(model)
    except (TypeError, AttributeError):
        return {"scale": int(getattr(model, "scale", 0)), "multiple": int(getattr(model, "min_multiple", 1)),
                "in_ch": int(getattr(model, "in_ch", 3))}


class _Runner:
    """The torch backend: moves inputs to the device and runs the model under the chosen precision.

    A runner (this one, or ``inference_ncnn.NcnnRunner``) has ``scale``, ``multiple``, ``max_pixels``
    (the largest h * w one pass may take, None: any) and ``runner(x)``: (B, C, h, w) CPU float, h and w
    multiples of ``multiple`` -> (B, C', h*s, w*s) CPU float32. ``_run`` does the padding and tiling for
    both."""

    max_pixels = None  # PyTorch's memory grows with the image like the output's; the caller tiles

    def __init__(self, model, device, precision, channels_last):
        self.model, self.device, self.precision = model, device, precision
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        props = _model_properties(model)
        self.scale, self.multiple = props["scale"] or 1, props["multiple"]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        with autocast(self.device, self.precision):
            y = self.model(x)
        return y.float().to("cpu")

    def close(self) -> None:
        """Called once the image is done (nothing to free here)."""


def _call(runner, x: torch.Tensor) -> torch.Tensor:
    """``runner(x)``, checking that the output is ``runner.scale`` times the input."""
    y = runner(x)
    expected = (x.shape[-2] * runner.scale, x.shape[-1] * runner.scale)
    if tuple(y.shape[-2:]) != expected:
        raise ValueError(
            f"scale mismatch: the model says x{runner.scale} but turned {tuple(x.shape[-2:])} into "
            f"{tuple(y.shape[-2:])}"
        )
    return y


def _run(runner, x: torch.Tensor, tile, tile_pad, batch_tiles, progress) -> torch.Tensor:
    """(B, C, H, W) -> (B, C', H*s, W*s): padded to ``runner.multiple``, in tiles when asked (or when the
    image is more than ``runner.max_pixels``), cropped back."""
    h, w = x.shape[-2:]
    x = _pad_to_multiple(x, runner.multiple)
    if tile is None and runner.max_pixels is not None and x.shape[-2] * x.shape[-1] > runner.max_pixels:
        tile = _tile_within(runner.max_pixels, tile_pad, runner.multiple)
    if tile is None or (tile >= x.shape[-2] and tile >= x.shape[-1]):
        y = _call(runner, x)
    else:
        y = _tiled(runner, x, tile, tile_pad, batch_tiles, progress)
    return y[..., : h * runner.scale, : w * runner.scale]


def _tile_within(max_pixels: int, tile_pad: int, m: int) -> int:
    """The largest tile (a multiple of ``m``) whose padded square has at most ``max_pixels`` pixels."""
    pad = math.ceil(tile_pad / m) * m
    return max(m, (math.isqrt(max_pixels) - 2 * pad) // m * m)


def _tiled(runner, x, tile, tile_pad, batch_tiles, progress) -> torch.Tensor:
    m, s = runner.multiple, runner.scale
    tile = math.ceil(tile / m) * m
    pad = math.ceil(tile_pad / m) * m
    b, _, h, w = x.shape
    jobs = []  # (output box, padded input box), all in low-resolution pixels
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            jobs.append(((y0, y1, x0, x1), (max(y0 - pad, 0), min(y1 + pad, h),
                                            max(x0 - pad, 0), min(x1 + pad, w))))
    out = None
    bar = _progress(len(jobs), progress)
    i = 0
    while i < len(jobs):
        group = [jobs[i]]  # batch consecutive tiles with the same padded size
        size = lambda j: (j[1][1] - j[1][0], j[1][3] - j[1][2])
        while len(group) < batch_tiles and i + len(group) < len(jobs) and \
                size(jobs[i + len(group)]) == size(group[0]):
            group.append(jobs[i + len(group)])
        batch = torch.cat([x[:, :, py0:py1, px0:px1] for _, (py0, py1, px0, px1) in group])
        y = _call(runner, batch)
        if out is None:
            out = torch.empty(b, y.shape[1], h * s, w * s)
        for n, ((y0, y1, x0, x1), (py0, _, px0, _)) in enumerate(group):
            oy, ox = (y0 - py0) * s, (x0 - px0) * s
            out[:, :, y0 * s: y1 * s, x0 * s: x1 * s] = \
                y[n * b:(n + 1) * b, :, oy: oy + (y1 - y0) * s, ox: ox + (x1 - x0) * s]
        i += len(group)
        bar.update(len(group))
    bar.close()
    return out


def _progress(total: int, enabled: bool):
    if enabled:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="tiles", unit="tile", leave=False)

    class _Null:
        def update(self, n):
            pass

        def close(self):
            pass

    return _Null()


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def pick_backend(model: nn.Module, backend: str = "auto", *, device: str | torch.device | None = None,
                 precision: str = "auto") -> str:
    """Which backend ``upscale`` uses: ``"torch"`` or ``"ncnn"``.

    ``"auto"``: ncnn when the model would run on a CPU without native bf16 (``device``, default the
    model's; ``runtime.cpu_has_bf16``), with ``precision="auto"``, the ``ncnn`` package importable and the
    model one the ncnn exporter writes (RRDBNet) and loaded from a file (``load_generator``: its export is
    cached once for all later runs); torch otherwise (CUDA; a CPU with AMX or AVX512-BF16, where torch's
    bf16 path beats ncnn's fp32 one; an explicit precision; SRResNet; a model built or blended in memory,
    whose export would cost seconds for weights that may never be used again). ``"ncnn"`` raises
    ``ValueError`` for a model or precision ncnn cannot run and ``ModuleNotFoundError`` without the package.
    """
    from . import inference_ncnn

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "ncnn":
        inference_ncnn.check_supported(model, precision)
        if device is not None and torch.device(device).type != "cpu":
            raise ValueError(f"device {str(device)!r} is for backend 'torch'; ncnn runs on a Vulkan GPU when "
                             "it sees one, else on the CPU")
        return "ncnn"
    if backend == "torch" or precision != "auto":
        return "torch"
    on_cpu = (torch.device(device) if device is not None else _model_device(model)).type == "cpu"
    from_file = bool((getattr(model, "metadata", None) or {}).get("source"))
    ok = on_cpu and from_file and not runtime.cpu_has_bf16()
    ok = ok and inference_ncnn.supports(model) and inference_ncnn.available()
    return "ncnn" if ok else "torch"


def upscale(
    model: nn.Module,
    image,
    *,
    tile: int | None = None,
    tile_pad: int = 10,
    precision: str = "auto",
    device: str | torch.device | None = None,
    batch_tiles: int = 1,
    channels_last: bool = True,
    alpha: str = "bicubic",
    scale: int | None = None,
    progress: bool = False,
    backend: str = "auto",
):
    """Super-resolve ``image`` with ``model``; returns the same kind of object (see module doc).

    Args:
        model: a generator with a ``scale`` attribute (RRDBNet, SRResNet, or any module mapping
            (B, 3, H, W) to (B, 3, sH, sW)). It is put in eval mode and moved to ``device``.
        image: PIL image, numpy array (uint8/uint16/float, (H, W[, 1|2|3|4])) or tensor
            ((C, H, W) or (B, C, H, W), float in [0, 1] or uint8).
        tile: tile size in low-resolution pixels (``None``: the whole image in one pass).
        tile_pad: context pixels read around each tile (rounded up to ``model.min_multiple``).
        precision: "auto", "fp32", "bf16" or "fp16" (see ``esrgan_lib.runtime.pick_precision``).
        device: where the model runs; default the device of the model's parameters.
        batch_tiles: run up to this many equally sized tiles in one batch.
        channels_last: run in channels_last memory format.
        alpha: how an alpha channel is upscaled: "bicubic" or "model".
        scale: if given, must equal ``model.scale`` (guards against using the wrong model).
        progress: show a tqdm bar over tiles.
        backend: "torch", "ncnn" (the model exported once to ncnn's format and run by Tencent's runtime,
            ``esrgan_lib.inference_ncnn``) or "auto" (ncnn on a CPU when it can run the model, see
            ``pick_backend``). ``device``, ``precision`` (but "bf16"), ``batch_tiles`` and
            ``channels_last`` are torch's; ncnn uses ``torch.get_num_threads()`` CPU threads.

    Raises ``ValueError`` for empty or too small images (< ``MIN_SIZE``), a channel count the
    model cannot take, a scale other than the model's, a float image (array or tensor) outside
    [0, 1] or with NaN values, bad tiling numbers (``tile`` < 1, ``tile_pad`` < 0), or a backend that
    cannot run the model (``ModuleNotFoundError`` for ``backend="ncnn"`` without the ncnn package).
    """
    with torch.inference_mode():
        result = _upscale(model, image, tile=tile, tile_pad=tile_pad, precision=precision, device=device,
                          batch_tiles=batch_tiles, channels_last=channels_last, alpha=alpha, scale=scale,
                          progress=progress, backend=backend)
    if isinstance(result, torch.Tensor):  # a normal tensor: inference tensors cannot join autograd later
        result = result.clone()
    return result


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_tiling(tile, tile_pad, batch_tiles) -> None:
    if tile is not None and (not _is_int(tile) or tile < 1):
        raise ValueError(f"tile must be a positive number of pixels or None, got {tile!r}")
    if not _is_int(tile_pad) or tile_pad < 0:
        raise ValueError(f"tile_pad must be a whole number of pixels >= 0, got {tile_pad!r}")
    if not _is_int(batch_tiles) or batch_tiles < 1:
        raise ValueError(f"batch_tiles must be a whole number >= 1, got {batch_tiles!r}")


def _upscale(model, image, *, tile, tile_pad, precision, device, batch_tiles, channels_last, alpha, scale,
             progress, backend):
    props = _model_properties(model)
    model_scale = props["scale"]
    if scale is not None and scale != model_scale:
        raise ValueError(f"asked for x{scale} but the model upscales x{model_scale}")
    if alpha not in ("bicubic", "model"):
        raise ValueError(f"alpha must be 'bicubic' or 'model', got {alpha!r}")
    _check_tiling(tile, tile_pad, batch_tiles)
    x, restore = to_batch(image, name="image", device="cpu")
    b, c, h, w = x.shape
    if h == 0 or w == 0 or b == 0:
        raise ValueError(f"empty image: {h}x{w} pixels")
    if h < MIN_SIZE or w < MIN_SIZE:
        raise ValueError(f"image is {h}x{w} pixels; upscale needs at least {MIN_SIZE}x{MIN_SIZE}")
    in_ch = props["in_ch"]
    n_colour = {1: 1, 2: 1, 3: 3, 4: 3}.get(c)
    if n_colour is None or n_colour not in (in_ch, 1):
        raise ValueError(
            f"the model takes {in_ch}-channel images; got {c} channels "
            "(supported: grey, grey+alpha, RGB, RGBA)"
        )

    if pick_backend(model, backend, device=device, precision=precision) == "ncnn":
        from .inference_ncnn import NcnnRunner

        runner = NcnnRunner(model, scale=model_scale or 1, multiple=props["multiple"], precision=precision)
    else:
        device = torch.device(device) if device is not None else _model_device(model)
        precision = pick_precision(device, precision)
        model.eval().to(device)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        runner = _Runner(model, device, precision, channels_last)

    def through_model(planes: torch.Tensor) -> torch.Tensor:
        grey = planes.shape[1] == 1 and in_ch != 1
        inp = planes.expand(-1, in_ch, -1, -1) if grey else planes
        out = _run(runner, inp, tile, tile_pad, batch_tiles, progress)
        return out.mean(1, keepdim=True) if grey else out

    try:
        return restore(_channels(through_model, x, n_colour, alpha, model_scale))
    finally:
        runner.close()


def _channels(through_model, x: torch.Tensor, n_colour: int, alpha: str, s: int) -> torch.Tensor:
    """Colour through the model; alpha (channel ``n_colour``, if any) bicubic, through the model or opaque."""
    b, c, h, w = x.shape
    y = through_model(x[:, :n_colour])
    if c in (2, 4):
        a = x[:, n_colour:]
        if bool((a == 1).all()):
            ya = torch.ones(b, 1, h * s, w * s)
        elif alpha == "model":
            ya = through_model(a)
        else:
            ya = F.interpolate(a, scale_factor=s, mode="bicubic", align_corners=False)
        y = torch.cat([y, ya], 1)
    return y
