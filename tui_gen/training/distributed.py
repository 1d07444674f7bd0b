"""Training on many processes (GPUs, machines) under torchrun, with DistributedDataParallel.

    torchrun --nproc-per-node 4 -m tui_gen train book.txt     # or: tui-gen train book.txt --nproc 4

torchrun starts one process per device and tells each who it is (RANK, WORLD_SIZE, LOCAL_RANK);
world_from_env() reads that, start() joins the process group (NCCL for CUDA tensors, gloo for CPU
ones). The Trainer gets the World and asks it, at a few guarded points, to:
- shard(): take this rank's rows of every global batch, so the ranks read disjoint shares and all
  take the same number of steps (a rank that stepped less would hang the others in DDP);
- mean_loss(): normalise the loss by the GLOBAL count of real characters, so N processes with a
  global batch B compute the gradients one process with batch B does (DDP averages them over N);
- agree(): settle, once a step, what rank 0 decides (its time budget, evaluations, saves) and what any
  rank asks for (a stop on Ctrl+C or SIGTERM), so that every rank stops at the same step.
Only rank 0 evaluates, samples, saves, prints and holds the run folder's lock; the others only train.

World() (the default) is one plain process: every method is then the identity or a no-op.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from tui_gen.core import gate
from tui_gen.core.errors import ConfigError

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
EXIT_FAILED = 1


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    torchrun: bool = False  # started by torchrun: DDP even for one process (as nanoGPT does), so that
    # one GPU exercises the same path (NCCL, DDP) as eight

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1 or self.torchrun

    # ---- data -----------------------------------------------------------------------------------
    def rows(self, n: int) -> slice:
        """This rank's rows of n: rank r of N takes r*n//N .. (r+1)*n//N (shares differ by at most one)."""
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def shard(self, batch):
        """This rank's rows of a global batch. A share can be empty (an epoch's short last batch of
        fewer rows than ranks): the rank then gets one row that counts for nothing (mask all False),
        so that it still steps with the others and adds a zero gradient."""
        if not self.distributed:
            return batch
        from tui_gen.data.corpus import Batch

        part = self.rows(batch.inputs.shape[0])
        if part.start == part.stop:
            part = slice(0, 1)
            mask = batch.mask[part].clone().fill_(False)
        else:
            mask = batch.mask[part]
        return Batch(
            inputs=batch.inputs[part],
            targets=batch.targets[part],
            mask=mask,
            reset=None if batch.reset is None else batch.reset[part],
        )

    def share_words(self, batch_size: int) -> str:
        """The run in words, for the start line: "2 processes (gloo): global batch 128 = 2 processes x 64 rows"."""
        import torch.distributed as dist

        low, high = batch_size // self.size, -(-batch_size // self.size)
        each = f"{low} rows" if low == high else f"{low}-{high} rows"
        procs = f"{self.size} process{'es' if self.size != 1 else ''}"
        backend = f" ({dist.get_backend()})" if dist.is_initialized() else ""
        return f"{procs}{backend}: global batch {batch_size} = {procs} x {each}"

    # ---- the device and the model ---------------------------------------------------------------
    def place(self, device):
        """The device of this rank: cuda:LOCAL_RANK when training on CUDA."""
        import torch

        if not self.distributed:
            return device
        if device.type == "cuda":
            count = torch.cuda.device_count()
            if self.local_rank >= count:
                raise ConfigError(
                    f"{self.local_size} training processes on this machine, but PyTorch sees {count} CUDA "
                    f"GPU{'s' if count != 1 else ''}: start at most {count} (--nproc {count}, or torchrun "
                    f"--nproc-per-node {count}), or train on the CPU with --device cpu"
                )
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        if device.type != "cpu":
            raise ConfigError(
                f"training on several processes works on CUDA or the CPU, not on {device.type}: "
                "use --device cuda or --device cpu"
            )
        return device

    def wrap(self, model, device):
        """The module the training step calls: the model itself, or DDP around it. Checkpoints,
        evaluation and sampling keep using the plain model, so a checkpoint is an ordinary one."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, gradient_as_bucket_view=True
        )

    def seed(self, seed: int, step: int) -> None:
        """Ranks other than 0 draw their own random numbers (dropout) from here on: the same draws on
        every rank would drop the same units in every share of the batch."""
        import torch

        if self.distributed and self.rank:
            torch.manual_seed((seed + 1_000_003 * self.rank + step) % 2**63)

    # ---- collectives --------------------------------------------------------------------------
    def mean_loss(self, nll, count):
        """(loss to differentiate, loss over the global batch, real characters in it).

        One process: nll / count. Several: the global batch's sum and count come from every rank; each
        rank's loss is its own nll over the global count, times N because DDP averages the gradients:
        mean over ranks of N * grad(nll_r) / count = grad(sum of nll) / count, one process's gradient."""
        import torch
        import torch.distributed as dist

        if not self.distributed:
            loss = nll / count.clamp_min(1)
            return loss, loss.detach(), count
        total = torch.stack([nll.detach().float(), count.float()])
        dist.all_reduce(total)
        global_count = total[1].clamp_min(1)
        return nll * self.size / global_count, total[0] / global_count, total[1]

    def agree(self, any_rank: list[bool], from_main: list[float]) -> tuple[list[bool], list[float]]:
        """One small collective: each flag of any_rank is true if it is on any rank; from_main holds
        rank 0's values (what it decided) on every rank."""
        if not self.distributed:
            return list(any_rank), list(from_main)
        import torch
        import torch.distributed as dist

        mine = [float(bool(f)) for f in any_rank] + (
            [float(v) for v in from_main] if self.is_main else [0.0] * len(from_main)
        )
        t = torch.tensor(mine, dtype=torch.float64)
        dist.all_reduce(t)  # a CPU tensor: gloo, even where the model's gradients go over NCCL
        values = t.tolist()
        return [v > 0 for v in values[: len(any_rank)]], values[len(any_rank) :]

    def barrier(self) -> None:
        if self.distributed:
            self.agree([], [])

    @contextmanager
    def local_first(self):
        """Rank 0 of each machine does the body first, then the others: a download or a cache build
        happens once per machine, not once per process into the same file."""
        if self.local_rank != 0:
            self.barrier()
        yield
        if self.local_rank == 0:
            self.barrier()


