#!/usr/bin/env python3
"""Test-only: dump a GGUF's tokenizer metadata as JSON with the fields of `GgufVocab`.

The Rust test `tokenizer::tests::gguf_rebuild_matches_golden` reads it when RECLORA_VOCAB_JSON
names the file, rebuilds the tokenizer with `TextTokenizer::from_gguf_vocab`, and checks every
case of tests/fixtures/tokenizer_golden.json. The output (~1.5 MB) is NOT committed.

Usage: /root/oracle-venv/bin/python scripts/oracle/extract_gguf_vocab.py [--gguf PATH]
       [--out /var/tmp/smollm2-vocab.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gguf import GGUFReader

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GGUF = ROOT / "assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUT = Path("/var/tmp/smollm2-vocab.json")

# GgufVocab field -> GGUF key
FIELDS = {
    "model": "tokenizer.ggml.model",
    "pre": "tokenizer.ggml.pre",
    "tokens": "tokenizer.ggml.tokens",
    "merges": "tokenizer.ggml.merges",
    "token_types": "tokenizer.ggml.token_type",
    "bos_token_id": "tokenizer.ggml.bos_token_id",
    "eos_token_id": "tokenizer.ggml.eos_token_id",
    "unknown_token_id": "tokenizer.ggml.unknown_token_id",
    "padding_token_id": "tokenizer.ggml.padding_token_id",
    "add_bos_token": "tokenizer.ggml.add_bos_token",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", type=Path, default=DEFAULT_GGUF)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    reader = GGUFReader(str(args.gguf))
    vocab = {}
    for name, key in FIELDS.items():
        field = reader.fields.get(key)
        value = None if field is None else field.contents()
        if name in ("tokens", "merges", "token_types") and value is None:
            value = []
        vocab[name] = value
    if vocab["model"] is None:
        raise SystemExit(f"{args.gguf}: no tokenizer.ggml.model")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    print(
        f"wrote {args.out}: model={vocab['model']} pre={vocab['pre']} tokens={len(vocab['tokens'])} "
        f"merges={len(vocab['merges'])}"
    )


if __name__ == "__main__":
    main()
