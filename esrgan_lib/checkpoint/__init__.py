"""Saving, loading, exporting and interpolating generators, in every ESRGAN key format.

Formats ``load_generator`` reads (the architecture is inferred from tensor shapes):

====================  ===================================================================
format                keys (``i`` block, ``k`` dense block 1..3, ``j`` conv 1..5)
====================  ===================================================================
ours (safetensors)    BasicSR keys; architecture and config in the file's metadata
BasicSR/Real-ESRGAN   ``conv_first, body.i.rdbk.convj, conv_body, conv_up1..3, conv_hr,
                      conv_last``; maybe wrapped as ``{"params_ema": ...}`` / ``{"params": ...}``
                      (``params_ema`` preferred) and/or prefixed ``module.``
official, new arch    ``conv_first, RRDB_trunk.i.RDBk.convj, trunk_conv, upconv1..3, HRconv,
                      conv_last``
official, old arch    ``model.0, model.1.sub.i.RDBk.convj.0, model.1.sub.<nb>, model.3,
                      model.6, [model.9,] model.<3n+2>, model.<3n+4>`` (n upsampling steps)
SRResNet              our ``SRResNet`` keys (``conv_first.0, body.i.body.*, upsample.*``)
ncnn                  ``X.param`` + ``X.bin`` (Upscayl, Real-ESRGAN-ncnn-vulkan): see ``checkpoint.ncnn``
====================  ===================================================================

``nf`` comes from ``conv_first``'s output channels, ``gc`` from the first dense conv, ``nb`` from
the block indices, the scale from the number of upsampling convs (3 -> x8) and, with two, from
``conv_first``'s input channels (``16 * c`` -> x1, ``4 * c`` -> x2, ``c`` -> x4; the pixel-unshuffle
convention of Real-ESRGAN).

``torch.load`` always runs with ``weights_only=True``: a ``.pth`` file cannot run code here.
"""

from __future__ import annotations

import copy
import json
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .._atomic import atomic_path
from ..models import RRDBNet, SRResNet
from ..runtime import default_device
from .ncnn import describe_packaged, load_ncnn_generator, packaged_ncnn_model, write_ncnn

__all__ = [
    "save_generator",
    "load_generator",
    "load_state_dict",
    "read_metadata",
    "to_basicsr_keys",
    "export_generator",
    "interpolate",
    "download_official_esrgan",
    "packaged_ncnn_model",
    "OFFICIAL_X4_URL",
    "OFFICIAL_X4_SHA256_PREFIX",
]

ARCHITECTURES = {"RRDBNet": RRDBNet, "SRResNet": SRResNet}
_META_ARCH, _META_CONFIG = "esrgan_lib.arch", "esrgan_lib.config"
_WRAPPERS = ("params_ema", "params", "state_dict", "model_state_dict", "generator", "net_g")

OFFICIAL_X4_URL = (
    "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"
)
OFFICIAL_X4_SHA256_PREFIX = "ff704c30"


# ----------------------------------------------------------------------------------------------
# saving


