"""Training on several processes (torchrun, DDP) on this CPU with gloo, on 127.0.0.1.

- 2 processes with a global batch B follow the loss curve of 1 process with batch B (both framings,
  an uneven split of the rows, and an epoch's short last batch with fewer rows than processes);
- their checkpoint is an ordinary one: generate, eval and a single-process resume load it;
- two torchrun agents (--nnodes 2, c10d rendezvous) train and save as one run, resuming from a
  single-process checkpoint;
- SIGTERM to the agent of `tui-gen train --nproc 2` saves `last` on rank 0 and leaves no process behind;
- a rank's process leaves with its exit status though gloo's threads outlive the process group (exit_process).

Every process runs one thread; budgets are in steps. Timeouts are safety nets only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from support.data import tiny_config_value, tiny_lines
from support.waiting import wait_until
from tui_gen.cli import main as cli
from tui_gen.core import events as ev
from tui_gen.data.corpus import LineWindows, load_corpus, split_corpus, training_texts
from tui_gen.data.vocab import Vocab
from tui_gen.training.checkpoint import load_checkpoint, read_meta
from tui_gen.training.distributed import World, strip_nproc, world_from_env
from tui_gen.training.trainer import Trainer

TINY_MODEL = ["--hidden", "16,16", "--seq-len", "16", "--batch-size", "8", "--embedding", "8", "--threads", "1"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "COLUMNS": "120"}
for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TUI_GEN_DATA_DIR"):
    ENV.pop(name, None)
STEPS = 18

# One rank of a distributed run, started by hand the way torchrun starts it (RANK, WORLD_SIZE, ...):
# trains both framings and writes rank 0's per-step training loss and its last step's gradient.
RANK_SCRIPT = r"""
import json, sys
from tui_gen.core import events as ev
from tui_gen.core.config import TrainConfig
from tui_gen.data.corpus import load_corpus
from tui_gen.training.distributed import exit_process, finish, start, world_from_env
from tui_gen.training.trainer import Trainer

spec = json.loads(sys.argv[1])
world = world_from_env()
start(world)
curves = {}
for framing in ("lines", "stream"):
    cfg = TrainConfig.from_json({**spec["config"], "framing": framing})
    trainer = Trainer(load_corpus(spec["corpus"], framing=framing), cfg, world=world,
                      run_dir=spec["out"] + "/" + framing if world.is_main else None)
    curves[framing] = [e.train_bpc for e in trainer.run() if isinstance(e, ev.Step)]
    curves[framing + " gradient"] = [g for p in trainer.model.parameters() for g in p.grad.flatten().tolist()]
    if framing == "stream":  # the state rank 0 carries: its own rows' only
        curves["stream rows"] = trainer.carried[0].shape[1]
if world.is_main:
    with open(spec["out"] + "/curves.json", "w") as f:
        json.dump(curves, f)
finish(world)
exit_process(0)  # as `tui-gen train` does under torchrun
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def short_last_batch(corpus_path: Path) -> int:
    """A batch size whose epoch ends in a batch of one row (fewer rows than the 2 processes), so that
    the test covers a rank with an empty share."""
    corpus = load_corpus(corpus_path, framing="lines")
    cfg = tiny_config_value()
    split = split_corpus(corpus, "lines", cfg.val_fraction, cfg.seed)
    vocab = Vocab.build(training_texts(split.train), cfg.min_char_count)
    n = LineWindows(split.train, vocab, cfg.seq_len, cfg.overlap, 1, cfg.seed).n_windows
    return next(b for b in range(5, 40) if n % b == 1 and n // b + 1 < STEPS)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("ddp") / "tiny.txt"
    p.write_text(tiny_lines(40), encoding="utf-8")  # short epochs: a few steps cross one
    return p


@pytest.fixture(scope="module")
def two_process_run(corpus_file) -> tuple[Path, dict]:
    """Both framings trained by 2 processes with a global batch B (odd: shares of B//2 and B//2 + 1)."""
    out = corpus_file.parent / "two"
    out.mkdir()
    cfg = tiny_config_value(
        batch_size=short_last_batch(corpus_file),
        max_steps=STEPS,
        eval_every=STEPS,
        lr_schedule="constant",
        first_eval=0,
        # fp32: the curves must agree to float rounding. bf16 products round each rank's share of the
        # batch differently from the whole (their agreement is test_window_gru's, to its tolerance).
        precision="fp32",
    )
    spec = json.dumps({"config": cfg.to_json(), "corpus": str(corpus_file), "out": str(out)})
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RANK_SCRIPT, spec],
            cwd=out,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **ENV,
                "RANK": str(r),
                "LOCAL_RANK": str(r),
                "WORLD_SIZE": "2",
                "LOCAL_WORLD_SIZE": "2",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": port,
            },
        )
        for r in range(2)
    ]
    try:
        results = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, (_, err) in zip(procs, results, strict=False):
        assert p.returncode == 0, err[-3000:]
    return out, {"config": cfg, "curves": json.loads((out / "curves.json").read_text())}


