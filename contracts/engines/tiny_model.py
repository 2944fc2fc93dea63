"""Tiny llama-architecture GGUFs with random weights, written here so no test downloads a model.

Real llama.cpp servers load them, tokenise with their vocabulary, apply their ChatML chat template,
sample and stream: every figure the servers report (usage, timings, metrics) is genuine. The text
is gibberish; WHAT may be emitted is exact (``contracts/engines/tiny_vocab.py``).

The models (:data:`TINY_MODELS`) differ where real servers behave differently:

=============  ===================================================================================
ascii          (the default, used by every other engine test) SentencePiece, 397 tokens; emits
               only printable-ASCII pieces and never the end-of-generation token, so a completion
               always runs to ``max_tokens`` (``finish_reason: length``) unless a ``stop`` matches
bytes          byte-level BPE, one token per byte, writing only 2-byte characters: each is 2
               tokens, and an odd ``max_tokens`` ends inside one (bytes-3, bytes-4: 3- and
               4-byte characters)
large-vocab    byte-level BPE with 150,000 tokens (ids past 65,535), multi-character tokens of up
               to 12 characters, some multi-byte
eos            the ascii vocabulary with a grammar that always ends on ``</s>`` after two tokens
               (``finish_reason: stop``, fewer tokens than asked)
multibyte      the ascii vocabulary plus whole multi-byte characters (é, ж, 日, €, 😀, ...) as
               single tokens, emitted often: one token is 1-4 bytes of valid UTF-8
random-bytes   the ascii vocabulary emitting its byte tokens too: text often not UTF-8
=============  ===================================================================================

How the weights obey: embedding dimension 0 is a constant 1 that no layer writes to (its rows in
``attn_output``/``ffn_down`` are zero), so after the final RMS norm it is a positive constant;
``output.weight`` gives every token that may never be emitted a large negative weight on it (and a
token's preference, its bias, a positive one). A grammar adds one such reserved dimension per class
of token (the last token's class reaches the output untouched) and suppresses, on it, whatever may
not follow that class. The file is a pure function of :class:`TinyModelSpec` and this code (seeded
numpy, no timestamps): the same bytes, hence the same greedy completions, on every machine.

Usage: ``python -m contracts.engines.tiny_model OUT.gguf [--model NAME]``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from contracts.engines.tiny_vocab import VOCABULARIES, Vocabulary
from generator.cachedir import aibackend_cache_dir

__all__ = [
    "CHAT_TEMPLATE",
    "ENGINE_TEST_MODELS",
    "SIMULATOR_SETTINGS",
    "TINY_MODELS",
    "TinyModelSpec",
    "build_vocabulary",
    "cached_tiny_model",
    "write_tiny_model",
]

# ChatML: understood by llama-server's template engine and by llama-cpp-python's Jinja2 formatter.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_SUPPRESSION = -100.0  # output weight on a reserved dimension for tokens never generated there


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape, seed and vocabulary of a tiny model (defaults: ~130k parameters, ~0.5 MB in F32)."""

    seed: int = 20261123
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_head_kv: int = 2
    n_ff: int = 128
    context_length: int = 2048
    name: str = "aibackend-tiny-llama"
    vocabulary: str = "ascii"  # a key of tiny_vocab.VOCABULARIES