def save_generator(model: nn.Module, path: str | os.PathLike, metadata: Mapping | None = None) -> Path:
    """Save ``model`` (RRDBNet or SRResNet) as a safetensors file that rebuilds itself.

    The architecture name and ``model.config`` go into the safetensors metadata, so
    ``load_generator(path)`` needs no arguments. ``metadata``: extra information (training recipe,
    ``{"vgg_weights": "random"}`` ...); values that are not strings are stored as JSON.
    The write is atomic (temp file + ``os.replace``): an interrupted save never leaves half a file.
    """
    from safetensors.torch import save_file

    arch = type(model).__name__
    if arch not in ARCHITECTURES:
        raise TypeError(f"save_generator saves {sorted(ARCHITECTURES)}, got {arch}")
    meta = {"format": "pt", _META_ARCH: arch, _META_CONFIG: json.dumps(model.config)}
    for key, value in (metadata or {}).items():
        meta[str(key)] = value if isinstance(value, str) else json.dumps(value)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a safetensors file written by ``save_generator`` (all values strings).

    For an ncnn ``.param`` file: its format and, for a model from a PyPI wheel, what it is.
    """
    if Path(path).suffix == ".param":
        description = describe_packaged(path)
        return {"format": "ncnn", **({"description": description} if description else {})}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


# ----------------------------------------------------------------------------------------------
# reading state dicts and converting keys


def _read_file(path: Path) -> tuple[dict, dict]:
    """(state dict, metadata) from a .safetensors or torch pickle file."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path)), read_metadata(path)
        except Exception as e:
            raise ValueError(f"{path} is not a readable safetensors file: {e}") from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(
            f"{path} could not be read as a PyTorch checkpoint with weights_only=True "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from e
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return dict(obj), {}


def load_state_dict(obj: Mapping) -> dict:
    """Unwrap ``params_ema``/``params``/... wrappers and strip ``module.`` prefixes."""
    for key in _WRAPPERS:
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    sd = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue  # e.g. an iteration counter stored beside the weights
        while k.startswith("module."):
            k = k[len("module."):]
        sd[k] = v
    return sd


# BasicSR name prefix <-> official new-arch prefix; "{}" stands for a number
_NEW_ARCH_NAMES = (("body.{}.rdb{}.", "RRDB_trunk.{}.RDB{}."), ("conv_body.", "trunk_conv."),
                   ("conv_up{}.", "upconv{}."), ("conv_hr.", "HRconv."))


def _rename_new_arch(sd: Mapping, *, to_official: bool) -> dict:
    """BasicSR keys <-> official new-arch keys (``conv_first``/``conv_last`` are shared)."""
    rules = []
    for ours, theirs in _NEW_ARCH_NAMES:
        src, dst = (ours, theirs) if to_official else (theirs, ours)
        parts = src.split("{}")
        groups = [f"\\{i + 1}" for i in range(len(parts) - 1)]
        rules.append((re.compile("^" + r"(\d+)".join(map(re.escape, parts))), dst.format(*groups)))
    out = {}
    for k, v in sd.items():
        for pattern, repl in rules:
            k, hits = pattern.subn(repl, k, count=1)
            if hits:
                break
        out[k] = v
    return out


def _detect_format(sd: Mapping) -> str:
    if "model.0.weight" in sd and "model.1.sub.0.RDB1.conv1.0.weight" in sd:
        return "old"
    if "conv_first.weight" in sd and any(k.startswith("RRDB_trunk.") for k in sd):
        return "official"
    if "conv_first.weight" in sd and any(k.startswith("body.") and ".rdb" in k for k in sd):
        return "basicsr"
    if "conv_first.0.weight" in sd and "upsample.0.weight" in sd:
        return "srresnet"
    return "unknown"


def _describe_unknown(sd: Mapping) -> str:
    keys = list(sd)
    guess = "not an ESRGAN generator"
    if any(k.startswith("features.") for k in keys) or any(k.startswith("classifier.") for k in keys):
        guess = "looks like a VGG/discriminator, not an ESRGAN generator"
    elif any(k.startswith(("conv0_0", "linear1")) for k in keys):
        guess = "looks like a BasicSR discriminator, not an ESRGAN generator"
    return f"found {len(keys)} tensors with keys like {', '.join(keys[:3]) or '(none)'}: {guess}"


def to_basicsr_keys(sd: Mapping) -> dict:
    """Any RRDBNet key format (see the module table) -> BasicSR keys (the names ``RRDBNet`` uses)."""
    sd = load_state_dict(sd)
    fmt = _detect_format(sd)
    if fmt == "basicsr":
        return dict(sd)
    if fmt == "official":
        return _rename_new_arch(sd, to_official=False)
    if fmt == "old":
        blocks = [int(m.group(1)) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", k))]
        nb = max(blocks) + 1
        last = max(int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.", k)))
        num_up = (last - 4) // 3
        names = {"0": "conv_first", f"1.sub.{nb}": "conv_body", str(3 * num_up + 2): "conv_hr",
                 str(3 * num_up + 4): "conv_last"}
        names.update({str(3 * u): f"conv_up{u}" for u in range(1, num_up + 1)})
        out = {}
        for k, v in sd.items():
            m = re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", k)
            if m:
                out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = v
                continue
            name, kind = k[len("model."):].rsplit(".", 1) if k.startswith("model.") else (k, "")
            out[f"{names[name]}.{kind}" if name in names else k] = v  # unknown keys stay, reported later
        return out
    raise ValueError(_describe_unknown(sd))


def _infer_rrdbnet(sd: Mapping) -> dict:
    """RRDBNet config from BasicSR-keyed tensor shapes."""
    first = sd["conv_first.weight"]
    nf, c_first = first.shape[0], first.shape[1]
    out_ch = sd["conv_last.weight"].shape[0]
    gc = sd["body.0.rdb1.conv1.weight"].shape[0] if "body.0.rdb1.conv1.weight" in sd else 32
    nb = len({int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k))})
    num_up = sum(1 for k in sd if re.match(r"conv_up\d\.weight$", k))
    if num_up == 3:
        scale, in_ch = 8, c_first
    elif num_up == 2:
        if c_first == 16 * out_ch:
            scale, in_ch = 1, c_first // 16
        elif c_first == 4 * out_ch:
            scale, in_ch = 2, c_first // 4
        else:
            scale, in_ch = 4, c_first
    else:
        raise ValueError(f"found {num_up} upsampling convs (conv_up*); RRDBNet has 2 (x1, x2, x4) or 3 (x8)")
    return dict(in_ch=in_ch, out_ch=out_ch, nf=nf, nb=nb, gc=gc, scale=scale)


def _infer_srresnet(sd: Mapping) -> dict:
    first = sd["conv_first.0.weight"]
    nb = len({int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k))})
    num_up = sum(1 for k in sd if re.match(r"upsample\.\d+\.bias$", k))
    return dict(in_ch=first.shape[1], out_ch=sd["conv_last.weight"].shape[0], nf=first.shape[0],
                nb=nb, scale=2**num_up)


