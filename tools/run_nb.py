"""Execute a notebook with execnb (no Jupyter server needed) and write it with outputs.

Used on the GPU machine to keep the outputs of `#| cuda` cells:
    python tools/run_nb.py nbs/11_video_gpu.ipynb --flags cuda --only cogvideox-2b --out $OUT/11.ipynb
`--only TEXT` runs, of the flagged cells, those whose source contains TEXT (others keep no output);
`--merge` copies the outputs of the cells that ran into the notebook given by --into, matching cells by source.
"""
import argparse
import json
import sys
from pathlib import Path


def _directives(src):
    return {l[3:].strip().split(":")[0].split()[0] for l in src.splitlines() if l.startswith("#|") and l[3:].strip()}


def run(path, flags, only, out):
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    nb = read_nb(path)
    ran = []

    def skip(cell):
        if cell.cell_type != "code" or "nbdev_export(" in cell.source:
            return True
        d = _directives(cell.source)
        if "eval" in d and "eval: false" in cell.source:
            return True
        flagged = d & {"cuda", "slow"}
        if flagged - set(flags):
            return True
        if flagged and only and not any(o in cell.source for o in only):
            return True
        ran.append(cell.source)
        return False

    sys.path.insert(0, str(Path(path).resolve().parents[1]))
    shell = CaptureShell(path)
    def show(cell):  # echo what the cell printed, so a remote log shows progress
        for o in cell.get("outputs", []):
            print("".join(o.get("text", "")) or "".join(o.get("data", {}).get("text/plain", "")), flush=True)

    shell.run_all(nb, exc_stop=True, preproc=skip, postproc=show)
    write_nb(nb, out)
    print(f"ran {len(ran)} cells; wrote {out}")


def merge(src, into):
    a, b = json.loads(Path(src).read_text()), json.loads(Path(into).read_text())
    by_src = {"".join(c["source"]): c for c in a["cells"] if c["cell_type"] == "code" and c.get("outputs")}
    n = 0
    for c in b["cells"]:
        s = "".join(c["source"])
        if c["cell_type"] == "code" and s in by_src and any(d in s for d in ("#| cuda", "#| slow")):
            c["outputs"] = by_src[s]["outputs"]
            n += 1
    Path(into).write_text(json.dumps(b, indent=1, ensure_ascii=False) + "\n")
    print(f"merged outputs of {n} cells into {into}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook")
    ap.add_argument("--flags", nargs="*", default=[])
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--out")
    ap.add_argument("--merge", action="store_true")
    ap.add_argument("--into")
    a = ap.parse_args()
    merge(a.notebook, a.into) if a.merge else run(a.notebook, a.flags, a.only, a.out or a.notebook)
