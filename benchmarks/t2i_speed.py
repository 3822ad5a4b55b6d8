"""Seconds per image and peak GPU memory of the image targets at full size, with random weights.

Each target's pipeline is built on the GPU from its checkpoint's published configuration
(`prompt_a_video.t2i.random_image_pipeline`: SD 1.5's 0.86 B UNet, SDXL's 2.6 B UNet with both CLIP text encoders,
Flux-schnell's 12 B transformer with T5-XXL), in the target's dtype, and timed by
`prompt_a_video.benchmarking.benchmark_generation` at the target's recommended size and steps: one warm-up call
of 2 steps, then one timed image. `peak GB` is the most memory PyTorch allocated, weights included. Random weights
cost the same time and memory as trained ones (the pictures are noise, and in fp16 often NaN: 'finite pixels').
The `compile` row is `torch.compile` of the denoiser; its speed-up is against `plain` in the same run.
Needs a CUDA GPU; no offline assets (the tokenizers are small stand-ins: prompts are padded to full length).

    python benchmarks/t2i_speed.py [--targets sdxl sd-1.5 flux-schnell] [--compile sdxl]
"""
import argparse
import gc

import torch

from prompt_a_video.core import format_table


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", nargs="+", default=["sdxl", "sd-1.5", "flux-schnell"])
    ap.add_argument("--compile", nargs="*", default=["sdxl"], help="targets also timed with torch.compile")
    a = ap.parse_args()
    if not torch.cuda.is_available(): raise SystemExit("this benchmark needs a CUDA GPU")
    from prompt_a_video.benchmarking import benchmark_generation
    from prompt_a_video.t2i import random_image_pipeline
    from prompt_a_video.video import get_target
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    rows = []
    for name in a.targets:
        t = get_target(name)
        pipe = random_image_pipeline(name)
        params = sum(p.numel() for m in pipe.components.values() if isinstance(m, torch.nn.Module) for p in m.parameters())
        variants = ("plain", "compile") if name in a.compile else ("plain",)
        for r in benchmark_generation(name, variants=variants, pipeline=pipe):
            rows.append({"target": name, "size": f"{t.height}x{t.width}", "steps": t.steps, "dtype": t.dtype,
                         "params B": round(params / 1e9, 2), **r})
            print(rows[-1], flush=True)
        del pipe
        gc.collect(); torch.cuda.empty_cache()
    print(format_table(rows))


if __name__ == "__main__":
    main()