def _load_into(model: nn.Module, sd: Mapping, strict: bool, source: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    extra = [k for k in sd if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:4])}")
        if extra:
            parts.append(f"{len(extra)} unexpected key(s), e.g. {', '.join(extra[:4])}")
        msg = f"{source}: {'; '.join(parts)} for {type(model).__name__}({model.config})"
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, stacklevel=3)
    bad = [f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
           if k in sd and sd[k].shape != v.shape]
    if bad:
        raise ValueError(f"{source}: shape mismatch for {type(model).__name__}: {'; '.join(bad[:4])}")
    model.load_state_dict({k: v for k, v in sd.items() if k in expected}, strict=False)


def load_generator(
    path_or_state_dict: str | os.PathLike | Mapping,
    *,
    device: str | torch.device | None = None,
    strict: bool = True,
) -> nn.Module:
    """Build and load a generator from any supported checkpoint; returns it in eval mode.

    Args:
        path_or_state_dict: a ``.safetensors`` file from ``save_generator``, a ``.pth``/``.pt``
            file in one of the module's key formats, an ncnn ``.param`` file (its ``.bin`` beside it;
            the model's ``metadata`` attribute then says where the weights come from), or an
            in-memory state dict.
        device: where the returned model lives; default the best device here (``runtime.default_device``:
            the GPU when there is one), so that ``upscale``, which runs on the model's device, uses it.
        strict: missing/unexpected keys raise ``ValueError`` (default) or only warn.

    Raises ``ValueError`` naming what was found when the file is not a generator (e.g. a
    discriminator), when keys are missing or extra, or when shapes disagree.
    """
    meta: dict = {}
    device = default_device() if device is None else device
    if isinstance(path_or_state_dict, Mapping):
        raw, source = dict(path_or_state_dict), "state dict"
    else:
        path = Path(path_or_state_dict)
        if path.suffix == ".param":  # its metadata attribute says where the weights come from
            return load_ncnn_generator(path).to(device).eval()
        raw, meta = _read_file(path)
        source = str(path)
    sd = load_state_dict(raw)
    arch = meta.get(_META_ARCH)
    if arch is not None:
        if arch not in ARCHITECTURES:
            raise ValueError(f"{source}: unknown architecture {arch!r} in metadata")
        config = json.loads(meta[_META_CONFIG])
    elif _detect_format(sd) == "srresnet":
        arch, config = "SRResNet", _infer_srresnet(sd)
    else:
        try:
            sd = to_basicsr_keys(sd)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None
        arch, config = "RRDBNet", _infer_rrdbnet(sd)
    model = ARCHITECTURES[arch](**config)
    _load_into(model, sd, strict, source)
    return model.to(device).eval()


# ----------------------------------------------------------------------------------------------
# export to other tools


def _old_keys(sd: Mapping, nb: int, num_up: int) -> dict:
    names = {"conv_first": "0", "conv_body": f"1.sub.{nb}", "conv_hr": str(3 * num_up + 2),
             "conv_last": str(3 * num_up + 4)}
    names.update({f"conv_up{u}": str(3 * u) for u in range(1, num_up + 1)})
    out = {}
    for k, v in sd.items():
        m = re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)$", k)
        if m:
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
        else:
            name, kind = k.rsplit(".", 1)
            out[f"model.{names[name]}.{kind}"] = v
    return out