# The test models, each differing from the others where real servers behave differently
# (docs/llama-cpp.md, "The tiny models"). "ascii" is the default every other engine test uses.
TINY_MODELS: dict[str, TinyModelSpec] = {
    "ascii": TinyModelSpec(),
    "bytes": TinyModelSpec(name="aibackend-tiny-bytes", vocabulary="bytes"),
    "large-vocab": TinyModelSpec(name="aibackend-tiny-large-vocab", vocabulary="large-vocab"),
    "eos": TinyModelSpec(name="aibackend-tiny-eos", vocabulary="eos"),
    "multibyte": TinyModelSpec(name="aibackend-tiny-multibyte", vocabulary="multibyte"),
    # Characters of 3 and 4 bytes: only for tests that need a character to need 2 or 3 more tokens.
    "bytes-3": TinyModelSpec(name="aibackend-tiny-bytes-3", vocabulary="bytes-3"),
    "bytes-4": TinyModelSpec(name="aibackend-tiny-bytes-4", vocabulary="bytes-4"),
    # Byte tokens at random: text that is often not UTF-8 (the first byte model a user may write).
    "random-bytes": TinyModelSpec(name="aibackend-tiny-random-bytes", vocabulary="random-bytes"),
}
# The models every engine test runs on (bytes-3/4 add nothing a server does differently; random-bytes
# writes text that is not UTF-8, which no real model does: test_engine_overrun uses them).
ENGINE_TEST_MODELS = ("ascii", "bytes", "large-vocab", "eos", "multibyte")
# What a simulator (SimulatorConfig fields) must be told to stand in for a model: what the MODEL
# writes, never how a server behaves. No model ends before max_tokens but eos (a digit, a letter,
# </s>); the byte-level ones write characters of 2, 3 or 4 tokens.
SIMULATOR_SETTINGS: dict[str, dict[str, int]] = {
    name: {"output_tokens": 2 if name == "eos" else 64,
           "char_tokens": {"bytes": 2, "bytes-3": 3, "bytes-4": 4}.get(name, 1)}
    for name in TINY_MODELS
}


def build_vocabulary(name: str = "ascii") -> Vocabulary:
    """The vocabulary ``name`` of :data:`contracts.engines.tiny_vocab.VOCABULARIES`."""
    return VOCABULARIES[name]()


def _weights(spec: TinyModelSpec, vocab: Vocabulary) -> dict[str, npt.NDArray[np.float32]]:
    rng = np.random.default_rng(spec.seed)
    n_vocab = len(vocab.tokens)
    head_dim = spec.n_embd // spec.n_head
    n_embd_kv = head_dim * spec.n_head_kv
    grammar = vocab.grammar
    # Reserved dimensions no layer writes to: 0 is a constant 1, then one per grammar class, set
    # to 1 in the embedding of the tokens of that class (the class of the LAST token reaches the
    # output untouched, so its row of the grammar decides what may follow).
    n_classes = len(grammar.classes) if grammar is not None else 0
    reserved = 1 + n_classes

    def normal(*shape: int, scale: float) -> npt.NDArray[np.float32]:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    # numpy shapes are (out, in); GGUF stores them reversed, as ggml expects.
    embd = normal(n_vocab, spec.n_embd, scale=1.0)
    embd[:, 0] = 1.0
    if grammar is not None and vocab.token_class is not None:
        embd[:, 1:reserved] = 0.0
        embd[np.arange(n_vocab), 1 + np.asarray(vocab.token_class)] = 1.0
    tensors: dict[str, npt.NDArray[np.float32]] = {"token_embd.weight": embd}
    layer_scale = 1.0 / np.sqrt(spec.n_embd)
    for layer in range(spec.n_layer):
        prefix = f"blk.{layer}"
        attn_output = normal(spec.n_embd, spec.n_embd, scale=layer_scale)
        ffn_down = normal(spec.n_embd, spec.n_ff, scale=1.0 / np.sqrt(spec.n_ff))
        attn_output[:reserved, :] = 0.0  # nothing writes to the reserved dimensions
        ffn_down[:reserved, :] = 0.0
        tensors.update(
            {
                f"{prefix}.attn_norm.weight": np.ones(spec.n_embd, dtype=np.float32),
                f"{prefix}.attn_q.weight": normal(spec.n_embd, spec.n_embd, scale=layer_scale),
                f"{prefix}.attn_k.weight": normal(n_embd_kv, spec.n_embd, scale=layer_scale),
                f"{prefix}.attn_v.weight": normal(n_embd_kv, spec.n_embd, scale=layer_scale),
                f"{prefix}.attn_output.weight": attn_output,
                f"{prefix}.ffn_norm.weight": np.ones(spec.n_embd, dtype=np.float32),
                f"{prefix}.ffn_gate.weight": normal(spec.n_ff, spec.n_embd, scale=layer_scale),
                f"{prefix}.ffn_up.weight": normal(spec.n_ff, spec.n_embd, scale=layer_scale),
                f"{prefix}.ffn_down.weight": ffn_down,
            }
        )
    tensors["output_norm.weight"] = np.ones(spec.n_embd, dtype=np.float32)
    output = normal(n_vocab, spec.n_embd, scale=2.0 / np.sqrt(spec.n_embd))
    output[:, 0] = 0.0
    generatable = vocab.generatable
    output[~generatable, :] = 0.0
    output[~generatable, 0] = _SUPPRESSION
    if vocab.bias is not None:
        output[generatable, 0] += vocab.bias[generatable]
    if grammar is not None:
        output[:, 1:reserved] = np.where(grammar.allowed.T, 0.0, _SUPPRESSION)
    tensors["output.weight"] = output
    return tensors


