"""What the Ray farm costs over the local farm: the same evolution, same store, timed on each farm in one run.

The package's `Evolution`, unchanged, evolves the same source prompts with the deterministic loopback operator
(`rewrite_server`) three ways: on a `LocalFarm` in this process, on a `RayFarm` of one worker, and on a `RayFarm`
of `--workers` workers. Every farm renders into a fresh video cache, so every video is rendered; the Ray workers
are started and their models built before the clock starts (`RayFarm.workers`), and the local farm runs once
before its timed run for the same reason, so the figures are the
steady-state cost per batch: scheduling, moving items and results through Ray, and the driver's wait. The start-up
(Ray itself, each worker's process and models) is timed apart. Each Ray store is checked equal to the local one.

On the CPU the sandbox target renders and scores in milliseconds, so the per-batch difference is Ray's own cost
per batch, an absolute figure that does not shrink on a GPU; a GPU render of CogVideoX-5B takes 56.9 s per video
(H200, the released setting), which puts that cost in proportion. Logical GPUs stand for real ones on a machine
without (Ray lets a node declare them):

    python benchmarks/ray_overhead.py --sources 6 --workers 2          # CPU, sandbox (about 2 minutes on 2 cores)
"""
import argparse
import os
import platform
import sqlite3
import tempfile
import time
from pathlib import Path

from prompt_a_video.core import format_table
from prompt_a_video.evolution import Evolution, EvolutionConfig
from prompt_a_video.farm import RayFarm, start_ray
from prompt_a_video.llm import OpenAIChat
from prompt_a_video.sandbox import sandbox_suite
from prompt_a_video.testing import rewrite_server
from prompt_a_video.video import VideoGenerator

SOURCES = ["a corgi running on a beach", "a red kite over a green hill", "a sailboat at dawn", "a chef flipping pancakes",
           "two kids building a sandcastle", "a hummingbird at a flower", "rain on a window at night", "a fox in the snow"]


def store_rows(run_dir):
    db = sqlite3.connect(Path(run_dir) / "run.sqlite")
    try: return db.execute("SELECT s.prompt, c.iteration, c.idx, c.text, c.seed, c.scores FROM candidates c "
                           "JOIN sources s ON s.id = c.source_id ORDER BY s.prompt, c.iteration, c.idx").fetchall()
    finally: db.close()


def evolve(name, out, op_url, cfg, sources, farm=None):
    "One evolution; its row (wall time, batches, seconds per batch) and its store's rows."
    os.environ["PAV_CACHE"] = str(out / f"cache-{name}")      # a fresh video cache: every video renders
    gen = VideoGenerator.from_target("sandbox")
    evo = Evolution(gen, None if farm else sandbox_suite(cache=False), OpenAIChat(base_url=op_url), cfg,
                    run_dir=out / name, farm=farm)
    t0 = time.perf_counter()
    s = evo.run(sources, progress=False)
    wall = time.perf_counter() - t0
    return {"farm": name, "videos": s["videos_rendered"], "wall s": round(wall, 2),
            "s / video": round(wall / s["videos_rendered"], 4)}, store_rows(out / name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=6, help="source prompts (at most 8)")
    ap.add_argument("--workers", type=int, default=2, help="workers of the second Ray farm")
    ap.add_argument("--iterations", type=int, default=3, help="operator rounds per source prompt")
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="ray-overhead-"))
    sources = SOURCES[:a.sources]
    cfg = EvolutionConfig.preset("tiny", iterations=a.iterations, batch_prompts=len(sources))
    srv = rewrite_server()
    rows = []
    try:
        evolve("warm-up", out, srv.url, cfg, sources)                  # first use: imports, lazy models (the workers' is untimed too)
        local, ref = evolve("local", out, srv.url, cfg, sources)
        rows.append({**local, "workers start s": "", "same store": ""})
        t0 = time.perf_counter()
        start_ray(num_gpus=a.workers, num_cpus=a.workers + 1)
        ray_start = time.perf_counter() - t0
        for n in (1, a.workers):
            os.environ["PAV_CACHE"] = str(out / f"cache-ray-{n}")          # the workers take PAV_CACHE when they start
            t0 = time.perf_counter()
            farm = RayFarm(VideoGenerator.from_target("sandbox").settings, lambda: sandbox_suite(cache=False), workers=n)
            farm.workers                                                      # processes up, models built
            ready = time.perf_counter() - t0
            row, got = evolve(f"ray-{n}", out, srv.url, cfg, sources, farm)
            farm.close()
            assert got == ref, f"the store of {n} Ray worker(s) differs from the local farm's"
            rows.append({**row, "workers start s": round(ready, 1), "same store": True})
    finally:
        srv.shutdown()
    base = rows[0]["s / video"]
    for r in rows:
        r["ms / video over local"] = round(1000 * (r["s / video"] - base), 1)
        r["time vs local"] = round(r["s / video"] / base, 2)
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, sandbox target and suite, {len(sources)} sources x "
          f"{a.iterations} rounds, batch size 1; Ray started in {ray_start:.1f} s\n")
    print(format_table(rows))


if __name__ == "__main__":
    main()
