"""``Trainer``: the training loop of both stages, one process or DDP under torchrun, read top to bottom.

``__init__`` builds the run: data (before any process group), device and processes, models, optimisers,
DDP, the data stream (``train_data.Batches``). ``_step`` is one optimisation step: stage psnr, the pixel
loss; stage gan (BasicSR's order, as notebook 09 writes it by hand), the generator step with D frozen
(pixel + perceptual + adversarial), then the discriminator step on the detached SR batch (the recipe's
real/fake terms + gradient penalty), then schedulers and EMA. ``fit`` loops, logs, validates and saves
(the files: ``checkpoints``).

Host syncs: the loss terms are summed on the device (``meter.LossMeter``) and copied to the host at THE
SYNC POINT, once per logged step (and before validation and checkpoints), with the stop flags, so that
under torchrun every process stops at the same step.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from time import perf_counter

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from .. import runtime
from ..checkpoint import save_generator
from ..losses import GAN_RECIPES, PerceptualLoss, gradient_penalty
from . import checkpoints as ckpt
from .callbacks import dispatch
from .config import TrainConfig
from .distributed import average_gradients, device_and_processes
from .ema import ModelEMA
from .evaluator import Evaluator, run_metadata, validation_images
from .interrupt import StopRequest
from .meter import MAX_SKIPPED_STEPS, LossMeter, Readout, TrainingDiverged
from .train_data import Batches, training_images

__all__ = ["Trainer", "TrainingDiverged", "MAX_SKIPPED_STEPS"]


class Trainer:
    """Trains the generator ``config`` describes. ``callbacks``: ``fn(trainer, event, logs)`` or objects
    with ``on_<event>(trainer, logs)`` (``callbacks`` module); ``resume``: continue from the newest
    loadable checkpoint in ``config.out``; ``train_images`` (folder, paths or uint8 arrays) and
    ``val_images`` (``{name: uint8 HR}``) replace the config's data."""

    def __init__(self, config: TrainConfig, callbacks=(), *, resume=False, train_images=None,
                 val_images=None):
        self.config = c = config.validate()
        if c.stage == "gan" and not (c.pretrained or c.allow_scratch):
            raise ValueError("stage 'gan' starts from a stage-psnr generator: set config.pretrained "
                             "(CLI: --pretrained runs/psnr/generator.safetensors)")
        self.callbacks, self.out = list(callbacks), Path(c.out)
        if c.threads > 0:
            torch.set_num_threads(c.threads)
        ckpt.seed_everything(c.seed)
        # 1. data first: cutting sub-images takes minutes, and no process group exists yet to time out
        images = train_images if train_images is not None else training_images(c)
        # 2. this process's device and the process group (torchrun), precision, memory format
        self.device, self.dist = device_and_processes(c.device)
        self.precision = runtime.pick_precision(self.device, c.precision)  # "bf16" | "fp16" | "fp32"
        channels_last = c.channels_last if c.channels_last is not None else self.device.type == "cuda"
        self.memory_format = mf = torch.channels_last if channels_last else torch.contiguous_format
        # 3. the generator (stage gan: from the stage-psnr weights) and its EMA copy; Adam + MultiStepLR
        self.generator = c.build_generator()  # RRDBNet or SRResNet, the sizes of the config
        self.pretrained = None  # the stage-psnr file loaded (for the metadata)
        if c.stage == "gan" and c.pretrained:
            self.pretrained = ckpt.load_pretrained(self.generator, c.pretrained)
        self.generator.to(self.device, memory_format=mf)
        self.ema = ModelEMA(self.generator, c.ema_decay) if c.ema_decay > 0 else None
        self.opt_g, self.sched_g = self._adam(self.generator, c.lr_g, c.betas_g)
        # 4. stage gan: the recipe (d_loss, g_loss, penalty), D and its optimiser, the VGG19 loss
        self.recipe = GAN_RECIPES[c.gan] if c.stage == "gan" else None
        self.discriminator = self.perceptual = self.opt_d = self.sched_d = None
        if self.recipe is not None:
            self.discriminator = c.build_discriminator().to(self.device, memory_format=mf)
            self.opt_d, self.sched_d = self._adam(self.discriminator, c.lr_d, c.betas_d)
            if c.perceptual_weight > 0:
                vgg = PerceptualLoss(c.perceptual_layer, c.perceptual_before_activation,
                                     c.perceptual_criterion, weights=c.vgg_weights)
                self.perceptual = vgg.to(self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")  # fp16 only
        # 5. DDP averages G's gradients during backward (D's: average_gradients, by hand); torch.compile
        self.train_model = self.generator
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.generator, device_ids=ids)
        if c.compile:
            self.train_model = torch.compile(self.train_model)
        # 6. the data stream: random patches in a seeded, resumable order shared by all processes
        self.batches = Batches(c, images, self.dist, self.device, mf)
        self.dataset = self.batches.dataset  # for notebooks: a DataLoader of their own over the same patches
        # counters (where the data stream is: self.batches.epoch, .position), the loss sums, validation
        self.step = 0
        self.best_psnr, self.last_val, self.last_checkpoint = -math.inf, {}, None  # (path, step) written
        self.stop = StopRequest()  # Ctrl-C / SIGTERM: finish the step, save, raise KeyboardInterrupt
        self.meter = LossMeter(self.device)
        self.evaluator = None  # main process only: its images are read and checked now
        if self.is_main:
            val = dict(val_images) if val_images is not None else validation_images(c)
            self.evaluator = Evaluator(c, val, device=self.device, precision=self.precision, memory_format=mf)
        found = ckpt.load_latest_checkpoint(self.out) if resume else None
        if found is not None:  # networks, optimisers, RNGs, data position; log.jsonl cut to that step
            ckpt.restore_run(self, *found)
            self.last_checkpoint = (found[1], self.step)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def eval_model(self) -> torch.nn.Module:
        """The model validated and exported: the EMA copy (or the generator without EMA)."""
        return self.ema.module if self.ema is not None else self.generator

    def _adam(self, module, lr, betas):
        opt = torch.optim.Adam(module.parameters(), lr=lr, betas=betas)
        return opt, torch.optim.lr_scheduler.MultiStepLR(opt, list(self.config.milestones), self.config.gamma)

    # -- one step ---------------------------------------------------------------------------------------
    def _update(self, loss, opt, module, *, average=False) -> torch.Tensor | None:
        """Backward (scaled for fp16), D's gradient average, clipping, optimiser step. fp16: returns 1.0
        (on the device: no host sync) when a gradient is NaN/Inf: the steps GradScaler skips."""
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if average:
            average_gradients(module, self.dist)
        skipped = None
        if self.scaler.is_enabled() or self.config.grad_clip > 0:
            self.scaler.unscale_(opt)  # the true gradients (a no-op without fp16)
            norm = torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.grad_clip or math.inf)
            skipped = (~torch.isfinite(norm)).float() if self.scaler.is_enabled() else None
        self.scaler.step(opt)  # fp16: GradScaler skips the step when a gradient is NaN/Inf
        return skipped

    def _step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch on the device; the loss terms stay there (no host sync)."""
        c, d, recipe = self.config, self.discriminator, self.recipe
        pixel = F.mse_loss if c.pixel_criterion == "mse" else F.l1_loss
        with runtime.autocast(self.device, self.precision):
            sr = self.train_model(lr)  # (B, 3, h, w) -> (B, 3, s h, s w)
            if recipe is None:  # stage psnr: the pixel loss only, logged under its name ("l1" / "mse")
                terms = {c.pixel_criterion: pixel(sr.float(), hr)}
            else:  # generator step with D frozen: the gradient goes through D into sr, not into D
                d.requires_grad_(False)
                terms = {"l_pix": c.pixel_weight * pixel(sr.float(), hr)} if c.pixel_weight > 0 else {}
                if self.perceptual is not None:  # VGG19 features of sr vs hr
                    terms["l_percep"] = c.perceptual_weight * self.perceptual(sr, hr).float()
                fake_out = d(sr).float()  # (B, 1) raw scores
                real_out = d(hr).float().detach() if recipe.g_uses_real else None  # RaGAN uses D(real)
                terms["l_g_gan"] = c.adversarial_weight * recipe.g_loss(real_out, fake_out)
        skipped = self._update(sum(terms.values()), self.opt_g, self.generator)
        if recipe is not None:  # discriminator step on the detached SR batch: no gradient reaches G
            d.requires_grad_(True)
            fake = sr.detach()
            with runtime.autocast(self.device, self.precision):
                real_out, fake_out = d(hr).float(), d(fake).float()  # (B, 1) each
            d_terms = {"l_d": recipe.d_loss(real_out, fake_out), "gp": torch.zeros((), device=self.device)}
            if recipe.penalty:  # WGAN-GP, in fp32 (second-order gradients are unreliable in fp16)
                d_terms["gp"] = c.gp_weight * gradient_penalty(d, hr, fake.float())
            d_skipped = self._update(sum(d_terms.values()), self.opt_d, d, average=True)
            skipped = skipped if d_skipped is None else torch.maximum(skipped, d_skipped)
            terms |= d_terms | {"d_real": real_out.detach().mean(), "d_fake": fake_out.detach().mean()}
        self.scaler.update()  # fp16: a smaller scale after an overflow, a larger one after good steps
        with warnings.catch_warnings():  # the schedule counts iterations, skipped ones too (as BasicSR's);
            # torch's warning when GradScaler skipped the very first step (fp16, often) is no mistake here
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            for sched in filter(None, (self.sched_g, self.sched_d)):
                sched.step()
        if self.ema is not None:
            self.ema.update(self.generator)
        self.step += 1
        self.meter.add(terms, self.step, skipped)  # on the device: no host sync
        return terms

    def read_losses(self, *, reset: bool = True, stop: bool = False, out_of_time: bool = False) -> Readout:
        """THE SYNC POINT (``LossMeter.read``): the loss means and the flags of all processes, on the host;
        ``TrainingDiverged`` when a loss became NaN/Inf (fp16: when GradScaler skips step after step)."""
        r = self.meter.read(self.dist, reset=reset, stop=stop, out_of_time=out_of_time)
        if (why := r.divergence(fp16=self.scaler.is_enabled(), step=self.step)) is not None:
            raise TrainingDiverged(f"{why}. {self._where_to_resume(diverged=True)}")
        return r

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        """One step on a batch ((B, 3, h, w) and (B, 3, s h, s w) in [0, 1]); returns the loss terms as
        numbers (a host sync: for notebooks and tests; ``fit`` syncs only on logged steps)."""
        terms = self._step(lr, hr)
        self.read_losses(reset=False)
        return {k: float(v.detach()) for k, v in terms.items()}

    # -- the loop ---------------------------------------------------------------------------------------
    def fit(self, steps: int | None = None, *, max_seconds: float | None = None) -> Path | None:
        """Train until ``steps`` (default ``config.steps``) iterations in total; returns the path of the
        exported EMA generator (main process; None elsewhere).

        ``max_seconds``: a limit on this call's wall-clock time, validation and checkpoints included;
        once passed (checked after every step, under torchrun at the sync points) ``fit`` saves a
        checkpoint, exports the generator and returns (``trainer.step`` says where it stopped). Ctrl-C
        and SIGTERM finish the step, save a checkpoint and raise ``KeyboardInterrupt``.
        """
        from tqdm.auto import tqdm

        c, total = self.config, int(steps if steps is not None else self.config.steps)
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(c.to_dict(), indent=2))
        self._emit("train_begin", dict(step=self.step, steps=total, precision=self.precision,
                                       device=str(self.device), world_size=self.dist.world_size))
        bar = tqdm(total=total, initial=self.step, desc=f"{c.stage} {c.arch}", dynamic_ncols=True,
                   disable=not (self.is_main and c.progress))
        t_start = t_log = perf_counter()
        count, batches = 0, iter(self.batches)
        self.stop.install()
        try:
            while self.step < total:
                lr, hr = next(batches)  # (B, 3, h, w), (B, 3, s h, s w) in [0, 1]
                self._step(lr, hr)  # forward, backward, optimisers, EMA: no host sync
                count += 1
                bar.update(1)
                due = {k: self.step % n == 0 or self.step == total for k, n in
                       (("log", c.log_every), ("val", c.val_every), ("ckpt", c.checkpoint_every))}
                late = max_seconds is not None and perf_counter() - t_start >= max_seconds
                r = None  # what the processes agreed at the sync point: loss means, stop, out of time
                if any(due.values()) or ((self.stop.requested or late) and not self.dist.enabled):
                    # SYNC POINT: the only host sync between logs (an all-reduce first under torchrun)
                    r = self.read_losses(reset=due["log"], stop=self.stop.requested, out_of_time=late)
                    self.stop.requested = r.stop
                if due["log"]:
                    now = perf_counter()
                    logs = dict(step=self.step, epoch=self.batches.epoch, lr=self.opt_g.param_groups[0]["lr"],
                                it_per_s=count / max(now - t_log, 1e-9), elapsed_s=now - t_start) | r.means
                    count, t_log = 0, now
                    bar.set_postfix({k: f"{v:.4g}" for k, v in list(logs.items())[2:]})  # from lr on
                    self._emit("step", logs, log=True)
                if due["val"]:
                    self.validate()  # main process only, like everything that writes files
                if self.is_main and self.step % c.sample_every == 0:  # samples/: bicubic | SR | HR crops
                    self.evaluator.save_samples(self.eval_model, self.step, self.out)
                stopping, timed_out = (r.stop, r.out_of_time) if r is not None else (False, False)
                if due["ckpt"] or stopping or timed_out:
                    self.save()
                if stopping:
                    raise KeyboardInterrupt
                if timed_out:
                    if self.is_main:
                        print(f"time limit of {max_seconds:g} s reached at step {self.step} of {total}; "
                              f"{self._where_to_resume()}", flush=True)
                    break
        except KeyboardInterrupt:
            if self.is_main:
                print(f"\ninterrupted at step {self.step}; {self._where_to_resume()}", flush=True)
            raise
        finally:
            self.stop.restore()
            bar.close()
        path = self.out / ckpt.GENERATOR_NAME if self.is_main else None
        self._emit("train_end", dict(step=self.step, generator=str(path), seconds=perf_counter() - t_start))
        return path

    # -- events and files (main process only) -----------------------------------------------------------
    def _emit(self, event: str, logs: dict, *, log: bool = False) -> None:
        """Callbacks and, with ``log``, a line of ``log.jsonl``."""
        if self.is_main:
            if log:
                ckpt.append_log(self.out / "log.jsonl", logs if event == "step" else {"event": event} | logs)
            dispatch(self.callbacks, self, event, logs)

    def _where_to_resume(self, *, diverged: bool = False) -> str:
        return ckpt.where_to_resume(self.out, self.last_checkpoint, diverged=diverged)

    def validate(self) -> dict | None:
        """Y-channel PSNR (crop = scale) of the EMA generator on the validation images; stage psnr keeps
        the best generator as ``generator_best.safetensors``."""
        if not self.is_main:
            return None
        self.last_val = logs = self.evaluator.validate(self.eval_model, self.step)
        self._emit("validation", logs, log=True)
        if self.config.stage == "psnr" and logs["psnr"] > self.best_psnr:
            self.best_psnr = logs["psnr"]
            self.export(self.out / "generator_best.safetensors")
        return logs

    def export(self, path: str | Path | None = None) -> Path:
        """Write the EMA generator with its metadata (``esrgan_lib.checkpoint.save_generator``)."""
        path = path or self.out / ckpt.GENERATOR_NAME
        return save_generator(self.eval_model, path, metadata=run_metadata(self))

    def save(self) -> Path | None:
        """Write the next checkpoint slot, then export ``generator.safetensors``."""
        if not self.is_main:
            return None
        if not ckpt.all_finite([*self.generator.parameters(), *self.eval_model.parameters()]):  # + EMA
            raise TrainingDiverged(f"step {self.step}: the generator's weights are no longer finite (not "
                                   f"saved). {self._where_to_resume(diverged=True)}")
        path = ckpt.save_checkpoint_slot(ckpt.run_state(self), self.out)
        self.last_checkpoint = (path, self.step)
        self.export()
        self._emit("checkpoint", {"step": self.step, "path": str(path)})
        return path