@pytest.mark.parametrize("framing", ["lines", "stream"])
def test_two_processes_follow_one_process_loss_curve(two_process_run, corpus_file, framing):
    out, run = two_process_run
    cfg = replace(run["config"], framing=framing)
    one = Trainer(load_corpus(corpus_file, framing=framing), cfg)
    curve = [e.train_bpc for e in one.run() if isinstance(e, ev.Step)]
    two = run["curves"][framing]
    assert len(two) == len(curve) == STEPS
    if framing == "stream":  # each rank trained (and carried the state of) its share of the rows alone
        assert run["curves"]["stream rows"] == cfg.batch_size // 2 < one.carried[0].shape[1] == cfg.batch_size
    if framing == "lines":
        assert one.epoch >= 1  # crossed the short last batch
    assert abs(two[0] - curve[0]) < 1e-5  # the same weights on the same global batch
    assert max(abs(a - b) for a, b in zip(two, curve, strict=False)) < 1e-4, (two, curve)
    assert two[-1] < two[0] - 0.05  # and it learned: the curves are not flat by accident
    # The last step's gradient (after DDP's averaging and the clipping), which Adam's scale invariance
    # would not show in the losses: the same as one process's, not half or twice it.
    mine = torch.cat([p.grad.flatten() for p in one.model.parameters()])
    theirs = torch.tensor(run["curves"][framing + " gradient"])
    assert torch.allclose(theirs, mine, rtol=1e-3, atol=1e-5 * float(mine.abs().max())), float(
        (theirs - mine).abs().max()
    )
    # the final weights too: 2 processes computed 1 process's gradients at every step
    ck = load_checkpoint(out / framing / "last.safetensors")
    for name, w in one.model.state_dict().items():
        assert torch.allclose(ck.model.state_dict()[name], w, atol=1e-3), name


def test_a_two_process_checkpoint_is_an_ordinary_checkpoint(two_process_run, corpus_file, capsys):
    out, run = two_process_run
    run_dir = out / "lines"
    meta = read_meta(run_dir / "last.safetensors")
    assert meta["world_size"] == 2 and meta["step"] == STEPS
    assert sorted(p.name for p in run_dir.iterdir()) == ["best.safetensors", "last.safetensors", "metrics.jsonl"]
    # rank 0 alone writes the metrics log: one start, one finish, the global batch's characters
    from tui_gen.runs.metrics_log import read_log

    logged, skipped = read_log(run_dir / "metrics.jsonl")
    starts = [x for e, x in logged if isinstance(e, ev.Started)]
    assert skipped == 0 and len(starts) == 1 and starts[0]["world_size"] == 2
    assert sum(isinstance(e, ev.Finished) for e, _ in logged) == 1 and isinstance(logged[-1][0], ev.Finished)
    assert cli.main(["generate", str(run_dir), "-n", "30", "--random-seed", "1", "--no-stop"]) == 0
    assert len(capsys.readouterr().out) >= 30
    assert cli.main(["eval", str(run_dir), str(corpus_file), "--device", "cpu"]) == 0
    assert "bits/char" in capsys.readouterr().out
    # a single process resumes it, and says the data position carried over
    for framing in ("lines", "stream"):
        ck = load_checkpoint(out / framing / "last.safetensors")
        more = Trainer(
            load_corpus(corpus_file, framing=framing),
            replace(run["config"], framing=framing, max_steps=STEPS + 3),
            resume=ck,
        )
        assert (more.epoch, more.batch_index) == (ck.meta["epoch"], ck.meta["batch_index"])
        events = list(more.run())
        assert isinstance(events[-1], ev.Finished) and events[-1].step == STEPS + 3
        assert any("trained by 2 processes, this run has 1: the data position carries over" in n for n in more.notes)


