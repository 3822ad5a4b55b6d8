"""GRPO steps at real size on one GPU: a Llama-3-8B LoRA policy, CogVideoX-5B rendering its rewrites, the paper suite scoring them.

The package's `pav grpo` path (`prompt_a_video.grpo`: `grpo_dataset`, `grpo_args`, `BoosterReward` on a `LocalFarm`,
trl's `GRPOTrainer` with a new LoRA), with real-size architectures and random weights (bf16; no hub here):

- policy: Llama-3-8B (`refine_then_render.LLAMA3_8B`), a word-level tokenizer over all 128,256 ids (Llama-3's chat
  tokens at their ids; every sampled id decodes to a word, so every rewrite is rendered), LoRA r16 on all linear
  layers (the recipe's), `--group` rewrites of `--prompts-per-step` source prompts per step, up to 250 new tokens
  (random weights rarely sample the end token: every rewrite runs to the cap, the worst case);
- target: CogVideoX-5B at the `paper` setting (33 frames, 480x720, DPM, dynamic CFG) with `--steps` denoising
  steps; the suite: VideoScore on Idefics2-8B, CLIP ViT-L/14 aesthetic, MPS on CLIP ViT-H/14, one video a pass;
- the farm's memory plan `--memory-plan` (default `swap`: the policy holds 16 GB beside them).

Per step: seconds, of which rendering and scoring (the reward function's wall time, split by the farm), renders,
peak memory (allocated, and the device's used memory from NVML). Then the step at the released 50 denoising steps,
extrapolated from the measured render time per video at `--steps` and at 50 (one video rendered at 50 here), and
the GPU-hours of N steps beside those of the paper's DPO data (5 renders per sampled source prompt).

    python benchmarks/grpo_step.py --tokenizers DIR [--steps 6] [--max-steps 2] [--group 8]
    python benchmarks/grpo_step.py --tiny          # CPU smoke test: tiny policy, the sandbox target and suite
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from evolution_throughput import Busy, lm_tokenizer  # noqa: E402
from refine_then_render import CHAT, LLAMA3_8B  # noqa: E402

from prompt_a_video.core import format_table  # noqa: E402

GB = 1e9
PROMPTS = ["a corgi running on a beach at sunset", "a red kite flying over a green hill", "a sailboat crossing a bay at dawn",
           "a chef flipping pancakes in a busy kitchen"]


def full_word_tokenizer(vocab: int):
    "Word-level tokenizer over every id below `vocab`: the booster's words first, then 'w<id>' fillers; Llama-3's chat tokens at their ids."
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from prompt_a_video.booster import PAPER_INSTRUCTION, TASK_PROMPT
    sp = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006,
          "<|end_header_id|>": 128007, "<|eot_id|>": 128009}
    words = sorted({w for t in (TASK_PROMPT, PAPER_INSTRUCTION, "New prompt:", *PROMPTS) for w in t.split()})
    taken = set(sp.values())
    free = [i for i in range(vocab) if i not in taken]
    vm = {w: i for w, i in zip(words, free)}
    vm.update({f"w{i}": i for i in free[len(words):]})
    vm.update({k: v for k, v in sp.items() if v < vocab})
    tk = Tokenizer(models.WordLevel(vocab=vm, unk_token="<|end_of_text|>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                  pad_token="<|eot_id|>", unk_token="<|end_of_text|>",
                                  additional_special_tokens=[k for k, v in sp.items() if v < vocab])
    tok.chat_template = CHAT
    return tok


class StepClock:
    "A trl callback: wall time of each optimizer step."
    def __init__(self): self.steps, self.t0 = [], None
    def callback(self):
        from transformers import TrainerCallback
        clock = self
        class _C(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw): clock.t0 = time.perf_counter()
            def on_step_end(self, args, state, control, **kw):
                if torch.cuda.is_available(): torch.cuda.synchronize()
                clock.steps.append(time.perf_counter() - clock.t0)
        return _C()


def build(a):
    "(policy, tokenizer, generator, suite) at real size on the GPU, or tiny on the CPU with `--tiny`."
    from transformers import LlamaConfig, LlamaForCausalLM
    from prompt_a_video.video import VideoGenerator
    if a.tiny:
        from prompt_a_video.sandbox import sandbox_suite
        cfg = dict(LLAMA3_8B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
        policy = LlamaForCausalLM(LlamaConfig(**cfg))
        return policy, full_word_tokenizer(cfg["vocab_size"]), VideoGenerator.from_target("sandbox", cache=False), sandbox_suite(cache=False)
    from prompt_a_video.benchmarking import random_paper_suite, random_pipeline
    with torch.device("cuda"):
        torch.set_default_dtype(torch.bfloat16)
        policy = LlamaForCausalLM(LlamaConfig(**LLAMA3_8B))
        torch.set_default_dtype(torch.float32)
    gen = VideoGenerator.from_target("cogvideox-5b", pipeline=random_pipeline("cogvideox-5b"), cache=False, setting="paper", steps=a.steps)
    return policy, full_word_tokenizer(LLAMA3_8B["vocab_size"]), gen, random_paper_suite(lm_tokenizer(a.tokenizers), batch_size=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizers", default=".bench", help="folder holding (or to hold) standin-32000/, the stand-in for Idefics2's tokenizer")
    ap.add_argument("--steps", type=int, default=6, help="denoising steps of each render")
    ap.add_argument("--anchor-steps", type=int, default=50, help="denoising steps the step is extrapolated to")
    ap.add_argument("--max-steps", type=int, default=2, help="GRPO steps timed (the first includes warm-up)")
    ap.add_argument("--group", type=int, default=8, help="rewrites sampled per prompt")
    ap.add_argument("--prompts-per-step", type=int, default=1)
    ap.add_argument("--max-completion-length", type=int, default=250)
    ap.add_argument("--memory-plan", default="swap", choices=["resident", "swap", "offload"])
    ap.add_argument("--project-steps", type=int, default=200, help="steps of the projected run (GRPORecipe.paper_size's max_steps)")
    ap.add_argument("--dpo-sources", type=int, default=1000, help="sampled source prompts of the DPO data it is set beside (5 renders each)")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke test: tiny policy, sandbox target and suite")
    ap.add_argument("--json", default=None, help="append the rows to this JSON-lines file")
    a = ap.parse_args()
    if not a.tiny and not torch.cuda.is_available(): raise SystemExit("this benchmark needs a CUDA GPU (or --tiny)")
    from trl import GRPOTrainer
    from prompt_a_video.budget import TokenBudget
    from prompt_a_video.evolution import EvolutionConfig, ranking_weights
    from prompt_a_video.farm import LocalFarm
    from prompt_a_video.grpo import BoosterReward, GRPORecipe, grpo_args, grpo_dataset

    cuda = torch.cuda.is_available() and not a.tiny
    t0 = time.perf_counter()
    policy, tok, gen, suite = build(a)
    built = time.perf_counter() - t0
    recipe = GRPORecipe.preset("paper_size", max_steps=a.max_steps, prompts_per_step=a.prompts_per_step, group=a.group,
                                   max_completion_length=a.max_completion_length, save_steps=10**6, fidelity_min=-1.0)
    farm = LocalFarm(gen, suite, memory_plan=a.memory_plan if cuda else "resident")
    reward = BoosterReward(farm, ranking_weights(EvolutionConfig(), suite.dims), TokenBudget.for_target(gen.target, gen), recipe)
    calls = []
    inner = reward.__call__

    def timed(*args, **kw):
        t = time.perf_counter(); out = inner(*args, **kw)
        if cuda: torch.cuda.synchronize()
        calls.append(time.perf_counter() - t); return out
    timed.__name__ = reward.__name__
    clock = StepClock()
    prompts = (PROMPTS * (a.max_steps * a.prompts_per_step))[: a.max_steps * a.prompts_per_step]
    out = Path(tempfile.mkdtemp(prefix="grpo-step-"))
    args = grpo_args(recipe, out, progress=False)
    args.save_strategy = "no"
    trainer = GRPOTrainer(model=policy, reward_funcs=[timed], args=args, train_dataset=grpo_dataset(prompts),
                          processing_class=tok, peft_config=recipe.lora(), callbacks=[clock.callback()])
    if cuda: torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    with (Busy() if cuda else _Null()) as busy:
        trainer.train()
    name = "tiny (CPU smoke)" if a.tiny else torch.cuda.get_device_name()
    per = a.group * a.prompts_per_step
    rows = []
    seconds = farm.seconds
    for i, s in enumerate(clock.steps):
        rows.append({"step": i + 1, "seconds": round(s, 1), "reward fn s": round(calls[i], 1) if i < len(calls) else None,
                     "renders": per, "policy s (sample + loss + update)": round(s - calls[i], 1) if i < len(calls) else None})
    summary = {"device": name, "policy": "tiny Llama" if a.tiny else "Llama-3-8B + LoRA r16 (all linear)",
               "memory plan": farm.memory_plan, "denoising steps": a.steps, "group x prompts": f"{a.group} x {a.prompts_per_step}",
               "render s (all steps)": round(seconds["render"], 1), "score s (all steps)": round(seconds["score"], 1),
               "move s (all steps)": round(seconds["move"], 1), "models built s": round(built, 1),
               "renders (all steps)": len(reward.rows)}
    if cuda:
        summary.update({"peak allocated GB": round(torch.cuda.max_memory_allocated() / GB, 1),
                        "device used GB (NVML)": round(busy.used / GB, 1), "busy (NVML)": round(busy.share, 3)})
    print(f"{name} | torch {torch.__version__} | models built in {built:.0f} s")
    print(format_table(rows)); print(); print(format_table([summary]))
    if cuda:                                                                # one video at the released step count
        from prompt_a_video.video import VideoGenerator
        policy.to("cpu"); suite.to("cpu"); torch.cuda.empty_cache()
        g50 = VideoGenerator.from_target("cogvideox-5b", pipeline=gen.pipe, cache=False, setting="paper", steps=a.anchor_steps)
        g50.to("cuda"); torch.cuda.synchronize(); t = time.perf_counter()
        g50.generate(PROMPTS[0], seeds=3, progress=False); torch.cuda.synchronize()
        r50 = time.perf_counter() - t
        last = rows[-1]
        r_low = seconds["render"] / max(1, len(reward.rows))
        step50 = last["seconds"] + per * (r50 - r_low)
        proj = {"render s / video at steps": round(r_low, 1), f"render s / video at {a.anchor_steps}": round(r50, 1),
                f"step s at {a.anchor_steps} steps (extrapolated)": round(step50, 1),
                f"GPU-h for {a.project_steps} steps": round(a.project_steps * step50 / 3600, 1),
                f"renders for {a.project_steps} steps": a.project_steps * per,
                f"DPO data GPU-h ({a.dpo_sources} sources x 5 renders)": round(a.dpo_sources * 5 * r50 / 3600, 1)}
        print(); print(format_table([proj])); summary.update(proj)
    if a.json:
        with open(a.json, "a") as f:
            for r in rows: f.write(json.dumps({"section": "grpo steps", **r}) + "\n")
            f.write(json.dumps({"section": "grpo summary", **summary}) + "\n")


class _Null:
    used, share = 0, float("nan")
    def __enter__(self): return self
    def __exit__(self, *e): pass


if __name__ == "__main__":
    main()
