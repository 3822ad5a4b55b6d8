"""The offline boosters on 100 VBench prompts and 30 everyday ones, with and without the drift guard.

Usage: python benchmarks/booster_default.py [--limit N] [--device auto] [--cache FILE] [--out FILE] [--score-only]
(writes its table to stdout; the kept copy is benchmarks/booster_default.out.txt). Prompt sets:
`prompt_set("paper-vbench-100")` (the paper's VBench test prompts) and `benchmarks/guard_prompts.txt` (30 everyday
prompts written for the guard, none from VBench). Boosters, all SmolLM2-135M-Instruct from the offline assets:
  zero-shot plain  `ChatRewriteBooster` over `LocalChat`, `REWRITE_INSTRUCTION`, greedy, 160 new tokens
  smollm2          the default before `smollm2-video`: the paper template, prefilled, greedy, 90 new tokens
  smollm2-video    the default: the `examples` template, prefilled, 100 new tokens, the greedy answer and 3 samples at
                   temperature 0.7 (drawn once, as `_rerank` draws them), `pick_rewrite` choosing among them and their
                   trimmed variants (`rewrite_variants`); also shown with the rerank it had before (`choose_candidate`,
                   'rank', on the 4 whole candidates) and with the strict guard (the best of the 4 whole candidates
                   passing every check, else the prompt as given).
Every output is checked by `guard_records`: kept every subject, added no subject (a being the prompt did not
name), MiniLM similarity to the prompt (`prompt_fidelity`) and words of visual detail (`visual_words`).
Generations are kept in `--cache` (JSON, one entry per booster and prompt, written after every batch of 8), so a
run stopped part-way resumes, and `--score-only` tables whatever is there: each row counts the prompts its booster
has done (its n).
"""
import argparse, json, os, platform, sys, time
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
ap.add_argument("--cache", default=None, help="JSON file keeping every generation (resumes a stopped run)")
ap.add_argument("--score-only", action="store_true", help="table what --cache holds, generating nothing")
ap.add_argument("--out", default=None, help="also rewrite this file with the table after every row (a partial run leaves a partial table)")
args = ap.parse_args()
sets = {"paper-vbench-100": prompt_set("paper-vbench-100")[:args.limit],
        "guard_prompts.txt (30, ours)": [l.strip() for l in (Path(__file__).parent / "guard_prompts.txt").read_text().splitlines() if l.strip()][:args.limit]}
cache_file = Path(args.cache) if args.cache else None
cache = json.loads(cache_file.read_text()) if cache_file and cache_file.is_file() else {}
secs = cache.setdefault("_seconds", {})      # booster -> prompt -> seconds of its generations (its batch's share)
dev = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else f"CPU ({os.cpu_count()} cores, shared)"

# (booster, what to generate for a batch of prompts): candidates per prompt, the booster's own output first
if not args.score_only:
    today = PromptBooster.load("smollm2", device=args.device)
    video = PromptBooster(today.model, today.tok, BOOSTERS["smollm2-video"], name="smollm2-video")
    plain = ChatRewriteBooster(LocalChat(device=args.device, temperature=0.0, max_new_tokens=160))
    jobs = {"smollm2-video": lambda ps: guard_candidates(video, ps, 4, temperature=0.7, seed=0),   # the candidates `_rerank` draws
            "smollm2": lambda ps: guard_candidates(today, ps, 1, seed=0),
            "plain": lambda ps: plain.refine(ps)}
    for set_name, prompts in sets.items():
        for name, gen in jobs.items():
            got = cache.setdefault(name, {})
            todo = [p for p in prompts if p not in got]
            for s in range(0, len(todo), 8):       # batches of 8, as `refine` batches
                t0 = time.perf_counter()
                out = gen(todo[s:s + 8])
                dt = (time.perf_counter() - t0) / len(out)
                got.update(zip(todo[s:s + 8], out)); secs.setdefault(name, {}).update({p: dt for p in todo[s:s + 8]})
                if cache_file: cache_file.write_text(json.dumps(cache, indent=1))
                print(f"{set_name} {name}: {len([p for p in prompts if p in got])}/{len(prompts)} ({dt:.1f} s a prompt)",
                      file=sys.stderr, flush=True)


memo_file = cache_file.with_suffix(".scores.json") if cache_file else None   # checks and choices already made
memo = json.loads(memo_file.read_text()) if memo_file and memo_file.is_file() else {}


