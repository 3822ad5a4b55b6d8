"""The evolution engine at real size on one GPU: GPU-seconds per source prompt, busy share, memory plans, batching.

Random weights, bf16: CogVideoX-5B at the `paper` setting (33 frames, 480x720, DPM, dynamic CFG) and the
paper's reward suite at real size (VideoScore on Idefics2-8B, CLIP ViT-L/14 aesthetic, MPS on CLIP ViT-H/14),
from `prompt_a_video.benchmarking`. The operator is a loopback OpenAI-compatible server
(`prompt_a_video.testing.rewrite_server`) answering each request with valid tagged rewrites after a lognormal
latency (median `--latency` s, log-sd 0.5; the same request always waits as long).

Sections (each a list of rows printed as a table; `--json FILE` appends them as JSON lines as they finish):

- `orders`: the package's `Evolution`, unchanged, run in the released loop's order (one source prompt at a
  time, one video per call, one operator call at a time: render, score, ask, strictly in turn) and in the
  package's (several source prompts, rounds of several prompts rendered in one call, operator calls in flight
  while the GPU renders), same models, same GPU, same run. Per source prompt: GPU-seconds (wall time holding the
  GPU), videos per hour, GPU busy share (NVML utilisation sampled every 50 ms over the run), peak memory, and the
  engine's own time split (render, score, model moves, waiting on the operator).
- `reducers`: the released loop's order (`--released-sources` source prompts, one at a time), then the package's
  order with each cost reducer of `--reducers` (PAB, candidate screening, early stop, or several), at
  `--iterations` operator rounds per source (the paper's 8 for the goal row), in one run: GPU-seconds and videos
  per source prompt, seconds per video, busy share, and the GPU-seconds ratio against the released order.
- `anchor`: the pipeline alone, video after video, at `--steps` (the busy share no engine can beat at that step
  count), then one video at `--anchor-steps` (50: the released setting) without and with PAB, and its scoring,
  to carry the split to the released step count. `--anchor-compile MODE...` adds one PAB row per torch.compile mode
  (after a first, compiling video): whether less CPU time per step (CUDA graphs: `reduce-overhead`) lifts the busy
  share above the pipeline's own with PAB.
- `plans`: `resident`, then `swap` under a 40 GB cap and `offload` under a 24 GB cap
  (`torch.cuda.set_per_process_memory_fraction`): peak memory and time per video, against `resident` in the
  same run.
- `batch`: seconds per video of `generate` at batch sizes 1, 2, 4 (where batching stops paying).
- `ray`: the package's order on the local farm, then the same evolution on a Ray farm of one worker on the same
  GPU (the driver's models moved to the host first; the worker builds its own, timed apart): Ray's overhead.
  Needs Ray (`tools/device_wheels.sh --ray`); run it alone, last.

Denoising steps are reduced (`--steps`, default 6) so that a whole run fits the device time a session has;
the model, frames, resolution, scheduler and guidance are the paper's. GPU only:

    python benchmarks/evolution_throughput.py --sections orders anchor --tokenizers DIR
    python benchmarks/evolution_throughput.py --sections batch plans --tokenizers DIR
    python benchmarks/evolution_throughput.py --sections reducers anchor --iterations 8 --tokenizers DIR
    python benchmarks/evolution_throughput.py --sections anchor --anchor-compile default reduce-overhead

`DIR` holds `standin-32000/` (stands in for Idefics2's Mistral tokenizer; its length sets the vocabulary: the
package's `standin_tokenizer(32000, DIR)`, made there if missing). The T5 and CLIP tokenizers come from the package's
asset cache (`PAV_CACHE`).
"""
import argparse
import json
import os
import tempfile
import threading
import time
import traceback
from pathlib import Path

import torch

from prompt_a_video.benchmarking import random_paper_suite, random_pipeline, standin_tokenizer
from prompt_a_video.core import format_table
from prompt_a_video.evolution import Evolution, EvolutionConfig
from prompt_a_video.llm import OpenAIChat
from prompt_a_video.testing import lognormal_delay, rewrite_server
from prompt_a_video.video import VideoGenerator

