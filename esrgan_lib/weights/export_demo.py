"""Copy a run's EMA generator into esrgan_lib/weights/ with its metadata plus Set5/Set14 Y-PSNR.

usage: python esrgan_lib/weights/export_demo.py RUN_DIR_OR_FILE DEST [key=value ...]
(run from the repository root; Set5/Set14 HR images are read from ../shared/data)
"""

import sys

import torch

from esrgan_lib.checkpoint import load_generator, read_metadata, save_generator
from esrgan_lib.data import bicubic_downsample, imresize, load_benchmark, modcrop, to_tensor, to_uint8
from esrgan_lib.metrics import psnr

torch.set_num_threads(1)
run, dest, extra = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
src = run if run.endswith(".safetensors") else f"{run}/generator.safetensors"
model = load_generator(src)
meta = {k: v for k, v in read_metadata(src).items() if k != "format" and not k.startswith("esrgan_lib.")}
for name in ("Set5", "Set14"):
    sr_p, bic_p = [], []
    for img in load_benchmark(name, root="../shared/data").values():
        hr = modcrop(img, 4)
        lr = bicubic_downsample(hr, 4)
        with torch.no_grad():
            sr = model(to_tensor(lr)[None]).clamp(0, 1)
        sr_p.append(psnr(to_uint8(sr), hr, crop_border=4))
        bic_p.append(psnr(imresize(lr, 4), hr, crop_border=4))
    meta[f"{name.lower()}_psnr_y"] = f"{sum(sr_p) / len(sr_p):.3f}"
    meta[f"{name.lower()}_psnr_y_bicubic"] = f"{sum(bic_p) / len(bic_p):.3f}"
meta.update(extra)
save_generator(model, dest, metadata=meta)
for k, v in meta.items():
    print(f"{k}: {v}")
