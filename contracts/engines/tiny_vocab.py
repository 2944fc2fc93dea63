"""The vocabularies of the tiny test models and the little grammars that decide what they may emit.

A tiny model (``contracts/engines/tiny_model.py``) has random weights, so its text is gibberish;
what it may emit, though, is decided here, exactly, because that is where real servers behave
differently: a character spread over several tokens, a vocabulary of 150k entries, an answer that
ends on the end-of-generation token, text full of multi-byte characters.

A :class:`Vocabulary` lists the tokens as GGUF stores them (text, score, type) and, for each, a
*class* and a *bias*. A :class:`Grammar` says, for each class of the LAST token of the context,
which tokens may come next. The model writer turns that into weights: the class of a token is a
one-hot dimension of its embedding that no layer writes to, and every token not allowed after a
class gets a large negative output weight on that class's dimension. The model only sees the last
token's class, so a grammar is a chain of classes, not a parser: ``bytes`` (below) produces
valid UTF-8 only after a context that ends on a complete character, as every chat prompt does
(the ChatML template ends with a newline).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "VOCABULARIES",
    "Grammar",
    "Vocabulary",
    "gpt2_byte_text",
]

# SentencePiece/GGUF token types (gguf.TokenType).
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6
SPACE = "\u2581"  # SentencePiece's visible space
PAIRS = ("th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "st", "es", "or", "te", "ed")
CHATML = ("<|im_start|>", "<|im_end|>")
# Whole multi-byte characters the multibyte and large vocabularies carry as tokens: 2, 3 and
# 4 bytes in UTF-8 (Latin, Cyrillic, CJK, symbols, emoji).
MULTIBYTE_CHARS = "éüñßжя日本語€→✓😀🎉"


@dataclass(frozen=True)
class Grammar:
    """``classes[c]`` names class ``c`` (0 is the default class of every token); ``allowed[c]``
    is the mask of the tokens that may follow a token of class ``c``."""

    classes: tuple[str, ...]
    allowed: npt.NDArray[np.bool_]  # (n_classes, n_vocab)


@dataclass(frozen=True)
class Vocabulary:
    tokens: list[str]
    scores: list[float]
    types: list[int]
    unk_id: int | None
    bos_id: int
    eos_id: int
    tokenizer: str = "llama"  # "llama": SentencePiece; "gpt2": byte-level BPE
    add_bos: bool = True
    merges: list[str] = field(default_factory=list)
    # What may be emitted (default: the normal tokens), each token's class, its output bias (a
    # preference on top of the random logits, in units of the constant dimension), the grammar.
    emit: npt.NDArray[np.bool_] | None = None
    token_class: list[int] | None = None
    bias: npt.NDArray[np.float32] | None = None
    grammar: Grammar | None = None

    @property
    def generatable(self) -> npt.NDArray[np.bool_]:
        """Mask of the tokens the model may emit at all."""
        if self.emit is not None:
            return self.emit
        return np.array([t == NORMAL for t in self.types], dtype=bool)


# --- SentencePiece (llama) vocabularies ------------------------------------------------------


def _spm_base() -> tuple[list[str], list[float], list[int]]:
    """Specials, then the 256 ``<0xNN>`` byte-fallback tokens."""
    tokens = ["<unk>", "<s>", "</s>", *CHATML]
    types = [UNKNOWN, CONTROL, CONTROL, CONTROL, CONTROL]
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        types.append(BYTE)
    return tokens, [0.0] * len(tokens), types


def _spm_pieces(extra: Sequence[str] = ()) -> list[str]:
    singles = [SPACE] + [c for c in string.printable if c.isprintable() and c != " "] + list(extra)
    return singles + [SPACE + c for c in string.ascii_lowercase] + list(PAIRS)


def _add_spm_pieces(tokens: list[str], scores: list[float], types: list[int], pieces: Sequence[str]) -> None:
    for index, piece in enumerate(pieces):
        tokens.append(piece)
        types.append(NORMAL)
        # SentencePiece merges the pair with the highest score first: multi-character pieces
        # score above single characters, so "▁t" and "th" are used where they fit.
        scores.append(-float(index) if len(piece) == 1 else 1000.0 - float(index))


def ascii_vocabulary() -> Vocabulary:
    """Specials, 256 byte-fallback tokens, then printable-ASCII pieces: only those are emitted."""
    tokens, scores, types = _spm_base()
    _add_spm_pieces(tokens, scores, types, _spm_pieces())
    return Vocabulary(tokens, scores, types, unk_id=0, bos_id=1, eos_id=2)


def random_bytes_vocabulary() -> Vocabulary:
    """The ASCII vocabulary with its 256 byte-fallback tokens emitted too, at random: a random-weight
    byte model as anyone would first write one, whose text is often NOT UTF-8 (a lead byte followed
    by no continuation). No real model writes that; it shows how far a server's UTF-8 handling goes
    when the model does (llama-cpp-python: tests/contract/test_engine_overrun.py)."""
    base = ascii_vocabulary()
    emit = np.array([t in (NORMAL, BYTE) for t in base.types], dtype=bool)
    return Vocabulary(base.tokens, base.scores, base.types, base.unk_id, base.bos_id, base.eos_id, emit=emit)


def multibyte_vocabulary() -> Vocabulary:
    """The ASCII vocabulary plus whole multi-byte characters as single tokens, emitted often: every
    token is valid UTF-8 on its own, but a token is 1-4 bytes and a chunk's text is not one byte per
    token. Characters outside the vocabulary still fall back to byte tokens, never emitted."""
    tokens, scores, types = _spm_base()
    _add_spm_pieces(tokens, scores, types, _spm_pieces(MULTIBYTE_CHARS))
    bias = np.zeros(len(tokens), dtype=np.float32)
    for index, token in enumerate(tokens):
        if types[index] == NORMAL and any(ord(c) > 0x7F for c in token):
            bias[index] = 4.0  # about half of the text is multi-byte characters
    return Vocabulary(tokens, scores, types, unk_id=0, bos_id=1, eos_id=2, bias=bias)


def eos_vocabulary() -> Vocabulary:
    """The ASCII vocabulary with a three-step grammar that always ends on ``</s>``: after anything
    else a digit, after a digit a letter, after a letter the end-of-generation token. An answer is
    two tokens and ``finish_reason`` is ``stop`` whenever ``max_tokens`` >= 3 (the chat template
    ends with a newline; a completion prompt ending in a letter ends at once, with no text)."""
    base = ascii_vocabulary()
    classes = ("other", "digit", "letter")
    token_class = []
    for index, token in enumerate(base.tokens):
        text = token.replace(SPACE, "")
        if base.types[index] != NORMAL or not text:
            token_class.append(0)
        elif text.isdigit():
            token_class.append(1)
        elif text.isalpha():
            token_class.append(2)
        else:
            token_class.append(0)
    klass = np.array(token_class)
    emit = np.array([t == NORMAL for t in base.types], dtype=bool)
    emit[base.eos_id] = True
    allowed = np.zeros((3, len(base.tokens)), dtype=bool)
    allowed[0] = emit & (klass == 1)
    allowed[1] = emit & (klass == 2)
    allowed[2, base.eos_id] = True
    return Vocabulary(
        base.tokens, base.scores, base.types, base.unk_id, base.bos_id, base.eos_id,
        emit=emit, token_class=token_class, grammar=Grammar(classes, allowed),
    )


# --- byte-level BPE (gpt2) vocabularies ------------------------------------------------------


def _gpt2_byte_map() -> dict[int, str]:
    """GPT-2's bytes_to_unicode: every byte as a printable character (llama.cpp maps them back)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


