"""Seconds per video and peak GPU memory for a real-size target with random weights.

Variants of one pipeline in one process: plain, Pyramid Attention Broadcast, First Block Cache,
torch.compile; speed-ups are against `plain` from the same run. Needs a CUDA GPU.

    python benchmarks/video_generation.py --target cogvideox-2b
"""
import argparse
import json

import torch

from prompt_a_video.core import format_table
from prompt_a_video.benchmarking import ARCHITECTURES, benchmark_generation


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="cogvideox-2b", choices=sorted(ARCHITECTURES))
    ap.add_argument("--variants", nargs="+", default=["plain", "pab", "fbc", "compile"])
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the target's)")
    ap.add_argument("--json", help="also write the rows to this file")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA GPU")
    import diffusers
    print(f"{torch.cuda.get_device_name()} | torch {torch.__version__} | diffusers {diffusers.__version__} | "
          f"{a.target}, random weights, bf16")
    rows = benchmark_generation(a.target, variants=a.variants, steps=a.steps)
    print(format_table(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
