"""Booster training speed and memory: Llama-3-8B (random weights) + LoRA r16/alpha16 on all seven projections,
trained with trl's `SFTTrainer` and `DPOTrainer` on synthetic token ids with the length distribution of booster data.

Data (fixed seed, the same rows for every variant): prompt = Llama-3 user header (5 tokens) + the released
TASK_PROMPT (86 words) + a VBench prompt of 5-15 words + "\\nNew prompt:\\n" (4) + the assistant header (5);
completion = 60-130 words (+ EOS); words count 1.33 tokens each (no Llama-3 tokenizer offline, so ids are random
in the 128,256-token vocabulary and a word-level tokenizer maps "t<id>" to <id>). DPO rows: the same prompt,
chosen and rejected of 60-130 words each.

SFT: the paper's batch, 16 sequences per optimizer step, as micro-batch x accumulation. The baseline is trl's
defaults (right padding, gradient checkpointing on, bf16, the whole batch in one forward). `ckptN` variants checkpoint
only the first N of the 32 decoder layers, through the package's `prompt_a_video.sft.partial_checkpointing` callback
(the recipe field `checkpoint_layers`; run from the repository, which the script puts on `sys.path`). DPO: the paper's batch,
32 triples per step (beta 0.1, max_length 1024), with the reference log-probs computed per step or once before
training (`precompute_ref_log_probs`). Each variant runs in its own process (liger patches modules process-wide):
a few warm-up optimizer steps, then timed steps (CUDA synchronised at each step end). Tokens/s counts non-pad tokens
(prompt + completion; DPO: both sequences of a pair). Peak memory is `torch.cuda.max_memory_allocated` over the
whole process (weights included). Padding-free variants first check, on a small fp32 model, that the attention
keeps packed sequences apart (packed logits = per-sequence logits); a variant that fails the check is not timed.
DPO variants that precompute also time trl's one-off costs: the reference forward pass over the data and the hash
of the reference weights trl takes as a cache fingerprint. Speed-ups are against the median of the reference rows
(`baseline`, `dpo_ref_per_step`) of the same run; the first process on a fresh machine can run slow, hence the
repeated baseline in the main comparison.

    python benchmarks/booster_training.py                  # the main comparison, real size (needs a CUDA GPU)
    python benchmarks/booster_training.py --variants sft   # every SFT variant (--variants dpo: every DPO one)
    python benchmarks/booster_training.py --tiny --variants baseline sft_pd4_pf_sdpa dpo_precompute   # CPU smoke test
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

LLAMA3_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192,
                 rms_norm_eps=1e-5, tie_word_embeddings=False)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=1024, max_position_embeddings=2048, rms_norm_eps=1e-5, tie_word_embeddings=False)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

TEMPLATE_WORDS = 86          # len(prompt_a_video.booster.TASK_PROMPT.split()): the released instruction
TOKENS_PER_WORD = 1.33       # English words -> Llama-3 tokens (estimate)
USER_HEADER = 5              # <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n
NEW_PROMPT = 4               # "\nNew prompt:\n"
ASSISTANT_HEADER = 5         # <|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
PROMPT_WORDS = (5, 15)       # a VBench prompt
COMPLETION_WORDS = (60, 130)  # a refined prompt
SEED = 0
GB = 1e9

# name: (kind, micro-batch, gradient checkpointing (True: every layer; an int N: the first N of 32 decoder layers, the
#        package's `SFTRecipe.checkpoint_layers`), liger, padding-free attention or None, precompute ref)
VARIANTS = {
    "baseline":            ("sft", 16, True, False, None, None),     # trl defaults
    "sft_pd4":             ("sft", 4, False, False, None, None),
    "sft_pd8":             ("sft", 8, False, False, None, None),
    "sft_pd16":            ("sft", 16, False, False, None, None),
    "sft_pd4_liger":       ("sft", 4, False, True, None, None),
    "sft_pd8_liger":       ("sft", 8, False, True, None, None),
    "sft_pd4_pf_sdpa":     ("sft", 4, False, False, "sdpa", None),
    "sft_pd8_pf_sdpa":     ("sft", 8, False, False, "sdpa", None),
    "sft_pd8_liger_pf_sdpa": ("sft", 8, False, True, "sdpa", None),
    "sft_pd8_pf_flex":     ("sft", 8, False, False, "flex_attention", None),
    "sft_pd8_liger_pf_flex": ("sft", 8, False, True, "flex_attention", None),
    "sft_pd16_liger_pf_flex": ("sft", 16, False, True, "flex_attention", None),
    "sft_pd16_ckpt_liger_pf_flex": ("sft", 16, True, True, "flex_attention", None),
    "sft_pd16_ckpt4_liger_pf_flex": ("sft", 16, 4, True, "flex_attention", None),
    "sft_pd16_ckpt8_liger_pf_flex": ("sft", 16, 8, True, "flex_attention", None),
    "dpo_ref_per_step":    ("dpo", 4, True, False, None, False),     # trl defaults at the paper's 4 x 8
    "dpo_precompute":      ("dpo", 4, True, False, None, True),
    "dpo_precompute_pd2":  ("dpo", 2, False, False, None, True),
    "dpo_precompute_pd4":  ("dpo", 4, False, False, None, True),
    "dpo_precompute_pd2_liger": ("dpo", 2, False, True, None, True),
    "dpo_precompute_pd4_liger": ("dpo", 4, False, True, None, True),
}
SFT_ORDER = ["baseline", "sft_pd4", "sft_pd8", "sft_pd4_liger", "sft_pd8_liger", "sft_pd4_pf_sdpa", "sft_pd8_pf_sdpa",
             "sft_pd8_liger_pf_sdpa", "sft_pd8_pf_flex", "sft_pd8_liger_pf_flex", "sft_pd16", "sft_pd16_liger_pf_flex",
             "sft_pd16_ckpt4_liger_pf_flex", "sft_pd16_ckpt8_liger_pf_flex", "sft_pd16_ckpt_liger_pf_flex"]
DPO_ORDER = ["dpo_ref_per_step", "dpo_precompute", "dpo_precompute_pd2", "dpo_precompute_pd4", "dpo_precompute_pd2_liger",
             "dpo_precompute_pd4_liger"]
MAIN_ORDER = ["baseline", "baseline", "sft_pd8_liger_pf_flex", "sft_pd16_liger_pf_flex", "sft_pd16_ckpt4_liger_pf_flex",
              "sft_pd16_ckpt8_liger_pf_flex", "sft_pd16_ckpt_liger_pf_flex", "dpo_ref_per_step", "dpo_precompute_pd4",
              "baseline"]   # baseline thrice: the median is the reference
BATCH = {"sft": 16, "dpo": 32}   # the paper's batches: SFT 16 sequences, DPO 32 triples per optimizer step


def spec_row(name: str) -> dict:
    kind, pd, ckpt, liger, pf, precompute = VARIANTS[name]
    return {"variant": name, "kind": kind, "micro_batch": pd, "accumulation": BATCH[kind] // pd, "checkpointing": ckpt,
            "liger": liger, "padding_free": pf or "", "precompute_ref": precompute}


# ---------------------------------------------------------------- data
def _words_to_tokens(w): return round(w * TOKENS_PER_WORD)

def sample_lengths(n: int, dpo: bool = False, seed: int = SEED) -> list[tuple]:
    "(prompt tokens, completion tokens[, rejected tokens]) for `n` rows; completions without the EOS trl appends."
    rng = random.Random(seed)
    template = _words_to_tokens(TEMPLATE_WORDS)
    out = []
    for _ in range(n):
        p = USER_HEADER + template + _words_to_tokens(rng.randint(*PROMPT_WORDS)) + NEW_PROMPT + ASSISTANT_HEADER
        c = _words_to_tokens(rng.randint(*COMPLETION_WORDS))
        out.append((p, c, _words_to_tokens(rng.randint(*COMPLETION_WORDS))) if dpo else (p, c))
    return out

def specials(vocab: int) -> dict:
    "Llama-3's special-token names at the top of the vocabulary (128000.. for the real one)."
    base = vocab - 256
    return {"<|begin_of_text|>": base, "<|end_of_text|>": base + 1, "<|start_header_id|>": base + 6,
            "<|end_header_id|>": base + 7, "<|eot_id|>": base + 9}

def make_tokenizer(vocab: int):
    "A word-level tokenizer: 't<id>' -> <id>, Llama-3's special tokens at their ids; EOS = PAD = <|eot_id|>."
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    sp = specials(vocab)
    vocab_map = {f"t{i}": i for i in range(vocab - 256)}
    vocab_map.update(sp)
    tk = Tokenizer(models.WordLevel(vocab=vocab_map, unk_token="<|end_of_text|>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                  pad_token="<|eot_id|>", unk_token="<|end_of_text|>",
                                  additional_special_tokens=list(sp))
    return tok

def make_rows(n: int, vocab: int, dpo: bool = False, seed: int = SEED) -> list[dict]:
    "Text rows (prompt/completion or prompt/chosen/rejected) of random token ids with the booster length distribution."
    rng = random.Random(seed + 1)
    sp = specials(vocab)
    hi = vocab - 257
    template = " ".join(f"t{rng.randint(0, hi)}" for _ in range(_words_to_tokens(TEMPLATE_WORDS)))  # one fixed instruction
    def words(k): return " ".join(f"t{rng.randint(0, hi)}" for _ in range(k))
    user = f"<|begin_of_text|> <|start_header_id|> t{rng.randint(0, hi)} <|end_header_id|> t{rng.randint(0, hi)}"
    asst = f"<|eot_id|> <|start_header_id|> t{rng.randint(0, hi)} <|end_header_id|> t{rng.randint(0, hi)}"
    assert set(sp) >= {"<|begin_of_text|>", "<|eot_id|>"}
    rows = []
    for lens in sample_lengths(n, dpo, seed):
        short = lens[0] - USER_HEADER - len(template.split()) - NEW_PROMPT - ASSISTANT_HEADER
        prompt = f"{user} {template} {words(short)} {words(NEW_PROMPT)} {asst}"
        if dpo: rows.append({"prompt": prompt, "chosen": " " + words(lens[1]), "rejected": " " + words(lens[2])})
        else: rows.append({"prompt": prompt, "completion": " " + words(lens[1])})
    return rows


# ---------------------------------------------------------------- padding-free correctness
def packing_check(attn: str, device: str) -> float:
    """Relative error of packed (padding-free) logits against each sequence run alone, on a small fp32 Llama
    with attention `attn`; next to it the error of attention that crosses sequence boundaries (the failure mode).
    `use_cache=False` as in training: with a cache, transformers does not look for packed sequences."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling
    torch.manual_seed(0)
    cfg = LlamaConfig(**{**TINY, "num_hidden_layers": 2}, initializer_range=0.2)
    with torch.device(device):
        m = LlamaForCausalLM._from_config(cfg, attn_implementation=attn, dtype=torch.float32).eval()
    lens = [37, 64, 21, 50]
    seqs = [torch.randint(0, cfg.vocab_size - 256, (n,), device=device) for n in lens]
    with torch.no_grad():
        ref = torch.cat([m(input_ids=s[None], use_cache=False).logits[0] for s in seqs])
        # the batch exactly as trl's padding-free collator builds it (position_ids restart, cu_seq_lens, no mask)
        b = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)([{"input_ids": s.tolist()} for s in seqs])
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items() if k != "labels"}
        packed = m(**b, use_cache=False).logits[0]
        crossing = m(input_ids=b["input_ids"], position_ids=b["position_ids"], attention_mask=torch.ones_like(b["input_ids"]),
                     use_cache=False).logits[0]
    scale = ref.norm()
    return float((packed - ref).norm() / scale), float((crossing - ref).norm() / scale)


