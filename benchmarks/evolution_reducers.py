"""The evolution cost reducers on the sandbox, at study size: paired anytime curves against the paper setting.

Every setting evolves the same source prompts (the paper's VBench prompts) with the same seeds and the same
sandbox operator; the table gives videos rendered per source prompt and the mean final best score with 95%
intervals, and the paired difference from the paper setting. Offline, CPU only:

    python benchmarks/evolution_reducers.py --prompts 36 --out runs/reducers   # writes table.txt, anytime.png, results.json
"""
import argparse
import json
import platform
import time
from pathlib import Path

from prompt_a_video.core import format_table
from prompt_a_video.costs import plot_anytime, reducer_study, study_table
from prompt_a_video.evaluation import prompt_set

SETTINGS = {"paper": {}, "batch 4": {"batch_prompts": 4}, "early stop 2": {"early_stop": 2}, "early stop 3": {"early_stop": 3},
            "screen 1 in 3": {"screen": 1 / 3}, "screen 2 in 3": {"screen": 2 / 3},
            "screen 1 in 3 + early stop 3": {"screen": 1 / 3, "early_stop": 3}}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=36, help="source prompts (the first N of paper-vbench-100)")
    ap.add_argument("--out", default="runs/reducers", help="run folders, table.txt, anytime.png, results.json")
    a = ap.parse_args()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    prompts = prompt_set("paper-vbench-100")[:a.prompts]
    t0 = time.perf_counter()
    res = reducer_study(prompts, SETTINGS, out / "runs")
    table = format_table(study_table(res))
    head = (f"sandbox reducer study: {len(prompts)} source prompts (paper-vbench-100), paper preset otherwise; "
            f"{platform.processor() or platform.machine()}, {time.perf_counter() - t0:.0f} s\n")
    (out / "table.txt").write_text(head + table + "\n")
    (out / "results.json").write_text(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "curves"} | {"curves": v["curves"]}
                                                  for k, v in res.items()}, indent=1))
    plot_anytime(res, out / "anytime.png", title=f"{len(prompts)} source prompts, sandbox, paired seeds")
    print(head + table)