SOURCES = ["a corgi running on a beach at sunset", "a red kite flying over a green hill", "a sailboat crossing a bay at dawn",
           "a chef flipping pancakes in a busy kitchen", "two kids building a sandcastle", "a hummingbird hovering at a flower"]
GB = 1e9


class Busy:
    "GPU utilisation sampled with NVML every `period` s on a thread: `share` is the mean busy fraction while it ran."
    def __init__(self, period=0.05):
        import pynvml
        pynvml.nvmlInit()
        self.nvml, self.h, self.period, self.samples = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0), period, []
        self.used = 0                                   # the most device memory in use (any process: a Ray worker too)
    def __enter__(self):
        self.stop = threading.Event()
        def loop():
            while not self.stop.wait(self.period):
                self.samples.append(self.nvml.nvmlDeviceGetUtilizationRates(self.h).gpu)
                self.used = max(self.used, self.nvml.nvmlDeviceGetMemoryInfo(self.h).used)
        self.t = threading.Thread(target=loop, daemon=True); self.t.start(); return self
    def __exit__(self, *exc): self.stop.set(); self.t.join()
    @property
    def share(self): return sum(self.samples) / (100 * len(self.samples)) if self.samples else float("nan")


def lm_tokenizer(folder) -> Path:
    "`folder/standin-32000`: the package's word-level stand-in with Mistral's 32,000 entries (only its length matters), made once."
    return Path(standin_tokenizer(32000, folder).name_or_path)


def generator(pipe, steps, **kw):
    return VideoGenerator.from_target("cogvideox-5b", pipeline=pipe, cache=False, setting="paper", steps=steps, **kw)


def evolve(name, gen, suite, op, cfg, sources, run_dir, one_at_a_time, farm=None):
    "Run `Evolution` over `sources` (all at once, or one source per run: the released order), on `farm` if given; one row."
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    runs = [[s] for s in sources] if one_at_a_time else [sources]
    t0, split, videos, calls = time.perf_counter(), {}, 0, 0
    with Busy() as busy:
        for i, group in enumerate(runs):
            evo = Evolution(gen, None if farm else suite, op, cfg, run_dir=Path(run_dir) / f"{name}-{i}", farm=farm)
            s = evo.run(group, progress=False)
            videos, calls = videos + s["videos_rendered"], calls + s["llm_calls"]
            for k, v in s["phase_seconds"].items(): split[k] = split.get(k, 0.0) + v
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    n = len(sources)
    row = {"order": name, "plan": getattr(evo.farm, "memory_plan", "worker's"), "sources": n, "videos": videos, "operator calls": calls,
           "GPU s / source": round(wall / n, 1), "videos / h": round(3600 * videos / wall, 1),
           "busy (NVML)": round(busy.share, 3), "peak GB": round(torch.cuda.max_memory_allocated() / GB, 1),
           "device used GB (NVML)": round(busy.used / GB, 1)}
    for k in ("render", "score", "move", "operator_wait"): row[f"{k} s / source"] = round(split.get(k, 0.0) / n, 1)
    row["other s / source"] = round(wall / n - sum(split.values()) / n, 1)
    return row


def section_orders(a, pipe, suite, op, out):
    cfg = dict(iterations=a.iterations, candidates=3, max_tokens=400)
    released = EvolutionConfig.preset("paper", max_inflight=1, batch_prompts=1, **cfg)
    package = EvolutionConfig.preset("paper", max_inflight=4, batch_prompts=a.batch_prompts, **cfg)
    g1 = generator(pipe, a.steps)
    rows = [evolve("released order", g1, suite, op, released, SOURCES[:a.released_sources], out, one_at_a_time=True),
            evolve("package", generator(pipe, a.steps, batch_size=a.batch_size), suite, op, package,
                   SOURCES[:a.sources], out, one_at_a_time=False)]
    base = rows[0]["GPU s / source"]
    for r in rows: r["GPU-s ratio vs released"] = round(base / r["GPU s / source"], 2)
    return rows