# ---------------------------------------------------------------- one variant (in its own process)
def run_one(name: str, a) -> dict:
    import torch
    import transformers
    import trl
    from peft import LoraConfig
    from transformers import LlamaConfig, LlamaForCausalLM, TrainerCallback
    from datasets import Dataset
    kind, pd, ckpt, liger, pf, precompute = VARIANTS[name]
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    batch = BATCH[kind]
    warmup = a.warmup if kind == "sft" else a.dpo_warmup
    steps = warmup + (a.steps if kind == "sft" else a.dpo_steps)
    row = spec_row(name)
    if pf:
        err, cross = packing_check(pf, device)
        row.update(pack_err=err, pack_err_crossing=cross)
        print(f"[{name}] padding-free check, {pf}: packed vs separate rel. error {err:.2e} "
              f"(attention across boundaries would give {cross:.2e})", flush=True)
        if not (err < 1e-2 and cross > 50 * err):
            row["status"] = f"skipped: {pf} does not keep packed sequences apart (error {err:.1e})"
            return row
    cfg = LlamaConfig(**(TINY if a.tiny else LLAMA3_8B))
    tok = make_tokenizer(cfg.vocab_size)
    cfg.pad_token_id = tok.pad_token_id
    cfg.eos_token_id = tok.eos_token_id
    cfg.bos_token_id = tok.bos_token_id
    torch.manual_seed(0)
    dtype = torch.bfloat16 if cuda else torch.float32
    with torch.device(device):
        model = LlamaForCausalLM._from_config(cfg, attn_implementation=pf or "sdpa", dtype=dtype)
    if cuda: torch.cuda.synchronize(); row["weights_gb"] = round(torch.cuda.memory_allocated() / GB, 2)
    lora = LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, target_modules=LORA_TARGETS, bias="none",
                      task_type="CAUSAL_LM")
    common = dict(output_dir=os.path.join(a.workdir, name), per_device_train_batch_size=pd,
                  gradient_accumulation_steps=batch // pd, gradient_checkpointing=bool(ckpt), bf16=cuda, use_cpu=not cuda,
                  max_steps=steps, logging_steps=1, save_strategy="no", report_to=[], seed=42, data_seed=42,
                  disable_tqdm=True, dataloader_num_workers=0, use_liger_kernel=liger)
    if kind == "sft":
        ds = Dataset.from_list(make_rows(steps * batch, cfg.vocab_size))
        args = trl.SFTConfig(**common, learning_rate=1e-4, lr_scheduler_type="constant", completion_only_loss=True,
                             padding_free=bool(pf), max_length=None if pf else 1024)
        make = lambda: trl.SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=lora)
    else:
        ds = Dataset.from_list(make_rows(steps * batch, cfg.vocab_size, dpo=True))
        args = trl.DPOConfig(**common, learning_rate=5e-5, lr_scheduler_type="linear", beta=0.1, loss_type=["sigmoid"],
                             max_length=1024, precompute_ref_log_probs=precompute, precompute_ref_batch_size=16)
        pre = trl.DPOTrainer._precompute_ref_logps
        def timed_pre(self, *x, **k):
            if cuda: torch.cuda.synchronize()
            t0 = time.perf_counter(); r = pre(self, *x, **k)
            if cuda: torch.cuda.synchronize()
            row["precompute_s"] = round(time.perf_counter() - t0, 2)
            return r
        trl.DPOTrainer._precompute_ref_logps = timed_pre
        import trl.trainer.dpo_trainer as dpo_mod
        hasher = dpo_mod.hash_module          # precompute fingerprints the reference weights (a host copy in fp32)
        def timed_hash(m):
            t0 = time.perf_counter(); r = hasher(m)
            row["ref_hash_s"] = round(time.perf_counter() - t0, 2)
            return r
        dpo_mod.hash_module = timed_hash
        make = lambda: trl.DPOTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=lora)
    t0 = time.perf_counter()
    trainer = make()
    row["trainer_init_s"] = round(time.perf_counter() - t0, 2)
    partial = None
    if ckpt is not True and ckpt:                 # checkpointing on the first `ckpt` layers only: the package's callback
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from prompt_a_video.sft import partial_checkpointing
        partial = partial_checkpointing(ckpt)
        trainer.add_callback(partial)
    counts = []                                   # (non-pad tokens, tokens incl. padding) of each micro-batch, in order
    collate = trainer.data_collator
    def counting(examples):
        b = collate(examples)
        ids = b["input_ids"]
        real = int(b["attention_mask"].sum()) if "attention_mask" in b else ids.numel()
        counts.append((real, ids.numel()))
        return b
    trainer.data_collator = counting
    ends = []
    class Timer(TrainerCallback):
        def on_train_begin(self, *x, **k):
            if cuda: torch.cuda.synchronize()
            ends.append(time.perf_counter())
        def on_step_end(self, *x, **k):
            if cuda: torch.cuda.synchronize()
            ends.append(time.perf_counter())
    trainer.add_callback(Timer())
    out = trainer.train()
    if partial is not None: row["checkpointed_layers"] = partial.checkpointed
    times = [b - a_ for a_, b in zip(ends, ends[1:])]
    acc = batch // pd
    per_step = [counts[i * acc:(i + 1) * acc] for i in range(len(times))]
    timed = times[warmup:]
    tok_real = sum(r for s in per_step[warmup:] for r, _ in s)
    tok_all = sum(t for s in per_step[warmup:] for _, t in s)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    row.update(status="ok", steps=len(times), timed_steps=len(timed), step_s=round(sum(timed) / len(timed), 3),
               step_s_max=round(max(timed), 3), tokens=tok_real, tokens_per_s=round(tok_real / sum(timed), 1),
               pad_share=round(1 - tok_real / tok_all, 3), first_loss=round(losses[0], 4) if losses else None,
               last_loss=round(losses[-1], 4) if losses else None, train_loss=round(out.training_loss, 4))
    if cuda:
        row["peak_gb"] = round(torch.cuda.max_memory_allocated() / GB, 2)
        row["peak_reserved_gb"] = round(torch.cuda.max_memory_reserved() / GB, 2)
    return row


