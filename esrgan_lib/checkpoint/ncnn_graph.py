"""The ``.param`` text graph of an RRDBNet in ncnn's format: checked when read, generated when written.

Line 1 the magic ``7767517``, line 2 ``<layers> <blobs>``, then one layer a line:
``Type Name n_in n_out in_blobs... out_blobs... key=value ...`` (array values are written
``-(23300 + key)=count,v1,v2,...``). A blob read by several layers goes through a ``Split``.

The chain an RRDBNet makes, mapped one to one onto BasicSR's keys: ``conv_first``; per block ``i``
and dense block ``k`` five convs ``body.i.rdbk.conv1..5`` (LeakyReLU 0.2 fused on conv1..4, conv
``j`` reading ``Concat(x, x1..x{j-1})``), ``Eltwise`` sums with coefficients 0.2 and 1.0 closing each
dense block and each RRDB; ``conv_body`` plus the long skip; per x2 step a nearest ``Interp`` and
``conv_up*`` (LeakyReLU); ``conv_hr`` (LeakyReLU); ``conv_last``. Scales 2 and 1 start with a
pixel-unshuffle (``Reorg`` with mode 0, whose channel order is ``F.pixel_unshuffle``'s), as BasicSR's
RRDBNet does.

``GRAPHS`` names each chain this module knows; an architecture's ``ArchSpec.ncnn_graph`` names its own
(``"rrdbnet"``), which is how ``esrgan_lib.checkpoint.ncnn`` finds the spec of what it reads or writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..models.rrdbnet import LRELU_SLOPE, RRDB, ResidualDenseBlock, unshuffle_factor, upsampling_steps

__all__ = ["MAGIC", "NcnnLayer", "NcnnGraph", "GRAPHS", "parse_rrdbnet_graph", "build_rrdbnet_graph",
           "conv_shape"]

MAGIC = "7767517"
_SLOPE = LRELU_SLOPE
_LRELU = f" 9=2 -23310=1,{_SLOPE:e}"
# the residual sums: 0.2 * block output + input (ResidualDenseBlock and RRDB, one scale each)
_RDB_SUM = (ResidualDenseBlock.res_scale, 1.0)
_RRDB_SUM = (RRDB.res_scale, 1.0)

# ----------------------------------------------------------------------------------------------
# the .param graph


@dataclass
class NcnnLayer:
    """One ``.param`` line: layer type and name, input and output blob names, ``key -> value`` text."""

    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, str] = field(default_factory=dict)

    def get(self, key: int, default: float) -> float:
        value = self.params.get(key)
        return default if value is None else float(value)

    def array(self, key: int) -> list[float]:
        """An array parameter (written ``-(23300 + key)=count,v1,v2,...``), empty when absent."""
        value = self.params.get(-23300 - key)
        return [float(v) for v in value.split(",")[1:]] if value else []


def _parse_param(path: Path) -> list[NcnnLayer]:
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != [MAGIC]:
        raise ValueError(f"{path}: not an ncnn .param file (line 1 is not the magic {MAGIC})")
    layers = []
    for n, tok in enumerate(lines[2:], start=3):
        try:
            n_in, n_out = int(tok[2]), int(tok[3])
            ins, outs = tok[4:4 + n_in], tok[4 + n_in:4 + n_in + n_out]
            params = {int(k): v for k, v in (kv.split("=", 1) for kv in tok[4 + n_in + n_out:])}
        except (IndexError, ValueError) as e:
            raise ValueError(f"{path}: line {n} is not an ncnn layer line ({e})") from None
        layers.append(NcnnLayer(tok[0], tok[1], ins, outs, params))
    return layers


class _Chain:
    """Walks a parsed graph, Split layers resolved, checking each layer against RRDBNet's."""

    def __init__(self, layers: list[NcnnLayer], path: Path):
        self.path, self.alias = path, {}
        for layer in layers:
            if layer.type == "Split":
                for out in layer.outputs:
                    self.alias[out] = self.blob(layer.inputs[0])
        self.layers = [la for la in layers if la.type != "Split"]
        self.pos = 0

    def blob(self, name: str) -> str:
        return self.alias.get(name, name)

    def refuse(self, what: str, layer: NcnnLayer | None) -> ValueError:
        found = f"{layer.type} {layer.name}" if layer else "the end of the graph"
        return ValueError(
            f"{self.path}: not an RRDBNet graph (ESRGAN family): expected {what}, found {found} "
            f"(layer {self.pos + 1} without Splits); esrgan_lib reads only RRDBNet generators "
            "(e.g. not the SRVGG 'animevideov3' models)")

    def peek(self) -> NcnnLayer | None:
        return self.layers[self.pos] if self.pos < len(self.layers) else None

    def take(self, type_: str, what: str, inputs: list[str] | None = None, ok: bool = True) -> NcnnLayer:
        layer = self.peek()
        if layer is None or layer.type != type_ or not ok:
            raise self.refuse(f"{type_} ({what})", layer)
        if inputs is not None and [self.blob(b) for b in layer.inputs] != inputs:
            raise self.refuse(f"{type_} ({what}) reading {inputs}", layer)
        self.pos += 1
        return layer

    def activated(self, layer: NcnnLayer) -> bool:
        """Whether the conv at the cursor has an activation, fused (``9=``) or as the next layer."""
        after = self.layers[self.pos + 1] if self.pos + 1 < len(self.layers) else None
        unfused = after is not None and after.type == "ReLU" and self.blob(after.inputs[0]) == self.blob(
            layer.outputs[0])
        return layer.get(9, 0) != 0 or unfused

    def conv(self, what: str, x: str, act: bool) -> tuple[str, NcnnLayer]:
        """A 3x3 stride-1 pad-1 conv with bias reading ``x``; ``act``: LeakyReLU(0.2) after it."""
        layer = self.take("Convolution", what, [x])
        p = layer.params
        plain = (p.get(1) == "3" and p.get(3, "1") == "1" and p.get(4) == "1" and p.get(5) == "1"
                 and p.get(2, "1") == "1" and p.get(11, "3") == "3" and p.get(13, "1") == "1")
        has_act = p.get(9, "0") == "2" and abs((layer.array(10) or [0.0])[0] - _SLOPE) < 1e-6
        out = self.blob(layer.outputs[0])
        if act and not has_act and (nxt := self.peek()) is not None and nxt.type == "ReLU":
            relu = self.take("ReLU", f"LeakyReLU({_SLOPE}) after {what}", [out],
                             ok=abs(nxt.get(0, 0.0) - _SLOPE) < 1e-6)
            has_act, out = True, self.blob(relu.outputs[0])
        if not plain or has_act != act or p.get(9, "0") not in ("0", "2"):
            raise self.refuse(f"a plain 3x3 convolution ({what}, LeakyReLU {act})", layer)
        return out, layer

    def eltwise(self, what: str, a: str, b: str, want: tuple[float, float]) -> str:
        layer = self.take("Eltwise", what, [a, b], ok=self.peek() is not None and self.peek().get(0, 1) == 1)
        coeffs = layer.array(1)
        if len(coeffs) != 2 or any(abs(c - w) > 1e-6 for c, w in zip(coeffs, want)):
            raise self.refuse(f"Eltwise sum with coefficients {want[0]}, {want[1]} ({what})", layer)
        return self.blob(layer.outputs[0])

    def concat(self, what: str, blobs: list[str]) -> str:
        layer = self.take("Concat", what, blobs, ok=self.peek() is not None and self.peek().get(0, 0) == 0)
        return self.blob(layer.outputs[0])