REDUCER_ROWS = {"none": ({}, "none"), "pab": ({}, "pab"), "screen 1 in 3": ({"screen": 1 / 3}, "none"),
                "early stop 3": ({"early_stop": 3}, "none"), "screen 1 in 3 + pab": ({"screen": 1 / 3}, "pab"),
                "screen 1 in 3 + early stop 3 + pab": ({"screen": 1 / 3, "early_stop": 3}, "pab")}   # (EvolutionConfig overrides, cache hook)


def section_reducers(a, pipe, suite, op, out):
    "The released loop's order, then the package's with each of `--reducers`, at `--iterations` rounds, in one run."
    cfg = dict(iterations=a.iterations, candidates=3, max_tokens=400)
    rows = [evolve("released order", generator(pipe, a.steps), suite, op,
                   EvolutionConfig.preset("paper", max_inflight=1, batch_prompts=1, **cfg), SOURCES[:a.released_sources], out, True)]
    print(format_table(rows), flush=True)
    for name in a.reducers:
        over, hook = REDUCER_ROWS[name]
        c = EvolutionConfig.preset("paper", max_inflight=4, batch_prompts=a.batch_prompts, **cfg, **over)
        rows.append(evolve(f"package, {name}", generator(pipe, a.steps, cache_hook=hook), suite, op, c, SOURCES[:a.sources], out, False))
        print(format_table(rows[-1:]), flush=True)
    base = rows[0]
    for r in rows:
        r["videos / source"] = round(r["videos"] / r["sources"], 2)
        r["render s / video"] = round(r["render s / source"] * r["sources"] / r["videos"], 2)
        r["GPU-s ratio vs released"] = round(base["GPU s / source"] / r["GPU s / source"], 2)
    return rows


def section_anchor(a, pipe, suite, op, out):
    "The pipeline alone, video after video: at `--steps` (the busy share no engine can beat there), then one video at `--anchor-steps` with and without PAB."
    rows = []
    for steps, hook, n in ((a.steps, "none", 3), (a.anchor_steps, "none", 1), (a.anchor_steps, "pab", 1)):
        g = generator(pipe, steps, cache_hook=hook)
        if hook != "none": generator(pipe, 2, cache_hook=hook).generate(SOURCES[0], seeds=0, progress=False)   # the hook's warm-up
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); t0 = time.perf_counter()
        with Busy() as busy:
            vids = [g.generate(SOURCES[i], seeds=11 + i, progress=False)[0] for i in range(n)]; torch.cuda.synchronize()
        t1 = time.perf_counter()
        suite(vids[:1], SOURCES[:1]); torch.cuda.synchronize(); t2 = time.perf_counter()
        rows.append({"what": f"{n} video{'s' * (n > 1)} at {steps} steps, cache hook {hook}, then one scored",
                     "render s / video": round((t1 - t0) / n, 1), "busy while rendering (NVML)": round(busy.share, 3),
                     "score s": round(t2 - t1, 2), "peak GB": round(torch.cuda.max_memory_allocated() / GB, 1)})
    for mode in a.anchor_compile:          # last: compiling changes the shared pipeline's transformer for good
        pipe.transformer.compile(mode=None if mode == "default" else mode)
        g = generator(pipe, a.anchor_steps, cache_hook="pab")
        torch.cuda.synchronize(); t0 = time.perf_counter()
        g.generate(SOURCES[0], seeds=0, progress=False); torch.cuda.synchronize()     # compiles: every step's path once
        warm = time.perf_counter() - t0
        torch.cuda.reset_peak_memory_stats(); t0 = time.perf_counter()
        with Busy() as busy:
            g.generate(SOURCES[1], seeds=12, progress=False); torch.cuda.synchronize()
        rows.append({"what": f"1 video at {a.anchor_steps} steps, cache hook pab, torch.compile mode {mode} "
                             f"(first video, compiling: {warm:.0f} s)",
                     "render s / video": round(time.perf_counter() - t0, 1), "busy while rendering (NVML)": round(busy.share, 3),
                     "score s": None, "peak GB": round(torch.cuda.max_memory_allocated() / GB, 1)})
    return rows


