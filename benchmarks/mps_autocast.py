"""MPS on CUDA: pure bf16 against bf16 under autocast (the released scorer's way), with fp32 as the reference.

MPS at real size (CLIP ViT-H/14 backbone and its condition module, random weights, seed 0), 16 random videos of
8 frames at 224x224 against 16 prompts, 4 frames each as the paper scores. The same weights run three ways: fp32,
bf16, and bf16 under `torch.autocast(dtype=torch.bfloat16)`. Printed: each mode's largest and mean absolute
difference from fp32 and between the two bf16 modes, the score spread (standard deviation over the videos) for
scale, and whether the two modes rank the videos the same. On a CPU the two bf16 modes agree exactly
(notebook `25_mps`); this measures the GPU. Random weights: the numbers are the numerics' size, not MPS's.

    python benchmarks/mps_autocast.py          # GPU only; the CLIP tokenizer comes from the asset cache (PAV_CACHE)
"""
import copy

import numpy as np
import torch

from prompt_a_video.assets import clip_tokenizer_dir
from prompt_a_video.benchmarking import CLIP_VIT_H14
from prompt_a_video.core import format_table
from prompt_a_video.media import Video
from prompt_a_video.rewards.mps import MPSModel, mps_reward

DEVICE = "cuda"
PROMPTS = ["a corgi running on a beach at sunset", "a red kite flying over a green hill", "a sailboat crossing a bay at dawn",
           "a chef flipping pancakes in a busy kitchen"]


def main():
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessor
    torch.manual_seed(0)
    with torch.device(DEVICE): m32 = MPSModel(CLIPConfig(**CLIP_VIT_H14)).eval()
    m16 = copy.deepcopy(m32).to(torch.bfloat16)
    tok, proc = AutoTokenizer.from_pretrained(clip_tokenizer_dir()), CLIPImageProcessor()
    rng = np.random.default_rng(0)
    vids = [Video(rng.integers(0, 256, (8, 224, 224, 3), dtype=np.uint8), fps=8) for _ in range(16)]
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(16)]
    score = lambda model, autocast: np.array([d["MPS"] for d in mps_reward(model=model, tokenizer=tok, processor=proc,
                                             autocast=autocast, batch_size=4)(vids, prompts)])
    ref, bf, ac = score(m32, False), score(m16, False), score(m16, True)
    row = lambda what, a, b: {"pair": what, "max |diff|": f"{np.abs(a - b).max():.4g}", "mean |diff|": f"{np.abs(a - b).mean():.4g}",
                              "same ranking": bool((np.argsort(a) == np.argsort(b)).all())}
    print(f"{torch.cuda.get_device_name() if DEVICE == 'cuda' else DEVICE} | torch {torch.__version__} | MPS ViT-H/14, random weights | 16 videos x 4 frames | "
          f"fp32 score spread (sd) {ref.std():.4g}, mean {ref.mean():.4g}")
    print(format_table([row("bf16 vs fp32", bf, ref), row("bf16 autocast vs fp32", ac, ref), row("bf16 vs bf16 autocast", bf, ac)]))


if __name__ == "__main__":
    main()
