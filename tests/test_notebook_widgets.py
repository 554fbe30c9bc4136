"""Tests of esrgan_lib.notebook.widgets: pure rendering, slider wiring and FileUpload value formats."""

import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ipywidgets")

from esrgan_lib.notebook import widgets as W  # noqa: E402


def _pair(h=12, w=20):
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return left, right


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _png(arr: np.ndarray, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("split, column", [(0, 0), (25, 5), (50, 10), (72, 14), (100, 20)])
def test_wipe_composite_split_position(split, column):
    left, right = _pair()
    out = W.wipe_composite(left, right, split, line_width=0)
    assert out.shape == left.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :column], left[:, :column])
    np.testing.assert_array_equal(out[:, column:], right[:, column:])


def test_wipe_composite_draws_divider_and_keeps_inputs():
    left, right = _pair()
    left_copy = left.copy()
    out = W.wipe_composite(left, right, 50, line_width=2, line_color=(255, 0, 0))
    assert (out[:, 9:11] == np.array([255, 0, 0], np.uint8)).all()
    np.testing.assert_array_equal(out[:, :9], left[:, :9])
    np.testing.assert_array_equal(out[:, 11:], right[:, 11:])
    np.testing.assert_array_equal(left, left_copy)


def test_wipe_composite_rejects_size_mismatch_and_bad_split():
    left, right = _pair()
    with pytest.raises(ValueError, match="same size"):
        W.wipe_composite(left, right[:, :-1], 50)
    with pytest.raises(ValueError, match="split"):
        W.wipe_composite(left, right, 101)


def test_as_uint8_image_accepts_tensor_float_pil_and_gray():
    torch = pytest.importorskip("torch")
    left, _ = _pair()
    t = torch.from_numpy(left).permute(2, 0, 1).float() / 255
    np.testing.assert_array_equal(W.as_uint8_image(t), left)
    np.testing.assert_array_equal(W.as_uint8_image(t[None]), left)
    np.testing.assert_array_equal(W.as_uint8_image(left / 255.0), left)
    np.testing.assert_array_equal(W.as_uint8_image(Image.fromarray(left)), left)
    gray = W.as_uint8_image(left[:, :, 0])
    assert gray.shape == left.shape and (gray == left[:, :, :1]).all()


def test_png_bytes_round_trip():
    left, _ = _pair()
    np.testing.assert_array_equal(_decode(W.png_bytes(left)), left)


def test_side_by_side_layout():
    a = np.zeros((4, 3, 3), np.uint8)
    b = np.full((6, 5, 3), 9, np.uint8)
    out = W.side_by_side([a, b], gap=2, fill=255)
    assert out.shape == (6, 10, 3)
    assert (out[:4, :3] == 0).all() and (out[:, 3:5] == 255).all() and (out[:, 5:] == 9).all()
    assert (out[4:, :3] == 255).all()


def test_comparison_slider_updates_image_bytes():
    left, right = _pair()
    box = W.comparison_slider(left, right, labels=("bicubic", "SR"), split=50)
    assert COMPARE_CLASSES <= set(box.slider._dom_classes) | set(box.image._dom_classes)
    assert box.image.format == "png"
    np.testing.assert_array_equal(_decode(box.image.value), W.wipe_composite(left, right, 50))
    before = box.image.value
    box.slider.value = 20  # fires the observer as a browser drag would
    assert box.image.value != before
    np.testing.assert_array_equal(_decode(box.image.value), W.wipe_composite(left, right, 20))
    box.slider.value = 100
    np.testing.assert_array_equal(_decode(box.image.value), left)


COMPARE_CLASSES = {W.COMPARE_SLIDER_CLASS, W.COMPARE_IMAGE_CLASS}


def test_uploaded_files_ipywidgets7_format():
    value = {
        "a.png": {"content": b"\x89PNGdata", "metadata": {"name": "a.png", "type": "image/png", "size": 8}},
        "b.jpg": {"content": b"jpeg", "metadata": {"name": "b.jpg", "type": "image/jpeg", "size": 4}},
    }
    assert W._uploaded_files(value) == [("a.png", b"\x89PNGdata"), ("b.jpg", b"jpeg")]


def test_uploaded_files_ipywidgets8_format():
    value = (
        {"name": "a.png", "type": "image/png", "size": 8, "last_modified": 0,
         "content": memoryview(b"\x89PNGdata")},
    )
    files = W._uploaded_files(value)
    assert files == [("a.png", b"\x89PNGdata")] and isinstance(files[0][1], bytes)


def test_uploaded_files_empty_and_bad():
    assert W._uploaded_files({}) == [] and W._uploaded_files(()) == []
    with pytest.raises(TypeError):
        W._uploaded_files(({"name": "x"},))


def _nearest_x2(model, lr):
    """A stand-in 'model': a fixed x2 nearest-neighbour upscale times model's gain."""
    return np.clip(np.repeat(np.repeat(lr, 2, 0), 2, 1) * model, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["ipywidgets7", "ipywidgets8"])
