"""Interactive widgets for the notebooks: a before/after wipe, a network-interpolation slider and
"upscale your own image".

Everything is drawn on the Python side: each widget renders a numpy picture, encodes it as PNG
bytes and puts them in an ``ipywidgets.Image``. No custom JavaScript is needed, so the widgets work
the same on Colab (ipywidgets 7.7.1), in JupyterLab and in VS Code (ipywidgets 8.x). Only APIs that
exist in both major versions are used.

The rendering functions (``wipe_composite``, ``png_bytes``, ``side_by_side``) are pure
(numpy in, numpy/bytes out) and are what the tests check; the widget builders only wire them to
sliders.

Images may be given as uint8 arrays (H, W, 3) / (H, W), PIL images, float arrays in [0, 1] or
torch tensors (3, H, W) / (1, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from .display import as_image

__all__ = [
    "as_uint8_image",
    "png_bytes",
    "wipe_composite",
    "side_by_side",
    "comparison_slider",
    "interpolation_slider",
    "upscale_your_own",
    "upload_widget",
]

# CSS classes that tests (and users' own styles) can select on.
COMPARE_SLIDER_CLASS = "esrgan-compare-slider"
COMPARE_IMAGE_CLASS = "esrgan-compare-image"
INTERP_SLIDER_CLASS = "esrgan-interp-slider"
INTERP_IMAGE_CLASS = "esrgan-interp-image"
UPLOAD_CLASS = "esrgan-upload"


# --- pure rendering ---------------------------------------------------------------------------------


def as_uint8_image(img) -> np.ndarray:
    """Any supported picture -> uint8 RGB array (H, W, 3).

    Accepts what ``esrgan_lib.notebook.display.as_image`` accepts (it converts through
    ``esrgan_lib.img_util.to_batch``): a uint8 or float [0, 1] array
    (H, W, 3) / (H, W), a PIL image, or a torch tensor (3, H, W) / (1, 3, H, W) / (H, W) in [0, 1]
    (float values are clipped to [0, 1]).
    """
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    arr = as_image(img)  # float32 in [0, 1], (H, W, 3) or (H, W)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.rint(arr * 255.0).astype(np.uint8)


def png_bytes(img) -> bytes:
    """Encode a picture (see ``as_uint8_image``) as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(as_uint8_image(img)).save(buffer, format="PNG")
    return buffer.getvalue()


def split_column(width: int, split: float) -> int:
    """The first column taken from the right image when the wipe sits at ``split`` percent (0..100)."""
    if not 0 <= split <= 100:
        raise ValueError(f"split must be in [0, 100] percent, got {split}")
    return int(round(width * split / 100.0))


def wipe_composite(left, right, split: float, *, line_width: int = 2,
                   line_color: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Before/after wipe: columns left of the split from ``left``, the rest from ``right``.

    Args:
        left, right: pictures of the same height and width.
        split: position of the wipe in percent of the width, 0 (all ``right``) .. 100 (all ``left``).
        line_width: width in pixels of the divider line drawn centred on the split (0: none).
        line_color: RGB colour of the divider.

    Returns:
        uint8 array (H, W, 3); column ``c`` comes from ``left`` if ``c < split_column(W, split)``
        else from ``right`` (except under the divider line).
    """
    a, b = as_uint8_image(left), as_uint8_image(right)
    if a.shape != b.shape:
        raise ValueError(
            f"the two images must have the same size, got {a.shape[:2]} and {b.shape[:2]} "
            "(upscale the smaller one first, e.g. bicubic to the SR size)"
        )
    x = split_column(a.shape[1], split)
    out = b.copy()
    out[:, :x] = a[:, :x]
    if line_width > 0 and 0 < x < a.shape[1]:
        lo = max(x - line_width // 2, 0)
        out[:, lo:lo + line_width] = np.asarray(line_color, dtype=np.uint8)
    return out


def side_by_side(images: Sequence, *, gap: int = 4, fill: int = 255) -> np.ndarray:
    """Place pictures in a row (top-aligned, ``gap`` pixels of ``fill`` between them) -> uint8 (H, W, 3)."""
    arrays = [as_uint8_image(im) for im in images]
    if not arrays:
        raise ValueError("side_by_side needs at least one image")
    height = max(a.shape[0] for a in arrays)
    width = sum(a.shape[1] for a in arrays) + gap * (len(arrays) - 1)
    out = np.full((height, width, 3), fill, dtype=np.uint8)
    x = 0
    for a in arrays:
        out[: a.shape[0], x : x + a.shape[1]] = a
        x += a.shape[1] + gap
    return out


def _uploaded_files(value) -> list[tuple[str, bytes]]:
    """Normalise ``FileUpload.value`` of ipywidgets 7.x and 8.x to a list of (file name, bytes).

    - 7.x: a dict ``{name: {"content": bytes, "metadata": {"name": ..., "type": ..., ...}}}``
    - 8.x: a tuple of dicts ``{"name": ..., "type": ..., "size": ..., "content": memoryview, ...}``
    """
    if not value:
        return []
    if isinstance(value, dict):  # ipywidgets 7
        items = [(name, entry) for name, entry in value.items()]
    elif isinstance(value, (list, tuple)):  # ipywidgets 8
        items = [(entry.get("name") or entry.get("metadata", {}).get("name", f"upload{i}"), entry)
                 for i, entry in enumerate(value)]
    else:
        raise TypeError(f"unexpected FileUpload value of type {type(value).__name__}")
    files = []
    for name, entry in items:
        if not isinstance(entry, dict) or "content" not in entry:
            raise TypeError(f"upload {name!r}: expected a dict with 'content', got {type(entry).__name__}")
        files.append((str(name), bytes(entry["content"])))
    return files


def decode_image(data: bytes, *, name: str = "upload") -> np.ndarray:
    """PNG/JPEG/... bytes -> uint8 RGB array (H, W, 3); alpha dropped, EXIF orientation applied,
    16-bit and palette images converted as ``esrgan_lib.img_util.to_rgb_uint8`` does; Pillow's
    pixel limit applies (``esrgan_lib.img_util.check_pixel_limit``)."""
    from PIL import ImageOps, UnidentifiedImageError

    from esrgan_lib.img_util import check_pixel_limit, pil_to_array, to_rgb_uint8

    try:
        with Image.open(io.BytesIO(data)) as im:
            check_pixel_limit(im.width, im.height, name)
            return to_rgb_uint8(pil_to_array(ImageOps.exif_transpose(im)), name=name)
    except UnidentifiedImageError as err:
        raise ValueError(f"{name}: not an image file Pillow can read") from err
    except Image.DecompressionBombError as err:
        raise ValueError(f"{name}: {err}") from err


# --- widgets ----------------------------------------------------------------------------------------


def _widgets():
    import ipywidgets

    return ipywidgets


def _bicubic_to(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 RGB array to (width, height) with PIL's bicubic filter."""
    return np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))