def write_tiny_model(path: Path, spec: TinyModelSpec | None = None) -> Path:
    """Write the GGUF to ``path`` (atomically: a temp file renamed into place) and return it."""
    import gguf  # installed by scripts/setup.d/50-llama-cpp.sh with the engines

    spec = spec or TinyModelSpec()
    vocab = build_vocabulary(spec.vocabulary)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    writer.add_name(spec.name)
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.n_head_kv)
    writer.add_rope_dimension_count(spec.n_embd // spec.n_head)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(len(vocab.tokens))
    writer.add_tokenizer_model(vocab.tokenizer)
    if vocab.tokenizer == "gpt2":
        writer.add_tokenizer_pre("default")
        writer.add_token_merges(vocab.merges)
    writer.add_token_list(vocab.tokens)
    writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    if vocab.unk_id is not None:
        writer.add_unk_token_id(vocab.unk_id)
    writer.add_bos_token_id(vocab.bos_id)
    writer.add_eos_token_id(vocab.eos_id)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    for name, tensor in _weights(spec, vocab).items():
        writer.add_tensor(name, tensor)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(path)
    return path


def _cache_key(spec: TinyModelSpec) -> str:
    """What the file is a function of: the spec and the code that writes it (this module and the
    vocabularies). A change of either is a new file; the old one is left for `make clean`-style pruning."""
    digest = hashlib.sha256(repr(spec).encode())
    for module in (Path(__file__), Path(__file__).with_name("tiny_vocab.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


STALE_AFTER_S = 24 * 3600  # other versions of a model untouched this long are deleted


def cached_tiny_model(name: str, cache_dir: Path | None = None) -> Path:
    """The tiny model ``name`` of :data:`TINY_MODELS`, written once per code version under
    ``<cache>/llama-cpp/tiny-models/`` (the 150k-token vocabulary takes seconds to build) and
    reused; concurrent callers each write a temp file and the last rename wins, same bytes. Writing
    a new version deletes the versions of the same model nobody used for a day (84 MB each for
    large-vocab); a recent one may belong to another checkout still using it."""
    spec = TINY_MODELS[name]
    directory = (cache_dir or aibackend_cache_dir() / "llama-cpp") / "tiny-models"
    path = directory / f"{name}-{_cache_key(spec)}.gguf"
    if path.is_file():
        os.utime(path)  # in use: not stale
        return path
    directory.mkdir(parents=True, exist_ok=True)
    write_tiny_model(path, spec)
    now = time.time()
    for other in directory.glob(f"{name}-*.gguf"):
        if other != path and other.name.removeprefix(f"{name}-").count("-") == 0:
            with contextlib.suppress(OSError):
                if now - other.stat().st_mtime > STALE_AFTER_S:
                    other.unlink()
    return path


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("output", type=Path, help="where to write the .gguf file")
    parser.add_argument("--model", choices=sorted(TINY_MODELS), default="ascii", help="which tiny model (default: ascii)")
    parser.add_argument("--seed", type=int, default=TinyModelSpec.seed)
    args = parser.parse_args(argv)
    path = write_tiny_model(args.output, dataclasses.replace(TINY_MODELS[args.model], seed=args.seed))
    print(f"{path}  {path.stat().st_size} bytes  sha256 {file_sha256(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