def section_plans(a, pipe, suite, op, out):
    total = torch.cuda.get_device_properties(0).total_memory
    cfg = dict(iterations=1, candidates=3, max_tokens=400, max_inflight=1)
    rows = []
    for plan, cap in (("resident", None), ("swap", 40), ("offload", 24)):
        suite.to("cpu"); pipe.to("cpu"); torch.cuda.empty_cache()       # each plan starts from the host
        if plan == "resident": suite.to("cuda"); pipe.to("cuda")
        torch.cuda.set_per_process_memory_fraction(cap * GB / total if cap else 1.0)
        g = generator(pipe, a.steps)
        try:
            r = evolve(plan, g, suite, op, EvolutionConfig.preset("paper", memory_plan=plan, **cfg), SOURCES[:1], out, True)
            r = {"plan": plan, "cap GB": cap, **{k: v for k, v in r.items() if k not in ("order", "plan")},
                 "peak reserved GB": round(torch.cuda.max_memory_reserved() / GB, 1)}
        except torch.OutOfMemoryError as e:
            print(traceback.format_exc()[-1500:], flush=True)
            r = {"plan": plan, "cap GB": cap, "error": f"out of memory: {str(e)[:120]}"}
        rows.append(r)
        print(format_table([r]), flush=True)
    torch.cuda.set_per_process_memory_fraction(1.0)
    base = rows[0].get("GPU s / source")
    for r in rows:
        if base and "GPU s / source" in r: r["time vs resident"] = round(r["GPU s / source"] / base, 2)
    return rows


def section_batch(a, pipe, suite, op, out):
    suite.to("cpu"); pipe.to("cuda")
    rows = []
    for bs in (1, 2, 4):
        g = generator(pipe, a.steps, batch_size=bs)
        generator(pipe, 2, batch_size=bs).generate(SOURCES[:bs], seeds=list(range(bs)), progress=False)   # warm-up at this shape
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); t0 = time.perf_counter()
        g.generate(SOURCES[:4], seeds=[1, 2, 3, 4], progress=False); torch.cuda.synchronize()
        rows.append({"batch size": bs, "s / video": round((time.perf_counter() - t0) / 4, 2),
                     "peak GB": round(torch.cuda.max_memory_allocated() / GB, 1)})
    for r in rows: r["speed vs batch 1"] = round(rows[0]["s / video"] / r["s / video"], 2)
    return rows


def section_peaks(a, pipe, suite, op, out):
    "Peak memory of each phase alone (the other's models on the CPU): what `choose_memory_plan` sizes with."
    g = generator(pipe, 2)
    suite.to("cpu"); g.to("cuda"); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    (v,) = g.generate(SOURCES[0], seeds=5, progress=False); torch.cuda.synchronize()
    render = torch.cuda.max_memory_allocated()
    g.to("cpu"); suite.to("cuda"); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    suite([v] * 4, [SOURCES[0]] * 4); torch.cuda.synchronize()
    score = torch.cuda.max_memory_allocated()
    rw, sw = g.weight_bytes(), suite.weight_bytes()
    return [{"phase": "render (suite on the CPU)", "weights GB": round(rw / GB, 2), "peak GB": round(render / GB, 2),
             "peak / weights": round(render / rw, 3)},
            {"phase": "score, 4 videos (video model on the CPU)", "weights GB": round(sw / GB, 2),
             "peak GB": round(score / GB, 2), "peak / weights": round(score / sw, 3)}]


def section_ray(a, pipe, suite, op, out):
    "The package's order on the local farm, then on a Ray farm of one worker holding its own models on the same GPU."
    from prompt_a_video.farm import RayFarm, start_ray
    cfg = EvolutionConfig.preset("paper", max_inflight=4, batch_prompts=a.batch_prompts, iterations=a.iterations,
                                 candidates=3, max_tokens=400)
    rows = [evolve("local farm", generator(pipe, a.steps), suite, op, cfg, SOURCES[:a.sources], out, one_at_a_time=False)]
    pipe.to("cpu"); suite.to("cpu"); torch.cuda.empty_cache()                 # the worker holds the GPU's copy
    t0 = time.perf_counter()
    start_ray(num_gpus=1)
    steps, tok = a.steps, str(lm_tokenizer(a.tokenizers).resolve())
    farm = RayFarm(generator(pipe, a.steps).settings, lambda: random_paper_suite(tok, batch_size=1), workers=1,
                   generator_factory=lambda: generator(random_pipeline("cogvideox-5b"), steps))
    farm.workers                                                               # the worker's process and models
    ready = time.perf_counter() - t0
    try: rows.append(evolve("ray farm, 1 worker", generator(pipe, a.steps), None, op, cfg, SOURCES[:a.sources], out, False, farm))
    finally: farm.close()
    rows[1]["ray + worker start s"] = round(ready, 1)
    for r in rows: r["time vs local"] = round(r["GPU s / source"] / rows[0]["GPU s / source"], 3)
    return rows


