"""The named training presets, as data: ``TrainConfig.from_preset(name, stage, gan=..., arch=...)``.

Each preset has ``base`` values, per-architecture changes (``arch``), and the values of each stage
(``psnr``; ``gan``, to which the GAN recipe's own settings are added, see
``esrgan_lib.losses.gan.GAN_RECIPES``). Keyword overrides come last. Measured times and PSNRs of
these presets live in the README and in the metadata of the weights they produce, not here.
"""

from __future__ import annotations

__all__ = ["PRESETS"]

# The paper-size model and batch shared by the colab_t4 and paper presets (BasicSR, REFERENCE.md).
_FULL_SIZE = dict(nf=64, nb=23, gc=32, batch_size=16, hr_size=128, subimages=True)
_SRGAN_BLOCKS = {"srresnet": dict(nb=16)}  # SRGAN's 16 residual blocks at full size

PRESETS: dict[str, dict] = {
    # seconds on a CPU: nf 8, nb 1, 8 steps on 32-pixel patches; the gan stage uses a RANDOM VGG
    "smoke": dict(
        base=dict(
            nf=8, nb=1, gc=8, batch_size=2, hr_size=32, steps=8, milestones=(6,), ema_decay=0.9,
            log_every=2, val_every=4, sample_every=4, checkpoint_every=4, out="runs/smoke", progress=False,
        ),
        arch={},
        psnr=dict(lr_g=2e-4),
        gan=dict(
            hr_size=128, lr_g=1e-4, lr_d=1e-4, vgg_weights=None, discriminator="vgg128", d_nf=8,
            perceptual_layer="conv2_2", allow_scratch=True,
        ),
    ),
    # a small CPU run: RRDBNet nf 32, nb 3, gc 16, HR 64, batch 8, colour augmentation (few photos)
    "cpu": dict(
        base=dict(
            nf=32, nb=3, gc=16, batch_size=8, hr_size=64, color_augment=True, num_workers=0,
            log_every=25, val_every=500, sample_every=500, checkpoint_every=250, out="runs/cpu",
        ),
        arch={"srresnet": dict(nf=32, nb=6)},
        psnr=dict(steps=4400, lr_g=4e-4, milestones=(2900, 3800)),
        gan=dict(
            steps=600, hr_size=96, batch_size=4, lr_g=1e-4, lr_d=1e-4, milestones=(400,),
            val_every=200, sample_every=200, checkpoint_every=100,
        ),
    ),
    # a 16 GB T4 (fp16 + GradScaler by precision="auto"), checkpoints every 1000 steps (Drive, --resume)
    "colab_t4": dict(
        base=dict(
            _FULL_SIZE, num_workers=2, log_every=50, val_every=2000, sample_every=2000,
            checkpoint_every=1000, out="runs/colab",
        ),
        arch=_SRGAN_BLOCKS,
        psnr=dict(steps=100_000, lr_g=2e-4, milestones=(50_000, 75_000)),
        gan=dict(
            steps=50_000, lr_g=1e-4, lr_d=1e-4, milestones=(10_000, 20_000, 30_000, 40_000),
            discriminator="vgg128",
        ),
    ),
    # the paper's recipe as reproduced by BasicSR (train on DF2K, ideally with subimages)
    "paper": dict(
        base=dict(
            _FULL_SIZE, num_workers=4, log_every=100, val_every=5000, sample_every=5000,
            checkpoint_every=5000, out="runs/paper",
        ),
        arch=_SRGAN_BLOCKS,
        psnr=dict(steps=1_000_000, lr_g=2e-4, milestones=(200_000, 400_000, 600_000, 800_000)),
        gan=dict(
            steps=400_000, lr_g=1e-4, lr_d=1e-4, milestones=(50_000, 100_000, 200_000, 300_000),
            discriminator="vgg128",
        ),
    ),
}
