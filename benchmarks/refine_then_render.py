"""Refine, then render, on one GPU: an 8B booster and CogVideoX-5B one after the other, with both memory peaks.

The package's order (`pav generate --booster`, `compare_methods`): the booster refines every prompt, it is dropped
and the CUDA cache emptied (`evaluation.release_memory`), and only then is the video model loaded. This script runs
that order with real-size architectures and random weights (no hub here): Llama-3-8B in bf16 as a `PromptBooster`
(a word-level tokenizer with Llama-3's chat tokens; the instruction's words map to one token each, so prompts are
about 25% shorter than with Llama-3's tokenizer, which changes the KV cache by well under 1 GB), then CogVideoX-5B
(transformer, T5-XXL encoder, VAE) in bf16 through `VideoGenerator` at the target's recommended size. The render uses
few denoising steps: the peak does not depend on their number. It reports, per phase, peak allocated memory, memory
still allocated after the phase, and seconds. Needs a CUDA GPU and the tiny CogVideoX asset's T5 tokenizer.

    python benchmarks/refine_then_render.py [--prompts 8] [--steps 4]
"""
import argparse
import time

import torch

from prompt_a_video.core import format_table

LLAMA3_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192,
                 rms_norm_eps=1e-5, bos_token_id=128000, eos_token_id=128009, tie_word_embeddings=False)
CHAT = ("{% for m in messages %}<|start_header_id|> {{ m['role'] }} <|end_header_id|> {{ m['content'] }} <|eot_id|> "
        "{% endfor %}{% if add_generation_prompt %}<|start_header_id|> assistant <|end_header_id|> {% endif %}")
GB = 1e9


def word_tokenizer(vocab: int):
    "Word-level tokenizer over the words of the booster's instruction and prompts, Llama-3's chat tokens at their ids."
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from prompt_a_video.booster import PAPER_INSTRUCTION, TASK_PROMPT
    from prompt_a_video.evaluation import prompt_set
    words = sorted({w for t in (TASK_PROMPT, PAPER_INSTRUCTION, "New prompt:") for w in t.split()}
                   | {w for p in prompt_set("paper-vbench-100") for w in p.split()})
    sp = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006,
          "<|end_header_id|>": 128007, "<|eot_id|>": 128009}
    vm = {w: i for i, w in enumerate(words[: vocab - 256])}
    vm.update(sp)
    tk = Tokenizer(models.WordLevel(vocab=vm, unk_token="<|end_of_text|>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                  pad_token="<|eot_id|>", unk_token="<|end_of_text|>", additional_special_tokens=list(sp))
    tok.chat_template = CHAT
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=8, help="prompts refined in one batch")
    ap.add_argument("--steps", type=int, default=4, help="denoising steps of the render (the peak does not depend on them)")
    ap.add_argument("--target", default="cogvideox-5b")
    a = ap.parse_args()
    if not torch.cuda.is_available(): raise SystemExit("this benchmark needs a CUDA GPU")
    from transformers import LlamaConfig, LlamaForCausalLM
    from prompt_a_video.benchmarking import random_pipeline
    from prompt_a_video.booster import BoosterPreset, PromptBooster
    from prompt_a_video.evaluation import prompt_set, refine_then_free, release_memory
    from prompt_a_video.video import VideoGenerator
    print(f"{torch.cuda.get_device_name()} | torch {torch.__version__} | Llama-3-8B booster then {a.target}, random weights, bf16")
    prompts, rows = prompt_set("paper-vbench-100")[: a.prompts], []

    torch.cuda.reset_peak_memory_stats(); t0 = time.perf_counter()
    with torch.device("cuda"):
        torch.set_default_dtype(torch.bfloat16)
        model = LlamaForCausalLM(LlamaConfig(**LLAMA3_8B)).eval()
        torch.set_default_dtype(torch.float32)
    booster = PromptBooster(model, word_tokenizer(LLAMA3_8B["vocab_size"]),
                            BoosterPreset("random Llama-3-8B", None, "official", max_new_tokens=250))
    del model
    refined = refine_then_free(booster, prompts, progress=False)
    del booster                                   # the CLI's booster lives inside refine_then_free; here the script held it
    release_memory()
    torch.cuda.synchronize()
    rows.append({"phase": f"1 refine {len(prompts)} prompts (Llama-3-8B, 250 new tokens max)",
                 "peak GB": round(torch.cuda.max_memory_allocated() / GB, 1),
                 "allocated after GB": round(torch.cuda.memory_allocated() / GB, 2),
                 "seconds": round(time.perf_counter() - t0, 1)})

    pipe = random_pipeline(a.target)
    for tiling in (False, True):
        torch.cuda.reset_peak_memory_stats(); t0 = time.perf_counter()
        gen = VideoGenerator.from_target(a.target, pipeline=pipe, cache=False, steps=a.steps, vae_tiling=tiling)
        s = gen.settings
        try: gen.generate([refined[0] or prompts[0]], seeds=0, progress=False)   # random weights may decode to no known word
        except Exception as e: print(f"render raised {type(e).__name__}: {str(e)[:120]} (random weights; timing and memory stand)")
        torch.cuda.synchronize()
        rows.append({"phase": f"2 render 1 video ({a.target}, {s.num_frames}x{s.height}x{s.width}, {a.steps} steps, "
                              f"VAE tiling {'on' if tiling else 'off'})",
                     "peak GB": round(torch.cuda.max_memory_allocated() / GB, 1),
                     "allocated after GB": round(torch.cuda.memory_allocated() / GB, 2),
                     "seconds": round(time.perf_counter() - t0, 1)})
        if tiling: pipe.vae.disable_tiling()
    print(format_table(rows))
    print(f"refine and tiled render each fit a 40 GB GPU: {rows[0]['peak GB'] <= 40 and rows[-1]['peak GB'] <= 40}")


if __name__ == "__main__":
    main()