def records(p, outs):
    "`guard_records(p, outs)`, each output checked once (kept in the memo file)."
    got = memo.setdefault("records", {})
    new = [o for o in dict.fromkeys(outs) if f"{p}\n{o}" not in got]
    if new: got.update({f"{p}\n{o}": r for o, r in zip(new, guard_records(p, new))})
    return [got[f"{p}\n{o}"] for o in outs]


def picked(p, cands):
    "`pick_rewrite(p, cands)`'s choice, made once (kept in the memo file)."
    got, key = memo.setdefault("picked", {}), json.dumps([p, cands])
    if key not in got: got[key] = pick_rewrite(p, cands)[0]
    return got[key]


def row(set_name, name, prompts, out, s, fallback=None):
    "One line of the table: the guard's checks of each output, summed."
    recs = [records(p, [o])[0] for p, o in zip(prompts, out)]
    n = len(prompts)
    pct = lambda xs: round(100 * sum(xs) / n, 1)
    return {"prompts": set_name, "booster": name, "n": n, "sim>0.6 %": pct(r["fidelity"] > 0.6 for r in recs),
            "keeps every subject %": pct(r["passed"]["keeps_subjects"] for r in recs),
            "adds no subject %": pct(r["passed"]["adds_no_subject"] for r in recs),
            "passes all %": pct(all(r["passed"].values()) for r in recs),
            "mean sim": round(sum(r["fidelity"] for r in recs) / n, 3),
            "visual words": round(sum(r["visual_words"] for r in recs) / n, 1),
            "words": round(sum(len(o.split()) for o in out) / n, 1), "fell back %": pct(fallback) if fallback else 0.0,
            "s/prompt": round(s, 1)}


from prompt_a_video.booster import pick_rewrite   # imported here: a generation run may start before it changes
rows = []
for set_name, prompts in sets.items():
    done = {b: [p for p in prompts if p in cache.get(b, {})] for b in ("plain", "smollm2", "smollm2-video")}
    def mean_s(b):
        ts = [secs[b][p] for p in done[b] if p in secs.get(b, {})]
        return sum(ts) / len(ts) if ts else float("nan")
    if done["plain"]: rows.append(row(set_name, "zero-shot plain", done["plain"], [cache["plain"][p][0] for p in done["plain"]], mean_s("plain")))
    if done["smollm2"]:
        rows.append(row(set_name, "smollm2 (the earlier default)", done["smollm2"], [cache["smollm2"][p][0] for p in done["smollm2"]],
                        mean_s("smollm2")))
    ps = done["smollm2-video"]
    if not ps: continue
    cands = [cache["smollm2-video"][p] for p in ps]
    recs = [records(p, c) for p, c in zip(ps, cands)]
    rows.append(row(set_name, "smollm2-video, earlier rerank", ps, [c[choose_candidate(r, "rank")] for c, r in zip(cands, recs)],
                    mean_s("smollm2-video")))
    chosen = [picked(p, c) for p, c in zip(ps, cands)]
    rows.append(row(set_name, "smollm2-video (default), pick_rewrite", ps, chosen, mean_s("smollm2-video"),
                    [o == p.rstrip(".") + "." for p, o in zip(ps, chosen)]))
    strict = [choose_candidate(r, "strict") for r in recs]
    rows.append(row(set_name, "smollm2-video + strict guard", ps, [p if i is None else c[i] for p, c, i in zip(ps, cands, strict)],
                    mean_s("smollm2-video"), [i is None for i in strict]))
    print(rows[-1], file=sys.stderr, flush=True)
    if memo_file: memo_file.write_text(json.dumps(memo))

full = len(rows) == 5 * len(sets) and all(r["n"] == len(sets[r["prompts"]]) for r in rows)
head = (f"SmolLM2-135M-Instruct boosters on {dev}, torch {torch.__version__}, python {platform.python_version()}; "
        + ", ".join(f"{k}: {len(v)} prompts" for k, v in sets.items()) + ("" if full else "; PARTIAL: n is the prompts done") + "\n"
        "sim: MiniLM cosine to the user's prompt; visual words: words of sentences naming only what a camera sees, less the "
        "prompt's own; strict guard: the best of the same 4 candidates passing every check, else the prompt as given "
        "(fell back; pick_rewrite: the prompt alone); s/prompt: generation seconds per prompt (smollm2-video: its 4 candidates)\n")
text = head + format_table(rows)
if args.out: Path(args.out).write_text(text + "\n")
print(text)