def export_generator(model: nn.Module, path: str | os.PathLike, format: str = "basicsr") -> Path:
    """Write an RRDBNet as a ``.pth`` state dict other ESRGAN tools load (spandrel/chaiNNer/ComfyUI).

    ``format``: ``"basicsr"`` -> ``{"params_ema": <BasicSR keys>}`` (Real-ESRGAN's layout);
    ``"official"`` -> the official repository's new-arch keys (``RRDB_trunk...``);
    ``"old"`` -> the official old-arch keys (``model.1.sub...``). spandrel assumes ``gc=32``;
    ``"ncnn"`` -> ``<path>.param`` + ``<path>.bin`` (fp32) for ncnn's runtime (Upscayl, chaiNNer's NCNN
    nodes, Real-ESRGAN-ncnn-vulkan); returns the ``.param`` path.
    """
    if not isinstance(model, RRDBNet):
        raise TypeError(f"export_generator exports RRDBNet models, got {type(model).__name__}")
    if format == "ncnn":
        return write_ncnn(model, path)
    sd = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    if format == "basicsr":
        obj = {"params_ema": sd}
    elif format == "official":
        obj = _rename_new_arch(sd, to_official=True)
    elif format == "old":
        obj = _old_keys(sd, model.nb, model.num_up)
    else:
        raise ValueError(f"format must be 'basicsr', 'official', 'old' or 'ncnn', got {format!r}")
    if model.gc != 32:
        warnings.warn(f"gc={model.gc}: spandrel/chaiNNer assume gc=32 and will not load this", stacklevel=2)
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


# ----------------------------------------------------------------------------------------------
# network interpolation


@torch.no_grad()
def interpolate(psnr_model: nn.Module, gan_model: nn.Module, alpha: float) -> nn.Module:
    """ESRGAN's network interpolation: ``theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN``.

    ``alpha=0`` gives the PSNR-oriented model, ``1`` the GAN model, values between trade
    smoothness for texture. Both must have the same architecture and config; either may also be
    a checkpoint path. Returns a new model in eval mode; the inputs are not modified.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    a = psnr_model if isinstance(psnr_model, nn.Module) else load_generator(psnr_model)
    b = gan_model if isinstance(gan_model, nn.Module) else load_generator(gan_model)
    if type(a) is not type(b) or getattr(a, "config", None) != getattr(b, "config", None):
        raise ValueError(
            f"cannot interpolate different architectures: {type(a).__name__}{getattr(a, 'config', '')} "
            f"vs {type(b).__name__}{getattr(b, 'config', '')}"
        )
    out = copy.deepcopy(a)
    sd_b = b.state_dict()
    for k, v in out.state_dict().items():
        if v.is_floating_point():
            v.copy_((1 - alpha) * v + alpha * sd_b[k].to(v.device, v.dtype))
    return out.eval()


# ----------------------------------------------------------------------------------------------
# official weights


def download_official_esrgan(root: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Fetch the official ESRGAN x4 weights (BasicSR format, 64 nf, 23 nb) and return the path.

    Source: the Real-ESRGAN v0.1.1 GitHub release. The only checksum published is the file
    name's ``ff704c30``, the start of its sha256: a file whose hash does not start with it is
    deleted and ``ValueError`` raised. ``root`` defaults to ``$ESRGAN_HOME`` or
    ``~/.cache/esrgan_lib``; an already downloaded, verified file is reused.
    Load it with ``load_generator(path)``.
    """
    from ..data.download import download_file, sha256sum

    root = Path(root or os.environ.get("ESRGAN_HOME") or Path.home() / ".cache" / "esrgan_lib")
    dest = root / OFFICIAL_X4_URL.rsplit("/", 1)[-1]
    if not dest.is_file():
        download_file(OFFICIAL_X4_URL, dest, progress=progress)
    digest = sha256sum(dest)
    if not digest.startswith(OFFICIAL_X4_SHA256_PREFIX):
        dest.unlink(missing_ok=True)
        raise ValueError(
            f"{dest.name}: sha256 {digest[:16]}... does not start with {OFFICIAL_X4_SHA256_PREFIX}; "
            "the download is corrupt or not the official file (deleted, try again)"
        )
    return dest
