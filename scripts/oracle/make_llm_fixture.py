#!/usr/bin/env python3
"""Golden values for the LLM from Hugging Face transformers, the independent reference.

Writes:
  tests/fixtures/llm_golden.json      SmolLM2-135M-Instruct (GGUF dequantized by transformers, float32)
  tests/fixtures/tiny-llama/          a tiny random Llama (HF folder) + its golden logits
  tests/fixtures/tiny-qwen2/          a tiny random Qwen2 (q/k/v bias) + its golden logits

Run after scripts/fetch-assets.sh, in a venv with: torch transformers gguf accelerate
  python scripts/oracle/make_llm_fixture.py
"""
import hashlib
import json
import os
import sys

import torch
from transformers import (AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ASSETS = os.environ.get("RECLORA_ASSETS", os.path.join(ROOT, "assets"))
GGUF_DIR = os.path.join(ASSETS, "smollm2-135m")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

torch.set_grad_enabled(False)
torch.manual_seed(0)

RELLA_PROMPT = (
    "The user is a female. Her job is programmer. Her age is 25-34.\n"
    "The user watched the following movies in order in the past, and rated them:\n"
    "['0. Toy Story (1995) (5 stars)', '1. Heat (1995) (4 stars)', "
    "\"2. Schindler's List (1993) (5 stars)\", '3. Misérables, Les (1995) (3 stars)', "
    "'4. Jumanji (1995) (2 stars)']\n"
    "Based on the movies the user has watched, deduce if the user will like the movie "
    "***GoldenEye (1995)***.\n"
    "Note that more stars the user rated the movie, the higher the user liked the movie.\n"
    "You should ONLY tell me yes or no."
)

PROMPTS = [
    {"name": "chatml_question", "chat": True,
     "prompt": "Is Paris the capital of France? Answer yes or no."},
    {"name": "rella_movielens_chat", "chat": True, "prompt": RELLA_PROMPT},
    {"name": "rella_movielens_plain", "chat": False, "prompt": RELLA_PROMPT},
    {"name": "plain_sky", "chat": False, "prompt": "Question: Is the sky green on a clear day?"},
]

NLL_TEXT = (
    "The city of Rome was founded, according to legend, by Romulus in 753 BC. Over the "
    "following centuries it grew from a small settlement on the banks of the Tiber into the "
    "capital of an empire that stretched from Britain to Egypt. Its roads, aqueducts and laws "
    "shaped much of the world that came after it."
)


def render(prompt, chat):
    if chat:
        return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
    return f"{prompt}\nAnswer:"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ids_of(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def last_logits(model, ids):
    out = model(torch.tensor([ids]))
    return out.logits[0, -1].double()


def smollm2_pre_tokenizer():
    """SmolLM2's own pre-tokenizer (its tokenizer.json): digits split, then byte-level.

    transformers' GGUF converter has no rule for tokenizer.ggml.pre = "smollm" and falls back
    to plain byte-level, which differs when a space precedes a digit.
    """
    from tokenizers import pre_tokenizers
    return pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])


def smollm_fixture():
    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_NAME)
    tok.backend_tokenizer.pre_tokenizer = smollm2_pre_tokenizer()
    model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_NAME, dtype=torch.float32)
    model.eval()
    answer = {True: ("Yes", "No"), False: (" Yes", " No")}
    answer_ids = {k: (ids_of(tok, y), ids_of(tok, n)) for k, (y, n) in answer.items()}
    for k, (y, n) in answer_ids.items():
        assert len(y) == 1 and len(n) == 1, (k, y, n)
    fixed = sorted({0, 1, 2, 3, 13, 198, 330, 1000, 2000, 4093, 5000, 9230, 10000, 10539,
                    12000, 20000, 25000, 30000, 35000, 40000, 45000, 49151,
                    answer_ids[True][1][0], answer_ids[False][1][0]})
    prompts = []
    for spec in PROMPTS:
        text = render(spec["prompt"], spec["chat"])
        ids = ids_of(tok, text)
        logits = last_logits(model, ids)
        yes, no = answer_ids[spec["chat"]]
        ly, ln = logits[yes[0]].item(), logits[no[0]].item()
        p_yes = torch.softmax(torch.tensor([ly, ln], dtype=torch.float64), 0)[0].item()
        prompts.append({**spec, "text": text, "input_ids": ids,
                        "answer_ids": [yes[0], no[0]],
                        "logits": [logits[i].item() for i in fixed],
                        "logit_yes": ly, "logit_no": ln, "p_yes": p_yes})
        print(spec["name"], len(ids), "tokens, p_yes", p_yes, file=sys.stderr)

    nll_ids = ids_of(tok, NLL_TEXT)
    t = torch.tensor([nll_ids])
    nll = model(t, labels=t).loss.item()

    gen_prompt = "The capital of Italy is"
    gen_ids = ids_of(tok, gen_prompt)
    out = model.generate(torch.tensor([gen_ids]), max_new_tokens=4, do_sample=False)
    greedy = out[0, len(gen_ids):].tolist()

    short = "The capital of Italy is"
    short_ids = ids_of(tok, short)
    short_logits = last_logits(model, short_ids)
    return {
        "model": GGUF_NAME,
        "sha256": sha256(os.path.join(GGUF_DIR, GGUF_NAME)),
        "reference": "transformers %s, torch %s, float32, GGUF dequantized by transformers" % (
            __import__("transformers").__version__, torch.__version__),
        "token_ids": fixed,
        "prompts": prompts,
        "nll": {"text": NLL_TEXT, "input_ids": nll_ids, "mean_nll": nll},
        "generate": {"prompt": gen_prompt, "input_ids": gen_ids, "greedy_ids": greedy,
                     "greedy_text": tok.decode(greedy)},
        "short": {"text": short, "input_ids": short_ids,
                  "logits": [short_logits[i].item() for i in fixed]},
    }


def randomize(model, seed):
    gen = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
        else:
            p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def tiny_fixture(kind):
    common = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
                  max_position_embeddings=128, tie_word_embeddings=False)
    if kind == "tiny-llama":
        model = LlamaForCausalLM(LlamaConfig(rope_theta=10000.0, **common))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(rope_theta=1000000.0, **common))
    randomize(model, 1234 if kind == "tiny-llama" else 4321)
    model.eval()
    folder = os.path.join(FIXTURES, kind)
    model.save_pretrained(folder, safe_serialization=True)
    gen = torch.Generator().manual_seed(7)
    rows = [torch.randint(0, 97, (n,), generator=gen).tolist() for n in (11, 4, 7)]
    golden = {"rows": rows,
              "last_logits": [last_logits(model, r).tolist() for r in rows]}
    t = torch.tensor([rows[0]])
    golden["nll_row0"] = model(t, labels=t).loss.item()
    with open(os.path.join(folder, "golden.json"), "w") as f:
        json.dump(golden, f)
    for extra in ("generation_config.json",):
        path = os.path.join(folder, extra)
        if os.path.exists(path):
            os.remove(path)


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    if "--smollm-only" not in sys.argv:
        tiny_fixture("tiny-llama")
        tiny_fixture("tiny-qwen2")
    golden = smollm_fixture()
    with open(os.path.join(FIXTURES, "llm_golden.json"), "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
    print("nll", golden["nll"]["mean_nll"], "generate", repr(golden["generate"]["greedy_text"]),
          file=sys.stderr)


if __name__ == "__main__":
    main()
