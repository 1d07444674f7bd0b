"""`tui-gen generate` writes the same bytes as before it wrote in chunks (issue 22): to a pipe (the exact
text) and to a terminal (a pty: the text through the sanitiser), for a fixed --random-seed, on every
sampling path (temperature 1, another temperature, top-k/top-p, greedy, stop strings) and with an
encoding that cannot hold every character.

The checkpoint is built here from a seeded, untrained model whose vocabulary holds escape sequences,
controls, bidi and non-ASCII characters, so the sanitiser and the escapes have work on every line.
GOLDEN holds the sha256 of each output as the per-character path wrote it (recorded with the torch
below, before the change): torch's sampling kernels may change between versions, so on another torch
those tests skip, and the in-process tests after them (the drawing loop against a verbatim copy of the
old one, the chunked output against the old per-character writes) still hold the contract there.

And the chunks still stream: text arrives while it is being made (to a pipe and to a terminal), a
chunk waits at most LIVE_SECONDS, a write error in one is the usual one line, and ctrl+c the usual one.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from support.data import REPO
from tui_gen.core.textsafe import visible
from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, ModelConfig, State
from tui_gen.model.sample import GREEDY_BELOW, Generator, SamplingSettings, Token, next_char_probs

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore::DeprecationWarning", "PYTHONPATH": str(REPO)}
for _name in ("TUI_GEN_DATA_DIR", "PYTHONIOENCODING", "COLUMNS"):
    ENV.pop(_name, None)

# Every character a model may write that a terminal must not get as it is, besides ordinary text.
HOSTILE_CHARS = "\x1b\x07\t\x7f\x9b\u202e\u2028\ud800"
TEXT = "Hello world, make it great _E_\n éü€ ab\n" + HOSTILE_CHARS
VOCAB = Vocab.build([TEXT])


def build_checkpoint(path: Path, cell: str = "gru") -> Path:
    """A seeded, untrained model saved as a run's checkpoint: the same bytes on every run."""
    from tui_gen.core.config import TrainConfig
    from tui_gen.training.checkpoint import save_checkpoint

    torch.manual_seed(1234)
    model = CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[24, 32], cell=cell, embedding_dim=8))
    with torch.no_grad():
        model.head.weight.mul_(4.0)  # sharper than uniform, so the sampling settings matter
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = {
        "kind": "last",
        "framing": "lines",
        "end_marker": "_E_",
        "vocab": VOCAB.to_json(),
        "model_config": model.config.to_json(),
        "train_config": TrainConfig().to_json(),
        "step": 1,
        "corpus": "hostile",
    }
    return save_checkpoint(path, tensors, meta)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("gen") / "run" / "last.safetensors")


SEED = ["--seed", "é€ "]
CASES = {
    "t1": [*SEED, "-t", "1", "-n", "3000", "--num", "2", "--no-stop", "--random-seed", "7"],
    "t08": [*SEED, "-n", "3000", "--no-stop", "--random-seed", "8"],
    "topk_topp": [
        *SEED,
        "-t",
        "1.3",
        "--top-k",
        "6",
        "--top-p",
        "0.9",
        "-n",
        "2000",
        "--no-stop",
        "--random-seed",
        "9",
    ],
    "greedy": [*SEED, "-t", "0.0001", "-n", "500", "--no-stop", "--random-seed", "10"],
    "stops": [*SEED, "-n", "300", "--num", "25", "--random-seed", "11"],
}
ASCII_CASE = [*SEED, "-t", "1", "-n", "2000", "--no-stop", "--random-seed", "12"]