BYTE_MAP = _gpt2_byte_map()


def gpt2_byte_text(data: bytes) -> str:
    """How a byte-level BPE vocabulary spells ``data`` (``b" a"`` -> ``"Ġa"``)."""
    return "".join(BYTE_MAP[b] for b in data)


GPT2_SPECIALS = ("<|endoftext|>", *CHATML)

# Lead bytes of W-byte characters that accept any continuation byte (C2 would start the C1
# controls, E0/ED and F0/F4 restrict their second byte): every character the grammar builds is valid.
LEADS = {2: range(0xC3, 0xE0), 3: range(0xE1, 0xED), 4: range(0xF1, 0xF4)}


def _continuation_parts(width: int) -> list[range]:
    """0x80-0xBF cut in ``width - 1`` consecutive parts, one per position after the lead: the model
    only sees the last byte, so the byte itself must say how many more the character needs."""
    size = 0x40 // (width - 1)
    bounds = [0x80 + i * size for i in range(width - 1)] + [0xC0]
    return [range(bounds[i], bounds[i + 1]) for i in range(width - 1)]


def bytes_vocabulary(width: int = 2) -> Vocabulary:
    """Byte-level BPE with one token per byte (and three ASCII merges, never emitted): the model
    writes only ``width``-byte UTF-8 characters, each ``width`` tokens, so every character is held
    back by the server until complete and ``max_tokens`` not a multiple of ``width`` ends inside one.
    (After a context ending inside a character, e.g. a prompt ending in a 3-byte character for
    ``width`` 4, the first bytes are stray continuations; no chat prompt does that, the ChatML
    template ends with a newline, and with ``width`` 2 no valid text can.)"""
    tokens = list(GPT2_SPECIALS)
    types = [CONTROL] * len(tokens)
    byte_ids = {}
    for b in range(256):
        byte_ids[b] = len(tokens)
        tokens.append(BYTE_MAP[b])
        types.append(NORMAL)
    merges = []
    for left, right in (("Ġ", "t"), ("t", "h"), ("h", "e")):
        merges.append(f"{left} {right}")
        tokens.append(left + right)
        types.append(NORMAL)
    n = len(tokens)
    parts = _continuation_parts(width)
    # Class 0: a character is complete (any other byte); 1: a lead; 1 + i: continuation part i.
    classes = ("complete", "lead", *(f"continuation-{i + 2}" for i in range(width - 2)))
    token_class = [0] * n
    for b, index in byte_ids.items():
        if b in LEADS[width]:
            token_class[index] = 1
        for i, part in enumerate(parts[:-1]):
            if b in part:
                token_class[index] = 2 + i
    allowed = np.zeros((len(classes), n), dtype=bool)
    allowed[0, np.array([byte_ids[b] for b in LEADS[width]])] = True
    for klass, part in enumerate(parts, start=1):
        allowed[klass, np.array([byte_ids[b] for b in part])] = True
    emit: npt.NDArray[np.bool_] = np.asarray(allowed.any(axis=0), dtype=bool)
    return Vocabulary(
        tokens, [0.0] * n, types, unk_id=None, bos_id=0, eos_id=0, tokenizer="gpt2", add_bos=False,
        merges=merges, emit=emit, token_class=token_class, grammar=Grammar(classes, allowed),
    )


