"""A tiny llama-architecture GGUF with random weights, written here so no test downloads a model.

Real llama.cpp servers load it, tokenise with its SentencePiece-style vocabulary (printable ASCII,
a few common pairs, and the 256 ``<0xNN>`` byte-fallback tokens), apply its ChatML chat template,
sample and stream: every figure the servers report (usage, timings, metrics) is genuine. The text
is gibberish.

Two choices make the output safe to compare in tests:

* Only printable-ASCII tokens are ever generated. Embedding dimension 0 is a constant 1 that no
  layer writes to (its rows in ``attn_output``/``ffn_down`` are zero), so after the final RMS norm
  it is a positive constant; ``output.weight`` gives every byte, control and end-of-generation
  token a large negative weight on that dimension. Outputs are therefore valid UTF-8 and a
  completion always runs to ``max_tokens`` (``finish_reason: length``) unless a ``stop`` string
  matches.
* The file is a pure function of :class:`TinyModelSpec` (seeded numpy, no timestamps): the same
  spec gives the same bytes, hence the same greedy completions on every machine.

Usage: ``python -m contracts.engines.tiny_model OUT.gguf``.
"""

from __future__ import annotations

import argparse
import hashlib
import string
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "CHAT_TEMPLATE",
    "TinyModelSpec",
    "build_vocabulary",
    "write_tiny_model",
]

# ChatML: understood by llama-server's template engine and by llama-cpp-python's Jinja2 formatter.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# SentencePiece token types as GGUF stores them (gguf.TokenType).
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6
_SPACE = "\u2581"  # SentencePiece's visible space
_PAIRS = ("th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "st", "es", "or", "te", "ed")
_SUPPRESSION = -100.0  # output weight on the constant dimension for tokens never generated


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape and seed of the tiny model (defaults: ~130k parameters, ~0.5 MB in F32)."""

    seed: int = 20261123
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_head_kv: int = 2
    n_ff: int = 128
    context_length: int = 2048
    name: str = "aibackend-tiny-llama"


@dataclass(frozen=True)
class Vocabulary:
    tokens: list[str]
    scores: list[float]
    types: list[int]
    unk_id: int
    bos_id: int
    eos_id: int

    @property
    def generatable(self) -> npt.NDArray[np.bool_]:
        """Mask of the tokens the model may emit: the normal (printable) ones."""
        return np.array([t == _NORMAL for t in self.types], dtype=bool)


def build_vocabulary() -> Vocabulary:
    """Specials, 256 byte-fallback tokens, then printable pieces scored so longer pieces win."""
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [_UNKNOWN, _CONTROL, _CONTROL, _CONTROL, _CONTROL]
    scores = [0.0] * len(tokens)
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        types.append(_BYTE)
        scores.append(0.0)
    singles = [_SPACE] + [c for c in string.printable if c.isprintable() and c != " "]
    pieces = singles + [_SPACE + c for c in string.ascii_lowercase] + list(_PAIRS)
    for index, piece in enumerate(pieces):
        tokens.append(piece)
        types.append(_NORMAL)
        # SentencePiece merges the pair with the highest score first: multi-character pieces
        # score above single characters, so "▁t" and "th" are used where they fit.
        scores.append(-float(index) if len(piece) == 1 else 1000.0 - float(index))
    return Vocabulary(tokens, scores, types, unk_id=0, bos_id=1, eos_id=2)


def _weights(spec: TinyModelSpec, vocab: Vocabulary) -> dict[str, npt.NDArray[np.float32]]:
    rng = np.random.default_rng(spec.seed)
    n_vocab = len(vocab.tokens)
    head_dim = spec.n_embd // spec.n_head
    n_embd_kv = head_dim * spec.n_head_kv

    def normal(*shape: int, scale: float) -> npt.NDArray[np.float32]:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    # numpy shapes are (out, in); GGUF stores them reversed, as ggml expects.
    embd = normal(n_vocab, spec.n_embd, scale=1.0)
    embd[:, 0] = 1.0
    tensors: dict[str, npt.NDArray[np.float32]] = {"token_embd.weight": embd}
    layer_scale = 1.0 / np.sqrt(spec.n_embd)
    for layer in range(spec.n_layer):
        prefix = f"blk.{layer}"
        attn_output = normal(spec.n_embd, spec.n_embd, scale=layer_scale)
        ffn_down = normal(spec.n_embd, spec.n_ff, scale=1.0 / np.sqrt(spec.n_ff))
        attn_output[0, :] = 0.0  # nothing writes to the constant dimension
        ffn_down[0, :] = 0.0
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
    output[~vocab.generatable, :] = 0.0
    output[~vocab.generatable, 0] = _SUPPRESSION
    tensors["output.weight"] = output
    return tensors


def write_tiny_model(path: Path, spec: TinyModelSpec | None = None) -> Path:
    """Write the GGUF to ``path`` (atomically: a temp file renamed into place) and return it."""
    import gguf  # installed by scripts/setup.d/50-llama-cpp.sh with the engines

    spec = spec or TinyModelSpec()
    vocab = build_vocabulary()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
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
    writer.add_tokenizer_model("llama")
    writer.add_token_list(vocab.tokens)
    writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    writer.add_unk_token_id(vocab.unk_id)
    writer.add_bos_token_id(vocab.bos_id)
    writer.add_eos_token_id(vocab.eos_id)
    writer.add_add_bos_token(True)
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


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("output", type=Path, help="where to write the .gguf file")
    parser.add_argument("--seed", type=int, default=TinyModelSpec.seed)
    args = parser.parse_args(argv)
    path = write_tiny_model(args.output, TinyModelSpec(seed=args.seed))
    print(f"{path}  {path.stat().st_size} bytes  sha256 {file_sha256(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