# sha256 and length of each output, written by the per-character path (before issue 22), with:
GOLDEN_TORCH = "2.13.0+cpu"
GOLDEN: dict[str, tuple[str, int]] = {
    "pipe/t1": ("e89320ea46123862815c8a1c2a6a5dd55cec106c87a7636dc51e9f6e2440f417", 8329),
    "tty/t1": ("089800600c105737d1377d5b0f8abf23ac1f55cd5ad926d50fe7da37f0935b2e", 10027),
    "pipe/t08": ("8a55e6aae6c70aa794645208610be6c64b27f41d4713dd22d22072754855538e", 4077),
    "tty/t08": ("81b909486ce47f77d7a62dd6264d60da803f4a478f26e35af83bd33701de2671", 4998),
    "pipe/topk_topp": ("45f60af269d54d8ac9874df762f349dcf99dece0fa563454958218f7017eef9b", 2008),
    "tty/topk_topp": ("d4404d3a48e88d91439cac38a80f2356a1590e3b75bc8acece83b0425ecd3c5f", 3129),
    "pipe/greedy": ("20829917eccb023b3133bb72e0c883eba543e776b7e034ea9ced0e8e2da86016", 507),
    "tty/greedy": ("ced4a252037e4bb3ee15ddda9d690666463a6e168b6b711e7729343580364add", 1002),
    "pipe/stops": ("3fae92898d658514032611860e7be776fb45cac550fcf6552560bf3bafd8ee66", 3495),
    "tty/stops": ("a944f982bd8e7d9d386d020ff6c744b518da70313f37ca7729d9b60e3f07ad9b", 4211),
    "ascii/out": ("b6aad47dcb46d8e653a404ebf7ac1b3f7fef340fccedb498b72a0df1481d6018", 3517),
    "ascii/err": ("fafda4b4d25aba17e9decd364338f9af77f96add01a007b6b81c30e852160878", 213),
}


def generate_args(checkpoint: Path, case: list[str]) -> list[str]:
    return [sys.executable, "-m", "tui_gen", "generate", str(checkpoint), *case]


