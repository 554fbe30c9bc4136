"""The presets and the GAN recipes, as data: ``TrainConfig.from_preset(name, stage, gan=..., arch=...)``.

A **recipe** (``RECIPES[gan]``) is what a paper fixes: loss weights and criteria, Adam betas, and the
discriminator where the method needs a particular one. A **preset** (``PRESETS[name]``) is a budget:
sizes, steps, schedule, logging, and a discriminator for the recipe that leaves it open (ragan).

Which value wins, later over earlier (the one rule, applied by ``TrainConfig.from_preset``):

1. ``TrainConfig``'s field defaults; a recipe field left None takes ``RECIPE_OPEN`` | ``RECIPES[gan]``,
2. the preset: its ``base`` values, then those of the stage (``psnr`` or ``gan``), then ``arch[arch]``,
3. the recipe ``RECIPES[gan]``: every value it names wins over the preset. So
   ``TrainConfig.smoke("gan", gan="wgan-gp").discriminator`` is "vgg" (WGAN-GP needs a critic without
   BatchNorm; the smoke preset's "vgg128" is BasicSR's BatchNorm one), and SRGAN (``vanilla``) always
   gets its BatchNorm "vgg". Presets set no loss weight, so no other value of theirs is overridden.
4. your keyword arguments, over everything; ``TrainConfig.validate`` then refuses, naming the field,
   what cannot run (a BatchNorm critic with WGAN-GP's penalty, a discriminator that cannot take
   ``hr_size``).

Measured times and PSNRs of these presets live in the README and in the metadata of the weights they
produce, not here.
"""

from __future__ import annotations

__all__ = ["PRESETS", "RECIPES", "RECIPE_OPEN"]

RECIPES: dict[str, dict] = {
    # ESRGAN paper (BasicSR's reproduction): 1e-2 L1 + VGG conv5_4 before ReLU (L1) + 5e-3 RaGAN
    "ragan": dict(
        pixel_weight=1e-2, perceptual_weight=1.0, adversarial_weight=5e-3, perceptual_before_activation=True,
        perceptual_criterion="l1", betas_g=(0.9, 0.99), betas_d=(0.9, 0.99),
    ),
    # the giakou4/gans ESRGAN README: 1e-2 L1 + VGG (MSE) + 5e-3 WGAN + 10 GP; a critic without BatchNorm
    "wgan-gp": dict(
        pixel_weight=1e-2, perceptual_weight=1.0, adversarial_weight=5e-3, gp_weight=10.0,
        perceptual_before_activation=True, perceptual_criterion="mse", betas_g=(0.0, 0.9), betas_d=(0.0, 0.9),
        discriminator="vgg", d_batch_norm=False,
    ),
    # SRGAN (Ledig et al.): VGG54 after ReLU, MSE on features / 12.75 (so MSE / 12.75^2), 1e-3 BCE GAN,
    # no pixel loss, Adam beta1 0.9, its BatchNorm discriminator
    "vanilla": dict(
        pixel_weight=0.0, perceptual_weight=1 / 12.75**2, adversarial_weight=1e-3,
        perceptual_before_activation=False, perceptual_criterion="mse", betas_g=(0.9, 0.999),
        betas_d=(0.9, 0.999), discriminator="vgg", d_batch_norm=True,
    ),
}
# what a recipe field takes when the recipe leaves it open and nobody else sets it
RECIPE_OPEN = dict(gp_weight=0.0, discriminator="vgg", d_batch_norm=False)

# The paper-size model and batch shared by the colab_t4 and paper presets (BasicSR's reproduction).
_FULL_SIZE = dict(nf=64, nb=23, gc=32, batch_size=16, hr_size=128, subimages=True)
# SRGAN's SRResNet at full size: 16 blocks, MSE, 96-pixel HR patches (so the 'vgg' discriminator:
# 'vgg128' takes 128 or 256 only)
_SRGAN = {"srresnet": dict(nb=16, hr_size=96, pixel_criterion="mse", discriminator="vgg")}

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
        arch=_SRGAN,
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
        arch=_SRGAN,
        psnr=dict(steps=1_000_000, lr_g=2e-4, milestones=(200_000, 400_000, 600_000, 800_000)),
        gan=dict(
            steps=400_000, lr_g=1e-4, lr_d=1e-4, milestones=(50_000, 100_000, 200_000, 300_000),
            discriminator="vgg128",
        ),
    ),
}
