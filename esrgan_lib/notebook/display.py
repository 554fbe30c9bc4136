"""Small matplotlib helpers for the course notebooks: image grids, zoomed crops, training curves.

Every helper accepts images in the forms the course uses:

- ``torch.Tensor`` (3, H, W) or (1, H, W) or (H, W) in [0, 1]; a batch (B, 3, H, W) is split into
  B images;
- ``numpy`` arrays (H, W, 3) or (H, W), uint8 in [0, 255] or float in [0, 1];
- ``PIL.Image.Image`` (any mode; converted to RGB or L).

Training logs are read and split into curves by ``esrgan_lib.notebook.history``.

Figures are built with ``matplotlib.figure.Figure`` (not pyplot), so nothing is shown twice and
nothing leaks between cells. In Jupyter (and Colab) they are shown as PNG images through
``IPython.display``; that works whatever the matplotlib backend is (CI uses Agg). Outside Jupyter
``show=True`` does nothing visible: pass ``show=False`` to get the ``Figure`` back and save it.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image as PILImage

from ..img_util import to_batch
from .history import load_records, spans_decades, split_curves, step_key

__all__ = ["as_image", "show_figure", "show_images", "zoom_crops", "plot_history", "LivePlot", "in_notebook"]

DEFAULT_DPI = 72


# --------------------------------------------------------------------------- images


def as_image(img) -> np.ndarray:
    """Convert one image to a numpy array matplotlib can show.

    Args:
        img: tensor (3, H, W) / (1, 3, H, W) / (1, H, W) / (H, W) in [0, 1], numpy (H, W, 3) / (H, W)
            uint8, uint16 or float in [0, 1] (an alpha channel is ignored), or a PIL image of any mode.
            Converted by ``esrgan_lib.img_util.to_batch``; float values are clipped to [0, 1].

    Returns:
        float32 array (H, W, 3) or (H, W) in [0, 1].
    """
    if isinstance(img, torch.Tensor) and img.ndim == 2:
        img = img[None]
    elif not isinstance(img, (torch.Tensor, PILImage.Image)):
        img = np.asarray(img)
    if isinstance(img, torch.Tensor) and img.ndim == 4 and img.shape[0] != 1:
        raise ValueError(f"as_image got a batch of {img.shape[0]} images; pass them as a list")
    x, _ = to_batch(img, name="as_image", clip=True)
    c = x.shape[1]
    if c not in (1, 2, 3, 4) or (isinstance(img, torch.Tensor) and c not in (1, 3)):
        raise ValueError(f"expected an (H, W, 3) or (H, W) image or a (3, H, W) tensor, got shape "
                         f"{tuple(img.shape)}")
    x = x[0, :1] if c < 3 else x[0, :3]
    arr = x.permute(1, 2, 0).numpy()
    return np.ascontiguousarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def _split_images(images) -> list:
    """A single image, a batch tensor (B, C, H, W) or a sequence of images -> a list of images."""
    if hasattr(images, "detach"):
        return list(images) if images.ndim == 4 else [images]
    if isinstance(images, np.ndarray) or hasattr(images, "mode"):
        return [images]
    return list(images)


def in_notebook() -> bool:
    """True inside a Jupyter (or Colab) kernel, where figures can be shown inline."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the course
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    return buf.getvalue()


def show_figure(fig: Figure) -> None:
    """Show ``fig`` once as a PNG in Jupyter, whatever the matplotlib backend (CI uses Agg).

    Also accepts a pyplot figure (``plt.subplots``); it is closed afterwards so the inline backend
    does not show it a second time. Outside Jupyter this does nothing.
    """
    _display_png(fig)


def _display_png(fig: Figure, handle=None):
    """Show ``fig`` as a PNG, or replace what ``handle`` shows; returns the display handle."""
    try:
        import matplotlib.pyplot as plt

        if fig.number in plt.get_fignums():  # a pyplot figure: close it after rendering
            plt.close(fig)
    except AttributeError:  # a plain Figure has no .number
        pass
    if not in_notebook():
        return None
    from IPython.display import Image, display

    image = Image(data=_png_bytes(fig), format="png")
    if handle is not None:
        handle.update(image)
        return handle
    return display(image, display_id=True)


def _finish(fig: Figure, show: bool):
    if show:
        show_figure(fig)
        return None
    return fig