def _walk_trunk(chain: _Chain, feat: str, convs: list) -> tuple[str, int]:
    """The RRDB blocks from ``feat`` on; appends (key, layer) to ``convs``; returns (output, nb)."""
    nb = 0
    while ((nxt := chain.peek()) is not None and nxt.type == "Convolution"
           and chain.blob(nxt.inputs[0]) == feat and chain.activated(nxt)):
        block_in = x = feat
        for k in range(1, 4):
            xs = [x]
            for j in range(1, 6):
                src = xs[0] if j == 1 else chain.concat(f"body.{nb}.rdb{k} concat {j}", list(xs))
                out, layer = chain.conv(f"body.{nb}.rdb{k}.conv{j}", src, act=j < 5)
                convs.append((f"body.{nb}.rdb{k}.conv{j}", layer))
                xs.append(out)
            x = chain.eltwise(f"body.{nb}.rdb{k} residual", xs[-1], x, _RDB_SUM)
        feat = chain.eltwise(f"body.{nb} residual", x, block_in, _RRDB_SUM)
        nb += 1
    return feat, nb


def parse_rrdbnet_graph(path: Path) -> tuple[dict, list]:
    """Read and check an RRDBNet ``.param``; returns (RRDBNet config, [(BasicSR key prefix, layer)]).

    The list holds the convolutions in file order (the order of their weights in the ``.bin``).
    Raises ``ValueError`` naming the first layer that does not fit RRDBNet's chain.
    """
    path = Path(path)
    return _walk(_Chain(_parse_param(path), path))