SINGLE = World()


def world_from_env(environ=None) -> World:
    """The World torchrun describes in the environment; World() when not started by torchrun."""
    env = os.environ if environ is None else environ
    if not any(name in env for name in TORCHRUN_VARS):
        return SINGLE
    try:
        # Through the gate (ASCII digits, at most 19): int() also takes '٣' and ends on 5,000 digits.
        rank, size = gate.parse_int(env["RANK"]), gate.parse_int(env["WORLD_SIZE"])
        local_rank = gate.parse_int(env.get("LOCAL_RANK", str(rank)))
        local_size = gate.parse_int(env.get("LOCAL_WORLD_SIZE", str(size)))
    except (KeyError, ValueError):  # gate.OutsideValueError is a ValueError
        shown = ", ".join(f"{k}={env.get(k, '(unset)')!r}"[:60] for k in TORCHRUN_VARS)
        raise ConfigError(
            f"the environment names a distributed run, but not a valid one ({shown}): start it "
            "with torchrun, or unset RANK, WORLD_SIZE and LOCAL_RANK"
        ) from None
    if not (size >= 1 and 0 <= rank < size and 0 <= local_rank < max(local_size, 1)):
        raise ConfigError(
            f"the environment's distributed run is inconsistent (RANK={rank}, WORLD_SIZE={size}, "
            f"LOCAL_RANK={local_rank}): start it with torchrun"
        )
    return World(rank=rank, size=size, local_rank=local_rank, local_size=max(local_size, 1), torchrun=True)


def start(world: World) -> None:
    """Join the process group. CUDA tensors (the model's gradients on GPUs) go over NCCL, CPU tensors
    (the per-step agreement, and everything in a CPU run) over gloo."""
    if not world.distributed:
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)  # MASTER_ADDR/PORT from torchrun's environment
    global _joined
    _joined = True