def test_upscale_your_own_processes_uploads_in_both_formats(fmt):
    left, _ = _pair(8, 6)
    box = W.upscale_your_own(1, upscale_fn=_nearest_x2)
    data = _png(left)
    lr, sr = box.process("x.png", data)
    np.testing.assert_array_equal(lr, left)
    np.testing.assert_array_equal(sr, _nearest_x2(1, left))
    if fmt == "ipywidgets7":
        value = {"x.png": {"content": data, "metadata": {"name": "x.png"}}}
    else:
        value = ({"name": "x.png", "content": memoryview(data)},)
    box.children[1].value = ""
    box.on_upload({"name": "value", "old": None, "new": value, "owner": box.upload, "type": "change"})
    assert box.children[1].value.startswith("x.png: 6x8")
    assert box.on_upload in box.upload._trait_notifiers["value"]["change"]


def test_upscale_your_own_shrinks_large_inputs_and_uses_sample():
    big = np.zeros((40, 100, 3), np.uint8)
    box = W.upscale_your_own(1, sample=big, max_side=50, upscale_fn=_nearest_x2)
    assert "shrunk from 100x40 to 50x20" in box.children[1].value


def test_decode_image_png_jpeg_and_garbage():
    left, _ = _pair()
    np.testing.assert_array_equal(W.decode_image(_png(left)), left)
    jpeg = W.decode_image(_png(left, "JPEG"))
    assert jpeg.shape == left.shape and jpeg.dtype == np.uint8
    gray = W.decode_image(_png(left[:, :, 0]))
    assert gray.shape == left.shape and (gray == left[:, :, :1]).all()
    with pytest.raises(ValueError, match="not an image"):
        W.decode_image(b"not an image", name="x.txt")


def test_interpolation_slider_renders_blends_and_caches():
    torch = pytest.importorskip("torch")
    from esrgan_lib.inference import upscale
    from esrgan_lib.models import RRDBNet

    torch.manual_seed(0)
    psnr_model, gan_model = RRDBNet(nf=4, nb=1, gc=4).eval(), RRDBNet(nf=4, nb=1, gc=4).eval()
    lr = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    box = W.interpolation_slider(psnr_model, gan_model, lr, value=0.0)
    assert W.INTERP_SLIDER_CLASS in box.slider._dom_classes and W.INTERP_IMAGE_CLASS in box.image._dom_classes
    assert box.slider.step == pytest.approx(0.1) and box.slider.continuous_update is False
    np.testing.assert_array_equal(_decode(box.image.value), upscale(psnr_model, lr))
    box.slider.value = 1.0
    np.testing.assert_array_equal(_decode(box.image.value), upscale(gan_model, lr))
    box.slider.value = 0.5
    with torch.no_grad():  # independent blend of the weights
        mid = RRDBNet(nf=4, nb=1, gc=4).eval()
        mid.load_state_dict({k: 0.5 * v + 0.5 * gan_model.state_dict()[k]
                             for k, v in psnr_model.state_dict().items()})
    np.testing.assert_array_equal(_decode(box.image.value), upscale(mid, lr))
    assert sorted(box.cache) == [0.0, 0.5, 1.0]
    cached = box.cache[0.5]
    assert box.render(0.50000001) is cached  # same rounded alpha: not recomputed
    assert "PSNR-oriented" in box.children[0].value
    labelled = W.interpolation_slider(psnr_model, gan_model, lr, labels=("RealSR <DF2K>", "Real-ESRGAN"))
    assert "alpha = 0: RealSR &lt;DF2K&gt;" in labelled.children[0].value  # says which pair it is


def test_upscale_your_own_reports_a_bad_upload_in_the_widget():
    box = W.upscale_your_own(1, upscale_fn=_nearest_x2)
    box.on_upload({"name": "value", "new": ({"name": "notes.txt", "content": memoryview(b"hello")},)})
    assert box.children[1].value.startswith("notes.txt: cannot upscale:")


def test_interpolation_slider_names_its_two_ends():
    """Two models that are not a PSNR/GAN pair (e.g. two GAN models) get their own names in the caption."""
    pytest.importorskip("torch")
    from esrgan_lib.models import RRDBNet

    a, b = RRDBNet(nf=4, nb=1, gc=4).eval(), RRDBNet(nf=4, nb=1, gc=4).eval()
    lr = np.zeros((4, 4, 3), dtype=np.uint8)
    default = W.interpolation_slider(a, b, lr, value=0.0)
    assert "PSNR-oriented" in default.children[0].value
    named = W.interpolation_slider(a, b, lr, value=0.0, labels=("RealSR DF2K", "Real-ESRGAN <x4plus>"))
    caption = named.children[0].value
    assert "alpha = 0: RealSR DF2K" in caption and "alpha = 1: Real-ESRGAN &lt;x4plus&gt;" in caption
    assert "PSNR-oriented" not in caption


def test_upscale_your_own_names_the_model_in_the_wipe():
    box = W.upscale_your_own(1, sample=np.zeros((6, 8, 3), np.uint8), upscale_fn=_nearest_x2,
                             label="RRDB <PSNR demo>")
    caption = box.current["comparison"].children[0].value
    assert "bicubic" in caption and "RRDB &lt;PSNR demo&gt;" in caption and "model" not in caption
    assert "model &rarr;" in W.upscale_your_own(1, sample=np.zeros((4, 4, 3), np.uint8),
                                                upscale_fn=_nearest_x2).current["comparison"].children[0].value