SECTIONS = {"orders": section_orders, "reducers": section_reducers, "anchor": section_anchor, "peaks": section_peaks, "batch": section_batch,
            "plans": section_plans, "ray": section_ray}   # plans, then ray, last: offload leaves accelerate's hooks on the pipeline


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    ap.add_argument("--tokenizers", default=".bench", help="folder holding (or to hold) standin-32000/, the stand-in for Idefics2's tokenizer")
    ap.add_argument("--steps", type=int, default=6, help="denoising steps of every evolution render")
    ap.add_argument("--anchor-steps", type=int, default=50)
    ap.add_argument("--anchor-compile", nargs="*", default=[], choices=["default", "reduce-overhead", "max-autotune-no-cudagraphs"],
                    help="anchor rows with PAB and the transformer under torch.compile in these modes (reduce-overhead: CUDA graphs), "
                         "to see whether less CPU time per step lifts the busy share")
    ap.add_argument("--iterations", type=int, default=2, help="operator rounds per source prompt (paper: 8)")
    ap.add_argument("--sources", type=int, default=3, help="source prompts of the package's run")
    ap.add_argument("--released-sources", type=int, default=1, help="source prompts run in the released order")
    ap.add_argument("--batch-prompts", type=int, default=3)
    ap.add_argument("--reducers", nargs="+", default=["screen 1 in 3 + pab"], choices=list(REDUCER_ROWS),
                    help="the package's rows of the reducers section (each a reducer setting; 'none': the package's order alone)")
    ap.add_argument("--batch-size", type=int, default=1, help="videos per pipeline call in the package's run")
    ap.add_argument("--latency", type=float, default=8.0, help="median operator latency, s (lognormal, log-sd 0.5)")
    ap.add_argument("--out", default=None, help="folder for the runs' stores (default: a new temporary folder)")
    ap.add_argument("--json", default=None, help="append each section's rows to this JSON-lines file")
    a = ap.parse_args()
    a.out = a.out or tempfile.mkdtemp(prefix="evolution-throughput-")
    t0 = time.perf_counter()
    pipe = random_pipeline("cogvideox-5b")
    suite = random_paper_suite(lm_tokenizer(a.tokenizers), batch_size=1)      # one video per pass, as released
    srv = rewrite_server(delay=lognormal_delay(a.latency, 0.5))
    op = OpenAIChat(base_url=srv.url, timeout=120)
    print(f"{torch.cuda.get_device_name()} | PYTORCH_CUDA_ALLOC_CONF={os.environ.get('PYTORCH_CUDA_ALLOC_CONF')} | torch {torch.__version__} | models built in {time.perf_counter() - t0:.0f} s | "
          f"video model {generator(pipe, a.steps).weight_bytes() / GB:.1f} GB, suite {suite.weight_bytes() / GB:.1f} GB "
          f"of weights | {a.steps} steps, operator median {a.latency} s", flush=True)
    generator(pipe, 2).generate(SOURCES[0], seeds=0, progress=False); suite.to("cuda")      # warm-up
    try:
        for name in a.sections:
            rows = SECTIONS[name](a, pipe, suite, op, a.out)
            print(f"\n## {name}\n" + format_table(rows, list(dict.fromkeys(k for r in rows for k in r))), flush=True)
            if a.json:
                with open(a.json, "a") as f:
                    for r in rows: f.write(json.dumps({"section": name, **r}) + "\n")
    finally:
        srv.shutdown()


if __name__ == "__main__":
    main()