def child(a):
    row = spec_row(a.one)
    try: row = run_one(a.one, a)
    except Exception as e:
        import torch
        oom = isinstance(e, torch.OutOfMemoryError)
        row["status"] = "OOM" if oom else f"error: {type(e).__name__}: {str(e)[:300]}"
        if torch.cuda.is_available(): row["peak_gb"] = round(torch.cuda.max_memory_allocated() / GB, 2)
        import traceback; traceback.print_exc()
    with open(a.results, "a") as f: f.write(json.dumps(row) + "\n")
    print(f"[{a.one}] {json.dumps(row)}", flush=True)


# ---------------------------------------------------------------- driver and table
def _ckpt(c) -> str: return "on" if c is True else (f"first {c} layers" if c else "off")

def table(rows: list[dict], limit_gb: float = 40.0) -> str:
    """Markdown table; speed-up = tokens/s over `baseline` (SFT) or `dpo_ref_per_step` (DPO) of the same rows
    (their median where the reference ran more than once)."""
    head = ["variant", "micro-batch x accum.", "grad. ckpt", "liger", "padding-free attn.", "ref log-probs",
            "step s", "tokens/s", "speed-up", "peak GB", "<= 40 GB", "precompute s", "ref hash s", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind, ref in (("sft", "baseline"), ("dpo", "dpo_ref_per_step")):
        refs = sorted(r["tokens_per_s"] for r in rows if r["variant"] == ref and r.get("status") == "ok")
        base = {"tokens_per_s": refs[len(refs) // 2]} if refs else None
        for r in rows:
            if r.get("kind") != kind: continue
            ok = r.get("status") == "ok"
            peak = r.get("peak_gb") if ok else None
            cells = [r["variant"], f"{r['micro_batch']} x {r['accumulation']}", _ckpt(r["checkpointing"]),
                     "yes" if r["liger"] else "no", r["padding_free"] or "-",
                     ("once" if r["precompute_ref"] else "every step") if kind == "dpo" else "-",
                     f"{r['step_s']:.3f}" if ok else "", f"{r['tokens_per_s']:,.0f}" if ok else "",
                     f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x" if ok and base else "",
                     f"{peak:.1f}" if peak is not None else "", ("yes" if peak <= limit_gb else "no") if peak is not None else "",
                     str(r.get("precompute_s", "")), str(r.get("ref_hash_s", "")), r.get("status", "")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=["main"],
                    help=f"any of {', '.join(VARIANTS)}; or 'main' (the default: the main comparison, about 9 minutes "
                         "on an H200), 'sft' / 'dpo' (all SFT / DPO variants)")
    ap.add_argument("--tiny", action="store_true", help="tiny Llama (CPU smoke test)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed optimizer steps")
    ap.add_argument("--steps", type=int, default=12, help="timed SFT optimizer steps")
    ap.add_argument("--dpo-warmup", type=int, default=2, help="untimed DPO optimizer steps")
    ap.add_argument("--dpo-steps", type=int, default=3, help="timed DPO optimizer steps")
    ap.add_argument("--results", default=None, help="JSON lines file the rows are appended to")
    ap.add_argument("--workdir", default="/tmp/pav_training_bench")
    ap.add_argument("--budget", type=float, default=560, help="seconds; no new variant starts after this")
    ap.add_argument("--timeout", type=float, default=300, help="seconds one variant may take")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one: return child(a)
    a.variants = [v for x in a.variants for v in {"main": MAIN_ORDER, "sft": SFT_ORDER, "dpo": DPO_ORDER}.get(x, [x])]
    for v in a.variants:
        if v not in VARIANTS: ap.error(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    import torch
    import transformers
    t0 = time.perf_counter()
    a.results = a.results or os.path.join(a.workdir, "results.jsonl")
    os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
    open(a.results, "w").close()
    vers = {"torch": torch.__version__, "transformers": transformers.__version__}
    for m in ("trl", "peft", "liger_kernel", "datasets"):
        try:
            from importlib.metadata import version
            vers[m] = version(m.replace("_", "-"))
        except Exception: vers[m] = "missing"
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {dev} | {time.strftime('%Y-%m-%d')} | " + ", ".join(f"{k} {v}" for k, v in vers.items()), flush=True)
    sl, dl = sample_lengths(16 * (a.warmup + a.steps)), sample_lengths(32 * (a.dpo_warmup + a.dpo_steps), dpo=True)
    print(f"SFT rows: prompt {min(p for p, _ in sl)}-{max(p for p, _ in sl)} tokens, completion "
          f"{min(c for _, c in sl)}-{max(c for _, c in sl)} (+EOS); mean sequence "
          f"{sum(p + c + 1 for p, c in sl) / len(sl):.0f} tokens; DPO pairs: mean sequence "
          f"{sum(p + c + 1 for p, c, _ in dl) / len(dl):.0f}", flush=True)
    base = [sys.executable, os.path.abspath(__file__), "--results", a.results, "--workdir", a.workdir,
            "--warmup", str(a.warmup), "--steps", str(a.steps), "--dpo-warmup", str(a.dpo_warmup),
            "--dpo-steps", str(a.dpo_steps)] + (["--tiny"] if a.tiny else [])
    for name in a.variants:
        left = a.budget - (time.perf_counter() - t0)
        if left < 20:
            with open(a.results, "a") as f:
                f.write(json.dumps({**spec_row(name), "status": "not run: time budget"}) + "\n")
            continue
        print(f"=== {name} ({time.perf_counter() - t0:.0f} s)", flush=True)
        try: subprocess.run(base + ["--one", name], timeout=min(a.timeout, left), check=False)
        except subprocess.TimeoutExpired:
            with open(a.results, "a") as f:
                f.write(json.dumps({**spec_row(name), "status": "timed out"}) + "\n")
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    print(f"\n{dev}, {time.strftime('%Y-%m-%d')}; total {time.perf_counter() - t0:.0f} s; "
          f"speed-up: tokens/s over `baseline` (SFT) or `dpo_ref_per_step` (DPO) of this run")
    print(table(rows))


if __name__ == "__main__":
    main()
