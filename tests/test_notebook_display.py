"""esrgan_lib.notebook.display: image conversion, figure contents, history parsing, LivePlot throttling.

Runs with the Agg backend; nothing is shown. Figures are inspected through their axes.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

import esrgan_lib.notebook as nbk
from esrgan_lib.notebook import display as disp


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


# ----------------------------------------------------------------------------- as_image


def test_as_image_tensor_array_pil_agree():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = torch.from_numpy(u8).permute(2, 0, 1).float() / 255
    expected = u8.astype(np.float32) / 255
    for img in (u8, t, t[None], Image.fromarray(u8)):
        out = disp.as_image(img)
        assert out.shape == (5, 7, 3) and out.dtype == np.float32
        np.testing.assert_allclose(out, expected, atol=1e-6)


def test_as_image_gray_clips_and_rejects_bad_shapes():
    assert disp.as_image(Image.new("L", (4, 3), 255)).shape == (3, 4)
    assert disp.as_image(torch.full((1, 3, 4), 2.0)).max() == 1.0  # (1, H, W) -> (H, W), clipped
    assert disp.as_image(np.full((2, 2), -0.5)).min() == 0.0
    with pytest.raises(ValueError, match="batch of 2"):
        disp.as_image(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="expected"):
        disp.as_image(torch.zeros(5, 4, 4))
    with pytest.raises(ValueError, match="expected"):
        disp.as_image(np.zeros((4, 4, 5)))


# ----------------------------------------------------------------------------- show_images


def test_show_images_panels_titles_and_batch_split():
    imgs = torch.rand(3, 3, 8, 8)
    fig = nbk.show_images(imgs, ["a", "b", "c"], show=False)
    assert isinstance(fig, Figure)
    axes = _image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["a", "b", "c"]
    np.testing.assert_allclose(axes[1].images[0].get_array(), imgs[1].permute(1, 2, 0).numpy(), atol=1e-6)


def test_show_images_grid_and_errors():
    fig = nbk.show_images([np.zeros((4, 4, 3), np.uint8)] * 5, ncols=2, show=False)
    assert len(_image_axes(fig)) == 5 and len(fig.axes) == 6  # 3 rows x 2 columns, one empty
    with pytest.raises(ValueError, match="titles"):
        nbk.show_images([np.zeros((4, 4), np.uint8)] * 2, ["only one"], show=False)
    with pytest.raises(ValueError, match="no images"):
        nbk.show_images([], show=False)


def test_show_returns_none_outside_jupyter():
    assert not nbk.in_notebook()
    assert nbk.show_images(torch.rand(3, 4, 4)) is None


# ----------------------------------------------------------------------------- zoom_crops


def test_zoom_crops_crops_each_image_at_the_same_place():
    hr = np.random.default_rng(1).random((64, 64, 3)).astype(np.float32)
    lr = hr[::4, ::4]
    fig = nbk.zoom_crops([lr, hr], (16, 8, 32, 24), ["LR", "HR"], show=False)
    full, lr_ax, hr_ax = fig.axes
    rect = full.patches[0]
    assert (rect.get_width(), rect.get_height()) == (32, 24)
    assert rect.get_xy() == (15.5, 7.5)
    np.testing.assert_array_equal(hr_ax.images[0].get_array(), hr[8:32, 16:48])
    np.testing.assert_array_equal(lr_ax.images[0].get_array(), lr[2:8, 4:12])  # box scaled by 1/4
    assert full.get_title() == "full (HR)"


def test_zoom_crops_rejects_a_box_outside_the_image():
    with pytest.raises(ValueError, match="does not fit"):
        nbk.zoom_crops([np.zeros((16, 16, 3), np.uint8)], (10, 10, 8, 8), show=False)


# ----------------------------------------------------------------------------- history


RECORDS = [
    {"step": 10, "l1": 0.2, "lr": 1e-4, "it_per_s": 3.0},
    {"step": 20, "l1": 0.1, "lr": 1e-4, "it_per_s": 3.1},
    {"step": 20, "psnr": 25.0, "psnr_bicubic": 24.0, "event": "validation"},
    {"step": 30, "l1": 0.01, "lr": 5e-5, "it_per_s": 3.2},
]


def _lines(ax):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}


def test_plot_history_splits_losses_and_metrics():
    fig = nbk.plot_history(RECORDS, hlines={"bicubic": 24.0}, show=False)
    losses, metrics = fig.axes
    assert _lines(losses) == {"l1": ([10, 20, 30], [0.2, 0.1, 0.01])}  # lr / it_per_s left out
    got = _lines(metrics)
    assert got["psnr"] == ([20], [25.0]) and got["psnr_bicubic"] == ([20], [24.0])
    assert losses.get_yscale() == "log" and losses.get_xlabel() == "step"


def test_plot_history_reads_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    assert _lines(nbk.plot_history(jsonl, show=False).axes[0])["l1"][1] == [0.2, 0.1, 0.01]
    csv = tmp_path / "log.csv"
    csv.write_text("iter,loss_g\n1,3.0\n2,2.5\n")
    ax = nbk.plot_history(csv, show=False).axes[0]
    assert _lines(ax) == {"loss_g": ([1.0, 2.0], [3.0, 2.5])} and ax.get_xlabel() == "iter"
    fig = nbk.plot_history(jsonl, keys=["lr"], show=False)
    assert list(_lines(fig.axes[0])) == ["lr"]
    with pytest.raises(FileNotFoundError):
        nbk.plot_history(tmp_path / "missing.jsonl", show=False)


# ----------------------------------------------------------------------------- LivePlot


def test_liveplot_collects_outside_jupyter():
    live = nbk.LivePlot()
    live.update({"step": 1, "l1": 0.3})
    live.update(step=2, l1=0.2)
    live.close()
    assert live.records == [{"step": 1, "l1": 0.3}, {"step": 2, "l1": 0.2}] and live.draws == 0
    assert _lines(live.figure().axes[0])["l1"] == ([1, 2], [0.3, 0.2])


def test_liveplot_throttles_and_redraws_in_place(monkeypatch):
    shown = []

    def fake_display(fig, handle=None):
        shown.append((fig, handle))
        return "handle"

    monkeypatch.setattr(disp, "in_notebook", lambda: True)
    monkeypatch.setattr(disp, "_display_png", fake_display)
    live = nbk.LivePlot(interval=3600)
    live.update(step=1, l1=0.3)  # first update draws
    live.update(step=2, l1=0.2)  # within the interval: no redraw
    assert len(shown) == 1 and shown[0][1] is None
    live.close()  # something new since the last draw: final redraw, same display
    live.close()  # nothing new: no redraw
    assert len(shown) == 2 and shown[1][1] == "handle"
    eager = nbk.LivePlot(interval=0)
    for step in range(3):
        eager.update(step=step, l1=1.0)
    assert eager.draws == 3


def test_liveplot_is_a_training_callback():
    from esrgan_lib.training.callbacks import dispatch

    live = nbk.LivePlot()
    dispatch([live], None, "train_begin", {"step": 0, "steps": 4, "device": "cpu"})
    dispatch([live], None, "step", {"step": 2, "epoch": 0, "lr": 1e-3, "it_per_s": 5.0, "l1": 0.4})
    val = {"step": 2, "psnr": 20.0, "psnr_bicubic": 21.0, "per_image": {"a": 20.0}}
    dispatch([live], None, "validation", val)
    dispatch([live], None, "checkpoint", {"step": 2, "path": "x"})
    dispatch([live], None, "train_end", {"step": 4, "generator": "g", "seconds": 1.0})
    assert [r["step"] for r in live.records] == [2, 2]
    assert "per_image" not in live.records[1] and live.records[1]["psnr"] == 20.0


def test_show_figure_closes_pyplot_figures():
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    assert fig.number in plt.get_fignums()
    nbk.show_figure(fig)
    assert fig.number not in plt.get_fignums()
    assert disp._png_bytes(nbk.show_images(torch.rand(3, 4, 4), show=False)).startswith(b"\x89PNG")


def test_widgets_are_importable_lazily():
    pytest.importorskip("ipywidgets")
    assert nbk.widgets.__name__ == "esrgan_lib.notebook.widgets"
    with pytest.raises(AttributeError):
        nbk.no_such_helper  # noqa: B018


def test_star_import_does_not_shadow_ipython_display():
    pytest.importorskip("ipywidgets")
    namespace: dict = {}
    exec("from esrgan_lib.notebook import *", namespace)
    assert "display" not in namespace  # IPython's display() stays usable in notebooks
    assert namespace["show_images"] is nbk.show_images and nbk.display is disp


def test_training_log_clocks_are_not_plotted_as_losses():
    """The trainer logs ``elapsed_s`` and ``it_per_s``: timings, not curves for the loss axis."""
    from esrgan_lib.notebook.history import split_curves

    records = [{"step": s, "l1": 1 / s, "elapsed_s": 3.0 * s, "it_per_s": 5, "psnr": 20 + s} for s in (1, 2)]
    losses, metrics = split_curves(records, None)
    assert set(losses) == {"l1"} and set(metrics) == {"psnr"}
