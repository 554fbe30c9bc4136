"""Adversarial objectives and the WGAN-GP gradient penalty.

Every loss takes the discriminator's **raw** outputs (logits / critic scores, any shape such as (B, 1)
or (B,); no sigmoid applied) and returns a scalar tensor. Expectations E[.] are means over all elements.

- ``ragan_*``: ESRGAN's relativistic average GAN (the paper).
- ``wgan_*``: the Wasserstein GAN of the giakou4/gans ESRGAN README, used with ``gradient_penalty`` (WGAN-GP).
- ``vanilla_*``: the standard (non-saturating) GAN of SRGAN.

``GAN_LOSSES[name] = (d_loss, g_loss)`` gives a uniform interface: both take ``(real_out, fake_out)``,
the discriminator's outputs on real (HR) and generated (SR) images. ``GAN_RECIPES[name]`` is the
training recipe built on them (``GanRecipe``: the step's losses and the recipe's settings).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from esrgan_lib.models import has_batchnorm


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """-E[log sigmoid(x)] for target 1, -E[log(1 - sigmoid(x))] for target 0 (numerically stable)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


# --- relativistic average GAN (ESRGAN) --------------------------------------------------------------


def ragan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss of the relativistic average GAN (ESRGAN paper, eq. 2).

    With D_Ra(a, b) = sigmoid(C(a) - E[C(b)]):
    L_D = -E[log D_Ra(real, fake)] - E[log(1 - D_Ra(fake, real))].

    Convention: the paper's **sum** of the two terms. BasicSR halves each term (so its value is half
    of this one, and its gradients too) and detaches the other batch's mean in the D step; here the
    mean is not detached, so the gradient is exactly that of the formula above.
    """
    return _bce(real_logits - fake_logits.mean(), 1.0) + _bce(fake_logits - real_logits.mean(), 0.0)


def ragan_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss of the relativistic average GAN (ESRGAN paper, eq. 3), symmetric to the D loss:

    L_G = -E[log(1 - D_Ra(real, fake))] - E[log D_Ra(fake, real)].

    Unlike a standard GAN the generator also gets gradients through the real images' term. Paper's sum
    convention (BasicSR averages the two terms). Pass ``real_logits`` detached (they do not depend on G).
    """
    return _bce(real_logits - fake_logits.mean(), 0.0) + _bce(fake_logits - real_logits.mean(), 1.0)


# --- Wasserstein GAN (the giakou4/gans ESRGAN README) ----------------------------------------------------


def wgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss of WGAN: -E[D(real)] + E[D(fake)] (add ``lambda * gradient_penalty``, lambda 10).

    The critic raises real scores and lowers fake ones. Note: the giakou4/gans ESRGAN README writes the
    second term with the wrong sign (-E[D(real)] - E[D(fake)]), which would push both scores up; its code
    and the WGAN-GP paper use +E[D(fake)].
    """
    return fake_scores.mean() - real_scores.mean()


def wgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss of WGAN: -E[D(fake)] (the giakou4/gans ESRGAN README weights it by 0.005)."""
    return -fake_scores.mean()


# --- standard GAN (SRGAN) ---------------------------------------------------------------------------


def vanilla_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Standard GAN discriminator loss: -E[log sigmoid(D(real))] - E[log(1 - sigmoid(D(fake)))]."""
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def vanilla_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss (SRGAN, weight 1e-3): -E[log sigmoid(D(fake))]."""
    return _bce(fake_logits, 1.0)