def to_pipe(checkpoint: Path, case: list[str], env: dict[str, str] | None = None) -> tuple[bytes, bytes]:
    r = subprocess.run(
        generate_args(checkpoint, case),
        env={**ENV, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    return r.stdout, r.stderr


def to_terminal(checkpoint: Path, case: list[str]) -> tuple[bytes, bytes]:
    """Standard output a pty (its default settings: the terminal turns "\\n" into "\\r\\n"); stderr a pipe."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        generate_args(checkpoint, case), env=ENV, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child has gone and closed its side
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    err = proc.stderr.read() if proc.stderr else b""
    assert proc.wait(timeout=60) == 0, err.decode("utf-8", "replace")
    return b"".join(chunks), err


def fingerprint(data: bytes) -> tuple[str, int]:
    return hashlib.sha256(data).hexdigest(), len(data)


def golden(key: str) -> tuple[str, int]:
    if torch.__version__ != GOLDEN_TORCH:
        pytest.skip(f"golden outputs were recorded with torch {GOLDEN_TORCH}, this is {torch.__version__}")
    return GOLDEN[key]


@pytest.mark.parametrize("case", list(CASES))
def test_pipe_gets_the_same_bytes_as_before(case, checkpoint):
    out, err = to_pipe(checkpoint, CASES[case])
    assert err == b""
    assert fingerprint(out) == golden(f"pipe/{case}")
    assert b"\x1b" in out or case == "greedy"  # a pipe gets the text itself, escapes and all


@pytest.mark.parametrize("case", list(CASES))
def test_terminal_gets_the_same_bytes_as_before(case, checkpoint):
    out, err = to_terminal(checkpoint, CASES[case])
    assert err == b""
    assert fingerprint(out) == golden(f"tty/{case}")
    text = out.decode("utf-8")
    assert not set(text) & set(HOSTILE_CHARS.replace("\t", "")), "a terminal got a raw control character"


def test_ascii_pipe_gets_the_same_escapes_and_note_as_before(checkpoint):
    out, err = to_pipe(checkpoint, ASCII_CASE, env={"PYTHONIOENCODING": "ascii"})
    assert fingerprint(out) == golden("ascii/out")
    assert fingerprint(err) == golden("ascii/err")
    assert err.count(b"\n") == 1 and b"PYTHONIOENCODING=utf-8" in err


# ---- in process: the same draws and the same bytes as the per-character code, on any torch ----------


def old_step(model: CharRNN, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """CharRNN.step as it was before issue 22, verbatim but for names."""
    from tui_gen.model.network import CELLS

    x = model._inputs(ids)
    kernel = CELLS[model.config.cell][1]
    new_state: State = []
    for layer, s in zip(model.layers, state, strict=False):
        w = (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0)
        if isinstance(s, tuple):
            h, c = kernel(x, (s[0][0], s[1][0]), *w)
            new_state.append((h.unsqueeze(0), c.unsqueeze(0)))
        else:
            h = kernel(x, s[0], *w)
            new_state.append(h.unsqueeze(0))
        x = h
    return model.head(x), new_state


def old_draw(gen: Generator, logits: torch.Tensor, state: State, text: str, settings: SamplingSettings, n: int):
    """Generator._draw as it was before issue 22 (torch.multinomial, a tensor check each step)."""
    banned = gen._banned(logits)
    tail_len = max((len(s) for s in gen.stop_strings), default=0)
    tail = text[-tail_len:] if tail_len else ""
    one = torch.empty(1, dtype=torch.long, device=logits.device)
    for _ in range(n):
        logits = logits + banned
        raw = torch.softmax(logits, -1)
        if not bool(torch.isfinite(raw).all()):
            raise AssertionError("diverged")
        plain = settings.top_k == 0 and settings.top_p >= 1.0
        if settings.temperature < GREEDY_BELOW:
            i = int(raw.argmax())
        elif plain and settings.temperature == 1.0:
            i = int(torch.multinomial(raw.cpu(), 1, generator=gen.generator))
        else:
            i = int(torch.multinomial(next_char_probs(logits, settings).cpu(), 1, generator=gen.generator))
        ch = gen.vocab.char_of(i)
        yield Token(ch, float(raw[i]), gen._top(raw))
        if tail_len:
            tail = (tail + ch)[-tail_len:]
            if gen._stops(tail):
                return
        one[0] = i
        out, state = old_step(gen.model, one, state)
        logits = out[0].float()


def old_stream(gen: Generator, seed: str, settings: SamplingSettings, n: int) -> list[Token]:
    from tui_gen.model.sample import encode_seed, prime

    with torch.inference_mode():
        gen.model.eval()
        logits, state = prime(gen.model, encode_seed(gen.vocab, seed, gen.framing))
        return list(old_draw(gen, logits[0].float(), state, seed, settings, n))


def seeded_model(cell: str, seed: int = 0, embedding: int = 8) -> CharRNN:
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[24, 32], cell=cell, embedding_dim=embedding)
    model = CharRNN(config).eval()
    with torch.no_grad():
        model.head.weight.mul_(4.0)
    return model


SETTINGS = {
    "t1": dict(temperature=1.0),
    "t08": dict(temperature=0.8),
    "t2": dict(temperature=2.0),
    "topk": dict(temperature=1.0, top_k=4),
    "topp": dict(temperature=0.7, top_p=0.8),
    "greedy": dict(temperature=1e-4),
}


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn", "gru-one-hot"])
@pytest.mark.parametrize("which", list(SETTINGS))
@pytest.mark.parametrize("top_n", [0, 5])
def test_the_drawing_loop_draws_what_the_old_one_drew(cell, which, top_n):
    model = seeded_model(cell.removesuffix("-one-hot"), embedding=0 if cell.endswith("one-hot") else 8)
    stops = ("_E_",) if which == "t1" else ()  # one stop string that a sample may well complete

    def gen() -> Generator:
        return Generator(
            model, VOCAB, "lines", stop_strings=stops, top_n=top_n, generator=torch.Generator().manual_seed(3)
        )

    # 600 characters: a draw that went another way would put every later one out of step at once, and
    # the GRU's t1 sample completes its stop string at character 207
    want = old_stream(gen(), "é€ ", SamplingSettings(**SETTINGS[which]), 600)
    got = list(gen().stream("é€ ", SamplingSettings(**SETTINGS[which]), 600))
    assert [t.char for t in got] == [t.char for t in want]
    assert [t.prob for t in got] == [t.prob for t in want]  # the same floats, not close ones
    assert [t.top for t in got] == [t.top for t in want]


def old_stream_lazy(model: CharRNN, seed: str, settings: SamplingSettings, n: int) -> Iterator[Token]:
    """old_draw as the stream is: lazy, so that its consumer may change the settings between characters."""
    from tui_gen.model.sample import encode_seed, prime

    gen = Generator(model, VOCAB, "lines", stop_strings=(), top_n=0, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        logits, state = prime(model, encode_seed(VOCAB, seed, "lines"))
        yield from old_draw(gen, logits[0].float(), state, seed, settings, n)


def test_settings_changed_mid_stream_are_read_as_before():
    """The app moves the temperature while text streams: every path in turn, taken as the old loop took them."""
    model = seeded_model("gru", seed=5)
    script = [dict(temperature=1.0), dict(temperature=0.5), dict(temperature=1e-4), dict(top_k=3), dict(top_p=0.6)]

    def consume(tokens: Iterator[Token], settings: SamplingSettings) -> list[tuple[str, float]]:
        out = []
        for n, tok in enumerate(tokens):
            out.append((tok.char, tok.prob))
            if n % 50 == 49:  # every 50 characters, the next settings in the script
                for k, v in script[(n // 50) % len(script)].items():
                    setattr(settings, k, v)
        return out

    settings = SamplingSettings()
    want = consume(old_stream_lazy(model, "Hello", settings, 1000), settings)
    settings = SamplingSettings()
    gen = Generator(model, VOCAB, "lines", stop_strings=(), top_n=0, generator=torch.Generator().manual_seed(4))
    got = consume(gen.stream("Hello", settings, 1000), settings)
    assert len(got) == 1000 and got == want


def test_a_model_that_diverges_mid_stream_is_still_an_error():
    from tui_gen.core.errors import TuiGenError

    model = seeded_model("gru")
    for settings in (SamplingSettings(temperature=1.0), SamplingSettings(temperature=0.8), SamplingSettings(top_k=3)):
        gen = Generator(model, VOCAB, "lines", stop_strings=(), generator=torch.Generator().manual_seed(0))
        tokens = gen.stream("ab", settings, 100)
        assert next(tokens).char
        with torch.no_grad():
            saved = model.head.bias.clone()
            model.head.bias[5] = math.nan  # the weights go bad between two characters
        try:
            with pytest.raises(TuiGenError, match="diverged"):
                list(tokens)
        finally:
            with torch.no_grad():
                model.head.bias.copy_(saved)


class FakeStdout(io.TextIOWrapper):
    """A text stream over bytes, standing for a terminal (isatty) or a pipe, in any encoding."""

    def __init__(self, encoding: str, terminal: bool):
        self.raw_bytes = io.BytesIO()
        super().__init__(self.raw_bytes, encoding=encoding)
        self._terminal = terminal

    def isatty(self) -> bool:
        return self._terminal

    def written(self) -> bytes:
        self.flush()
        return self.raw_bytes.getvalue()


# Every kind of character the sanitiser or an encoding treats on its own, and ordinary text between.
PIECES = list("Hello\n wörld€ \x1b]2;x\x07 \t\x7f\x9b\u202e\u2028\ud800 _E_\n" * 40) + ["ab\x1b", "\n\n", "ü€"]


@pytest.mark.parametrize("encoding", ["utf-8", "ascii", "latin-1"])
@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_live_chunks_come_out_as_the_characters_did_one_by_one(encoding, terminal):
    """write_live's chunks against the old way: a write and a flush for each piece."""
    from tui_gen.cli.output import Output

    old_stream = FakeStdout(encoding, terminal)
    old = Output(old_stream)
    for piece in PIECES:
        old.write(piece)
        old.flush()
    clock = [0.0]
    new_stream = FakeStdout(encoding, terminal)
    new = Output(new_stream, clock=lambda: clock[0])
    for n, piece in enumerate(PIECES):
        clock[0] = n * 0.013  # a chunk every 4 or so pieces, so chunks cut the text everywhere
        new.write_live(piece)
    new.flush()
    assert new_stream.written() == old_stream.written()
    assert new.escaped == old.escaped and (new.escaped > 0) == (encoding != "utf-8")
    if terminal:  # and the sanitiser did work: none of it reached the terminal raw
        shown = new_stream.written().decode(encoding)
        assert not set(shown) & set(HOSTILE_CHARS.replace("\t", "")) and shown.count("\n") == PIECES.count("\n") + 2
        assert shown == "".join(visible(p) for p in PIECES).encode(encoding, "backslashreplace").decode(encoding)


def test_live_text_waits_at_most_live_seconds_and_keeps_its_place():
    from tui_gen.cli.output import LIVE_SECONDS, Output

    clock = [100.0]
    stream = FakeStdout("utf-8", terminal=False)
    out = Output(stream, clock=lambda: clock[0])
    out.write("seed ")
    out.flush()
    for ch in "abc":
        out.write_live(ch)
    assert stream.raw_bytes.getvalue() == b"seed "  # kept, not yet written
    clock[0] += LIVE_SECONDS * 0.9
    out.write_live("d")
    assert stream.raw_bytes.getvalue() == b"seed "
    clock[0] += LIVE_SECONDS * 0.2
    out.write_live("e")  # LIVE_SECONDS since the flush: all of it, at once
    assert stream.raw_bytes.getvalue() == b"seed abcde"
    out.write_live("f")
    out.write("\n")  # an ordinary write comes after the live text before it
    out.write_live("g")
    out.finish()
    assert stream.raw_bytes.getvalue() == b"seed abcdef\ng"


def test_a_write_error_in_a_live_chunk_is_an_output_error():
    from tui_gen.cli.output import Output
    from tui_gen.core.errors import OutputError

    class Full(FakeStdout):
        full = False

        def flush(self) -> None:
            if self.full:
                raise OSError(28, "No space left on device")
            super().flush()

    clock = [0.0]
    stream = Full("utf-8", terminal=False)
    out = Output(stream, clock=lambda: clock[0])
    stream.full = True
    out.write_live("a")
    clock[0] = 1.0
    with pytest.raises(OutputError, match="No space left on device"):
        out.write_live("b")


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_text_appears_while_it_is_being_generated(terminal, checkpoint):
    """Chunks as it goes, not the whole text at the end: of the time from the seed (written before the
    model starts) to the last byte, the generated text arrives over most of it. Written all at once,
    it would arrive in the last few milliseconds. No speed is asserted: only where, in the run's own
    time, the text came."""
    seed_bytes = "é€ ".encode()
    # 20,000 characters: over 2 s of generation at 0.12 ms a character, some 40 chunks of LIVE_SECONDS
    # (more on a slower machine; a generator 4x faster would still write over 10)
    args = generate_args(checkpoint, [*SEED, "-n", "20000", "--no-stop", "--random-seed", "1"])
    master, slave = pty.openpty() if terminal else os.pipe()
    proc = subprocess.Popen(args, env=ENV, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    arrivals: list[tuple[float, int]] = []  # when, and how many bytes had come by then
    got = 0
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the pty's other side has closed
                break
            if not data:
                break
            got += len(data)
            arrivals.append((time.monotonic(), got))
    finally:
        proc.kill()
        proc.wait(timeout=60)
        os.close(master)
    assert got > 20_000, got
    seed_at, last_at = arrivals[0][0], arrivals[-1][0]
    first_text_at = next(t for t, n in arrivals if n > len(seed_bytes))
    assert last_at - first_text_at > 0.5 * (last_at - seed_at), arrivals[:5]
    assert len(arrivals) > 10  # and in many pieces


def test_ctrl_c_mid_generation_is_the_one_interrupted_line(checkpoint):
    """Ctrl+C while text streams: what was kept for the next chunk is written, then the usual line."""
    import signal

    args = generate_args(checkpoint, [*SEED, "-n", "1000000", "--no-stop", "--random-seed", "1"])
    proc = subprocess.Popen(args, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    got = proc.stdout.read1(65536)
    while len(got) < 100:  # some generated text: the model is writing
        got += proc.stdout.read1(65536)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.decode().strip() == "tui-gen: interrupted"
    assert (got + out).startswith("é€ ".encode())


class ModeRecorder(torch.nn.Module):
    """A stand-in model with CharRNN's forward and step, noting whether each call ran in inference mode."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(1, len(VOCAB))
        self.modes: list[bool] = []

    def forward(self, ids, state=None):
        self.modes.append(torch.is_inference_mode_enabled())
        return torch.zeros(ids.shape[0], ids.shape[1], len(VOCAB)), state

    def step(self, ids, state):
        self.modes.append(torch.is_inference_mode_enabled())
        return torch.zeros(ids.shape[0], len(VOCAB)), state


@pytest.mark.parametrize("caller_in_inference_mode", [False, True])
def test_the_stream_steps_in_inference_mode_and_leaves_the_callers_mode_alone(caller_in_inference_mode):
    model = ModeRecorder()
    gen = Generator(model, VOCAB, "lines", stop_strings=(), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(caller_in_inference_mode):
        for _ in gen.stream("ab", SamplingSettings(), 20):
            assert torch.is_inference_mode_enabled() == caller_in_inference_mode  # the caller's, between tokens
        branch = gen.branch("ab", "", "a", SamplingSettings(), 5)
        assert next(branch).char == "a"
        branch.close()
        assert torch.is_inference_mode_enabled() == caller_in_inference_mode
    assert len(model.modes) > 20 and all(model.modes)  # the model ran in inference mode every time
