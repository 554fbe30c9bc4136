"""RRDBNet's key formats: recognise a state dict, rename it to BasicSR keys, infer the config, export.

====================  ===================================================================
format                keys (``i`` block, ``k`` dense block 1..3, ``j`` conv 1..5)
====================  ===================================================================
``basicsr``           ``conv_first, body.i.rdbk.convj, conv_body, conv_up1..3, conv_hr, conv_last``
                      (what ``RRDBNet`` uses; Real-ESRGAN's files; spandrel reads it)
``official``          official ESRGAN, new arch: ``conv_first, RRDB_trunk.i.RDBk.convj,
                      trunk_conv, upconv1..3, HRconv, conv_last``
``old``               official ESRGAN, old arch: ``model.0, model.1.sub.i.RDBk.convj.0,
                      model.1.sub.<nb>, model.3, model.6, [model.9,] model.<3n+2>, model.<3n+4>``
====================  ===================================================================

``nf`` comes from ``conv_first``'s output channels, ``gc`` from the first dense conv, ``nb`` from the
block indices, the scale from the number of upsampling convs (3 -> x8) and, with two, from
``conv_first``'s input channels (``16 * c`` -> x1, ``4 * c`` -> x2, ``c`` -> x4; the pixel-unshuffle
convention of Real-ESRGAN). These functions are what the ``"rrdbnet"`` ``ArchSpec`` registers
(``detect_keys``, ``to_canonical``, ``from_canonical``, ``infer_config``; ``FORMATS``: its ``key_formats``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

__all__ = ["FORMATS", "detect_format", "detect", "to_basicsr", "from_basicsr", "infer_config"]

FORMATS = ("basicsr", "official", "old")

# BasicSR name prefix <-> official new-arch prefix; "{}" stands for a number
_NEW_ARCH_NAMES = (("body.{}.rdb{}.", "RRDB_trunk.{}.RDB{}."), ("conv_body.", "trunk_conv."),
                   ("conv_up{}.", "upconv{}."), ("conv_hr.", "HRconv."))
_REQUIRED = {"conv_first.weight": "the first conv", "conv_last.weight": "the output conv",
             "body.0.rdb1.conv1.weight": "the first dense block", "conv_hr.weight": "the HR conv"}


def detect_format(sd: Mapping) -> str | None:
    """``"basicsr"``, ``"official"`` or ``"old"`` when ``sd``'s keys are an RRDBNet's, else None."""
    if "model.0.weight" in sd and any(k.startswith("model.1.sub.0.RDB1.") for k in sd):
        return "old"
    if "conv_first.weight" in sd and any(k.startswith("RRDB_trunk.") for k in sd):
        return "official"
    if "conv_first.weight" in sd and any(k.startswith("body.") and ".rdb" in k for k in sd):
        return "basicsr"
    return None


def detect(sd: Mapping) -> bool:
    """True if ``sd`` (any of the module's key formats) is an RRDBNet state dict."""
    return detect_format(sd) is not None


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


def _old_names(nb: int, num_up: int) -> dict[str, str]:
    """BasicSR layer name -> old-arch ``model.<n>`` index (dense blocks are renamed separately)."""
    names = {"conv_first": "0", "conv_body": f"1.sub.{nb}", "conv_hr": str(3 * num_up + 2),
             "conv_last": str(3 * num_up + 4)}
    names.update({f"conv_up{u}": str(3 * u) for u in range(1, num_up + 1)})
    return names


def _from_old(sd: Mapping) -> dict:
    blocks = [int(m.group(1)) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", k))]
    nb = max(blocks) + 1
    last = max(int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.", k)))
    num_up = (last - 4) // 3
    if num_up < 2:
        raise ValueError(
            f"an old-arch ESRGAN file must end with model.10 (x4) or model.13 (x8); the last layer "
            f"found is model.{last}: the file is incomplete ({len(sd)} tensors)"
        )
    names = {v: k for k, v in _old_names(nb, num_up).items()}
    out = {}
    for k, v in sd.items():
        m = re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", k)
        if m:
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = v
            continue
        name, kind = k[len("model."):].rsplit(".", 1) if k.startswith("model.") else (k, "")
        out[f"{names[name]}.{kind}" if name in names else k] = v  # unknown keys stay, reported later
    return out


def to_basicsr(sd: Mapping) -> dict:
    """Any of the module's key formats -> BasicSR keys. ValueError if ``sd`` is not an RRDBNet's."""
    fmt = detect_format(sd)
    if fmt == "basicsr":
        return dict(sd)
    if fmt == "official":
        return _rename_new_arch(sd, to_official=False)
    if fmt == "old":
        return _from_old(sd)
    raise ValueError("not an RRDBNet state dict (no conv_first + body/RRDB_trunk/model.1.sub keys)")


def _blocks_and_steps(sd: Mapping) -> tuple[int, int]:
    """(nb, number of x2 upsampling convs) of a BasicSR-keyed state dict."""
    nb = len({int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k))})
    return nb, sum(1 for k in sd if re.match(r"conv_up\d\.weight$", k))


def from_basicsr(sd: Mapping, fmt: str) -> dict:
    """BasicSR keys -> ``fmt`` (one of ``FORMATS``) for tools that assume ``gc=32``, else a warning."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    gc = sd["body.0.rdb1.conv1.weight"].shape[0] if "body.0.rdb1.conv1.weight" in sd else 32
    if gc != 32:
        warnings.warn(f"gc={gc}: spandrel/chaiNNer assume gc=32 and will not load this", stacklevel=3)
    if fmt == "basicsr":
        return dict(sd)
    if fmt == "official":
        return _rename_new_arch(sd, to_official=True)
    names, out = _old_names(*_blocks_and_steps(sd)), {}
    for k, v in sd.items():
        m = re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)$", k)
        if m:
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
        else:
            name, kind = k.rsplit(".", 1)
            out[f"model.{names[name]}.{kind}"] = v
    return out


def infer_config(sd: Mapping) -> dict:
    """RRDBNet constructor arguments from the tensor shapes of a BasicSR-keyed state dict.

    Raises ValueError naming the missing layer when the state dict is incomplete.
    """
    missing = [f"{k} ({what})" for k, what in _REQUIRED.items() if k not in sd]
    if missing:
        raise ValueError(f"incomplete RRDBNet checkpoint ({len(sd)} tensors): missing {', '.join(missing)}")
    first = sd["conv_first.weight"]
    nf, c_first = first.shape[0], first.shape[1]
    out_ch = sd["conv_last.weight"].shape[0]
    gc = sd["body.0.rdb1.conv1.weight"].shape[0]
    nb, num_up = _blocks_and_steps(sd)
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
