"""The character vocabulary: reserved ids, round trips, unknown characters, JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_gen.core.errors import CheckpointError
from tui_gen.data.vocab import FIRST_CHAR_ID, PAD, UNK, UNK_CHAR, Vocab

CORPUS = "Hello, World! ありがとう 🎉\n@realDonaldTrump #MAGA _E_\t"
VOCAB = Vocab.build([CORPUS])


def test_reserved_ids():
    assert (PAD, UNK, FIRST_CHAR_ID) == (0, 1, 2)
    assert len(VOCAB) == len(set(CORPUS)) + 2


def test_encode_decode_round_trip():
    ids = VOCAB.encode(CORPUS)
    assert ids.dtype == np.int32  # compact: a 64 MiB corpus stays a 256 MB array
    assert ids.shape == (len(CORPUS),)
    assert (ids >= FIRST_CHAR_ID).all()
    assert VOCAB.decode(ids) == CORPUS
    assert VOCAB.decode(ids.tolist()) == CORPUS
    assert "".join(VOCAB.char_of(int(i)) for i in ids) == CORPUS


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=sorted(set(CORPUS)), max_size=300))
def test_round_trip_any_text_over_the_vocabulary(text):
    ids = VOCAB.encode(text)
    assert (ids >= FIRST_CHAR_ID).all()
    assert VOCAB.decode(ids) == text


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_round_trip_any_vocabulary(text):
    v = Vocab.build([text])
    assert v.decode(v.encode(text)) == text
    assert len(v) == len(set(text)) + 2


def test_pad_is_never_a_real_character():
    ids = {VOCAB.id_of(c) for c in set(CORPUS)}
    assert PAD not in ids and UNK not in ids
    assert ids == set(range(FIRST_CHAR_ID, len(VOCAB)))  # distinct, dense, after the reserved ids
    # Even the most frequent character (the lecture's index-0 character) is not padding.
    assert VOCAB.id_of(VOCAB.chars[0]) == FIRST_CHAR_ID


def test_decoding_drops_padding():
    ids = list(VOCAB.encode("He"))
    padded = [PAD] + ids[:1] + [PAD, PAD] + ids[1:] + [PAD] * 5
    assert VOCAB.decode(padded) == "He"
    assert VOCAB.decode(np.array(padded)) == "He"
    assert VOCAB.char_of(PAD) == ""


def test_unknown_for_unseen_characters():
    ids = VOCAB.encode("Hz€")
    assert ids[0] == VOCAB.id_of("H")
    assert ids[1] == UNK and ids[2] == UNK
    assert VOCAB.id_of("z") == UNK
    assert "z" not in VOCAB and "H" in VOCAB
    assert VOCAB.decode(ids) == "H" + UNK_CHAR * 2
    assert VOCAB.unknown_chars("zHz€") == sorted({"z", "€"})
    # code points above every vocabulary character (beyond the lookup table)
    assert VOCAB.encode("\U0010ffff")[0] == UNK


def test_unknown_for_characters_under_min_count():
    v = Vocab.build(["aaab", "ab", "c"], min_count=2)
    assert v.chars == ["a", "b"]  # most frequent first
    assert v.id_of("c") == UNK
    assert list(v.encode("abc")) == [2, 3, UNK]
    v1 = Vocab.build(["aaab", "ab", "c"], min_count=1)
    assert v1.id_of("c") >= FIRST_CHAR_ID


def test_build_order_is_deterministic():
    a = Vocab.build(["bca", "cb"])
    b = Vocab.build(["cb", "bca"])
    assert a.chars == b.chars == ["b", "c", "a"]  # by count, ties by code point


def test_json_round_trip():
    data = json.loads(json.dumps(VOCAB.to_json()))
    v = Vocab.from_json(data)
    assert v.chars == VOCAB.chars
    assert list(v.encode(CORPUS)) == list(VOCAB.encode(CORPUS))


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "abc",
        42,
        {"chars": ["a"]},
        ["a", 1],
        ["a", "a"],
        ["ab"],
        [""],
        [["a"]],
    ],
)
def test_corrupt_vocab_json_raises_checkpoint_error(bad):
    with pytest.raises(CheckpointError):
        Vocab.from_json(bad)