def build_rrdbnet_graph(config: Mapping) -> tuple[str, list[str]]:
    """The ``.param`` text of ``RRDBNet(**config)`` and its conv keys in file (= ``.bin``) order."""
    graph = _build(config)
    return graph.text(), graph.keys


def _walk(chain: _Chain) -> tuple[dict, list]:
    """Check the whole graph; returns (RRDBNet config, [(BasicSR key prefix, conv layer), ...])."""
    data = chain.blob(chain.take("Input", "the input").outputs[0])
    unshuffle = 1
    if (nxt := chain.peek()) is not None and nxt.type == "Reorg":
        ok = nxt.get(1, 0) == 0 and nxt.get(0, 1) in (2, 4)  # mode 0 orders channels as F.pixel_unshuffle
        layer = chain.take("Reorg", "pixel-unshuffle by 2 or 4, mode 0", [data], ok=ok)
        unshuffle, data = int(layer.get(0, 1)), chain.blob(layer.outputs[0])
    convs: list = []
    first, layer = chain.conv("conv_first", data, act=False)
    convs.append(("conv_first", layer))
    trunk, nb = _walk_trunk(chain, first, convs)
    if nb == 0:
        raise chain.refuse("the first RRDB's dense convolution (LeakyReLU 0.2)", chain.peek())
    body, layer = chain.conv("conv_body", trunk, act=False)
    convs.append(("conv_body", layer))
    skip = chain.peek()
    reads = skip is not None and sorted(map(chain.blob, skip.inputs)) == sorted([first, body])
    if skip is not None and skip.type == "BinaryOp":
        plain_add = skip.get(0, 0) == 0 and skip.get(1, 0) == 0  # op add, two blobs (not a scalar)
        skip = chain.take("BinaryOp", "long skip add", ok=reads and plain_add)
    else:
        skip = chain.take("Eltwise", "long skip add", ok=reads and skip.get(0, 1) == 1 and not skip.array(1))
    feat, num_up = chain.blob(skip.outputs[0]), 0
    while (nxt := chain.peek()) is not None and nxt.type == "Interp":
        ok = (nxt.get(0, 0) == 1 and nxt.get(1, 1) == 2 and nxt.get(2, 1) == 2
              and nxt.get(3, 0) == 0 and nxt.get(4, 0) == 0)  # no fixed output size
        interp = chain.take("Interp", "nearest x2 upsampling", [feat], ok=ok)
        num_up += 1
        feat, layer = chain.conv(f"conv_up{num_up}", chain.blob(interp.outputs[0]), act=True)
        convs.append((f"conv_up{num_up}", layer))
    for key, act in (("conv_hr", True), ("conv_last", False)):
        feat, layer = chain.conv(key, feat, act=act)
        convs.append((key, layer))
    if chain.peek() is not None:
        raise chain.refuse("the end of the graph after conv_last", chain.peek())
    scale = 2**num_up // unshuffle
    if num_up not in (2, 3) or (num_up == 3 and unshuffle != 1) or scale not in (1, 2, 4, 8):
        raise ValueError(f"{chain.path}: {num_up} upsampling steps after a x{unshuffle} pixel-unshuffle "
                         "is no RRDBNet scale esrgan_lib builds (x1, x2, x4 with 2 steps, x8 with 3)")
    config = _config_from(convs, unshuffle, nb, scale)
    return config, convs


def conv_shape(layer: NcnnLayer) -> tuple[int, int]:
    out = int(layer.params[0])
    count = int(layer.params.get(6, "0"))
    if count % (out * 9):
        raise ValueError(f"conv {layer.name}: weight count {count} is not out ({out}) x in x 3 x 3")
    return out, count // (out * 9)