class Agent:
    """A torchrun agent (or `tui-gen train --nproc`) in the background, its output read as it comes."""

    def __init__(self, args: list[str], cwd: Path):
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=lambda s=s, d=d: d.extend(iter(s.readline, "")), daemon=True)
            for s, d in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for t in self.readers:
            t.start()

    def wait(self, timeout: float = 180) -> int:
        """The exit status; an agent still running after timeout seconds is killed and fails the test
        with everything it printed (the only clue to where it hung)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        hung = self.proc.poll() is None
        if hung:
            self.proc.kill()
            self.proc.wait()
        for t in self.readers:
            t.join(timeout=10)
        if hung:
            pytest.fail(f"the agent was still running after {timeout:.0f} s\n{self.said()}")
        return self.proc.returncode

    def said(self) -> str:
        return f"--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-8000:]}"

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)


def test_two_torchrun_agents_as_two_machines_train_one_run_resumed_from_one_process(corpus_file, tmp_path):
    run = tmp_path / "run"
    assert (
        cli.main(
            ["train", str(corpus_file), "--steps", "6", "--eval-every", "3", "--out", str(run), "--quiet", *TINY_MODEL]
        )
        == 0
    )
    port = free_port()
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--nproc-per-node",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        "--rdzv-id",
        f"t{port}",
        "-m",
        "tui_gen",
        "train",
        str(corpus_file),
        "--resume",
        str(run),
        "--steps",
        "4",
        "--eval-every",
        "5",
    ]
    agents = [Agent(torchrun, tmp_path) for _ in range(2)]
    both = lambda: "\n".join(f"=== agent {i}\n{a.said()}" for i, a in enumerate(agents))  # noqa: E731
    try:
        codes = [a.wait() for a in agents]
    except BaseException:  # one hung: the other's output says where it stood
        for a in agents:
            if a.proc.poll() is None:
                a.proc.kill()
        print(both())
        raise
    said = "".join(a.stdout + a.stderr for a in agents)
    assert codes == [0, 0], both()
    assert "Traceback" not in said
    assert said.count("finished at step 10") == 1 and said.count("corpus ") == 1, said[-4000:]  # rank 0 alone
    assert "2 processes (gloo): global batch 8 = 2 processes x 4 rows" in said
    assert "trained by 1 process, this run has 2: the data position carries over" in said
    last = load_checkpoint(run / "last.safetensors")
    assert last.step == 10 and last.meta["world_size"] == 2
    assert sorted(p.name for p in run.iterdir()) == ["best.safetensors", "last.safetensors", "metrics.jsonl"]


def descendants(pid: int) -> set[int]:
    """The processes below pid, from /proc (Linux)."""
    parent_of = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent_of[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent_of.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the ranks' processes through /proc (Linux)")
def test_sigterm_to_the_agent_saves_last_on_rank_0_and_leaves_no_process(corpus_file, tmp_path):
    out = tmp_path / "run"
    agent = Agent(
        [
            sys.executable,
            "-m",
            "tui_gen",
            "train",
            str(corpus_file),
            "--nproc",
            "2",
            "--minutes",
            "5",
            "--first-eval",
            "2",
            "--eval-every",
            "100000",
            "--out",
            str(out),
            *TINY_MODEL,
        ],
        tmp_path,
    )

    def saved() -> bool:  # step 2's evaluation saved `last`: every rank is past its set-up, in the loop
        if agent.proc.poll() is not None:
            raise AssertionError(f"the agent exited ({agent.proc.returncode}) before saving:\n{agent.stderr[-3000:]}")
        return (out / "last.safetensors").exists()

    try:
        wait_until(saved, 120, "step 2's checkpoint", shown=lambda: agent.stderr[-3000:])
        ranks = descendants(agent.proc.pid)
        assert len(ranks) >= 2
        agent.proc.send_signal(signal.SIGTERM)
    finally:
        code = agent.wait(timeout=120)
    assert code == 143, agent.stderr[-3000:]
    assert "Traceback" not in agent.stderr, agent.stderr[-3000:]
    assert "stopped at step" in agent.stdout, agent.stdout + agent.stderr[-3000:]
    step = int(agent.stdout.split("stopped at step")[1].split()[0].strip(",;"))
    last = load_checkpoint(out / "last.safetensors")
    assert last.step == step and step >= 2 and last.meta["world_size"] == 2  # 2: the stop came before step 3
    wait_until(
        lambda: not any(alive(p) for p in ranks),
        30,
        "the training processes to end",
        shown=lambda: f"left running: {[p for p in ranks if alive(p)]}",
    )


# A process that joined a process group, with gloo's threads still at work as it ends. A plain exit
# runs Python's finalization under them: one that needs the GIL then aborts the process (SIGABRT).
# That is what failed the two-agent run now and then: rank 0 had saved and finished, then aborted.
# "uncaught": a command that fails with an exception after joining; cli.main must still leave with 1.
BUSY_AT_EXIT_SCRIPT = r"""
import sys, threading
import torch
import torch.distributed as dist
from tui_gen.training.distributed import exit_process, start, world_from_env

