"""The architecture registry: one ``ArchSpec`` per network, the single place that knows each one.

Everything that needs to know "which architectures exist and what they require" asks here: the training
config (valid ``arch`` / ``discriminator`` choices), the builders (which class to construct), checkpoint
loading (which spec recognises a state dict, and its configuration) and inference (scale, input-size
multiple). Nothing outside this module branches on an architecture's name. This is the idea of spandrel's
``Architecture`` descriptors, kept small.

Each architecture file registers its own spec (``models/rrdbnet.py`` registers ``"rrdbnet"`` ...), so
adding a network is one file plus one import in ``models/__init__.py``.

Contract of a spec (all callables are optional where the role does not need them):

- ``build(**options)``: construct the model, passing on only the options its constructor accepts (a
  training config hands over a superset such as ``nf, nb, gc, scale``);
- generators: ``detect(sd) -> bool`` (the state dict, any key format, belongs to this architecture),
  ``to_canonical(sd) -> dict`` (rename to the class's own keys), ``infer_config(sd) -> dict``
  (constructor arguments from tensor shapes of a canonical state dict), ``scales``, and what inference
  needs: ``input_multiple(config) -> int`` (H and W must be multiples of it; 1 when absent). The
  config's ``scale``, ``in_ch`` and ``out_ch`` give the rest (``inference_properties(model)``);
- discriminators: ``check_input_size(size, config) -> str | None`` (why an HR patch side does not fit,
  or None) and ``uses_batchnorm(config) -> bool`` (WGAN-GP needs a critic without BatchNorm).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import nn

__all__ = ["ArchSpec", "GENERATORS", "DISCRIMINATORS", "register", "spec_of", "generator_spec",
           "discriminator_spec", "spec_for_class", "detect_generator", "inference_properties"]


@dataclass(frozen=True)
class ArchSpec:
    """What the package knows about one architecture (see the module docstring)."""

    name: str
    cls: type[nn.Module]
    role: str  # "generator" | "discriminator"
    summary: str
    scales: tuple[int, ...] = ()
    detect: Callable[[Mapping], bool] | None = None
    to_canonical: Callable[[Mapping], dict] | None = None
    infer_config: Callable[[Mapping], dict] | None = None
    check_input_size: Callable[[int, Mapping], str | None] | None = None
    uses_batchnorm: Callable[[Mapping], bool] | None = None
    input_multiple: Callable[[Mapping], int] | None = None
    extra: Mapping = field(default_factory=dict)

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options of the constructor, in order (what ``build`` passes on)."""
        return tuple(n for n in inspect.signature(self.cls.__init__).parameters if n != "self")

    def build(self, **options) -> nn.Module:
        """``cls(**options)`` keeping only the keyword arguments the constructor takes."""
        params = inspect.signature(self.cls.__init__).parameters
        return self.cls(**{k: v for k, v in options.items() if k in params})


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
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model
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


def detect_generator(sd: Mapping) -> ArchSpec | None:
    """The registered generator whose ``detect`` accepts the state dict ``sd``, or None."""
    for spec in GENERATORS.values():
        if spec.detect is not None and spec.detect(sd):
            return spec
    return None


def inference_properties(model: nn.Module) -> dict:
    """What inference needs of a registered generator, from its spec and ``model.config``.

    Returns ``{"scale": int, "multiple": int, "in_ch": int, "out_ch": int}``: output size is input
    size times ``scale``; input H and W must be multiples of ``multiple`` (pad to it).
    """
    spec = spec_of(model)
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model
    config = inner.config
    multiple = spec.input_multiple(config) if spec.input_multiple is not None else 1
    return {"scale": int(config.get("scale", 1)), "multiple": int(multiple),
            "in_ch": int(config.get("in_ch", 3)), "out_ch": int(config.get("out_ch", 3))}
