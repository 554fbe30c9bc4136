"""The architecture registry: one ``ArchSpec`` per network, the single place that knows each one.

Everything that needs to know "which architectures exist and what they require" asks here: the training
config (valid ``arch`` / ``discriminator`` choices), the training builders (``spec.build``), checkpoint
loading and export (which spec recognises a state dict, its configuration, its key formats) and inference
(scale, size requirements). Nothing outside this module branches on an architecture's name. This is
spandrel's ``Architecture``: ``spec.detect(state_dict)`` says whether a state dict is this network's,
``spec.load(state_dict)`` builds it and returns a ``ModelDescriptor`` (the loaded model, scale, channels,
``SizeRequirements``, config); ``load(state_dict)`` does both for whichever generator is detected.

Each architecture file registers its own spec (``models/rrdbnet.py`` registers ``"rrdbnet"`` ...), so
adding a network is one file plus one import in ``models/__init__.py``.

Contract of a spec (the callables are optional where the role does not need them):

- ``build(**options)``: ``cls(**options)``; an option the constructor does not take is a ``TypeError``
  naming it (``options`` lists the ones it takes);
- ``detect_keys(sd) -> bool``: the unwrapped state dict (any of the spec's key formats) is this network's;
  ``to_canonical(sd) -> dict``: renamed to the class's own keys; ``infer_config(sd) -> dict``: constructor
  arguments from the tensor shapes of a canonical state dict (ValueError naming a missing layer);
- generators: ``scales``; ``size_requirements(config) -> SizeRequirements`` (1 and 1 when absent);
  ``key_formats`` (other tools' key formats it reads and writes) with ``from_canonical(sd, fmt) -> dict``;
  ``ncnn_graph``: the name of its graph in ``esrgan_lib.checkpoint.ncnn_graph.GRAPHS`` (None: no ncnn);
- discriminators: ``check_input_size(size, config) -> str | None`` (why an HR patch side does not fit,
  or None) and ``uses_batchnorm(config) -> bool`` (WGAN-GP needs a critic without BatchNorm).

Wrapped state dicts (``params_ema``, ``module.`` ...) are unwrapped by ``state_dict.unwrap_state_dict``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from .state_dict import unwrap_state_dict

__all__ = ["ArchSpec", "SizeRequirements", "ModelDescriptor", "GENERATORS", "DISCRIMINATORS", "register",
           "spec_of", "generator_spec", "discriminator_spec", "spec_for_class", "detect_generator", "load",
           "describe", "describe_keys", "inference_properties"]


@dataclass(frozen=True)
class SizeRequirements:
    """The input sizes a generator takes: height and width at least ``minimum``, multiples of ``multiple_of``.

    x1 and x2 RRDBNets pixel-unshuffle their input by 4 and 2, so their sides must be multiples of 4 and 2.
    """

    minimum: int = 1
    multiple_of: int = 1

    def fits(self, height: int, width: int) -> bool:
        """Whether an input of ``height`` x ``width`` pixels meets the requirements."""
        return all(side >= self.minimum and side % self.multiple_of == 0 for side in (height, width))


@dataclass(frozen=True)
class ModelDescriptor:
    """A generator and what a caller needs to know to run it (``ArchSpec.load`` / ``describe``).

    ``model``: the module (eval mode after ``load``); ``spec``: its ``ArchSpec`` (``name`` is the spec's);
    ``config``: constructor arguments (``spec.build(**config)`` rebuilds it); output (B, ``out_ch``,
    H * ``scale``, W * ``scale``) for input (B, ``in_ch``, H, W) with H, W meeting ``size``.
    """

    model: nn.Module
    spec: ArchSpec
    config: dict
    scale: int
    in_ch: int
    out_ch: int
    size: SizeRequirements

    @property
    def name(self) -> str:
        """The registered architecture name (``"rrdbnet"``, ``"srresnet"``)."""
        return self.spec.name


def _inner(model: nn.Module) -> nn.Module:
    """``model`` without its DDP (``.module``) or ``torch.compile`` (``._orig_mod``) wrapper."""
    return getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model


def describe_keys(sd: Mapping) -> str:
    """What an unwrapped state dict holds, for error messages: its size, first keys, and a guess."""
    keys = list(sd)
    found = f"found {len(keys)} tensors with keys like {', '.join(keys[:3]) or '(none)'}"
    other = next((s for s in DISCRIMINATORS.values() if s.detect(sd)), None)
    if other is not None:
        return f"{found}: looks like a {other.cls.__name__} (discriminator {other.name!r}), not a generator"
    known = ", ".join(s.cls.__name__ for s in GENERATORS.values())
    return f"{found}: not a generator esrgan_lib knows ({known})"


def _check_keys(expected: Mapping, sd: Mapping, *, strict: bool, source: str, what: str) -> None:
    """Missing/unexpected keys (ValueError; a warning when not ``strict``); a shape mismatch always raises."""
    missing = [k for k in expected if k not in sd]
    extra = [k for k in sd if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:4])}")
        if extra:
            parts.append(f"{len(extra)} unexpected key(s), e.g. {', '.join(extra[:4])}")
        msg = f"{source}: {'; '.join(parts)} for {what}"
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, stacklevel=4)
    bad = [f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
           if k in sd and sd[k].shape != v.shape]
    if bad:
        raise ValueError(f"{source}: shape mismatch for {what}: {'; '.join(bad[:4])}")


@dataclass(frozen=True)
class ArchSpec:
    """What the package knows about one architecture (see the module docstring)."""

    name: str
    cls: type[nn.Module]
    role: str  # "generator" | "discriminator"
    summary: str
    detect_keys: Callable[[Mapping], bool] | None = None
    to_canonical: Callable[[Mapping], dict] | None = None
    infer_config: Callable[[Mapping], dict] | None = None
    scales: tuple[int, ...] = ()
    size_requirements: Callable[[Mapping], SizeRequirements] | None = None
    key_formats: tuple[str, ...] = ()
    from_canonical: Callable[[Mapping, str], dict] | None = None
    ncnn_graph: str | None = None
    check_input_size: Callable[[int, Mapping], str | None] | None = None
    uses_batchnorm: Callable[[Mapping], bool] | None = None

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options of the constructor, in order (what ``build`` accepts)."""
        params = inspect.signature(self.cls.__init__).parameters.values()
        return tuple(p.name for p in params
                     if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def build(self, **options) -> nn.Module:
        """``cls(**options)``, freshly initialised; ``TypeError`` naming any option the constructor lacks."""
        params = inspect.signature(self.cls.__init__).parameters.values()
        unknown = [k for k in options if k not in self.options]
        if unknown and not any(p.kind == p.VAR_KEYWORD for p in params):  # a **kwargs constructor decides
            raise TypeError(f"{self.name} ({self.cls.__name__}) has no option(s) "
                            f"{', '.join(map(repr, unknown))}; its options are {', '.join(self.options)}")
        return self.cls(**options)

    def detect(self, state_dict: Mapping) -> bool:
        """Whether ``state_dict`` (any of the spec's key formats, wrapped or not) is this network's."""
        return self.detect_keys is not None and self.detect_keys(unwrap_state_dict(state_dict))

    def canonical(self, state_dict: Mapping) -> dict:
        """``state_dict`` (any key format, wrapped or not) in the class's own keys; ValueError if not ours."""
        sd = unwrap_state_dict(state_dict)
        if self.detect_keys is not None and not self.detect_keys(sd):
            raise ValueError(f"{self.cls.__name__} ({self.name!r}) does not recognise these tensors: "
                             f"{describe_keys(sd)}")
        return self.to_canonical(sd) if self.to_canonical is not None else sd

    def convert(self, state_dict: Mapping, fmt: str) -> dict:
        """``state_dict`` (any key format, wrapped or not) renamed to ``fmt``, one of ``key_formats``."""
        if fmt not in self.key_formats:
            raise ValueError(f"{self.cls.__name__} key formats are {self.key_formats}, got {fmt!r}")
        return self.from_canonical(self.canonical(state_dict), fmt)

    def describe(self, model: nn.Module) -> ModelDescriptor:
        """The descriptor of a built generator of this architecture, from its ``config``."""
        if self.role != "generator":
            raise TypeError(f"{self.cls.__name__} is a {self.role}; only generators have a ModelDescriptor")
        if type(_inner(model)) is not self.cls:
            raise TypeError(f"{type(_inner(model)).__name__} is not a {self.cls.__name__}")
        config = dict(_inner(model).config)
        size = self.size_requirements(config) if self.size_requirements is not None else SizeRequirements()
        return ModelDescriptor(model=model, spec=self, config=config, scale=int(config.get("scale", 1)),
                               in_ch=int(config.get("in_ch", 3)), out_ch=int(config.get("out_ch", 3)),
                               size=size)

    def load(self, state_dict: Mapping, *, config: Mapping | None = None, device: str | torch.device = "cpu",
             strict: bool = True, source: str = "state dict") -> ModelDescriptor:
        """Build this generator from ``state_dict`` and load its weights; returns the descriptor (eval mode).

        ``state_dict``: any of the spec's key formats, wrapped or not. ``config``: constructor arguments
        (default: inferred from the tensor shapes). Keys and shapes are compared against a model built on
        the ``meta`` device (no memory) before the real one is built on ``device``. Missing or unexpected
        keys raise ``ValueError`` (``strict``) or warn; a shape mismatch always raises. ``source`` names
        the state dict in messages.
        """
        if self.role != "generator":
            raise TypeError(f"{self.cls.__name__} is a {self.role}; load builds generators")
        try:
            sd = self.canonical(state_dict)
            if config is None:
                if self.infer_config is None:
                    raise ValueError(f"{self.cls.__name__} cannot infer its configuration: pass config")
                config = self.infer_config(sd)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            expected = self.build(**config).state_dict()
        _check_keys(expected, sd, strict=strict, source=source, what=f"{self.cls.__name__}({dict(config)})")
        with torch.device(device):
            model = self.build(**config)
        model.load_state_dict({k: v for k, v in sd.items() if k in expected}, strict=False)
        return self.describe(model.eval())


GENERATORS: dict[str, ArchSpec] = {}
DISCRIMINATORS: dict[str, ArchSpec] = {}
_BY_ROLE = {"generator": GENERATORS, "discriminator": DISCRIMINATORS}


def register(spec: ArchSpec) -> ArchSpec:
    """Add ``spec`` to its role's registry (a name may be registered once)."""
    table = _BY_ROLE.get(spec.role)
    if table is None:
        raise ValueError(f"role must be one of {tuple(_BY_ROLE)}, got {spec.role!r}")
    if spec.name in table and table[spec.name] is not spec:
        raise ValueError(f"a {spec.role} named {spec.name!r} is already registered")
    table[spec.name] = spec
    return spec


def _lookup(table: dict, name: str, role: str) -> ArchSpec:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {role} {name!r}; choose one of {tuple(table)}") from None


def generator_spec(name: str) -> ArchSpec:
    """The registered generator ``name`` (ValueError listing the choices otherwise)."""
    return _lookup(GENERATORS, name, "generator")


def discriminator_spec(name: str) -> ArchSpec:
    """The registered discriminator ``name`` (ValueError listing the choices otherwise)."""
    return _lookup(DISCRIMINATORS, name, "discriminator")


def spec_of(model: nn.Module) -> ArchSpec:
    """The spec whose class ``model`` is (DDP / torch.compile wrappers are looked through)."""
    inner = _inner(model)
    for table in _BY_ROLE.values():
        for spec in table.values():
            if type(inner) is spec.cls:
                return spec
    raise TypeError(f"{type(inner).__name__} is not a registered architecture")


def spec_for_class(class_name: str) -> ArchSpec:
    """The spec whose class is called ``class_name`` (as saved in checkpoint metadata, e.g. "RRDBNet")."""
    for table in _BY_ROLE.values():
        for spec in table.values():
            if spec.cls.__name__ == class_name:
                return spec
    raise ValueError(f"unknown architecture {class_name!r}; known: "
                     f"{sorted(s.cls.__name__ for t in _BY_ROLE.values() for s in t.values())}")


def detect_generator(state_dict: Mapping) -> ArchSpec | None:
    """The registered generator that recognises ``state_dict`` (any key format, wrapped or not), or None."""
    sd = unwrap_state_dict(state_dict)
    return next((spec for spec in GENERATORS.values() if spec.detect(sd)), None)


def load(state_dict: Mapping, **options) -> ModelDescriptor:
    """The generator ``state_dict`` holds, detected and loaded (``detect_generator``, then its ``load``).

    ``options``: those of ``ArchSpec.load`` (``config``, ``device``, ``strict``, ``source``). ValueError
    naming what was found when no registered generator recognises the tensors.
    """
    spec = detect_generator(state_dict)
    if spec is None:
        source = options.get("source", "state dict")
        raise ValueError(f"{source}: {describe_keys(unwrap_state_dict(state_dict))}")
    return spec.load(state_dict, **options)


def describe(model: nn.Module) -> ModelDescriptor:
    """The descriptor of a built, registered generator (``TypeError`` for anything else)."""
    return spec_of(model).describe(model)


def inference_properties(model: nn.Module) -> dict:
    """What inference needs of a registered generator, from its descriptor (``describe(model)``).

    Returns ``{"scale": int, "multiple": int, "in_ch": int, "out_ch": int}``: output size is input
    size times ``scale``; input H and W must be multiples of ``multiple`` (pad to it).
    """
    desc = describe(model)
    return {"scale": desc.scale, "multiple": desc.size.multiple_of, "in_ch": desc.in_ch,
            "out_ch": desc.out_ch}