def _config_from(convs: list, unshuffle: int, nb: int, scale: int) -> dict:
    layers = dict(convs)
    nf, c_first = conv_shape(layers["conv_first"])
    gc = conv_shape(layers["body.0.rdb1.conv1"])[0]
    out_ch = conv_shape(layers["conv_last"])[0]
    config = dict(in_ch=c_first // unshuffle**2, out_ch=out_ch, nf=nf, nb=nb, gc=gc, scale=scale)
    for key, layer in convs:
        if key.startswith("body."):
            j = int(key[-1])
            want = (gc if j < 5 else nf, nf + (j - 1) * gc)
        else:
            want = {"conv_first": (nf, c_first), "conv_last": (out_ch, nf)}.get(key, (nf, nf))
        if conv_shape(layer) != want:
            raise ValueError(f"conv {layer.name} ({key}): (out, in) = {conv_shape(layer)}, an RRDBNet with "
                             f"nf {nf}, gc {gc} needs {want}")
    return config


# ----------------------------------------------------------------------------------------------
# writing


class _Builder:
    """Accumulates layers (type, name, inputs, outputs, params) and the conv keys in file order."""

    def __init__(self):
        self.layers: list[list] = []
        self.keys: list[str] = []
        self.count = 0

    def add(self, type_: str, inputs: list[str], params: str = "", out: str | None = None) -> str:
        self.count += 1
        out = out or f"b{self.count}"
        self.layers.append([type_, f"{type_.lower()}_{self.count}", list(inputs), [out], params])
        return out

    def conv(self, key: str, x: str, cin: int, cout: int, act: bool, out: str | None = None) -> str:
        self.keys.append(key)
        params = f"0={cout} 1=3 4=1 5=1 6={cout * cin * 9}" + (_LRELU if act else "")
        return self.add("Convolution", [x], params, out)

    def text(self) -> str:
        """The .param text, with a Split inserted for every blob read more than once."""
        layers, uses = [], {}
        for layer in self.layers:
            for b in layer[2]:
                uses[b] = uses.get(b, 0) + 1
        seen = {}
        for type_, name, ins, outs, params in self.layers:
            renamed = []
            for b in ins:
                if uses[b] > 1:
                    seen[b] = seen.get(b, 0) + 1
                    b = f"{b}_splitncnn_{seen[b] - 1}"
                renamed.append(b)
            layers.append((type_, name, renamed, outs, params))
            for b in outs:
                if uses.get(b, 0) > 1:
                    split_outs = [f"{b}_splitncnn_{i}" for i in range(uses[b])]
                    layers.append(("Split", f"split_{b}", [b], split_outs, ""))
        blobs = {b for la in layers for b in la[2] + la[3]}
        lines = [MAGIC, f"{len(layers)} {len(blobs)}"]
        for type_, name, ins, outs, params in layers:
            fields = [f"{type_:<24}", f"{name:<24}", str(len(ins)), str(len(outs)), *ins, *outs, params]
            lines.append(" ".join(fields).rstrip())
        return "\n".join(lines) + "\n"


def _eltwise_sum(coeffs: tuple[float, float]) -> str:
    """An ``Eltwise`` sum's parameters: op 1 (sum) with the coefficients array (key 1)."""
    return f"0=1 -23301=2,{coeffs[0]:e},{coeffs[1]:e}"


def _build(config: Mapping) -> _Builder:
    nf, gc, nb = config["nf"], config["gc"], config["nb"]
    unshuffle = unshuffle_factor(config["scale"])
    g = _Builder()
    x = g.add("Input", [], "", "data")
    if unshuffle > 1:
        x = g.add("Reorg", [x], f"0={unshuffle} 1=0")
    first = feat = g.conv("conv_first", x, config["in_ch"] * unshuffle**2, nf, act=False)
    for i in range(nb):
        block_in = feat
        for k in range(1, 4):
            xs = [feat]
            for j in range(1, 6):
                src = xs[0] if j == 1 else g.add("Concat", xs, "0=0")
                cin, cout = nf + (j - 1) * gc, gc if j < 5 else nf
                xs.append(g.conv(f"body.{i}.rdb{k}.conv{j}", src, cin, cout, act=j < 5))
            feat = g.add("Eltwise", [xs[-1], feat], _eltwise_sum(_RDB_SUM))
        feat = g.add("Eltwise", [feat, block_in], _eltwise_sum(_RRDB_SUM))
    feat = g.add("BinaryOp", [first, g.conv("conv_body", feat, nf, nf, act=False)], "0=0")
    for u in range(1, upsampling_steps(config["scale"]) + 1):
        feat = g.conv(f"conv_up{u}", g.add("Interp", [feat], f"0=1 1={2.0:e} 2={2.0:e}"), nf, nf, act=True)
    feat = g.conv("conv_hr", feat, nf, nf, act=True)
    g.conv("conv_last", feat, nf, config["out_ch"], act=False, out="output")
    return g


@dataclass(frozen=True)
class NcnnGraph:
    """One architecture's chain of ncnn layers: ``parse(path) -> (config, [(key prefix, conv layer)])``
    checks a ``.param``; ``build(config) -> (.param text, conv key prefixes in .bin order)`` writes one."""

    parse: Callable[[Path], tuple[dict, list]]
    build: Callable[[Mapping], tuple[str, list[str]]]


# chain name (an ArchSpec's ``ncnn_graph``) -> how it is read and written
GRAPHS = {"rrdbnet": NcnnGraph(parse=parse_rrdbnet_graph, build=build_rrdbnet_graph)}