_joined = False  # this process joined a process group (start()): it must leave through exit_process()


def in_process_group() -> bool:
    """Whether this process joined a process group, and so must leave through exit_process()."""
    return _joined


def exit_process(status: int) -> int:
    """A process that joined a process group ends here, without Python's finalization; any other
    returns status.

    Why: once DDP has wrapped a model, destroy_process_group() leaves gloo's own threads running
    (the process group is kept alive in C++; pytorch#107298). If one of them releases a tensor while the
    interpreter is being torn down, it needs the GIL, which no longer exists, and the process aborts
    ("terminate called without an active exception", SIGABRT). torchrun then fails the whole run
    though every rank had saved and finished. By the time this is called, everything is written
    (checkpoints renamed into place, the metrics log flushed line by line); the streams are flushed
    here and the process leaves with its status, its threads and all."""
    if not _joined:
        return status
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a pipe whose reader left: nothing more to say
            pass
    os._exit(status)


def finish(world: World) -> None:
    """Leave together: the other ranks wait here while rank 0 evaluates and saves the end of the run,
    so none exits before `last` is written (torchrun stops every process when one exits with an error)."""
    if not world.distributed:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        try:
            world.barrier()
        finally:
            dist.destroy_process_group()


def abandon(world: World) -> None:
    """After an error: leave the process group without waiting for anyone."""
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception:  # noqa: BLE001 - the group is broken already; the process is ending
                pass


def lost_the_others(error: BaseException) -> bool:
    """Whether a collective failed because another process failed or went away (gloo raises a plain
    RuntimeError; NCCL and the store a DistError)."""
    import torch.distributed as dist

    text = str(error)
    return isinstance(error, dist.DistError) or any(
        needle in text for needle in ("gloo", "NCCL", "Connection reset", "Connection closed", "Broken pipe")
    )


# ---- `tui-gen train --nproc N`: torchrun for one machine ----------------------------------------------


def strip_nproc(argv: list[str]) -> list[str]:
    """The command line without --nproc N (the processes torchrun starts must not start torchrun)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def torchrun_args(train_argv: list[str], nproc: int) -> list[str]:
    """torchrun's own arguments for N processes on this machine running `tui-gen train ARGS`."""
    return ["--standalone", f"--nproc-per-node={nproc}", "-m", "tui_gen", *train_argv]


def run_under_torchrun(argv: list[str], nproc: int, device: str | None) -> int:
    """Run `tui-gen train` (argv without --nproc) on nproc processes of this machine, with torchrun
    running here as their agent: signals to this process reach them (torchrun forwards SIGINT,
    SIGTERM and SIGHUP), and its exit status is theirs."""
    import logging
    import signal

    import torch
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if device in (None, "auto", "cuda") and torch.cuda.is_available() and nproc > torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(
            f"--nproc {nproc} asks for a process per GPU, but PyTorch sees {count} CUDA "
            f"GPU{'s' if count != 1 else ''}: use --nproc {count}, or --device cpu"
        )
    if device == "mps":
        raise ConfigError("--nproc works on CUDA or the CPU, not on mps: use --device cuda or cpu")
    # CPU threads: a share of the cores each (torchrun would set 1, and say so in a warning).
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # we say what failed, in one line
    print(f"tui-gen: starting {nproc} training processes with torchrun", file=sys.stderr, flush=True)
    try:
        torchrun.run(torchrun.parse_args(torchrun_args(argv, nproc)))
    except SignalException as e:  # already forwarded to the processes, which stop and save
        return 0 if e.sigval == signal.SIGINT else 128 + int(e.sigval)
    except ChildFailedError as e:
        failures = sorted(e.failures.items())
        shown = ", ".join(f"rank {rank} exit status {f.exitcode}" for rank, f in failures)
        print(
            f"tui-gen: error: training failed ({shown}; torchrun stops the others when one fails): "
            "the first error above says why",
            file=sys.stderr,
        )
        return next((f.exitcode for _, f in failures if f.exitcode and f.exitcode > 0), EXIT_FAILED)
    return 0