start(world_from_env())
started = threading.Event()

def keep_gloo_busy():
    while True:
        dist.all_reduce(torch.ones(4096), async_op=True)
        started.set()

threading.Thread(target=keep_gloo_busy, daemon=True).start()
started.wait()
print("leaving", flush=True)
if sys.argv[1] == "exit_process":
    exit_process(7)
if sys.argv[1] == "uncaught":
    from tui_gen.cli import main as cli

    def a_command_that_fails(argv):
        raise RuntimeError("the command failed after joining")

    cli._run = a_command_that_fails
    sys.exit(cli.main([]))
sys.exit(7)
"""


@pytest.mark.parametrize("way", ["exit_process", "uncaught", "sys.exit"])
def test_a_rank_leaves_with_its_status_while_gloo_is_still_at_work(tmp_path, way):
    env = {
        **ENV,
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-c", BUSY_AT_EXIT_SCRIPT, way],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "leaving" in done.stdout, done.stderr[-3000:]
    if way == "exit_process":
        assert done.returncode == 7, done.stderr[-3000:]
        assert "terminate called" not in done.stderr
    elif way == "uncaught":  # its traceback, as Python would print it, and exit status 1
        assert done.returncode == 1, done.stderr[-3000:]
        assert "Traceback" in done.stderr and "RuntimeError: the command failed after joining" in done.stderr
        assert "terminate called" not in done.stderr
    else:  # the hazard exit_process avoids is real: if torch stops aborting here, revisit exit_process
        assert done.returncode != 7 and "terminate called" in done.stderr, (done.returncode, done.stderr[-3000:])


# ---- the small parts --------------------------------------------------------------------------


def test_the_world_comes_from_torchruns_environment():
    assert world_from_env({}) == World()
    w = world_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (w.rank, w.size, w.local_rank, w.local_size, w.is_main) == (3, 4, 1, 2, False)
    assert world_from_env({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}).distributed  # DDP on one GPU too
    from tui_gen.core.errors import ConfigError

    with pytest.raises(ConfigError, match="start it with torchrun"):
        world_from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_shares_are_disjoint_cover_the_batch_and_never_empty():
    from tui_gen.data.corpus import Batch

    for n in (1, 2, 5, 8, 13):
        ids = torch.arange(n)[:, None].expand(n, 4)
        batch = Batch(inputs=ids, targets=ids, mask=torch.ones(n, 4, dtype=torch.bool))
        shares = [World(rank=r, size=3).shard(batch) for r in range(3)]
        real = [s.inputs[s.mask.any(1), 0].tolist() for s in shares]
        assert sorted(sum(real, [])) == list(range(n))  # each row once, on one rank
        assert all(s.inputs.shape[0] >= 1 for s in shares)  # every rank steps
        assert max(map(len, real)) - min(map(len, real)) <= 1


def test_nproc_is_taken_out_of_the_command_line_torchrun_runs():
    assert strip_nproc(["train", "a.txt", "--nproc", "4", "--steps", "5"]) == ["train", "a.txt", "--steps", "5"]
    assert strip_nproc(["train", "--nproc=2", "a.txt"]) == ["train", "a.txt"]


def test_nproc_under_torchrun_is_refused_with_one_line(corpus_file, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert cli.main(["train", str(corpus_file), "--nproc", "2", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "under torchrun leave it out" in err
