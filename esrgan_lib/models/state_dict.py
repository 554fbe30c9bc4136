"""State dicts as checkpoint files wrap them, unwrapped in one place.

Other tools save a generator's tensors inside a wrapper: BasicSR and Real-ESRGAN under ``params_ema``
(EMA weights) and ``params``, others under ``state_dict`` / ``model_state_dict`` / ``generator`` /
``net_g``; DDP adds ``module.`` before every key; ``esrgan_lib.training`` saves a ``checkpoint-*.pt``
holding the raw generator and its EMA copy. ``unwrap_state_dict`` gives the tensors a generator is
built from, the same for every caller: the architecture specs' ``detect``/``load``, ``load_generator``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["unwrap_state_dict", "WRAPPERS", "EMA_WRAPPER", "DDP_PREFIX", "TRAINING_FORMAT"]

EMA_WRAPPER = "params_ema"  # BasicSR / Real-ESRGAN: the EMA weights (what their published files hold)
# wrappers other tools put around a state dict, most preferred first (EMA weights win)
WRAPPERS = (EMA_WRAPPER, "params", "state_dict", "model_state_dict", "generator", "net_g")
DDP_PREFIX = "module."
# an esrgan_lib.training checkpoint says so in its "format": this, then "/" and its version
TRAINING_FORMAT = "esrgan_lib.training"


def _training_weights(obj: Mapping) -> Mapping | None:
    """The generator weights of an ``esrgan_lib.training`` checkpoint: EMA when present, else None."""
    if not str(obj.get("format", "")).startswith(TRAINING_FORMAT + "/"):
        return None
    ema = obj.get("ema")
    if isinstance(ema, Mapping) and isinstance(ema.get("module"), Mapping):
        return ema["module"]
    return obj.get("generator")


def unwrap_state_dict(obj: Mapping) -> dict:
    """The tensors of a checkpoint mapping, unwrapped: one meaning for every file everywhere.

    A training checkpoint gives its EMA weights (its raw generator when it has no EMA);
    ``WRAPPERS`` are opened (``params_ema`` first); ``module.`` prefixes (DDP) are stripped;
    non-tensor values (iteration counters) are dropped. A plain state dict comes back as a copy.
    """
    inner = _training_weights(obj)
    if inner is not None:
        obj = inner
    else:
        for key in WRAPPERS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    sd = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue
        while k.startswith(DDP_PREFIX):
            k = k[len(DDP_PREFIX):]
        sd[k] = v
    return sd