def _imshow(ax, img: np.ndarray, title: str | None, interpolation: str) -> None:
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation=interpolation)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def show_images(
    images,
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float = 3.0,
    dpi: int = DEFAULT_DPI,
    suptitle: str | None = None,
    interpolation: str = "nearest",
    show: bool = True,
):
    """Show images side by side (one row, or a grid with ``ncols`` columns).

    Args:
        images: one image, a batch tensor (B, 3, H, W) in [0, 1], or a list of images in any form
            ``as_image`` accepts. Different sizes are fine: each panel is scaled to fit.
        titles: one title per image (optional).
        ncols: columns of the grid (default: all in one row, at most 6).
        size: panel size in inches.
        dpi: figure resolution (small keeps notebooks small).
        interpolation: "nearest" (default, shows the real pixels) or e.g. "bicubic".
        show: show the figure in Jupyter and return None; False returns the ``Figure``.
    """
    imgs = [as_image(im) for im in _split_images(images)]
    if not imgs:
        raise ValueError("show_images got no images")
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"got {len(imgs)} images but {len(titles)} titles")
    ncols = min(ncols or min(len(imgs), 6), len(imgs))
    nrows = math.ceil(len(imgs) / ncols)
    fig = Figure(figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)), dpi=dpi)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(imgs):
            _imshow(ax, imgs[i], titles[i] if titles else None, interpolation)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return _finish(fig, show)


def zoom_crops(
    images,
    box: tuple[int, int, int, int],
    titles: Sequence[str] | None = None,
    *,
    size: float = 3.0,
    dpi: int = DEFAULT_DPI,
    color: str = "red",
    show: bool = True,
):
    """The full image with a rectangle on it, then the same crop of every image, enlarged.

    Args:
        images: list of images (any form ``as_image`` accepts), e.g. [LR, bicubic, SR, HR].
            Images of different sizes are cropped at the same relative place: ``box`` is given
            in the pixels of the largest image and scaled down for the smaller ones (an LR
            image's crop is 1/4 as many pixels, shown with nearest-neighbour blocks).
        box: (left, top, width, height) in pixels of the largest image.
        titles: one title per image (optional).
        size: panel size in inches.
        color: rectangle colour.
        show: show in Jupyter and return None; False returns the ``Figure``.
    """
    imgs = [as_image(im) for im in _split_images(images)]
    if not imgs:
        raise ValueError("zoom_crops got no images")
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"got {len(imgs)} images but {len(titles)} titles")
    left, top, width, height = (int(v) for v in box)
    ref = max(range(len(imgs)), key=lambda i: (imgs[i].shape[1], i))  # the last of the largest (HR)
    ref_h, ref_w = imgs[ref].shape[:2]
    if width <= 0 or height <= 0 or left < 0 or top < 0 or left + width > ref_w or top + height > ref_h:
        raise ValueError(f"box {box} (left, top, width, height) does not fit in a {ref_w}x{ref_h} image")
    fig = Figure(figsize=(size * (len(imgs) + 1), size), dpi=dpi)
    axes = fig.subplots(1, len(imgs) + 1, squeeze=False)[0]
    _imshow(axes[0], imgs[ref], "full image" if titles is None else f"full ({titles[ref]})", "bilinear")
    axes[0].add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor=color, lw=2))
    for i, (ax, img) in enumerate(zip(axes[1:], imgs)):
        f = img.shape[1] / ref_w
        x0, y0 = int(round(left * f)), int(round(top * f))
        x1, y1 = max(x0 + 1, int(round((left + width) * f))), max(y0 + 1, int(round((top + height) * f)))
        _imshow(ax, img[y0:y1, x0:x1], titles[i] if titles else None, "nearest")
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
    fig.tight_layout()
    return _finish(fig, show)


# --------------------------------------------------------------------------- training curves


def _draw_history(fig: Figure, records, *, keys=None, title=None, hlines=None) -> None:
    losses, metrics = split_curves(records, keys)
    panels = [p for p in (losses, metrics) if p] or [losses]
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    xlabel = step_key(records) or "record"
    for ax, curves in zip(axes, panels):
        for name, (xs, ys) in curves.items():
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=name)
        if curves is losses and spans_decades(losses):
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        if curves:
            ax.legend(fontsize=8)
    if hlines:  # reference levels (e.g. the bicubic PSNR) on the metrics panel
        ax = axes[-1]
        for label, y in hlines.items():
            ax.axhline(y, ls="--", color="gray", lw=1)
            ax.annotate(label, (0.01, y), xycoords=("axes fraction", "data"), fontsize=8, color="gray",
                        va="bottom")
    if title:
        fig.suptitle(title)
    fig.tight_layout()


