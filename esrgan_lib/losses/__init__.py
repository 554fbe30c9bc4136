"""Training objectives: one concept per file.

- ``perceptual``: ``PerceptualLoss`` (VGG19 features, conv5_4 before ReLU as in the paper)
- ``gan``: relativistic average (ESRGAN), WGAN (the giakou4/gans ESRGAN README) and vanilla (SRGAN) GAN
  losses on raw discriminator outputs, ``GAN_RECIPES`` (each GAN's two losses, as fields of a
  ``GanRecipe``; ``GAN_LOSSES``: the same pairs by name), and the WGAN-GP ``gradient_penalty``
"""

from .gan import (
    GAN_LOSSES,
    GAN_RECIPES,
    GanRecipe,
    gradient_penalty,
    ragan_d_loss,
    ragan_g_loss,
    vanilla_d_loss,
    vanilla_g_loss,
    wgan_d_loss,
    wgan_g_loss,
)
from .perceptual import (
    VGG19_FILENAME,
    VGG19_LAYERS,
    VGG19_URL,
    PerceptualLoss,
    imagenet_vgg19_path,
    load_vgg19_features_state_dict,
)

__all__ = [
    "PerceptualLoss",
    "imagenet_vgg19_path",
    "load_vgg19_features_state_dict",
    "VGG19_URL",
    "VGG19_FILENAME",
    "VGG19_LAYERS",
    "gradient_penalty",
    "ragan_d_loss",
    "ragan_g_loss",
    "wgan_d_loss",
    "wgan_g_loss",
    "vanilla_d_loss",
    "vanilla_g_loss",
    "GAN_LOSSES",
    "GAN_RECIPES",
    "GanRecipe",
]
