"""What stopping at the token budget costs and saves when an 8B booster writes for a 77-token CLIP encoder.

Llama-3-8B with random weights (bf16; the word-level tokenizer of `refine_then_render.py`: one token per word)
answers B prompts greedily with at most 250 new tokens (ids without a word are suppressed, so every token decodes to
a word), three ways, on the same inputs:

- `plain`: no stopping criterion (random weights rarely end an answer, so it runs to the limit);
- `criterion, never stops`: `t2i.budget_stop` with a budget no answer reaches: every `--every` tokens it decodes
  every answer and counts it with the real CLIP tokenizer, and never stops one. Against `plain` this is the
  criterion's overhead per generation step;
- `stop at sd-1.5's 77`: the same criterion with SD 1.5's budget (what `PromptBooster.refine(target='sd-1.5')` runs):
  each answer stops once its text no longer fits; the batch ends when every answer has stopped.

After an untimed warm-up at each batch size, each variant runs `--repeats` times and the fastest run is kept.
Reports seconds, generation steps (the longest answer, in words: one token each), milliseconds per step, and how
many answers the criterion stopped.
Needs a CUDA GPU and the CLIP tokenizer asset in PAV_CACHE (`pav assets --prepare clip-tokenizer`).

    python benchmarks/budget_stop.py [--batch 8 64]
"""
import argparse
import time

import torch

from prompt_a_video.core import format_table


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 64], help="prompts per generate call")
    ap.add_argument("--max-new-tokens", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per variant (the fastest is kept)")
    ap.add_argument("--every", type=int, nargs="+", default=[1, 4], help="check intervals of the criterion, in new tokens")
    a = ap.parse_args()
    if not torch.cuda.is_available(): raise SystemExit("this benchmark needs a CUDA GPU")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from refine_then_render import LLAMA3_8B, word_tokenizer
    from prompt_a_video.assets import clip_tokenizer_dir
    from prompt_a_video.booster import BoosterPreset, PromptBooster
    from prompt_a_video.evaluation import prompt_set
    from prompt_a_video.budget import TokenBudget, budget_stop, token_budget
    from prompt_a_video.video import TextEncoder
    with torch.device("cuda"):
        torch.set_default_dtype(torch.bfloat16)
        model = LlamaForCausalLM(LlamaConfig(**LLAMA3_8B)).eval()
        torch.set_default_dtype(torch.float32)
    tok = word_tokenizer(LLAMA3_8B["vocab_size"])
    n_words = max(i for i in tok.get_vocab().values() if i < 128000) + 1
    model.generation_config.suppress_tokens = list(range(n_words, 128000))   # only ids that decode to words (same cost in every row)
    booster = PromptBooster(model, tok, BoosterPreset("random Llama-3-8B", None, "paper", max_new_tokens=a.max_new_tokens))
    sd = token_budget("sd-1.5")
    never = TokenBudget([TextEncoder(name="CLIP-L", tokenizer="tokenizer", max_tokens=10**9)], {"CLIP-L": AutoTokenizer.from_pretrained(clip_tokenizer_dir())})
    print(f"{torch.cuda.get_device_name()} | torch {torch.__version__} | Llama-3-8B random weights, bf16, greedy, "
          f"at most {a.max_new_tokens} new tokens | {sd}", flush=True)
    pool = prompt_set("paper-vbench-100")
    rows = []
    for b in a.batch:
        texts = booster._inputs((pool * (b // len(pool) + 1))[:b])
        booster._generate_ends(texts, 1, 0.0, 0, a.max_new_tokens)             # warm-up at this batch's shapes (untimed)
        best = {}
        for rep in range(a.repeats):                                          # each variant's fastest of the repeats
            for name, budget, k in [("plain", None, 0)] + [(f"{v}, every {k}", bud, k) for k in a.every
                                                           for v, bud in (("criterion, never stops", never),
                                                                          ("stop at sd-1.5's 77", sd))]:
                stop = budget_stop(budget, booster.tok, [""] * b, every=k) if budget else None
                torch.cuda.synchronize(); t0 = time.perf_counter()
                out = booster._generate_ends(texts, 1, 0.0, 0, a.max_new_tokens, stop)
                torch.cuda.synchronize(); secs = time.perf_counter() - t0
                if name not in best or secs < best[name][0]:
                    steps = max(len(tok(t, add_special_tokens=False).input_ids) for (t, _), in out)
                    stopped = int(stop.stopped.sum()) if stop is not None and stop.stopped is not None else 0
                    best[name] = (secs, steps, stopped)
        base = None
        for name, (secs, steps, stopped) in best.items():
            ms = 1000 * secs / max(steps, 1)
            base = base or ms
            rows.append({"batch": b, "variant": name, "seconds": round(secs, 2), "steps": steps, "ms/step": round(ms, 1),
                         "ms/step vs plain": round(ms / base, 3), "answers stopped at the budget": f"{stopped}/{b}"})
            print(rows[-1], flush=True)
    print(format_table(rows))


if __name__ == "__main__":
    main()
