"""``Trainer``: the training loop for both stages, single process or DDP under torchrun.

Usage (a notebook)::

    from esrgan_lib.training import Trainer, TrainConfig, History
    config = TrainConfig.cpu(stage="psnr", out="runs/psnr", val_data="../shared/data/Set5")
    history = History()
    trainer = Trainer(config, callbacks=[history, lambda tr, event, logs: print(event, logs)])
    trainer.fit()              # -> path of runs/psnr/generator.safetensors (EMA weights)
    trainer.eval_model         # the EMA generator (eval mode), ready for esrgan_lib.inference.upscale

One step of stage ``psnr``: ``sr = G(lr)``; ``L1(sr, hr)``; Adam step; MultiStepLR step; EMA update.
One step of stage ``gan`` (BasicSR's order): the generator step with the discriminator frozen
(pixel + perceptual + adversarial loss), then the discriminator step on ``sr.detach()`` (plus the
gradient penalty for WGAN-GP, computed in fp32).

Files in ``config.out``: ``checkpoint.pt`` (everything needed to resume, written atomically every
``checkpoint_every`` steps, at the end and on Ctrl-C), ``generator.safetensors`` (EMA generator with
metadata), ``generator_best.safetensors`` (stage psnr: best validation PSNR), ``log.jsonl`` (one JSON
object per log/validation event), ``samples/step_XXXXXXX.png`` (bicubic | SR | HR crops), ``config.json``.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..runtime import autocast, default_device, pick_precision
from .builders import (
    build_discriminator,
    build_generator,
    check_validation_image,
    dataset_repeat,
    load_pretrained,
    training_images,
    validation_images,
)
from .callbacks import dispatch
from .config import TrainConfig
from .distributed import DistInfo, all_reduce_mean, average_gradients, setup_distributed
from .ema import ModelEMA
from .sampler import SeededBatchSampler
from .state import load_checkpoint, rng_state, save_checkpoint, seed_everything, set_rng_state

__all__ = ["Trainer", "TrainingDiverged"]

CHECKPOINT_NAME = "checkpoint.pt"
GENERATOR_NAME = "generator.safetensors"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; the last good checkpoint on disk is left untouched."""