LARGE_VOCAB_SIZE = 150_000
LARGE_MAX_PIECE_CHARS = 12


def large_vocabulary(size: int = LARGE_VOCAB_SIZE, seed: int = 20261201) -> Vocabulary:
    """Byte-level BPE with ``size`` tokens (ids far past 65,535), built like a real one: the 256
    bytes, merges that assemble the multi-byte characters, then merges of two existing tokens into
    words of up to 12 characters. Only whole-character tokens are emitted, so a token is 1-48 bytes
    of valid UTF-8 and one chunk may carry many characters."""
    rng = random.Random(seed)
    tokens = list(GPT2_SPECIALS)
    types = [CONTROL] * len(tokens)
    known: set[str] = set(tokens)
    whole: list[str] = []  # texts (not byte-mapped) of tokens that are whole characters

    def add(text_mapped: str, kind: int = NORMAL) -> None:
        tokens.append(text_mapped)
        types.append(kind)
        known.add(text_mapped)

    for b in range(256):
        add(BYTE_MAP[b])
        if 0x20 <= b < 0x7F:
            whole.append(chr(b))
    merges: list[str] = []
    for char in MULTIBYTE_CHARS:
        encoded = char.encode()
        for cut in range(2, len(encoded) + 1):
            left, right = gpt2_byte_text(encoded[: cut - 1]), gpt2_byte_text(encoded[cut - 1 : cut])
            if left + right not in known:
                merges.append(f"{left} {right}")
                add(left + right)
        whole.append(char)
    letters = string.ascii_lowercase + " "
    while len(tokens) < size:
        # Prefer short parts: the words stay short and every length up to the cap occurs.
        left = whole[min(int(rng.expovariate(1 / 60)), len(whole) - 1)] if rng.random() < 0.5 else rng.choice(whole)
        right = rng.choice(letters) if rng.random() < 0.4 else rng.choice(whole)
        text = left + right
        mapped_left, mapped_right = gpt2_byte_text(left.encode()), gpt2_byte_text(right.encode())
        if len(text) > LARGE_MAX_PIECE_CHARS or mapped_left + mapped_right in known:
            continue
        if mapped_left not in known or mapped_right not in known:
            continue
        merges.append(f"{mapped_left} {mapped_right}")
        add(mapped_left + mapped_right)
        whole.append(text)
    whole_set = {gpt2_byte_text(t.encode()) for t in whole if t.isprintable()}
    emit = np.array([types[i] == NORMAL and t in whole_set for i, t in enumerate(tokens)], dtype=bool)
    return Vocabulary(
        tokens, [0.0] * len(tokens), types, unk_id=None, bos_id=0, eos_id=0, tokenizer="gpt2",
        add_bos=False, merges=merges, emit=emit,
    )


VOCABULARIES: dict[str, Callable[[], Vocabulary]] = {
    "ascii": ascii_vocabulary,
    "bytes": bytes_vocabulary,
    "bytes-3": lambda: bytes_vocabulary(3),
    "bytes-4": lambda: bytes_vocabulary(4),
    "large-vocab": large_vocabulary,
    "eos": eos_vocabulary,
    "multibyte": multibyte_vocabulary,
    "random-bytes": random_bytes_vocabulary,
}
