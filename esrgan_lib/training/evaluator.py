"""``Evaluator``: validation images, validation PSNR, sample grids and the metadata of exported generators.

Validation uses MATLAB-style bicubic LR images (``bicubic_downsample``) and the Y-channel PSNR with
``crop_border = scale``, the numbers papers report. The same code serves the trainer and
``tools/export_demo.py`` (``psnr_on_images``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..runtime import autocast

__all__ = ["Evaluator", "VAL_SAMPLE_NAMES", "validation_images", "check_validation_image", "validation_pairs",
           "psnr_on_images", "run_metadata"]

# held out of the default training set (the scikit-image photos) and used for validation
VAL_SAMPLE_NAMES = ("chelsea", "coffee")


def validation_images(config) -> dict[str, np.ndarray]:
    """``{name: uint8 HR (H, W, 3)}`` from ``config.val_data``, else the held-out sample photos."""
    from ..data import list_images, read_image, sample_images

    if config.val_data is None:
        return dict(zip(VAL_SAMPLE_NAMES, sample_images(VAL_SAMPLE_NAMES)))
    folder = Path(config.val_data)
    if not folder.is_dir():
        raise FileNotFoundError(f"validation folder not found: {folder}")
    return {p.stem: check_validation_image(read_image(p), config.scale, p) for p in list_images(folder)}


def check_validation_image(img: np.ndarray, scale: int, name) -> np.ndarray:
    """``img`` when it is large enough to validate at ``scale`` (each side >= 3 * scale: the LR image
    must keep pixels after cropping ``scale`` border pixels), else ``ValueError`` naming it."""
    h, w = img.shape[:2]
    if min(h, w) < 3 * scale:
        raise ValueError(
            f"validation image {name} is {w}x{h} (W x H): too small for scale {scale} "
            f"(each side must be at least {3 * scale} pixels); remove it from the validation folder"
        )
    return img


def validation_pairs(images: dict, scale: int) -> list[tuple]:
    """``[(name, LR float (1, 3, h, w) in [0, 1], HR uint8 (H, W, 3), bicubic Y-PSNR)]`` for
    ``{name: uint8 HR (H, W, 3)}``; too small images raise ``ValueError`` naming them."""
    from ..data import bicubic_downsample, imresize, modcrop, to_tensor
    from ..metrics import psnr

    pairs = []
    for name, img in images.items():
        hr = modcrop(check_validation_image(img, scale, name), scale)
        lr_image = bicubic_downsample(hr, scale)  # (h, w, 3) uint8, MATLAB-style bicubic
        bicubic = psnr(imresize(lr_image, scale), hr, crop_border=scale)
        pairs.append((name, to_tensor(lr_image)[None], hr, bicubic))
    return pairs


@torch.no_grad()
def upscale_batch(model, lr_batch: torch.Tensor, device, precision="fp32", memory_format=None):
    """``model(lr_batch)`` ((B, 3, h, w) in [0, 1]) on ``device`` in ``precision``, clamped to [0, 1],
    on the CPU: (B, 3, s h, s w)."""
    lr_batch = lr_batch.to(device).contiguous(memory_format=memory_format or torch.contiguous_format)
    with autocast(device, precision):
        return model(lr_batch).float().clamp(0, 1).cpu()


@torch.no_grad()
def psnr_on_images(model, pairs, scale: int, **upscale) -> dict[str, float]:
    """``{name: Y-PSNR}`` of ``model`` (eval mode for the call) on ``validation_pairs``."""
    from ..data import to_uint8
    from ..metrics import psnr

    was_training = model.training
    model.eval()
    try:
        return {
            name: psnr(to_uint8(upscale_batch(model, lr_batch, **upscale)), hr, crop_border=scale)
            for name, lr_batch, hr, _ in pairs
        }
    finally:
        model.train(was_training)


class Evaluator:
    """Validation and samples of a run's EMA model (main process only).

    Args:
        config: the run's ``TrainConfig``; device, precision, memory_format: where the model runs;
        images: ``{name: uint8 HR}``, read and checked up front.
    """

    def __init__(self, config, images: dict, *, device, precision: str, memory_format):
        self.config = config
        self.pairs = validation_pairs(images, config.scale)
        self.upscale = dict(device=device, precision=precision, memory_format=memory_format)

    def validate(self, model, step: int) -> dict:
        """``{"step", "psnr", "psnr_bicubic", "per_image"}``: mean Y-PSNR (dB) of ``model``."""
        per_image = psnr_on_images(model, self.pairs, self.config.scale, **self.upscale)
        return {
            "step": step,
            "psnr": float(np.mean(list(per_image.values()))),
            "psnr_bicubic": float(np.mean([p[3] for p in self.pairs])),
            "per_image": per_image,
        }

    @torch.no_grad()
    def save_samples(self, model, step: int, out: Path) -> Path:
        """``out/samples/step_XXXXXXX.png``: bicubic | SR | HR of a central crop of the first image."""
        from PIL import Image

        from ..data import imresize, to_tensor, to_uint8

        _, lr_batch, hr, _ = self.pairs[0]
        s = self.config.scale
        lr_u8 = to_uint8(lr_batch)
        side = min(48, lr_u8.shape[0], lr_u8.shape[1])
        y, x = (lr_u8.shape[0] - side) // 2, (lr_u8.shape[1] - side) // 2
        lr_crop = np.ascontiguousarray(lr_u8[y : y + side, x : x + side])
        was_training = model.training
        model.eval()
        sr = to_uint8(upscale_batch(model, to_tensor(lr_crop)[None], **self.upscale))
        model.train(was_training)
        hr_crop = hr[y * s : (y + side) * s, x * s : (x + side) * s]
        gap = np.full((side * s, 4, 3), 255, np.uint8)
        grid = np.concatenate([imresize(lr_crop, s), gap, sr, gap, hr_crop], axis=1)
        path = Path(out) / "samples" / f"step_{step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(path)
        return path


def run_metadata(trainer) -> dict:
    """What goes into every exported generator of ``trainer`` (a ``Trainer``): recipe, data, step,
    validation PSNR, VGG weights."""
    config, step, last_val = trainer.config, trainer.step, trainer.last_val
    if trainer.perceptual is not None:
        vgg_weights = trainer.perceptual.weights_source
    else:
        vgg_weights = "none (stage psnr)" if config.stage == "psnr" else "unused (perceptual_weight=0)"
    meta = {
        "preset": config.preset,
        "stage": config.stage,
        "arch": config.arch,
        "steps": step,
        "data": config.data or f"scikit-image sample photos (minus {', '.join(VAL_SAMPLE_NAMES)})",
        "val_data": config.val_data or f"scikit-image {', '.join(VAL_SAMPLE_NAMES)}",
        "vgg_weights": vgg_weights,
        "precision": trainer.precision,
        "batch_size": config.batch_size,
        "hr_size": config.hr_size,
    }
    if config.stage == "gan":
        meta |= {
            "gan": config.gan,
            "pretrained": trainer.pretrained or "none (from scratch)",
            "loss_weights": {
                "pixel": config.pixel_weight,
                "perceptual": config.perceptual_weight,
                "adversarial": config.adversarial_weight,
            },
        }
    if last_val:
        meta |= {
            "val_psnr_y": round(last_val["psnr"], 3),
            "val_psnr_y_bicubic": round(last_val["psnr_bicubic"], 3),
        }
    return meta | {str(k): v for k, v in config.extra.items()}