class Trainer:
    """Trains the generator described by ``config`` (see ``TrainConfig``).

    Args:
        config: the run's settings.
        callbacks: functions ``fn(trainer, event, logs)`` or objects with ``on_<event>(trainer, logs)``
            methods (see ``esrgan_lib.training.callbacks``).
        resume: continue from ``<config.out>/checkpoint.pt`` when it exists (else start afresh).
        train_images: optional override of the training data (folder, paths or uint8 arrays).
        val_images: optional ``{name: uint8 HR array}`` override of the validation set.
    """

    def __init__(
        self,
        config: TrainConfig,
        callbacks=(),
        *,
        resume: bool = False,
        train_images=None,
        val_images: dict | None = None,
    ):
        self.config = config = config.validate()
        self.callbacks = list(callbacks)
        requested = torch.device(config.device) if config.device != "auto" else default_device()
        check_device_available(requested)
        self.dist: DistInfo = setup_distributed(requested.type)
        if self.dist.enabled and requested.type == "cuda":
            requested = torch.device("cuda", self.dist.local_rank)
        self.device = requested
        self.precision = pick_precision(self.device, config.precision)
        self.out = Path(config.out)
        self.step, self.epoch, self.position = 0, 0, 0
        self.best_psnr = -math.inf
        self.last_val: dict = {}
        self.last_checkpoint: tuple[Path, int] | None = None  # (path, step) of the newest written
        self._stop = False
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)

        # models, losses, optimisers
        self.channels_last = (
            config.channels_last if config.channels_last is not None else self.device.type == "cuda"
        )
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.memory_format = memory_format
        self.generator = build_generator(config)
        self.pretrained = None
        if config.stage == "gan":
            if config.pretrained:
                self.pretrained = load_pretrained(self.generator, config.pretrained)
            elif not config.allow_scratch:
                raise ValueError(
                    "stage 'gan' starts from a stage-psnr generator: set config.pretrained "
                    "(CLI: --pretrained runs/psnr/generator.safetensors)"
                )
        self.generator.to(self.device, memory_format=memory_format)
        self.ema = ModelEMA(self.generator, config.ema_decay) if config.ema_decay > 0 else None
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas_g)
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, list(config.milestones), config.gamma)
        self.discriminator = self.opt_d = self.sched_d = self.perceptual = None
        self.vgg_weights = "none (stage psnr)"
        if config.stage == "gan":
            self._build_gan()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

        self.train_model = self.generator
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.generator, device_ids=ids)
        if config.compile:
            self.train_model = torch.compile(self.train_model)

        # data
        from ..data import SRPatchDataset

        if self.dist.enabled and not self.is_main:
            torch.distributed.barrier()  # rank 0 prepares the data first (e.g. cuts sub-images once)
        images = train_images if train_images is not None else training_images(config)
        if self.dist.enabled and self.is_main:
            torch.distributed.barrier()
        probe = SRPatchDataset(images, config.scale, config.hr_size, augment=True, seed=config.seed)
        self.dataset = SRPatchDataset(
            images,
            config.scale,
            config.hr_size,
            augment=True,
            color_augment=config.color_augment,
            seed=config.seed,
            repeat=dataset_repeat(config, probe.n_images),
        )
        self.sampler = SeededBatchSampler(
            len(self.dataset),
            config.batch_size,
            seed=config.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        self.loader = DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            num_workers=config.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator(),
        )
        self.val_images = dict(val_images) if val_images is not None else None
        self._val_pairs = None
        if self.is_main:
            self._validation_pairs()  # read and check the validation images up front

        if resume and (self.out / CHECKPOINT_NAME).is_file():
            self.load(self.out / CHECKPOINT_NAME)

    # ------------------------------------------------------------------------------------------
    def _build_gan(self) -> None:
        from ..losses import GAN_LOSSES, PerceptualLoss

        c = self.config
        self.discriminator = build_discriminator(c).to(self.device, memory_format=self.memory_format)
        self.d_loss_fn, self.g_loss_fn = GAN_LOSSES[c.gan]
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr_d, betas=c.betas_d)
        self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, list(c.milestones), c.gamma)
        if c.perceptual_weight > 0:
            self.perceptual = PerceptualLoss(
                c.perceptual_layer,
                c.perceptual_before_activation,
                c.perceptual_criterion,
                weights=c.vgg_weights,
            ).to(self.device)
            self.vgg_weights = self.perceptual.weights_source
        else:
            self.vgg_weights = "unused (perceptual_weight=0)"

    @property
    def eval_model(self) -> torch.nn.Module:
        """The model used for validation and export: the EMA copy (or the generator without EMA)."""
        return self.ema.module if self.ema is not None else self.generator

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    # ------------------------------------------------------------------------------------------
    def _batches(self):
        """Endless (lr, hr) batches on the device, in the resumable order of ``self.sampler``."""
        while True:
            self.dataset.set_epoch(self.epoch)
            self.sampler.start(self.epoch, self.position)
            for lr, hr in self.loader:
                self.position += 1
                if self.position == len(self.sampler):
                    self.epoch, self.position = self.epoch + 1, 0
                yield (
                    lr.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format),
                    hr.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format),
                )

    def _check(self, losses: dict[str, torch.Tensor]) -> list[float]:
        """All-reduce the loss terms (and the Ctrl-C flag) over processes; stop on NaN/Inf."""
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        flag = torch.tensor([1.0 if self._stop else 0.0], device=values.device)
        values = all_reduce_mean(torch.cat([values, flag]), self.dist)
        values = values.tolist()
        if values[-1] > 0:
            self._stop = True
        bad = [name for name, v in zip(losses, values) if not math.isfinite(v)]
        if bad:
            raise TrainingDiverged(
                f"step {self.step + 1}: loss term(s) {', '.join(bad)} became "
                f"{', '.join(str(values[list(losses).index(b)]) for b in bad)}. {self._resume_point()}"
            )
        return values[:-1]

    def _resume_point(self) -> str:
        """The end of a divergence message: the checkpoint actually on disk (if any) and what to try."""
        if self.last_checkpoint is None:
            where = f"no checkpoint was written in {self.out}"
        else:
            path, step = self.last_checkpoint
            where = f"the last good checkpoint is {path} (step {step})"
        return (
            f"Training stopped; {where}. "
            "Try a lower learning rate, precision=fp32 or a smaller adversarial weight."
        )

    def _weights_finite(self) -> bool:
        """One host sync: are all generator (and EMA) weights finite?"""
        params = list(self.generator.parameters())
        if self.ema is not None:
            params += list(self.ema.module.parameters())
        return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())

    def _optimizer_step(self, optimizer, module) -> None:
        if self.config.grad_clip > 0:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.grad_clip)
        self.scaler.step(optimizer)

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        """One optimisation step on a batch; returns the loss terms (averaged over processes)."""
        if self.config.stage == "psnr":
            return self._psnr_step(lr, hr)
        return self._gan_step(lr, hr)

    def _psnr_step(self, lr, hr) -> dict[str, float]:
        with autocast(self.device, self.precision):
            sr = self.train_model(lr)
        loss = F.l1_loss(sr.float(), hr)
        values = self._check({"l1": loss})
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self._optimizer_step(self.opt_g, self.generator)
        self._after_step()
        return {"l1": values[0]}

    def _gan_step(self, lr, hr) -> dict[str, float]:
        c, d = self.config, self.discriminator
        # generator step, discriminator frozen (and called without any DDP wrapper)
        d.requires_grad_(False)
        with autocast(self.device, self.precision):
            sr = self.train_model(lr)
            terms = {}
            if c.pixel_weight > 0:
                terms["l_pix"] = c.pixel_weight * F.l1_loss(sr.float(), hr)
            if self.perceptual is not None:
                terms["l_percep"] = c.perceptual_weight * self.perceptual(sr, hr).float()
            fake_out = d(sr).float()
            real_out = d(hr).float().detach() if c.gan == "ragan" else None
            terms["l_g_gan"] = c.adversarial_weight * self.g_loss_fn(real_out, fake_out)
        loss_g = sum(terms.values())
        g_values = self._check(terms)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self._optimizer_step(self.opt_g, self.generator)

        # discriminator step
        d.requires_grad_(True)
        fake = sr.detach()
        with autocast(self.device, self.precision):
            real_out, fake_out = d(hr).float(), d(fake).float()
            d_terms = {"l_d": self.d_loss_fn(real_out, fake_out)}
        if c.gan == "wgan-gp":
            from ..losses import gradient_penalty

            d_terms["gp"] = c.gp_weight * gradient_penalty(d, hr, fake.float())
        loss_d = sum(d_terms.values())
        d_values = self._check(d_terms)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        average_gradients(d, self.dist)
        self._optimizer_step(self.opt_d, d)
        self._after_step()
        logs = dict(zip(terms, g_values)) | dict(zip(d_terms, d_values))
        logs["d_real"], logs["d_fake"] = real_out.mean().item(), fake_out.mean().item()
        return logs

    def _after_step(self) -> None:
        self.scaler.update()
        self.sched_g.step()
        if self.sched_d is not None:
            self.sched_d.step()
        if self.ema is not None:
            self.ema.update(self.generator)
        self.step += 1

    # ------------------------------------------------------------------------------------------
    def fit(self, steps: int | None = None) -> Path | None:
        """Train until ``steps`` (default ``config.steps``) iterations in total; returns the path of
        the exported EMA generator (main process; None elsewhere).

        Ctrl-C (or a notebook's interrupt) and SIGTERM finish the current step, save a checkpoint and
        raise ``KeyboardInterrupt``; ``Trainer(config, resume=True).fit()`` continues exactly from there.
        """
        c = self.config
        total = int(steps if steps is not None else c.steps)
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(c.to_dict(), indent=2))
        start_time = time.perf_counter()
        self._emit(
            "train_begin",
            {
                "step": self.step,
                "steps": total,
                "precision": self.precision,
                "device": str(self.device),
                "world_size": self.dist.world_size,
            },
        )
        bar = None
        if self.is_main and c.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=self.step, desc=f"{c.stage} {c.arch}", dynamic_ncols=True)
        sums: dict[str, float] = {}
        count, t_log = 0, time.perf_counter()
        previous = self._install_signals()
        try:
            batches = self._batches()
            while self.step < total:
                lr, hr = next(batches)
                for k, v in self.train_step(lr, hr).items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                if bar is not None:
                    bar.update(1)
                if self.step % c.log_every == 0 or self.step == total:
                    now = time.perf_counter()
                    logs = {
                        "step": self.step,
                        "epoch": self.epoch,
                        "lr": self.opt_g.param_groups[0]["lr"],
                        "it_per_s": count / max(now - t_log, 1e-9),
                        "elapsed_s": now - start_time,
                    }
                    logs |= {k: v / count for k, v in sums.items()}
                    sums, count, t_log = {}, 0, now
                    if bar is not None:
                        bar.set_postfix(
                            {k: f"{v:.4g}" for k, v in logs.items() if k not in ("step", "epoch")}
                        )
                    self._log(logs)
                    self._emit("step", logs)
                if self.step % c.val_every == 0 or self.step == total:
                    self.validate()
                if self.step % c.sample_every == 0:
                    self.save_samples()
                if self.step % c.checkpoint_every == 0 or self.step == total:
                    self.save()
                if self._stop:
                    self.save()
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            if self.is_main:
                print(
                    f"\ninterrupted at step {self.step}; checkpoint saved in {self.out / CHECKPOINT_NAME} "
                    "(resume with --resume / Trainer(config, resume=True))",
                    flush=True,
                )
            raise
        finally:
            self._restore_signals(previous)
            if bar is not None:
                bar.close()
        path = self.out / GENERATOR_NAME if self.is_main else None
        self._emit(
            "train_end",
            {"step": self.step, "generator": str(path), "seconds": time.perf_counter() - start_time},
        )
        return path

    def _install_signals(self) -> dict:
        """First Ctrl-C (SIGINT) or SIGTERM (``kill``, a scheduler's pre-emption, Colab's shutdown): stop
        after the current step, with a checkpoint. A second one: stop now. Returns the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):
            if self._stop:
                raise KeyboardInterrupt
            self._stop = True

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):
                pass
        return previous

    @staticmethod
    def _restore_signals(previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    # ------------------------------------------------------------------------------------------
    def _emit(self, event: str, logs: dict) -> None:
        if self.is_main:
            dispatch(self.callbacks, self, event, logs)

    def _log(self, record: dict) -> None:
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    def _validation_pairs(self):
        """[(name, lr float (1,3,h,w), hr uint8, bicubic psnr)] built once (MATLAB bicubic LR)."""
        if self._val_pairs is None:
            from ..data import bicubic_downsample, imresize, modcrop, to_tensor
            from ..metrics import psnr

            images = self.val_images if self.val_images is not None else validation_images(self.config)
            s, pairs = self.config.scale, []
            for name, img in images.items():
                hr = modcrop(check_validation_image(img, s, name), s)
                lr = bicubic_downsample(hr, s)
                pairs.append((name, to_tensor(lr)[None], hr, psnr(imresize(lr, s), hr, crop_border=s)))
            self._val_pairs = pairs
        return self._val_pairs

    @torch.no_grad()
    def _upscale(self, model, lr: torch.Tensor) -> torch.Tensor:
        lr = lr.to(self.device).contiguous(memory_format=self.memory_format)
        with autocast(self.device, self.precision):
            return model(lr).float().clamp(0, 1).cpu()

    @torch.no_grad()
    def validate(self) -> dict | None:
        """Y-channel PSNR (crop = scale) of the EMA generator on the validation images (main process)."""
        if not self.is_main:
            return None
        from ..data import to_uint8
        from ..metrics import psnr

        model = self.eval_model
        was_training = model.training
        model.eval()
        per_image, bicubic = {}, []
        for name, lr, hr, bic in self._validation_pairs():
            per_image[name] = psnr(to_uint8(self._upscale(model, lr)), hr, crop_border=self.config.scale)
            bicubic.append(bic)
        model.train(was_training)
        logs = {
            "step": self.step,
            "psnr": float(np.mean(list(per_image.values()))),
            "psnr_bicubic": float(np.mean(bicubic)),
            "per_image": per_image,
        }
        self.last_val = logs
        self._log({"event": "validation"} | logs)
        self._emit("validation", logs)
        if self.config.stage == "psnr" and logs["psnr"] > self.best_psnr:
            self.best_psnr = logs["psnr"]
            self.export(self.out / "generator_best.safetensors")
        return logs

    @torch.no_grad()
    def save_samples(self) -> Path | None:
        """``samples/step_XXXXXXX.png``: bicubic | SR | HR of a central crop of the first validation image."""
        if not self.is_main:
            return None
        from PIL import Image

        from ..data import imresize, to_tensor, to_uint8

        name, lr, hr, _ = self._validation_pairs()[0]
        s = self.config.scale
        lr_u8 = to_uint8(lr)
        side = min(48, lr_u8.shape[0], lr_u8.shape[1])
        y, x = (lr_u8.shape[0] - side) // 2, (lr_u8.shape[1] - side) // 2
        lr_crop = np.ascontiguousarray(lr_u8[y : y + side, x : x + side])
        model = self.eval_model
        was_training = model.training
        model.eval()
        sr = to_uint8(self._upscale(model, to_tensor(lr_crop)[None]))
        model.train(was_training)
        hr_crop = hr[y * s : (y + side) * s, x * s : (x + side) * s]
        gap = np.full((side * s, 4, 3), 255, np.uint8)
        grid = np.concatenate([imresize(lr_crop, s), gap, sr, gap, hr_crop], axis=1)
        path = self.out / "samples" / f"step_{self.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(path)
        return path

    # ------------------------------------------------------------------------------------------
    def metadata(self) -> dict:
        """What goes into every exported generator: recipe, data, step, validation PSNR, VGG weights."""
        c = self.config
        meta = {
            "preset": c.preset,
            "stage": c.stage,
            "arch": c.arch,
            "steps": self.step,
            "data": c.data or "scikit-image sample photos (minus chelsea, coffee)",
            "val_data": c.val_data or "scikit-image chelsea, coffee",
            "vgg_weights": self.vgg_weights,
            "precision": self.precision,
            "batch_size": c.batch_size,
            "hr_size": c.hr_size,
        }
        if c.stage == "gan":
            meta |= {
                "gan": c.gan,
                "pretrained": self.pretrained or "none (from scratch)",
                "loss_weights": {
                    "pixel": c.pixel_weight,
                    "perceptual": c.perceptual_weight,
                    "adversarial": c.adversarial_weight,
                },
            }
        if self.last_val:
            meta |= {
                "val_psnr_y": round(self.last_val["psnr"], 3),
                "val_psnr_y_bicubic": round(self.last_val["psnr_bicubic"], 3),
            }
        meta |= {str(k): v for k, v in c.extra.items()}
        return meta

    def export(self, path: str | Path | None = None) -> Path:
        """Write the EMA generator with ``esrgan_lib.checkpoint.save_generator`` (safetensors)."""
        from ..checkpoint import save_generator

        return save_generator(self.eval_model, path or self.out / GENERATOR_NAME, metadata=self.metadata())

    def state_dict(self) -> dict:
        """Everything a resume needs; only tensors, numbers, strings and plain containers."""
        opt = lambda o: o.state_dict() if o is not None else None
        return {
            "format": "esrgan_lib.training/1",
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "best_psnr": self.best_psnr,
            "config": self.config.to_dict(),
            "generator": self.generator.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "discriminator": opt(self.discriminator),
            "opt_d": opt(self.opt_d),
            "sched_d": opt(self.sched_d),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "last_val": self.last_val,
        }

    def save(self) -> Path | None:
        """Atomically write ``checkpoint.pt`` and export ``generator.safetensors`` (main process)."""
        if not self.is_main:
            return None
        if not self._weights_finite():
            raise TrainingDiverged(
                f"step {self.step}: the generator's weights are no longer finite (not saved). "
                + self._resume_point()
            )
        path = save_checkpoint(self.state_dict(), self.out / CHECKPOINT_NAME)
        self.last_checkpoint = (path, self.step)
        self.export()
        self._emit("checkpoint", {"step": self.step, "path": str(path)})
        return path

    def _apply_schedule(self, old: dict) -> None:
        """A resume whose config changes ``lr_g``/``lr_d``/``milestones``/``gamma``: the optimisers and
        schedulers switch to the new schedule at the current step (config.json records what runs)."""
        c = self.config
        if all(old.get(k) == v for k, v in (("lr_g", c.lr_g), ("lr_d", c.lr_d), ("gamma", c.gamma))) and (
            list(old.get("milestones", [])) == list(c.milestones)
        ):
            return
        pairs = [(self.opt_g, self.sched_g, c.lr_g)]
        if self.opt_d is not None:
            pairs.append((self.opt_d, self.sched_d, c.lr_d))
        for opt, sched, base in pairs:
            set_schedule(opt, sched, base, c.milestones, c.gamma, self.step)
        if self.is_main:
            print(f"resume: lr_g={c.lr_g:g}, lr_d={c.lr_d:g}, milestones={c.milestones}, gamma={c.gamma:g}")

    def _truncate_log(self) -> None:
        """Drop ``log.jsonl`` records written after the checkpoint's step (a crash between checkpoints)."""
        log = self.out / "log.jsonl"
        if not self.is_main or not log.is_file():
            return
        lines = log.read_text().splitlines()
        kept = [line for line in lines if _record_step(line) <= self.step]
        if len(kept) != len(lines):
            log.write_text("".join(line + "\n" for line in kept))

    def load(self, path: str | Path) -> None:
        """Restore a ``checkpoint.pt`` written by ``save`` (models, optimisers, RNGs, data position)."""
        state = load_checkpoint(path, map_location="cpu")
        old = state["config"]
        for key in (
            "stage",
            "arch",
            "nf",
            "nb",
            "gc",
            "scale",
            "gan",
            "discriminator",
            "d_nf",
            "d_batch_norm",
        ):
            if old.get(key) != getattr(self.config, key):
                raise ValueError(
                    f"{path}: the checkpoint has {key}={old.get(key)!r} but the config says "
                    f"{getattr(self.config, key)!r}; resume with the same settings"
                )
        self.generator.load_state_dict(state["generator"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.sched_g.load_state_dict(state["sched_g"])
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.sched_d.load_state_dict(state["sched_d"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.step, self.epoch, self.position = int(state["step"]), int(state["epoch"]), int(state["position"])
        self._apply_schedule(old)
        self._truncate_log()
        self.best_psnr = float(state["best_psnr"])
        self.last_val = dict(state.get("last_val") or {})
        self.last_checkpoint = (Path(path), self.step)
        if self.is_main:
            print(f"resumed from {path} at step {self.step}", flush=True)


def _record_step(line: str) -> float:
    try:
        return float(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return math.inf  # a torn last line: dropped


def set_schedule(opt, sched, base_lr: float, milestones, gamma: float, step: int) -> None:
    """Make ``opt`` and its ``MultiStepLR`` ``sched`` follow ``base_lr * gamma ** (milestones passed)``
    from ``step`` on (used when a resumed run changes its learning-rate settings)."""
    from bisect import bisect_right
    from collections import Counter

    lr = base_lr * gamma ** bisect_right(sorted(milestones), step)
    sched.base_lrs = [base_lr] * len(opt.param_groups)
    sched.milestones, sched.gamma = Counter(milestones), gamma
    for group in opt.param_groups:
        group["initial_lr"], group["lr"] = base_lr, lr
    sched._last_lr = [lr] * len(opt.param_groups)


def check_device_available(device: torch.device) -> None:
    """``ValueError`` naming ``TrainConfig.device`` when that device is not present on this machine."""
    present = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not present.get(device.type, False):
        raise ValueError(f"TrainConfig.device={str(device)!r}: no such device on this machine (try 'auto')")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"TrainConfig.device={str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) visible"
        )
