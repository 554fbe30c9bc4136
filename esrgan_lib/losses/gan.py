"""Adversarial objectives and the WGAN-GP gradient penalty.

Every loss takes the discriminator's **raw** outputs (logits / critic scores, any shape such as (B, 1)
or (B,); no sigmoid applied) and returns a scalar tensor. Expectations E[.] are means over all elements.

- ``ragan_*``: ESRGAN's relativistic average GAN (the paper's terms, averaged as in the official code).
- ``wgan_*``: the Wasserstein GAN of the giakou4/gans ESRGAN README, used with ``gradient_penalty`` (WGAN-GP).
- ``vanilla_*``: the standard (non-saturating) GAN of SRGAN.

``GAN_RECIPES[name]`` (a ``GanRecipe``) holds each GAN's two losses with one signature,
``(real_out, fake_out)``, the discriminator's outputs on real (HR) and generated (SR) images, and says
whether the generator loss needs D(real) and whether the critic gets a gradient penalty;
``GAN_LOSSES[name] = (d_loss, g_loss)`` is the same pair. The loss weights and optimiser settings of each
recipe are ``TrainConfig`` values: ``esrgan_lib.training.presets.RECIPES``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from esrgan_lib.models import has_batchnorm


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """-E[log sigmoid(x)] for target 1, -E[log(1 - sigmoid(x))] for target 0 (numerically stable)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


# --- relativistic average GAN (ESRGAN) --------------------------------------------------------------


def ragan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss of the relativistic average GAN, as the official ESRGAN code computes it.

    With D_Ra(a, b) = sigmoid(C(a) - E[C(b)]), the paper (eq. 2) writes the **sum**
    -E[log D_Ra(real, fake)] - E[log(1 - D_Ra(fake, real))]. The authors' code and BasicSR's
    ``ESRGANModel`` take **half** of it (each term times 0.5), and the paper's loss weights (5e-3 on the
    generator's adversarial term) were tuned with that halved form: summing would double the adversarial
    gradient. So this returns the mean of the two terms. Neither batch mean is detached, as in the
    authors' code (BasicSR detaches the other batch's mean in each of its two backward passes).
    """
    return 0.5 * (_bce(real_logits - fake_logits.mean(), 1.0) + _bce(fake_logits - real_logits.mean(), 0.0))


def ragan_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss of the relativistic average GAN (paper eq. 3), symmetric to the D loss:

    the paper's sum -E[log(1 - D_Ra(real, fake))] - E[log D_Ra(fake, real)], halved as in the official
    code (``(l_g_real + l_g_fake) / 2``; see ``ragan_d_loss`` for why the halving matters). Unlike a
    standard GAN the generator also gets gradients through the real images' term. Pass
    ``real_logits`` detached (they do not depend on G).
    """
    return 0.5 * (_bce(real_logits - fake_logits.mean(), 0.0) + _bce(fake_logits - real_logits.mean(), 1.0))


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
    """Adapt ``fn(fake_out)`` to the uniform ``(real_out, fake_out)`` signature."""

    @functools.wraps(fn)
    def wrapper(real_out: torch.Tensor | None, fake_out: torch.Tensor) -> torch.Tensor:
        return fn(fake_out)

    return wrapper


# --- recipes: what a training step computes for each GAN (the trainer never branches on the name) ----


@dataclass(frozen=True)
class GanRecipe:
    """The adversarial part of one GAN recipe (its ``TrainConfig`` values are in ``training.presets``).

    ``d_loss(real_out, fake_out)`` and ``g_loss(real_out, fake_out)`` take the discriminator's raw
    outputs on HR and SR images; ``g_uses_real``: ``g_loss`` needs D(real) (RaGAN; otherwise the
    generator step passes None and skips that forward pass); ``penalty``: the discriminator step adds
    the WGAN-GP ``gradient_penalty`` (weighted by ``TrainConfig.gp_weight``).
    """

    name: str
    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g_loss: Callable[[torch.Tensor | None, torch.Tensor], torch.Tensor]
    g_uses_real: bool = False
    penalty: bool = False


GAN_RECIPES: dict[str, GanRecipe] = {
    "ragan": GanRecipe("ragan", ragan_d_loss, ragan_g_loss, g_uses_real=True),  # ESRGAN paper
    "wgan-gp": GanRecipe("wgan-gp", wgan_d_loss, _ignore_real(wgan_g_loss), penalty=True),  # that README
    "vanilla": GanRecipe("vanilla", vanilla_d_loss, _ignore_real(vanilla_g_loss)),  # SRGAN
}
GAN_LOSSES = {name: (r.d_loss, r.g_loss) for name, r in GAN_RECIPES.items()}  # (d_loss, g_loss) by name


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