def _ignore_real(fn):
    """Adapt ``fn(fake_out)`` to the registry's ``(real_out, fake_out)`` signature."""

    @functools.wraps(fn)
    def wrapper(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return fn(fake_out)

    return wrapper


GAN_LOSSES = {
    "ragan": (ragan_d_loss, ragan_g_loss),
    "wgan-gp": (wgan_d_loss, _ignore_real(wgan_g_loss)),
    "vanilla": (vanilla_d_loss, _ignore_real(vanilla_g_loss)),
}


# --- recipes: how a training step uses each GAN (the trainer never branches on the name) -------------


@dataclass(frozen=True)
class GanRecipe:
    """One GAN recipe: its losses (from ``GAN_LOSSES``), what its steps compute, and its settings.

    ``settings`` are the ``TrainConfig`` values the recipe implies (loss weights, Adam betas,
    discriminator); ``uses_real_in_g``: the generator loss needs D(real) (RaGAN); ``penalty``: add
    the WGAN-GP gradient penalty to the discriminator loss. Every recipe returns the same keys.
    """

    name: str
    settings: Mapping = field(default_factory=dict)
    uses_real_in_g: bool = False
    penalty: bool = False

    def generator_loss(self, d: nn.Module, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Adversarial loss of the generator; ``sr``, ``hr`` (B, 3, H, W) in [0, 1]; scalar fp32."""
        fake_out = d(sr).float()
        real_out = d(hr).float().detach() if self.uses_real_in_g else None
        return GAN_LOSSES[self.name][1](real_out, fake_out)

    def discriminator_terms(self, d: nn.Module, sr, hr, *, gp_weight: float, autocast) -> tuple[dict, dict]:
        """``({"l_d", "gp"}, {"d_real", "d_fake"})``: loss terms to sum and detached monitors (scalars).

        ``sr`` must be detached from the generator; ``autocast`` is the precision context of the
        forward passes (the gradient penalty always runs in fp32, outside it)."""
        with autocast:
            real_out, fake_out = d(hr).float(), d(sr).float()
        terms = {"l_d": GAN_LOSSES[self.name][0](real_out, fake_out)}
        if self.penalty:
            terms["gp"] = gp_weight * gradient_penalty(d, hr, sr.float())
        else:
            terms["gp"] = torch.zeros((), device=hr.device)
        return terms, {"d_real": real_out.detach().mean(), "d_fake": fake_out.detach().mean()}


_NO_BN = dict(d_batch_norm=False, perceptual_before_activation=True, pixel_weight=1e-2, perceptual_weight=1.0)
GAN_RECIPES: dict[str, GanRecipe] = {
    "ragan": GanRecipe(  # ESRGAN paper
        "ragan",
        dict(_NO_BN, adversarial_weight=5e-3, perceptual_criterion="l1", betas_g=(0.9, 0.99),
             betas_d=(0.9, 0.99)),
        uses_real_in_g=True,
    ),
    "wgan-gp": GanRecipe(  # the giakou4/gans ESRGAN README
        "wgan-gp",
        dict(_NO_BN, adversarial_weight=5e-3, gp_weight=10.0, perceptual_criterion="mse",
             betas_g=(0.0, 0.9), betas_d=(0.0, 0.9), discriminator="vgg"),
        penalty=True,
    ),
    "vanilla": GanRecipe(  # SRGAN
        "vanilla",
        dict(pixel_weight=0.0, perceptual_weight=1 / 12.75**2, adversarial_weight=1e-3,
             perceptual_before_activation=False, perceptual_criterion="mse", betas_g=(0.9, 0.999),
             betas_d=(0.9, 0.999), d_batch_norm=True, discriminator="vgg"),
    ),
}


# --- WGAN-GP gradient penalty -----------------------------------------------------------------------


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x D(x_hat)||_2 - 1)^2] (without the lambda factor).

    x_hat = a * real + (1 - a) * fake with a ~ U(0, 1) drawn once per sample; the norm is over the
    whole flattened sample (all channels and pixels). The graph is kept (``create_graph=True``) so the
    result can be back-propagated into the critic's parameters. ``real`` and ``fake`` are detached:
    the penalty trains the critic only.

    Args:
        critic: module mapping (B, ...) to per-sample scores (B, 1) or (B,). Must not contain
            BatchNorm: the penalty is per sample, and BatchNorm makes each score depend on the batch.
        real, fake: tensors of the same shape (B, C, H, W).
        generator: optional ``torch.Generator`` (on the inputs' device) for the interpolation weights.

    Returns:
        scalar tensor >= 0. Compute it in fp32 (outside fp16 autocast): second-order gradients in
        half precision are unreliable.
    """
    if has_batchnorm(critic):
        raise ValueError(
            "gradient_penalty: the critic contains BatchNorm. WGAN-GP penalises each sample's gradient "
            "norm, but BatchNorm makes every score depend on the whole batch, so the penalty is "
            "ill-defined. Build the critic without BatchNorm (e.g. VGGDiscriminator(batch_norm=False)) "
            "or use layer/instance norm."
        )
    if real.shape != fake.shape:
        raise ValueError(f"real and fake shapes differ: {tuple(real.shape)} vs {tuple(fake.shape)}")
    alpha_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    alpha = torch.rand(alpha_shape, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()
