"""The training loop, as a generator of events.

    trainer = Trainer(corpus, config, run_dir=Path("models/my-run"))
    for event in trainer.run():
        ...

The consumer may call request_stop(), request_eval() or request_save() at any time (another thread,
a signal handler, the app's training process between events); they take effect at the next step boundary.
Pausing is simply not asking for the next event: time spent paused is not counted. Between events,
from the thread that consumes run(), save_now() saves at once (while paused, say) and set_budget()
changes how long the run trains.

The trainer holds its run folder (tui_gen.runs.folder: training.setup's locked descriptor, or one it opens)
and writes every file there through it. It looks whether the path still names that folder before each
evaluation and save, and about once a second (FOLDER_CHECK_SECONDS, a stat: nothing measurable). When
it does not (the folder was moved, renamed or deleted under it) the run says so in one warning and
stops: a moved folder gets `last` saved into it, beside its log, and the run ends as stopped; a
deleted one is never re-created, nothing more can be saved, and the run ends as failed.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import torch

from tui_gen.core import events as ev
from tui_gen.core.budget import MAX_MINUTES, MAX_STEPS, Budget
from tui_gen.core.config import TrainConfig, learning_rate
from tui_gen.core.errors import CheckpointError, ConfigError, TuiGenError
from tui_gen.core.events import FinishReason
from tui_gen.core.model_size import CELL_TYPES
from tui_gen.data.corpus import (
    CorpusText,
    LineSet,
    LineWindows,
    StreamWindows,
    split_encoded,
    validation_batches,
    validation_sample,
    validation_targets,
)
from tui_gen.data.vocab import Vocab
from tui_gen.model.evaluate import score_batches
from tui_gen.model.network import (
    CharRNN,
    ModelConfig,
    State,
    count_parameters,
    map_state,
    masked_nll,
    state_from_tensors,
    state_tensors,
)
from tui_gen.model.sample import SamplingSettings, sample_many, sample_seeds
from tui_gen.runs.folder import RunFolder, Whereabouts
from tui_gen.runs.lock import RunLock
from tui_gen.runs.metrics_log import FORMAT as METRICS_FORMAT
from tui_gen.runs.metrics_log import MetricsWriter, log_path
from tui_gen.training.checkpoint import (
    SUFFIX,
    Checkpoint,
    optimizer_tensors,
    remove_stale_temps,
    restore_optimizer,
    save_checkpoint,
    stop_strings,
)
from tui_gen.training.device import describe, keep_freed_memory, matmul_dtype, pick_device
from tui_gen.training.distributed import SINGLE, World

LN2 = math.log(2)
HISTORY_EVERY = 10  # steps averaged into one point of the saved train-loss history
VAL_BATCHES_KEPT = 2**20  # evaluated characters kept as ready batches (~9 bytes each)
FOLDER_CHECK_SECONDS = 1.0  # between steps, how often the run folder's path is checked (also before each save)


class StepOutcome(NamedTuple):
    """One training step: its loss in bits/char (None: not finite, the update was skipped), the
    characters it trained on, and the gradient's global norm before clipping."""

    bpc: float | None
    chars: int
    grad_norm: float = math.nan


def describe_model(config: ModelConfig) -> str:
    """The model in words, for the start line and the app: "GRU 128,256", "LSTM 64 one-hot"."""
    return f"{config.cell.upper()} {','.join(str(h) for h in config.hidden_sizes)}" + (
        " one-hot" if not config.embedding_dim else ""
    )


