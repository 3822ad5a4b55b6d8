"""CogVideoX-5B's named settings at real size with random weights: seconds per video and peak memory.

`paper` (the released data's setting: 33 frames, DPM++ with trailing spacing, dynamic CFG, zeroed
unconditional embedding) against `model-card` (49 frames, the checkpoint's scheduler, fixed CFG),
both measured in the same run on the same pipeline; ratios are against `model-card`. GPU only:

    python benchmarks/cogvideox_settings.py [--steps 50]
"""
import argparse
import time

import torch

from prompt_a_video.benchmarking import random_pipeline
from prompt_a_video.core import PavError, format_table
from prompt_a_video.video import VideoGenerator


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--variants", nargs="+", default=["model-card", "paper", "paper+pab"])
    a = ap.parse_args()
    pipe = random_pipeline("cogvideox-5b")
    rows = []
    for var in a.variants:
        setting, _, hook = var.partition("+")
        mk = lambda steps: VideoGenerator.from_target("cogvideox-5b", pipeline=pipe, cache=False, setting=setting,
                                                      steps=steps, cache_hook=hook or "none")
        g = mk(a.steps)
        try: mk(2).generate("a corgi running on a beach at sunset", seeds=0, progress=False)       # warm-up
        except PavError: pass                      # random weights may give NaN pixels; timing is unaffected
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try: g.generate("a corgi running on a beach at sunset", seeds=1, progress=False); finite = True
        except PavError: finite = False
        torch.cuda.synchronize()
        s = g.settings
        rows.append({"setting": var, "frames": s.num_frames, "size": f"{s.height}x{s.width}", "finite pixels": finite,
                     "scheduler": type(pipe.scheduler).__name__, "dynamic cfg": s.dynamic_cfg, "zero uncond": s.zero_uncond,
                     "seconds/video": round(time.perf_counter() - t0, 1),
                     "peak GB": round(torch.cuda.max_memory_allocated() / 1e9, 1)})
    base = next((r["seconds/video"] for r in rows if r["setting"] == "model-card"), rows[0]["seconds/video"])
    for r in rows: r["speed vs model-card"] = round(base / r["seconds/video"], 2)
    print(torch.cuda.get_device_name(), f"{a.steps} steps")
    print(format_table(rows))


if __name__ == "__main__":
    main()
