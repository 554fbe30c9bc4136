"""``Trainer``: the training loop for both stages, single process or DDP under torchrun.

Usage (a notebook)::

    from esrgan_lib.training import Trainer, TrainConfig, History
    config = TrainConfig.cpu(stage="psnr", out="runs/psnr", val_data="../shared/data/Set5")
    history = History()
    trainer = Trainer(config, callbacks=[history, lambda tr, event, logs: print(event, logs)])
    trainer.fit()              # -> path of runs/psnr/generator.safetensors (EMA weights)
    trainer.eval_model         # the EMA generator (eval mode), ready for esrgan_lib.inference.upscale

One step of stage ``psnr``: ``sr = G(lr_batch)``; ``L1(sr, hr)``; Adam step; MultiStepLR step; EMA update.
One step of stage ``gan`` (BasicSR's order): the generator step with the discriminator frozen
(pixel + perceptual + adversarial loss), then the discriminator step on ``sr.detach()``; what the
adversarial terms are is the recipe's business (``esrgan_lib.losses.gan.GAN_RECIPES``).

The pieces: ``run.build_run`` (data, processes, models, optimisers), ``monitor.StepMonitor`` (losses
kept on the device: one host sync per logged step), ``evaluator.Evaluator`` (validation, samples,
metadata) and ``resume`` / ``state`` (checkpoints). ``fit`` below is the loop that ties them together.

Files in ``config.out``: ``checkpoint-a.pt`` / ``checkpoint-b.pt`` (two slots written in turn, everything
needed to resume, every ``checkpoint_every`` steps, at the end, on Ctrl-C and on SIGTERM) with
``checkpoint.json`` naming the newest, ``generator.safetensors`` (EMA generator with metadata),
``generator_best.safetensors`` (stage psnr: best validation PSNR), ``log.jsonl`` (one JSON object per
log/validation event), ``samples/step_XXXXXXX.png`` (bicubic | SR | HR crops), ``config.json``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..runtime import autocast
from .builders import validation_images
from .callbacks import dispatch
from .config import TrainConfig
from .distributed import average_gradients
from .evaluator import Evaluator, run_metadata
from .interrupt import StopRequest
from .monitor import Readout, StepMonitor
from .resume import restore_run, run_state_dict, truncate_log
from .run import Run, build_run
from .state import load_checkpoint, load_latest_checkpoint, save_checkpoint_slot, seed_everything

__all__ = ["Trainer", "TrainingDiverged", "MAX_SKIPPED_STEPS"]

GENERATOR_NAME = "generator.safetensors"
MAX_SKIPPED_STEPS = 25  # fp16: this many overflowing steps in a row is divergence, not a bad scale


class TrainingDiverged(RuntimeError):
    """A loss or the weights became NaN or Inf; the last good checkpoint on disk is left untouched."""


class Trainer:
    """Trains the generator described by ``config`` (see ``TrainConfig``).

    Args:
        config: the run's settings.
        callbacks: functions ``fn(trainer, event, logs)`` or objects with ``on_<event>(trainer, logs)``
            methods (see ``esrgan_lib.training.callbacks``).
        resume: continue from the newest loadable checkpoint in ``config.out`` (else start afresh).
        train_images: optional override of the training data (folder, paths or uint8 arrays).
        val_images: optional ``{name: uint8 HR array}`` override of the validation set.

    The objects of the run (``generator``, ``ema``, ``discriminator``, ``opt_g``, ``dataset``, ``device``,
    ``precision`` ...) are the fields of ``trainer.run`` (a ``Run``), also readable as ``trainer.<name>``.
    """

    def __init__(
        self, config: TrainConfig, callbacks=(), *, resume=False, train_images=None, val_images=None
    ):
        self.config = config = config.validate()
        self.callbacks = list(callbacks)
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        self.run: Run = build_run(config, train_images)
        self.out = Path(config.out)
        self.step, self.epoch, self.position = 0, 0, 0
        self.best_psnr = -math.inf
        self.last_val: dict = {}
        self.last_checkpoint: tuple[Path, int] | None = None  # (path, step) of the newest written
        self.stop = StopRequest()  # Ctrl-C / SIGTERM: finish the step, save, raise KeyboardInterrupt
        self.recipe = None
        if config.stage == "gan":
            from ..losses.gan import GAN_RECIPES

            self.recipe = GAN_RECIPES[config.gan]
        self.monitor = StepMonitor(self.device, self.dist)
        self.evaluator = None
        if self.is_main:  # validation images are read and checked up front
            images = dict(val_images) if val_images is not None else validation_images(config)
            r = self.run
            self.evaluator = Evaluator(
                config, images, device=r.device, precision=r.precision, memory_format=r.memory_format
            )
        if resume:
            found = load_latest_checkpoint(self.out)
            if found is not None:
                self._restore(*found)

    def __getattr__(self, name: str):
        run = self.__dict__.get("run")
        if run is not None and name in Run.__dataclass_fields__:
            return getattr(run, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def eval_model(self) -> torch.nn.Module:
        """The model used for validation and export: the EMA copy (or the generator without EMA)."""
        return self.run.ema.module if self.run.ema is not None else self.run.generator

    @property
    def is_main(self) -> bool:
        return self.run.dist.is_main

    @property
    def channels_last(self) -> bool:
        return self.run.memory_format == torch.channels_last

    # -- one step ---------------------------------------------------------------------------------
    def _batches(self):
        """Endless (lr_batch, hr_batch) on the device, in the resumable order of the sampler."""
        r = self.run
        while True:
            r.dataset.set_epoch(self.epoch)
            r.sampler.start(self.epoch, self.position)
            for lr_batch, hr_batch in r.loader:
                self.position += 1
                if self.position == len(r.sampler):
                    self.epoch, self.position = self.epoch + 1, 0
                yield tuple(
                    t.to(r.device, non_blocking=True).contiguous(memory_format=r.memory_format)
                    for t in (lr_batch, hr_batch)
                )

    def _optimize(self, loss: torch.Tensor, optimizer, module, *, average: bool = False) -> None:
        """Backward (scaled for fp16), optional gradient all-reduce and clipping, optimiser step."""
        scaler = self.run.scaler
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if average:
            average_gradients(module, self.run.dist)
        if self.config.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.grad_clip)
        scaler.step(optimizer)  # skipped by the GradScaler when fp16 gradients overflowed

    def _step(self, lr_batch: torch.Tensor, hr_batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimisation step; the loss terms stay on the device (``self.monitor``): no host sync."""
        r, c = self.run, self.config
        with autocast(r.device, r.precision):
            sr = r.train_model(lr_batch)  # (B, 3, s h, s w)
            terms = {}
            pixel_loss = F.mse_loss if c.pixel_criterion == "mse" else F.l1_loss
            if self.recipe is None:
                terms[c.pixel_criterion] = pixel_loss(sr.float(), hr_batch)
            else:
                r.discriminator.requires_grad_(False)  # generator step: D frozen
                if c.pixel_weight > 0:
                    terms["l_pix"] = c.pixel_weight * pixel_loss(sr.float(), hr_batch)
                if r.perceptual is not None:
                    terms["l_percep"] = c.perceptual_weight * r.perceptual(sr, hr_batch).float()
                terms["l_g_gan"] = c.adversarial_weight * self.recipe.generator_loss(
                    r.discriminator, sr, hr_batch
                )
        self._optimize(sum(terms.values()), r.opt_g, r.generator)
        if self.recipe is not None:  # discriminator step on the detached SR batch
            r.discriminator.requires_grad_(True)
            d_terms, watch = self.recipe.discriminator_terms(
                r.discriminator,
                sr.detach(),
                hr_batch,
                gp_weight=c.gp_weight,
                autocast=autocast(r.device, r.precision),
            )
            self._optimize(sum(d_terms.values()), r.opt_d, r.discriminator, average=True)
            terms |= d_terms | watch
        self._after_step(terms)
        return terms

    def _after_step(self, terms: dict) -> None:
        r, skipped = self.run, None
        if r.scaler.is_enabled():
            before = r.scaler._scale.clone()  # a device tensor: comparing it needs no host sync
            r.scaler.update()
            skipped = r.scaler._scale < before  # the scale backs off exactly when a step was skipped
        for sched in (r.sched_g, r.sched_d):
            if sched is not None:
                sched.step()
        if r.ema is not None:
            r.ema.update(r.generator)
        self.step += 1
        self.monitor.add(self.step, terms, skipped)

    def train_step(self, lr_batch: torch.Tensor, hr_batch: torch.Tensor) -> dict[str, float]:
        """One step on a batch ((B, 3, h, w) and (B, 3, s h, s w) in [0, 1]); returns the loss terms as
        numbers (a host sync: for notebooks and tests; ``fit`` syncs only on logged steps)."""
        terms = self._step(lr_batch, hr_batch)
        self._raise_if_diverged(self.monitor.read(reset=False))
        return {k: float(v.detach()) for k, v in terms.items()}

    # -- the loop ---------------------------------------------------------------------------------
    def fit(self, steps: int | None = None) -> Path | None:
        """Train until ``steps`` (default ``config.steps``) iterations in total; returns the path of
        the exported EMA generator (main process; None elsewhere).

        Ctrl-C (or a notebook's interrupt) and SIGTERM finish the current step, save a checkpoint and
        raise ``KeyboardInterrupt``; ``Trainer(config, resume=True).fit()`` continues exactly from there.
        """
        c, total = self.config, int(steps if steps is not None else self.config.steps)
        bar = self._begin(total)
        t_start = t_log = time.perf_counter()
        count, stopping = 0, False  # stopping: agreed by all processes at a sync point
        self.stop.install()
        try:
            batches = self._batches()
            while self.step < total:
                lr_batch, hr_batch = next(batches)  # (B, 3, h, w), (B, 3, s h, s w) in [0, 1]
                self._step(lr_batch, hr_batch)  # forward, backward, optimisers, EMA: no host sync
                count += 1
                if bar is not None:
                    bar.update(1)
                due = {
                    k: self.step % every == 0 or self.step == total
                    for k, every in (("log", c.log_every), ("val", c.val_every), ("ckpt", c.checkpoint_every))
                }
                if any(due.values()) or (self.stop.requested and not self.dist.enabled):
                    # SYNC POINT, the only one between logs (an all-reduce under torchrun, then .tolist())
                    readout = self.monitor.read(self.stop.requested, reset=due["log"])
                    self._raise_if_diverged(readout)
                    stopping = self.stop.requested = readout.stop
                    if due["log"]:
                        now = time.perf_counter()
                        self._log_step(readout, count / max(now - t_log, 1e-9), now - t_start, bar)
                        count, t_log = 0, now
                if due["val"]:
                    self.validate()  # main process only, like everything that writes files
                if self.step % c.sample_every == 0:
                    self.save_samples()
                if due["ckpt"] or stopping:
                    self.save()
                if stopping:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            if self.is_main:
                print(f"\ninterrupted at step {self.step}; {self._where_to_resume()}", flush=True)
            raise
        finally:
            self.stop.restore()
            if bar is not None:
                bar.close()
        path = self.out / GENERATOR_NAME if self.is_main else None
        self._emit(
            "train_end", {"step": self.step, "generator": str(path), "seconds": time.perf_counter() - t_start}
        )
        return path

    def _begin(self, total: int):
        """config.json, the ``train_begin`` event and the progress bar (main process)."""
        c = self.config
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(c.to_dict(), indent=2))
        info = dict(step=self.step, steps=total, precision=self.precision, device=str(self.device))
        self._emit("train_begin", info | {"world_size": self.dist.world_size})
        if not (self.is_main and c.progress):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=self.step, desc=f"{c.stage} {c.arch}", dynamic_ncols=True)

    def _log_step(self, readout: Readout, it_per_s: float, elapsed: float, bar) -> None:
        logs = {"step": self.step, "epoch": self.epoch, "lr": self.opt_g.param_groups[0]["lr"]}
        logs |= {"it_per_s": it_per_s, "elapsed_s": elapsed} | readout.means
        if bar is not None:
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k not in ("step", "epoch")})
        self._log(logs)
        self._emit("step", logs)

    def _raise_if_diverged(self, readout: Readout) -> None:
        """fp16: persistent GradScaler skips; bf16/fp32: any NaN/Inf loss term."""
        if self.run.scaler.is_enabled():
            if readout.skipped_in_a_row >= MAX_SKIPPED_STEPS:
                raise TrainingDiverged(
                    f"step {self.step}: the fp16 GradScaler skipped the last {readout.skipped_in_a_row} "
                    f"steps (the gradients overflow every step). {self._where_to_resume(diverged=True)}"
                )
        elif readout.bad_terms:
            raise TrainingDiverged(
                f"step {readout.first_bad_step}: loss term(s) {', '.join(readout.bad_terms)} became NaN "
                f"or Inf. {self._where_to_resume(diverged=True)}"
            )

    def _where_to_resume(self, diverged: bool = False) -> str:
        """Names only a checkpoint that was actually written (and holds finite weights)."""
        if self.last_checkpoint is None:
            where = f"no checkpoint was written in {self.out}"
        else:
            where = f"the last good checkpoint is {self.last_checkpoint[0]} (step {self.last_checkpoint[1]})"
        if not diverged:
            return f"{where}; resume with --resume / Trainer(config, resume=True)"
        advice = "Try a lower learning rate, precision=fp32 or a smaller adversarial weight."
        return f"Training stopped; {where}. {advice}"

    # -- events, validation, files ----------------------------------------------------------------
    def _emit(self, event: str, logs: dict) -> None:
        if self.is_main:
            dispatch(self.callbacks, self, event, logs)

    def _log(self, record: dict) -> None:
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    def validate(self) -> dict | None:
        """Y-channel PSNR (crop = scale) of the EMA generator on the validation images (main process)."""
        if not self.is_main:
            return None
        logs = self.evaluator.validate(self.eval_model, self.step)
        self.last_val = logs
        self._log({"event": "validation"} | logs)
        self._emit("validation", logs)
        if self.config.stage == "psnr" and logs["psnr"] > self.best_psnr:
            self.best_psnr = logs["psnr"]
            self.export(self.out / "generator_best.safetensors")
        return logs

    def save_samples(self) -> Path | None:
        """``samples/step_XXXXXXX.png``: bicubic | SR | HR of a central crop of the first validation image."""
        return self.evaluator.save_samples(self.eval_model, self.step, self.out) if self.is_main else None

    def metadata(self) -> dict:
        """What goes into every exported generator: recipe, data, step, validation PSNR, VGG weights."""
        return run_metadata(self.config, self.run, self.step, self.last_val)

    def export(self, path: str | Path | None = None) -> Path:
        """Write the EMA generator with ``esrgan_lib.checkpoint.save_generator`` (safetensors)."""
        from ..checkpoint import save_generator

        return save_generator(self.eval_model, path or self.out / GENERATOR_NAME, metadata=self.metadata())

    # -- run state --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a resume needs; only tensors, numbers, strings and plain containers."""
        counters = dict(step=self.step, epoch=self.epoch, position=self.position)
        return run_state_dict(self.run, counters | {"best_psnr": self.best_psnr, "last_val": self.last_val})

    def _weights_finite(self) -> bool:
        """One host sync: are all generator (and EMA) weights finite?"""
        params = list(self.generator.parameters())
        params += list(self.ema.module.parameters()) if self.ema is not None else []
        return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())

    def save(self) -> Path | None:
        """Write the next checkpoint slot and export ``generator.safetensors`` (main process)."""
        if not self.is_main:
            return None
        if not self._weights_finite():
            raise TrainingDiverged(
                f"step {self.step}: the generator's weights are no longer finite (not saved). "
                + self._where_to_resume(diverged=True)
            )
        path = save_checkpoint_slot(self.state_dict(), self.out)
        self.last_checkpoint = (path, self.step)
        self.export()
        self._emit("checkpoint", {"step": self.step, "path": str(path)})
        return path

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by ``save`` (models, optimisers, RNGs, data position)."""
        self._restore(load_checkpoint(path, map_location="cpu"), Path(path))

    def _restore(self, state: dict, path: Path) -> None:
        counters = restore_run(self.run, state, path)
        self.step, self.epoch, self.position = counters["step"], counters["epoch"], counters["position"]
        self.best_psnr, self.last_val = counters["best_psnr"], counters["last_val"]
        self.last_checkpoint = (path, self.step)
        if self.is_main:
            truncate_log(self.out / "log.jsonl", self.step)
            print(f"resumed from {path} at step {self.step}", flush=True)