def plot_history(
    log,
    *,
    keys: Iterable[str] | None = None,
    hlines: Mapping[str, float] | None = None,
    title: str | None = None,
    size: tuple[float, float] = (9.0, 3.2),
    dpi: int = DEFAULT_DPI,
    show: bool = True,
):
    """Plot training curves: losses on the left (log scale), PSNR/SSIM on the right.

    Args:
        log: a list of dict records, or the path of a log file (.jsonl: one JSON record per line;
            .json: a list of records; .csv). The x axis is the first of "step", "iter",
            "iteration", "epoch" found in the records. Records may lack some fields (validation
            runs less often than logging): each curve uses the records that have it.
        keys: plot only these fields (default: every numeric field except lr/time-like ones).
        hlines: reference levels for the metrics panel, e.g. {"bicubic": 28.42}.
        show: show in Jupyter and return None; False returns the ``Figure``.
    """
    records = load_records(log)
    fig = Figure(figsize=size, dpi=dpi)
    _draw_history(fig, records, keys=keys, title=title, hlines=hlines)
    return _finish(fig, show)


class LivePlot:
    """Training curves redrawn in place while a model trains; also an ``esrgan_lib.training`` callback.

    Feed it records (dicts with a "step"/"iter" and numeric fields) with ``update(record)``; in
    Jupyter the plot is redrawn in the same output at most every ``interval`` seconds, and
    ``close()`` draws the final state. As a ``Trainer`` callback it takes the ``step`` logs (losses)
    and the ``validation`` logs (``psnr``, ``psnr_bicubic``) and closes itself at ``train_end``.
    Outside Jupyter it only collects records (``.records``), so scripts and tests can use it too.

    Args:
        keys: fields to plot (default: all numeric ones except lr/time-like).
        hlines: reference levels for the metrics panel, e.g. {"bicubic": 28.42}.
        interval: minimum seconds between redraws.
        size, dpi: figure size in inches and resolution.
    """

    def __init__(
        self,
        *,
        keys: Iterable[str] | None = None,
        hlines: Mapping[str, float] | None = None,
        title: str | None = None,
        interval: float = 2.0,
        size: tuple[float, float] = (9.0, 3.2),
        dpi: int = DEFAULT_DPI,
    ):
        self.keys = list(keys) if keys is not None else None
        self.hlines = dict(hlines or {})
        self.title = title
        self.interval = float(interval)
        self.size, self.dpi = size, dpi
        self.records: list[dict] = []
        self.draws = 0
        self._handle = None
        self._last_draw = -math.inf
        self._dirty = False

    def update(self, record: Mapping | None = None, /, **fields) -> None:
        """Add one record (a dict and/or keyword fields); redraw if ``interval`` has passed."""
        rec = dict(record or {})
        rec.update(fields)
        if rec:
            self.records.append(rec)
            self._dirty = True
        if time.monotonic() - self._last_draw >= self.interval:
            self.draw()

    def figure(self) -> Figure:
        """The current curves as a ``Figure``."""
        fig = Figure(figsize=self.size, dpi=self.dpi)
        _draw_history(fig, self.records, keys=self.keys, title=self.title, hlines=self.hlines)
        return fig

    def draw(self) -> None:
        """Redraw now (in Jupyter; outside it this only marks the records as drawn)."""
        self._last_draw = time.monotonic()
        self._dirty = False
        if not self.records or not in_notebook():
            return
        self._handle = _display_png(self.figure(), self._handle)
        self.draws += 1

    def close(self) -> None:
        """Draw the final state if anything changed since the last redraw."""
        if self._dirty:
            self.draw()

    # -- esrgan_lib.training callback hooks: method(trainer, logs) ---------------------------------
    def on_train_begin(self, trainer, logs: dict) -> None:
        """Nothing to draw yet (a resumed run keeps the records collected so far)."""

    def on_step(self, trainer, logs: dict) -> None:
        self.update(logs)

    def on_validation(self, trainer, logs: dict) -> None:
        self.update({k: v for k, v in logs.items() if not isinstance(v, Mapping)})

    def on_checkpoint(self, trainer, logs: dict) -> None:
        """Checkpoints add no curve."""

    def on_train_end(self, trainer, logs: dict) -> None:
        self.close()