def corpus_digest(text: str) -> str:
    """The corpus's identity in checkpoints (EncodedCorpus.digest computes the same while encoding)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Trainer:
    def __init__(
        self,
        corpus: CorpusText,
        config: TrainConfig,
        run_dir: Path | None = None,
        resume: Checkpoint | None = None,
        corpus_ref: str | None = None,
        world: World | None = None,
    ):
        config.validate()
        self.config = config
        self.world = world or SINGLE  # several processes under torchrun: see distributed.py
        self.corpus = corpus
        self.corpus_ref = corpus_ref or corpus.name
        self.run_dir = Path(run_dir) if run_dir else None
        self.warnings: list[str] = list(corpus.warnings)
        self.notes: list[str] = []  # not problems, but worth saying (settings changed on resume, a fork)
        self.run_lock: RunLock | None = None  # run_dir's lock, set by training.setup: released when run() ends
        self.run_folder: RunFolder | None = None  # run_dir held open, while run() runs (the lock's, or its own)
        self._own_folder = False  # run_folder was opened here, not handed by the lock: run() closes it
        self._lost: Whereabouts | None = None  # where the run folder went, once its path no longer names it
        self._lost_from: Path | None = None  # the path it had then
        self._folder_checked_at = -math.inf
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = self.world.place(pick_device(config.device))  # cuda:LOCAL_RANK under torchrun
        self.matmul_dtype = matmul_dtype(self.device, config.precision)
        if self.device.type == "cpu":
            keep_freed_memory()
        torch.manual_seed(config.seed)

        self.framing = resume.framing if resume else (config.framing or corpus.framing)
        self.framing_reason = (
            "as the checkpoint was trained" if resume else ("given" if config.framing else corpus.framing_reason)
        )
        if config.framing and resume and config.framing != resume.framing:
            raise ConfigError(f"the checkpoint was trained with --framing {resume.framing}; it cannot change on resume")
        self.end_marker = resume.meta.get("end_marker") if resume else corpus.end_marker
        # The corpus as symbols (memory-mapped from its cache for a file): batches are read from it,
        # the vocabulary comes from its counts, and no string of the whole text is ever made.
        encoded = corpus.encoded_corpus()
        self.corpus_digest = encoded.digest
        split = split_encoded(encoded, self.framing, config.val_fraction, config.seed, corpus.name)
        counts = split.train_counts()
        self.vocab = resume.vocab if resume else Vocab.from_counts(counts, config.min_char_count)
        if resume:
            # Only characters the vocabulary would have kept: rarer ones are 'unknown' by design
            # (min_char_count), and warning about them on every resume of the same corpus is noise.
            fresh = Vocab.from_counts(counts, config.min_char_count)
            unknown = [c for c in fresh.chars if c not in self.vocab]
            if unknown:
                kinds = "1 kind of character" if len(unknown) == 1 else f"{len(unknown)} kinds of characters"
                self.warnings.append(
                    f"{kinds} in this corpus {'is' if len(unknown) == 1 else 'are'} not in the checkpoint's "
                    f"vocabulary; {'it is' if len(unknown) == 1 else 'they are'} trained as 'unknown'"
                )
        self.data: LineWindows | StreamWindows
        if isinstance(split.train, LineSet):  # framing "lines" (split_encoded splits lines for it alone)
            lines = LineWindows(split.train, self.vocab, config.seq_len, config.overlap, config.batch_size, config.seed)
            self.data, self.train_chars = lines, lines.train_chars
        else:
            stream = StreamWindows(
                split.train, self.vocab, config.seq_len, config.batch_size, config.state_reset_every, config.seed
            )
            self.data, self.train_chars = stream, stream.n_ids
        self.val_part = split.val
        self.val_chars = validation_targets(split.val, config.seq_len, config.state_reset_every)
        # What each evaluation scores: the whole held-out split when it is small (the tweets'), else a
        # sample of it drawn from the seed alone, the same at every evaluation and on resume, so that
        # an evaluation costs seconds on any corpus and `best` compares like with like.
        self.eval_pieces = validation_sample(split.val, config.seq_len, config.state_reset_every, config.seed)
        self.eval_chars = validation_targets(split.val, config.seq_len, config.state_reset_every, self.eval_pieces)
        # A small sample is kept as batches; a large one is read anew at each evaluation.
        self.val_batches = list(self._val_batches()) if self.eval_chars <= VAL_BATCHES_KEPT else None

        if not resume:
            config.check_model_size(len(self.vocab))  # this corpus's vocabulary: before the model is built
        self.model_config = (
            replace(resume.model.config, dropout=config.dropout) if resume else ModelConfig.of(config, len(self.vocab))
        )
        self.model = CharRNN(self.model_config).to(self.device)
        self.model.matmul_dtype = self.matmul_dtype
        self.model.flatten_parameters()
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config.lr,
            weight_decay=config.weight_decay,
            betas=(0.9, config.adam_beta2),
            fused=True if self.device.type == "cuda" else None,  # None: AdamW's own default
        )
        self.step = 0
        self.epoch = 0
        self.batch_index = 0
        self.elapsed = 0.0
        self.chars_seen = 0  # characters trained on, over the whole run (the global batch's, distributed)
        self.metrics: MetricsWriter | None = None  # the run folder's metrics log, while run() runs
        self.best_bpc: float | None = None
        self.last_bpc: float | None = None
        self.history: dict[str, list] = {"train": [], "val": []}
        self._history_acc: list[float] = []
        self.carried: State | None = None  # the state carried into the next window (stream; lines with overlap 0)
        self._stop = self._eval_now = self._save_now = False
        self._stop_reason = FinishReason.STOPPED
        self.last_path: Path | None = None
        self.best_path: Path | None = None
        self.save_error: str | None = None  # why the latest save failed, until a `last` save succeeds
        if resume:
            self._restore(resume)
        # The training step calls this one (DDP around the model when distributed); everything else
        # uses self.model, so checkpoints, evaluation and sampling are those of one process.
        self.train_model = self.world.wrap(self.model, self.device)
        self.world.seed(config.seed, self.step)
        if self.world.distributed:
            self.notes.append(self.world.share_words(self.data.batch_size))
        self._origin = (self.step, self.elapsed)  # where this run starts: set_budget counts from here

    def set_run_dir(self, run_dir: Path | None, resumed_here: bool = False) -> None:
        """Where checkpoints go. resumed_here: the folder of the checkpoint resumed from, whose best
        checkpoint is this run's best so far."""
        self.run_dir = Path(run_dir) if run_dir else None
        best = self.run_dir / ("best" + SUFFIX) if self.run_dir else None
        self.best_path = best if best and resumed_here and self.best_bpc is not None and best.is_file() else None

    # ---- control, safe to call from elsewhere between steps ------------------------------------
    def request_stop(self, reason: FinishReason = FinishReason.STOPPED) -> None:
        """reason: what the Finished event will say (TERMINATED: the training process got SIGTERM)."""
        self._stop = True
        self._stop_reason = reason

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def request_eval(self) -> None:
        self._eval_now = True

    def request_save(self) -> None:
        self._save_now = True

    def save_now(self, kind: str = "last") -> Iterator[ev.Event]:
        """Save at once, between events (request_save waits for the next step): Saved, or a RunWarning
        if the disk refused it."""
        for event in self._save(kind):
            yield from self._logged(event)

    def set_budget(self, budget: Budget) -> ev.BudgetChanged:
        """Train for `budget` (minutes or steps) counted from where this run started (its first step
        here, not the checkpoint's), instead of the budget it had. Below what is already trained, the
        run finishes (evaluates and saves `last`) before its next step. Call between events."""
        start_step, start_elapsed = self._origin
        steps, minutes = budget.steps, budget.minutes
        if steps is not None and minutes is None:
            if not 1 <= steps <= MAX_STEPS:
                raise ConfigError(f"give 1 to {MAX_STEPS:,} steps, not {steps:,}")
            self.config = replace(self.config, max_steps=start_step + steps, max_minutes=None)
        elif minutes is not None and steps is None:
            if not (math.isfinite(minutes) and 0 < minutes <= MAX_MINUTES):
                raise ConfigError(f"give more than 0 and at most {MAX_MINUTES:,} minutes, not {minutes:g}")
            self.config = replace(self.config, max_steps=None, max_minutes=start_elapsed / 60 + minutes)
        else:
            raise ConfigError("a budget is either minutes or steps")
        return ev.BudgetChanged(self.step, self.config.max_steps, self.max_seconds, self.progress(), str(budget))

    # ---- the loop -------------------------------------------------------------------------------
    @property
    def max_seconds(self) -> float | None:
        return self.config.max_minutes * 60 if self.config.max_minutes else None

    def progress(self) -> float | None:
        parts = []
        if self.config.max_steps:
            parts.append(self.step / self.config.max_steps)
        if self.max_seconds:
            parts.append(self.elapsed / self.max_seconds)
        return min(1.0, max(parts)) if parts else None

    @property
    def budget_spent(self) -> bool:
        p = self.progress()
        return p is not None and p >= 1.0

    def _done(self) -> bool:
        return self._stop or self.budget_spent

    def run(self) -> Iterator[ev.Event]:
        if self.run_dir is not None and self.world.is_main:
            self._hold_folder(self.run_dir)
            self.metrics = MetricsWriter(log_path(self.run_dir), folder=self.run_folder)
        try:
            for event in self._run():
                yield from self._logged(event)
        finally:  # finished, failed, or closed by its consumer: another trainer may have the folder now
            if self.metrics is not None:
                self.metrics.close()
                self.metrics = None
            if self._own_folder and self.run_folder is not None:  # (it is, when _own_folder)
                self.run_folder.close()
            self.run_folder, self._own_folder = None, False
            if self.run_lock is not None:
                self.run_lock.release()
                self.run_lock = None

    def _hold_folder(self, run_dir: Path) -> None:
        """run_folder: the descriptor training.setup locked, when it is run_dir's (this run's); else the folder
        opened here (a Trainer built without training.setup: tests, benchmarks), or by its path if it cannot be."""
        lock = self.run_lock
        if lock is not None and lock.held.fd is not None and Path(lock.folder) == run_dir:
            self.run_folder, self._own_folder = lock.held, False
            return
        try:
            self.run_folder, self._own_folder = RunFolder.open(run_dir), True
        except OSError:  # the saves say why, as warnings
            self.run_folder, self._own_folder = RunFolder(run_dir, None), False

    def _run(self) -> Iterator[ev.Event]:
        cfg = self.config
        yield ev.Started(
            device=describe(self.device, self.matmul_dtype),
            framing=self.framing,
            corpus=self.corpus_ref,
            vocab_size=len(self.vocab),
            parameters=count_parameters(self.model),
            train_chars=self.train_chars,
            val_chars=self.val_chars,
            eval_chars=self.eval_chars,
            grad_clip=cfg.grad_clip,
            seq_len=cfg.seq_len,
            steps_per_epoch=self.data.steps_per_epoch,
            step=self.step,
            max_steps=cfg.max_steps,
            max_seconds=self.max_seconds,
            run_dir=str(self.run_dir) if self.run_dir else None,
            warnings=list(self.warnings),
            notes=list(self.notes),
            model=describe_model(self.model_config),
            framing_reason=self.framing_reason,
            elapsed=self.elapsed,
        )
        if self.run_folder is not None:
            remove_stale_temps(self.run_folder)  # left by saves killed mid-write
        yield from self._watch_folder(force=True)  # the set-up (a download, say) may have taken a while
        nan_streak = 0
        first_step = self.step
        resumed_at = time.perf_counter()
        chars_window, time_window = 0, 0.0
        while not self._agreed_done():
            t0 = time.perf_counter()
            bpc, chars, grad_norm = self._train_step()
            dt = time.perf_counter() - t0
            chars_window += chars
            time_window += dt
            if bpc is None:
                nan_streak += 1
                self.elapsed += time.perf_counter() - resumed_at
                yield ev.RunWarning(self.step, f"step {self.step}: the loss is not finite, the update was skipped")
                resumed_at = time.perf_counter()
                if nan_streak >= cfg.max_nan_steps:
                    self.elapsed += time.perf_counter() - resumed_at
                    yield ev.Finished(
                        self.step,
                        FinishReason.DIVERGED,
                        f"training diverged: {nan_streak} steps in a row had a non-finite loss. The last good "
                        "checkpoint is intact; lower --lr (or --clip) and resume from it",
                        self.best_bpc,
                        self._str(self.last_path),
                        self._str(self.best_path),
                    )
                    return
                continue
            nan_streak = 0
            self._record_train(bpc)
            rate = chars_window / time_window if time_window > 0 else 0.0
            if time_window > 1.0:
                chars_window, time_window = 0, 0.0
            self.elapsed += time.perf_counter() - resumed_at
            self.chars_seen += chars
            yield ev.Step(
                self.step,
                self.epoch,
                bpc,
                self.optimizer.param_groups[0]["lr"],
                rate,
                self.elapsed,
                self.progress(),
                self.chars_seen,
                grad_norm,
                1.0 if grad_norm > cfg.grad_clip else 0.0,  # clip_grad_norm_ scaled the gradient down
            )
            resumed_at = time.perf_counter()
            yield from self._watch_folder()
            early = 0 < cfg.first_eval < cfg.eval_every and self.step == cfg.first_eval  # samples soon
            if self._lost is not None:
                pass  # stopping: the end below saves what can be saved
            elif self.step % cfg.eval_every == 0 or early or self._eval_now:
                self._eval_now = self._save_now = False  # an evaluation saves `last` anyway
                yield from self._evaluate_and_save()
            elif self._save_now:
                self._save_now = False
                yield from self._save("last")
            resumed_at = time.perf_counter()
        if self.step == first_step:  # stopped before the first step, or nothing left of the budget
            if self._stop:
                yield from self._save("last")
                yield (
                    self._lost_finished(self._lost)
                    if self._lost is not None
                    else ev.Finished(
                        self.step,
                        self._stop_reason,
                        self._stopped_message(),
                        self.best_bpc,
                        self._str(self.last_path),
                        self._str(self.best_path),
                    )
                )
            else:
                yield ev.Finished(
                    self.step,
                    FinishReason.COMPLETED,
                    f"nothing to do: the run is already at step {self.step} of its budget",
                    self.best_bpc,
                    self._str(self.last_path),
                    self._str(self.best_path),
                )
            return
        if self._lost is not None and self._lost.kind == "deleted":
            pass  # nowhere to save to: a deleted folder is not re-created
        elif not self.history["val"] or self.history["val"][-1][0] != self.step:
            yield from self._evaluate_and_save()
        elif self._save_now or self.last_path is None:
            yield from self._save("last")
        if self._lost is not None:
            yield self._lost_finished(self._lost)
            return
        if self.save_error:  # the run's end is lost (disk full, ...): a failure, even if training went fine
            yield ev.Finished(
                self.step,
                FinishReason.FAILED,
                f"step {self.step} could not be saved: {self.save_error}",
                self.best_bpc,
                self._str(self.last_path),
                self._str(self.best_path),
            )
            return
        yield ev.Finished(
            self.step,
            self._stop_reason if self._stop else FinishReason.COMPLETED,
            (self._stopped_message() if self._stop else f"finished at step {self.step}")
            + (f", best validation {self.best_bpc:.3f} bits/char" if self.best_bpc is not None else ""),
            self.best_bpc,
            self._str(self.last_path),
            self._str(self.best_path),
        )

    def _logged(self, event: ev.Event) -> Iterator[ev.Event]:
        """The event, written to the metrics log first (so a watcher sees it as the CLI prints it), and
        the one warning if the log cannot be written."""
        if self.metrics is not None:
            extra = None
            if isinstance(event, ev.Started):
                extra = {
                    "format": METRICS_FORMAT,
                    "config": self.config.to_json(),
                    "model_config": self.model_config.to_json(),
                    "corpus_digest": self.corpus_digest,
                    "world_size": self.world.size,
                }
            problem = self.metrics.record(event, extra)
            yield event
            if problem:
                yield ev.RunWarning(self.step, problem)
        else:
            yield event

    def _agreed_done(self) -> bool:
        """_done(), the same on every rank: rank 0's budget, evaluation and save requests and its
        training time (the learning rate follows it), and a stop asked for on any rank."""
        if not self.world.distributed:
            return self._done()
        (stop,), (done, eval_now, save_now, elapsed) = self.world.agree(
            [self._stop], [self._done(), self._eval_now, self._save_now, self.elapsed]
        )
        # A signal handled during the collective set self._stop after this rank's vote: keep it for the
        # next vote, never overwrite it with the agreed False (the stop would be lost).
        self._stop = self._stop or stop
        self._eval_now, self._save_now = bool(eval_now), bool(save_now)
        if not self.world.is_main:
            self.elapsed = elapsed
        return stop or bool(done)

    # ---- the run folder, held ----------------------------------------------------------------------
    def _watch_folder(self, force: bool = False) -> Iterator[ev.Event]:
        """Whether run_dir still names the folder this run holds (at most every FOLDER_CHECK_SECONDS,
        unless force). The first time it does not: one warning, and the run stops at the next step
        boundary (every rank: the stop is agreed), saving what it can through the held folder."""
        if self.run_folder is None or self._lost is not None or not self.world.is_main:
            return
        now = time.monotonic()
        if not force and now - self._folder_checked_at < FOLDER_CHECK_SECONDS:
            return
        self._folder_checked_at = now
        where = self.run_folder.whereabouts()
        if where.here:
            return
        self._lost, self._lost_from = where, self.run_dir
        self._stop = True  # not request_stop: a SIGTERM's reason is kept, the folder's message said
        old = self.run_dir
        if where.kind == "deleted":
            self.last_path = self.best_path = None  # gone with the folder
            message = (
                f"the run folder {old} was deleted while training: training stops, and nothing more "
                "can be saved (the folder is not created again)"
            )
        elif where.path is not None:
            self._relocate(where.path)
            message = (
                f"the run folder {old} was moved to {where.path} while training: training stops, and "
                f"`last` is saved there, beside its log (go on with --resume {where.path})"
            )
        else:
            self.last_path = self.best_path = None  # somewhere this system cannot tell
            message = (
                f"the run folder {old} was moved or renamed while training (where to cannot be told "
                "here): training stops, and `last` is saved in it, beside its log"
            )
        if where.other:
            message += f"; {old} now names another folder, which this run leaves alone"
        yield ev.RunWarning(self.step, message)

    def _relocate(self, new_dir: Path) -> None:
        """The held folder is now at new_dir: what this run says about its files says new_dir."""
        self.run_dir = new_dir
        if self.last_path is not None:
            self.last_path = new_dir / self.last_path.name
        if self.best_path is not None:
            self.best_path = new_dir / self.best_path.name

    def _lost_finished(self, lost: Whereabouts) -> ev.Finished:
        """The Finished of a run whose folder's path stopped naming it (_watch_folder): `lost`, where
        it went (self._lost)."""
        old = self._lost_from
        if lost.kind == "deleted":
            return ev.Finished(
                self.step,
                FinishReason.FAILED,
                f"stopped at step {self.step}: the run folder {old} was deleted while training, so this step "
                "could not be saved; train again (into a new folder)",
                self.best_bpc,
                None,
                None,
            )
        if self.save_error:  # moved, and even so the save failed (a full disk)
            return ev.Finished(
                self.step,
                FinishReason.FAILED,
                f"stopped at step {self.step}: the run folder {old} was moved, and this step "
                f"could not be saved: {self.save_error}",
                self.best_bpc,
                self._str(self.last_path),
                self._str(self.best_path),
            )
        if lost.path is None:  # its paths would name the old place: none
            return ev.Finished(
                self.step,
                FinishReason.STOPPED,
                f"stopped at step {self.step}: the run folder {old} was moved or renamed, and `last` is saved in it",
                self.best_bpc,
                None,
                None,
            )
        return ev.Finished(
            self.step,
            FinishReason.STOPPED,
            f"stopped at step {self.step}: the run folder {old} was "
            f"moved to {self.run_dir}"
            + (f", best validation {self.best_bpc:.3f} bits/char" if self.best_bpc is not None else ""),
            self.best_bpc,
            self._str(self.last_path),
            self._str(self.best_path),
        )

    def _stopped_message(self) -> str:
        if self._stop_reason == FinishReason.TERMINATED:
            return f"stopped at step {self.step} on SIGTERM"
        return f"stopped at step {self.step}"

    @staticmethod
    def _str(p: Path | None) -> str | None:
        return str(p) if p else None

    def _train_step(self) -> StepOutcome:
        cfg = self.config
        if self.batch_index >= self.data.steps_per_epoch:
            self.epoch += 1
            self.batch_index = 0
        batch = self.world.shard(self.data.batch(self.epoch, self.batch_index))  # this rank's rows
        self.batch_index += 1
        self.model.train()
        x = batch.inputs.to(self.device, non_blocking=True)
        y = batch.targets.to(self.device, non_blocking=True)
        m = batch.mask.to(self.device, non_blocking=True)
        state = None
        if batch.reset is not None:  # the data carries the state (carries_state), zeroing rows that reset
            if self.carried is None or bool(batch.reset.all()):
                state = None
            else:
                keep = (~batch.reset).to(self.device).float()[None, :, None]
                state = map_state(self.carried, lambda t: t * keep)
        lr = learning_rate(cfg, self.step, self.progress() or 0.0)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        # bf16 products: autocast for what torch runs (the output layer; an LSTM or RNN; a GPU's layers),
        # window_gru by its own rules for a GRU on the CPU (CharRNN.matmul_dtype)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.matmul_dtype == torch.bfloat16):
            logits, new_state = self.train_model(x, state)
            nll, count = masked_nll(logits, y, m)
        loss, global_loss, global_count = self.world.mean_loss(nll, count)  # over the global batch
        if not torch.isfinite(global_loss):
            self.optimizer.zero_grad(set_to_none=True)
            self.carried = None
            return StepOutcome(None, 0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)  # the norm before clipping
        grad_norm = float(norm)
        if not math.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            self.carried = None
            return StepOutcome(None, 0, grad_norm)
        self.optimizer.step()
        if batch.reset is not None:
            self.carried = map_state(new_state, lambda t: t.detach())
        self.step += 1
        if self.world.distributed:
            return StepOutcome(global_loss.item() / LN2, int(global_count.item()), grad_norm)
        return StepOutcome(loss.item() / LN2, batch.real_chars, grad_norm)

    def _record_train(self, bpc: float) -> None:
        self._history_acc.append(bpc)
        if len(self._history_acc) >= HISTORY_EVERY:
            self.history["train"].append([self.step, sum(self._history_acc) / len(self._history_acc)])
            self._history_acc = []

    @torch.inference_mode()
    def evaluate(self) -> float:
        """Bits per character on the evaluation sample (eval_chars characters: the whole held-out split
        when it is small), each sample from a zero state. `tui-gen eval` scores the whole split."""
        self.model.eval()
        score = score_batches(
            self.model, self.val_batches if self.val_batches is not None else self._val_batches(), self.device
        )
        return score.nll / max(score.chars, 1) / LN2

    def _val_batches(self):
        return validation_batches(
            self.val_part,
            self.vocab,
            self.config.seq_len,
            self.config.state_reset_every,
            pieces=self.eval_pieces,
        )

    def samples(self) -> list[tuple[str, str]]:
        gen = torch.Generator().manual_seed(self.config.seed + self.step)  # never touches training's RNG
        seeds = sample_seeds(self.vocab, self.framing)
        try:
            texts = sample_many(
                self.model,
                self.vocab,
                self.framing,
                seeds,
                SamplingSettings(temperature=self.config.sample_temperature),
                self.config.sample_length,
                self.stop_strings,
                gen,
            )
        except TuiGenError:  # a diverged model has nothing to show; its losses say so
            return []
        return list(zip(seeds, texts, strict=False))

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return stop_strings(self.framing, self.end_marker)

    def _evaluate_and_save(self) -> Iterator[ev.Event]:
        if not self.world.is_main:  # rank 0 alone evaluates and saves; the others go on training
            return
        yield from self._watch_folder(force=True)
        if self._lost is not None and self._lost.kind == "deleted":  # nothing to save it to
            return
        t0 = time.perf_counter()
        bpc = self.evaluate()
        if not math.isfinite(bpc):  # diverged: keep the last good checkpoint (JSON cannot hold it anyway)
            yield ev.RunWarning(self.step, f"step {self.step}: the validation loss is not finite; nothing was saved")
            return
        self.last_bpc = bpc
        self.history["val"].append([self.step, bpc])
        is_best = math.isfinite(bpc) and (self.best_bpc is None or bpc < self.best_bpc)
        if is_best:
            self.best_bpc = bpc  # the lecture never updated its best-loss marker; this one moves
        yield ev.Eval(
            self.step,
            bpc,
            self.best_bpc if self.best_bpc is not None else bpc,
            is_best,
            time.perf_counter() - t0,
            self.elapsed,
            self.chars_seen,
        )
        yield ev.Samples(self.step, self.config.sample_temperature, self.samples())
        if is_best:
            yield from self._save("best")
        yield from self._save("last")

    def _save(self, kind: str) -> Iterator[ev.Event]:
        if self.run_dir is None or not self.world.is_main:
            return
        yield from self._watch_folder(force=True)
        if self._lost is not None and self._lost.kind == "deleted":  # writing into it fails, and must not create it
            return
        try:
            path = save_checkpoint(
                self.run_dir / (kind + SUFFIX), *self.checkpoint_payload(kind), folder=self.run_folder
            )
        except CheckpointError as e:
            yield from self._watch_folder(force=True)  # deleted meanwhile: that is the one thing to say
            if self._lost is not None and self._lost.kind == "deleted":
                return
            self.save_error = str(e)
            yield ev.RunWarning(self.step, str(e))
            return
        if kind == "best":
            self.best_path = path
        else:
            self.last_path = path
            self.save_error = None
        yield ev.Saved(self.step, kind, str(path))

    # ---- checkpoints ----------------------------------------------------------------------------
    def checkpoint_payload(self, kind: str) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        opt_t, opt_meta = optimizer_tensors(self.optimizer)
        tensors.update(opt_t)
        tensors["rng.torch"] = torch.get_rng_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        if self.carried is not None and not self.world.distributed:  # a rank holds only its rows' state
            for i, t in enumerate(state_tensors(self.carried)):
                tensors[f"state.{i}"] = t
        meta = {
            "kind": kind,
            "corpus": self.corpus_ref,
            "corpus_digest": self.corpus_digest,
            "framing": self.framing,
            "end_marker": self.end_marker,
            "vocab": self.vocab.to_json(),
            "model_config": self.model_config.to_json(),
            "train_config": self.config.to_json(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_index": self.batch_index,
            "elapsed": self.elapsed,
            "chars_seen": self.chars_seen,
            "best_val_bpc": self.best_bpc,
            "last_val_bpc": self.last_bpc,
            "history": {"train": self.history["train"], "val": self.history["val"]},
            "optimizer": opt_meta,
            "torch_version": torch.__version__,
            "device": self.device.type,
            "world_size": self.world.size,
        }
        return tensors, meta

    def _restore(self, ck: Checkpoint) -> None:
        meta = ck.meta
        self.model.load_state_dict(ck.model.state_dict())
        self.model.flatten_parameters()
        try:
            restore_optimizer(
                self.optimizer,
                {
                    k: v.to(self.device) if not k.endswith(".step") else v
                    for k, v in ck.tensors.items()
                    if k.startswith("optim.")
                },
                meta["optimizer"],
            )
            self.step = int(meta["step"])
            self.epoch = int(meta["epoch"])
            self.batch_index = int(meta["batch_index"])
            self.elapsed = float(meta["elapsed"])
            seen = meta.get("chars_seen")  # older checkpoints: about a full batch a step
            self.chars_seen = (
                int(seen)
                if isinstance(seen, int) and seen >= 0
                else self.step * self.config.batch_size * self.config.seq_len
            )
            self.best_bpc = meta.get("best_val_bpc")
            self.last_bpc = meta.get("last_val_bpc")
            self.history = {part: [[int(st), float(v)] for st, v in meta["history"][part]] for part in ("train", "val")}
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{ck.path} cannot be resumed from: its training state lacks {e}") from None
        if meta.get("corpus_digest") != self.corpus_digest:
            self.warnings.append(
                "this corpus differs from the one the checkpoint was trained on: the data position starts over"
            )
            self.epoch, self.batch_index = 0, 0
        rng = ck.tensors.get("rng.torch")
        if rng is not None:
            try:
                torch.set_rng_state(rng)
            except (RuntimeError, TypeError):
                self.warnings.append("the checkpoint's random state could not be restored; continuing with a fresh one")
        if self.device.type == "cuda" and "rng.cuda" in ck.tensors:
            torch.cuda.set_rng_state(ck.tensors["rng.cuda"], self.device)
        carried = [ck.tensors[f"state.{i}"] for i in range(len(ck.tensors)) if f"state.{i}" in ck.tensors]
        shapes = [
            (1, self.data.batch_size, h)
            for h in self.model_config.hidden_sizes
            for _ in range(CELL_TYPES[self.model_config.cell].state_parts)
        ]
        rows = self.world.rows(self.data.batch_size)  # all of them in one process
        if (
            carried
            and self.data.carries_state
            and [tuple(t.shape) for t in carried] == shapes
            and all(t.is_floating_point() for t in carried)
            and rows.start < rows.stop
        ):  # else: a zero state
            self.carried = state_from_tensors(
                [t[:, rows].to(self.device, torch.float32) for t in carried], self.model_config.cell
            )
        trained_by = meta.get("world_size", 1)
        if trained_by != self.world.size and isinstance(trained_by, int):
            self.notes.append(
                f"the checkpoint was trained by {trained_by} process{'es' if trained_by != 1 else ''}, this run has "
                f"{self.world.size}: the data position carries over (epoch {self.epoch}, batch {self.batch_index} "
                f"of the global batch), each process taking its share of every batch"
                + ("; the carried state starts from zero" if self.data.carries_state and self.carried is None else "")
            )
        self.set_run_dir(self.run_dir, resumed_here=True)


def resume_config(ck: Checkpoint, **overrides) -> TrainConfig:
    """The checkpoint's own configuration, with run-length and device settings overridden."""
    try:
        cfg = TrainConfig.from_json(dict(ck.meta["train_config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{ck.path} has an unreadable training configuration: {e}") from None
    except TuiGenError as e:
        raise CheckpointError(f"{ck.path} has an invalid training configuration: {e}") from None
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