def comparison_slider(left_img, right_img, labels: Sequence[str] = ("before", "after"), *,
                      split: int = 50, width: int | None = None, line_width: int = 2):
    """A before/after wipe: drag the slider to move the split between two pictures of the same size.

    Args:
        left_img, right_img: pictures of the same size (e.g. bicubic and SR). ``left_img`` is shown
            left of the split.
        labels: captions of the left and right picture (HTML-escaped).
        split: initial split in percent (0..100).
        width: display width in CSS pixels (default: the picture's own width).

    Returns:
        an ``ipywidgets.VBox`` with attributes ``slider`` (IntSlider 0..100, CSS class
        ``esrgan-compare-slider``), ``image`` (ipywidgets.Image with PNG bytes, CSS class
        ``esrgan-compare-image``) and ``render(split) -> bytes``.
    """
    w = _widgets()
    a, b = as_uint8_image(left_img), as_uint8_image(right_img)
    wipe_composite(a, b, 50, line_width=0)  # validate sizes now, not on the first slider move
    cache: dict[int, bytes] = {}

    def render(pos: int) -> bytes:
        pos = int(pos)
        if pos not in cache:
            cache[pos] = png_bytes(wipe_composite(a, b, pos, line_width=line_width))
        return cache[pos]

    image = w.Image(value=render(split), format="png")
    image.width = str(width or a.shape[1])
    image.add_class(COMPARE_IMAGE_CLASS)
    slider = w.IntSlider(value=split, min=0, max=100, step=1, description="split %",
                         continuous_update=True, readout=True)
    slider.add_class(COMPARE_SLIDER_CLASS)
    left_label, right_label = (html.escape(str(label)) for label in labels)
    caption = w.HTML(f"<b>&larr; {left_label}</b> &nbsp;|&nbsp; <b>{right_label} &rarr;</b>")

    def on_change(change):
        image.value = render(change["new"])

    slider.observe(on_change, names="value")
    box = w.VBox([caption, image, slider])
    box.slider, box.image, box.render = slider, image, render
    return box


def _sr_array(model, lr: np.ndarray, upscale_fn: Callable | None) -> np.ndarray:
    if upscale_fn is not None:
        return as_uint8_image(upscale_fn(model, lr))
    from esrgan_lib.inference import upscale

    return as_uint8_image(upscale(model, lr))


