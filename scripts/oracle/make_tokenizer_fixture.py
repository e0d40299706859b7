#!/usr/bin/env python3
"""Golden token ids for the SmolLM2-135M-Instruct tokenizer (tests/fixtures/tokenizer_golden.json).

The oracle is Hugging Face: transformers turns the GGUF's vocabulary into a fast tokenizer
(`AutoTokenizer.from_pretrained(dir, gguf_file=name)`), and every case is encoded with
`tok(text, add_special_tokens=False)`.

One correction is applied before encoding. transformers' GGUF converter only knows split regexes
for some `tokenizer.ggml.pre` names, and "smollm" is not one of them, so it falls back to a bare
GPT-2 `ByteLevel(use_regex=True)` pre-tokenizer. SmolLM2's own tokenizer.json (and llama.cpp's
LLAMA_VOCAB_PRE_TYPE_SMOLLM: "\\p{N}" then the GPT-2 regex) first isolates every digit:
`Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)]`.
The two disagree on whitespace in front of a digit ("Rated  5": "ĠĠ" + "5" vs "Ġ" + "Ġ" + "5"),
so the golden `ids` use SmolLM2's own pre-tokenizer, and a case whose as-converted ids differ also
records them as `ids_transformers_gguf` for the record.

Also written, NOT committed: /var/tmp/smollm2-tokenizer.json, the corrected tokenizer saved with
`backend_tokenizer.save`, for the Rust `TextTokenizer::from_file` test (env RECLORA_TOKENIZER_JSON
or that default path).

Usage: /root/oracle-venv/bin/python scripts/oracle/make_tokenizer_fixture.py [--gguf PATH]
       [--out tests/fixtures/tokenizer_golden.json] [--tokenizer-json /var/tmp/smollm2-tokenizer.json]
Deterministic: the same GGUF and library versions give a byte-identical fixture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import tokenizers
import transformers
from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GGUF = ROOT / "assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUT = ROOT / "tests/fixtures/tokenizer_golden.json"
DEFAULT_TOKENIZER_JSON = Path("/var/tmp/smollm2-tokenizer.json")

MOVIELENS_PROMPT = (
    "The user is a female. Her job is programmer. Her age is 25-34.\n"
    "The user watched the following movies in order in the past, and rated them:\n"
    "['0. Toy Story (1995) (5 stars)', '1. Misérables, Les (1995) (4 stars)', "
    "'2. City of Lost Children, The (Cité des enfants perdus, La) (1995) (3 stars)', "
    "'3. Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001) (5 stars)', "
    "'4. Star Wars: Episode IV - A New Hope (1977) (1 stars)']\n"
    "Based on the movies the user has watched, deduce if the user will like the movie "
    "***Heat (1995)***.\n"
    "You should ONLY tell me yes or no."
)


def chatml(prompt: str) -> str:
    """PromptTemplate::ChatMl::render: no system message, no BOS."""
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


def plain(prompt: str) -> str:
    """PromptTemplate::Plain::render."""
    return f"{prompt}\nAnswer:"


CASES: list[tuple[str, str]] = [
    ("ascii_hello", "Hello world"),
    ("ascii_punct", "Hello, World! How are you doing today?"),
    ("empty", ""),
    ("single_space", " "),
    ("newline", "\n"),
    ("digits_year", "1995"),
    ("digits_long", "123456789"),
    ("digits_mixed", "3.14159 and 1,000,000 in 2024-01-31"),
    ("digits_after_two_spaces", "Rated  5 stars"),
    ("digits_after_space_run", "Top 10:\n  1. Heat\n   2. Casino"),
    ("emoji", "I love movies 🎬🍿😀👍🏽 ❤️"),
    ("cjk", "你好，世界！这部电影很好看。"),
    ("japanese", "日本語のテキストとカタカナ"),
    ("korean", "한국어 텍스트입니다"),
    ("arabic", "مرحبا بالعالم"),
    ("cyrillic", "Привет, мир"),
    ("whitespace_runs", "a    b\t\tc\n\n\nd   \n  e  "),
    ("leading_spaces", "   leading spaces"),
    ("trailing_spaces", "trailing spaces   "),
    ("crlf", "line1\r\nline2\r\n"),
    ("apostrophe_dont", "don't"),
    ("apostrophe_upper", "I'LL"),
    ("apostrophes_mixed", "it's they've we're I'd you'll I'm SHE'S"),
    ("latin1_title", "Misérables, Les (1995)"),
    ("latin1_cafe", "Café"),
    ("latin1_amelie", "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)"),
    ("latin1_cite", "City of Lost Children, The (Cité des enfants perdus, La) (1995)"),
    ("latin_diacritics", "Ünïcödé naïve façade Ångström"),
    ("combining_accent", "Cafe\u0301"),
    ("code", "def foo(x):\n    return x ** 2  # square"),
    ("symbols", "$9.99 @user #tag 50% <tag> {json: [1, 2]}"),
    ("control_byte_absent_from_vocab", "a\u0004b"),
    ("four_byte_gothic", "𐍈 wulfila"),
    ("special_endoftext", "<|endoftext|>"),
    ("special_im_start", "<|im_start|>"),
    ("special_im_end", "<|im_end|>"),
    ("special_adjacent", "<|im_start|><|im_end|><|endoftext|>"),
    ("special_partial_not_special", "<|im_start| user"),
    ("special_repo_tokens", "<repo_name>reclora<file_sep>main.rs"),
    ("chatml_turn", "<|im_start|>user\nHi there!<|im_end|>"),
    ("chatml_short", chatml("Is Heat (1995) a good movie?")),
    ("movielens_prompt", MOVIELENS_PROMPT),
    ("chatml_movielens", chatml(MOVIELENS_PROMPT)),
    ("plain_movielens", plain(MOVIELENS_PROMPT)),
    ("answer_yes", "Yes"),
    ("answer_no", "No"),
    ("answer_space_yes", " Yes"),
    ("answer_space_no", " No"),
]

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def smollm2_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """The pre-tokenizer of SmolLM2's own tokenizer.json."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load(gguf: Path):
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", type=Path, default=DEFAULT_GGUF)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--tokenizer-json", type=Path, default=DEFAULT_TOKENIZER_JSON)
    args = parser.parse_args()

    converted = load(args.gguf)
    reference = load(args.gguf)
    as_converted_pre = json.loads(converted.backend_tokenizer.to_str())["pre_tokenizer"]
    reference.backend_tokenizer.pre_tokenizer = smollm2_pre_tokenizer()
    reference_pre = json.loads(reference.backend_tokenizer.to_str())["pre_tokenizer"]

    names = [name for name, _ in CASES]
    if len(set(names)) != len(names):
        raise SystemExit("duplicate case names")

    cases = []
    differing = []
    for name, text in CASES:
        ids = reference(text, add_special_tokens=False)["input_ids"]
        as_converted = converted(text, add_special_tokens=False)["input_ids"]
        case = {"name": name, "text": text, "ids": ids}
        if as_converted != ids:
            case["ids_transformers_gguf"] = as_converted
            differing.append(name)
        cases.append(case)

    special_ids = {token: reference.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    fixture = {
        "description": (
            "Golden SmolLM2-135M-Instruct token ids: HF tok(text, add_special_tokens=False) with SmolLM2's "
            "tokenizer.json pre-tokenizer; see scripts/oracle/make_tokenizer_fixture.py"
        ),
        "generator": "scripts/oracle/make_tokenizer_fixture.py",
        "gguf_file": args.gguf.name,
        "gguf_sha256": sha256(args.gguf),
        "transformers_version": transformers.__version__,
        "tokenizers_version": tokenizers.__version__,
        "vocab_size": reference.backend_tokenizer.get_vocab_size(with_added_tokens=True),
        "bos_token": reference.bos_token,
        "eos_token": reference.eos_token,
        "special_ids": special_ids,
        "pre_tokenizer_reference": reference_pre,
        "pre_tokenizer_transformers_gguf": as_converted_pre,
        "cases_differing_from_transformers_gguf": differing,
        "cases": cases,
    }

    # One case per line keeps the file small and its diffs readable.
    head = {key: value for key, value in fixture.items() if key != "cases"}
    lines = json.dumps(head, ensure_ascii=False, indent=1, sort_keys=False)[:-2]
    body = ",\n".join("  " + json.dumps(case, ensure_ascii=False) for case in cases)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f'{lines},\n "cases": [\n{body}\n ]\n}}\n', encoding="utf-8")
    json.loads(args.out.read_text(encoding="utf-8"))  # the hand-made layout must stay valid JSON

    args.tokenizer_json.parent.mkdir(parents=True, exist_ok=True)
    reference.backend_tokenizer.save(str(args.tokenizer_json))
    print(f"wrote {args.out} ({len(cases)} cases; {len(differing)} differ from transformers' GGUF conversion)")
    print(f"wrote {args.tokenizer_json}")


if __name__ == "__main__":
    main()
