"""The offline boosters on 100 VBench prompts and 30 everyday ones, with and without the drift guard.

Usage: python benchmarks/booster_default.py [--limit N] [--device auto] [--out FILE]   (writes its table to stdout;
the kept copy is benchmarks/booster_default.out.txt). Prompt sets: `prompt_set("paper-vbench-100")` (the
paper's VBench test prompts) and `benchmarks/guard_prompts.txt` (30 everyday prompts written for the guard,
none from VBench). Boosters, all SmolLM2-135M-Instruct from the offline assets:
  zero-shot plain  `ChatRewriteBooster` over `LocalChat`, `REWRITE_INSTRUCTION`, greedy, 160 new tokens
  smollm2          today's default until this benchmark: the paper template, prefilled, greedy, 90 new tokens
  smollm2-video    the new default: the `examples` template, prefilled, 100 new tokens, reranked (greedy + 3 samples)
and the guard on the last two: before (the booster's output, checked as `--guard check` does) and after
(`strict`: among the greedy output and 3 samples at temperature 0.7, the best passing every check).
Every output is checked by `guard_records`: kept every subject, added no subject (a being the prompt did not
name), MiniLM similarity to the prompt (`prompt_fidelity`) and words of visual detail (`visual_words`).
"""
import argparse, os, platform, sys, time
from pathlib import Path

import torch

from prompt_a_video.booster import (BOOSTERS, ChatRewriteBooster, PromptBooster, choose_candidate, guard_candidates,
                                    guard_records)
from prompt_a_video.core import format_table
from prompt_a_video.evaluation import prompt_set
from prompt_a_video.llm import LocalChat

ap = argparse.ArgumentParser()
ap.add_argument("--limit", type=int, default=None)
ap.add_argument("--device", default="auto")
ap.add_argument("--out", default=None, help="also rewrite this file with the table after every row (a partial run leaves a partial table)")
args = ap.parse_args()
sets = {"paper-vbench-100": prompt_set("paper-vbench-100")[:args.limit],
        "guard_prompts.txt (30, ours)": [l.strip() for l in (Path(__file__).parent / "guard_prompts.txt").read_text().splitlines() if l.strip()][:args.limit]}

today = PromptBooster.load("smollm2", device=args.device)
video = PromptBooster(today.model, today.tok, BOOSTERS["smollm2-video"], name="smollm2-video")
plain = ChatRewriteBooster(LocalChat(device=args.device, temperature=0.0, max_new_tokens=160))


def row(set_name, name, prompts, out, secs, fallback=0):
    "One line of the table: the guard's checks of each output, summed."
    recs = [guard_records(p, [o])[0] for p, o in zip(prompts, out)]
    n = len(prompts)
    pct = lambda xs: round(100 * sum(xs) / n, 1)
    return {"prompts": set_name, "booster": name, "n": n, "sim>0.6 %": pct(r["fidelity"] > 0.6 for r in recs),
            "keeps every subject %": pct(r["passed"]["keeps_subjects"] for r in recs),
            "adds no subject %": pct(r["passed"]["adds_no_subject"] for r in recs),
            "passes all %": pct(all(r["passed"].values()) for r in recs),
            "visual words": round(sum(r["visual_words"] for r in recs) / n, 1),
            "words": round(sum(len(o.split()) for o in out) / n, 1), "fell back %": pct([fallback]) if fallback else 0.0,
            "s": round(secs, 1)}


rows = []
dev = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else f"CPU ({os.cpu_count()} cores, shared)"


def report(done: bool) -> str:
    "The table so far, with what it was measured on."
    head = (f"SmolLM2-135M-Instruct boosters on {dev}, torch {torch.__version__}, python {platform.python_version()}"
            f"{'' if args.limit is None else f'; first {args.limit} prompts of each set'}{'' if done else '; PARTIAL: still running'}\n"
            "sim: MiniLM cosine to the user's prompt; visual words: words of sentences naming only what a camera sees, less the "
            "prompt's own; strict guard: the best of the same 4 candidates passing every check, else the prompt as given "
            "(fell back); s: seconds (smollm2's row: a quarter of its 4 candidates' time)\n")
    text = head + format_table(rows)
    if args.out: Path(args.out).write_text(text + "\n")
    return text


for set_name, prompts in sets.items():
    for name, b in (("smollm2 (today's default)", today), ("smollm2-video (new default)", video)):
        t0 = time.perf_counter()
        cands = guard_candidates(b, prompts, 4, temperature=0.7, seed=0)   # the candidates `_rerank` draws, drawn once
        secs = time.perf_counter() - t0
        recs = [guard_records(p, c) for p, c in zip(prompts, cands)]
        first = [c[0] for c in cands]
        ranked = [c[choose_candidate(r, "rank")] for c, r in zip(cands, recs)]
        strict = [choose_candidate(r, "strict") for r in recs]
        if b is today: rows.append(row(set_name, name, prompts, first, secs / 4))
        else: rows.append(row(set_name, name + ", reranked", prompts, ranked, secs))
        rows.append(row(set_name, name.split(" (")[0] + " + strict guard", prompts,
                        [p if i is None else c[i] for p, c, i in zip(prompts, cands, strict)], secs, sum(i is None for i in strict)))
        print(rows[-2:], file=sys.stderr, flush=True); report(False)
        if b is video:
            for p, o in list(zip(prompts, ranked))[:2]: print(f"  {p!r} -> {o!r}", file=sys.stderr)
    t0 = time.perf_counter()
    rows.insert(len(rows) - 4, row(set_name, "zero-shot plain", prompts, [r[0] for r in plain.refine(prompts)], time.perf_counter() - t0))
    print(rows[-5], file=sys.stderr, flush=True); report(False)

print(report(True))
