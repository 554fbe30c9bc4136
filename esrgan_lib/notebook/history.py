"""Training logs for the curve plots: reading records and splitting them into loss and metric curves.

Pure data (no matplotlib): ``esrgan_lib.notebook.display.plot_history`` and ``LivePlot`` draw what
these functions return.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = ["STEP_KEYS", "NOT_CURVES", "METRIC_WORDS", "load_records", "step_key", "split_curves",
           "spans_decades"]

STEP_KEYS = ("step", "iter", "iteration", "epoch")
# numeric record fields that are not curves worth plotting
NOT_CURVES = {"lr", "time", "seconds", "elapsed", "elapsed_s", "eta", "it_per_s", "images_per_s", "epoch",
              "batch_size"}
METRIC_WORDS = ("psnr", "ssim", "lpips")


def load_records(log) -> list[dict]:
    """Records (dicts) from a list of dicts, a .jsonl / .json file or a .csv file (numbers as floats)."""
    if isinstance(log, (str, Path)):
        path = Path(log)
        if not path.is_file():
            raise FileNotFoundError(f"no training log at {path}")
        text = path.read_text()
        if path.suffix == ".csv":
            import csv

            rows = list(csv.DictReader(io.StringIO(text)))
            return [{k: _number(v) for k, v in row.items()} for row in rows]
        if path.suffix == ".json":
            data = json.loads(text)
            return list(data if isinstance(data, list) else data.get("records", data.get("history", [])))
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [dict(r) for r in log]


def _number(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def step_key(records: Sequence[Mapping]) -> str | None:
    """The first of ``STEP_KEYS`` that some record has (the x axis), or None."""
    for key in STEP_KEYS:
        if any(key in r for r in records):
            return key
    return None


def split_curves(records: Sequence[Mapping], keys: Iterable[str] | None) -> tuple[dict, dict]:
    """Split numeric fields into (loss-like curves, metric curves): name -> (xs, ys)."""
    step = step_key(records)
    losses: dict[str, tuple[list, list]] = {}
    metrics: dict[str, tuple[list, list]] = {}
    wanted = set(keys) if keys is not None else None
    for i, r in enumerate(records):
        x = r.get(step, i) if step else i
        for k, v in r.items():
            if k == step or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                continue
            if wanted is not None and k not in wanted:
                continue
            if wanted is None and k in NOT_CURVES:
                continue
            target = metrics if any(w in k.lower() for w in METRIC_WORDS) else losses
            xs, ys = target.setdefault(k, ([], []))
            xs.append(x)
            ys.append(v)
    return losses, metrics


def spans_decades(curves: dict) -> bool:
    """Log scale for positive curves that span more than a factor of 10."""
    values = [v for _, ys in curves.values() for v in ys]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10