def interpolation_slider(psnr_model, gan_model, lr_image, *, value: float = 0.8,
                         upscale_fn: Callable | None = None, width: int | None = None,
                         labels: tuple[str, str] = ("PSNR-oriented (smooth)",
                                                    "GAN (sharp, may hallucinate)")):
    """Network interpolation: theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN, alpha on a slider.

    Args:
        psnr_model, gan_model: two generators of the same architecture (PSNR-oriented and GAN-trained).
        lr_image: the low-resolution picture to upscale.
        value: initial alpha (0 = PSNR-oriented, 1 = GAN).
        upscale_fn: ``fn(model, lr_uint8) -> picture``; default ``esrgan_lib.inference.upscale``.
        width: display width in CSS pixels.
        labels: what alpha = 0 and alpha = 1 are, shown above the slider (HTML-escaped).

    Returns:
        an ``ipywidgets.VBox`` with ``slider`` (FloatSlider 0..1 step 0.1, ``continuous_update=False``,
        CSS class ``esrgan-interp-slider``), ``image`` (CSS class ``esrgan-interp-image``),
        ``render(alpha) -> bytes`` and ``cache`` (alpha rounded to 0.1 -> PNG bytes): each alpha is
        computed once.
    """
    from esrgan_lib.checkpoint import interpolate

    w = _widgets()
    lr = as_uint8_image(lr_image)
    cache: dict[float, bytes] = {}

    def render(alpha: float) -> bytes:
        alpha = round(float(alpha), 1)
        if alpha not in cache:
            model = interpolate(psnr_model, gan_model, alpha)
            cache[alpha] = png_bytes(_sr_array(model, lr, upscale_fn))
        return cache[alpha]

    first = render(value)
    image = w.Image(value=first, format="png")
    if width:
        image.width = str(width)
    image.add_class(INTERP_IMAGE_CLASS)
    slider = w.FloatSlider(value=round(value, 1), min=0.0, max=1.0, step=0.1, description="alpha",
                           continuous_update=False, readout_format=".1f")
    slider.add_class(INTERP_SLIDER_CLASS)
    import html

    left, right = (html.escape(label) for label in labels)
    caption = w.HTML(f"alpha = 0: {left} &nbsp;&hellip;&nbsp; alpha = 1: {right}")

    def on_change(change):
        image.value = render(change["new"])

    slider.observe(on_change, names="value")
    box = w.VBox([caption, slider, image])
    box.slider, box.image, box.render, box.cache = slider, image, render, cache
    return box


def upscale_your_own(model, *, sample=None, max_side: int = 512, upscale_fn: Callable | None = None,
                     width: int | None = None, label: str = "model"):
    """Upload a picture and see it upscaled by ``model`` (bicubic vs. model as a wipe).

    Args:
        model: a generator (e.g. RRDBNet) on any device.
        sample: optional picture processed right away (what CI and smoke runs show without uploading).
        max_side: inputs whose longer side exceeds this are shrunk first (keeps CPU runs short; the
            ``gpu`` profile can raise it).
        upscale_fn: ``fn(model, lr_uint8) -> picture``; default ``esrgan_lib.inference.upscale``.
        width: display width of the result in CSS pixels.
        label: the model's name, shown on the right of the wipe (left: "bicubic").

    Returns:
        an ``ipywidgets.VBox`` with ``upload`` (FileUpload, CSS class ``esrgan-upload``), ``output``
        (ipywidgets.Output showing the result), ``process(name, data) -> (lr, sr)`` arrays,
        ``on_upload(change)``, the observer of ``upload.value``, and ``current``: a dict whose
        ``"comparison"`` is the wipe (``comparison_slider``) shown for the latest picture.
    """
    w = _widgets()
    upload = w.FileUpload(accept="image/*", multiple=False, description="Upload image")
    upload.add_class(UPLOAD_CLASS)
    output = w.Output()
    status = w.Label("")
    current: dict = {}

    def process(name: str, data) -> tuple[np.ndarray, np.ndarray]:
        lr = decode_image(data, name=name) if isinstance(data, (bytes, bytearray, memoryview)) \
            else as_uint8_image(data)
        h, wd = lr.shape[:2]
        if max(h, wd) > max_side:
            scale = max_side / max(h, wd)
            lr = _bicubic_to(lr, (max(1, round(wd * scale)), max(1, round(h * scale))))
            status.value = (f"{name}: shrunk from {wd}x{h} to {lr.shape[1]}x{lr.shape[0]} "
                            f"(max_side={max_side})")
        else:
            status.value = f"{name}: {wd}x{h}"
        sr = _sr_array(model, lr, upscale_fn)
        bicubic = _bicubic_to(lr, (sr.shape[1], sr.shape[0]))
        current["comparison"] = comparison_slider(bicubic, sr, labels=("bicubic", label), width=width)
        output.clear_output(wait=True)
        with output:
            from IPython.display import display

            display(current["comparison"])
        return lr, sr

    def on_upload(change):
        for name, data in _uploaded_files(change["new"]):
            try:
                process(name, data)
            except (ValueError, TypeError, RuntimeError) as err:  # show it in the widget, not in a log
                status.value = f"{name}: cannot upscale: {err}"

    upload.observe(on_upload, names="value")
    if sample is not None:
        process("sample image", sample)
    box = w.VBox([upload, status, output])
    box.upload, box.output, box.process, box.on_upload = upload, output, process, on_upload
    box.current = current
    return box


upload_widget = upscale_your_own  # the name used in the course plan
