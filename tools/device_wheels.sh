#!/usr/bin/env bash
# The wheels the GPU machine lacks for the package's GPU benchmarks, into .whl/ (git-ignored), within the device
# tool's 64 MiB a call. The GPU machine has Python 3.12 with torch, transformers, peft, accelerate, numpy, tqdm,
# pillow, scipy, scikit-image, pandas, pyarrow and httpx, but not diffusers, openai (nor pydantic and httpx2, which
# openai 3.x imports: seen missing there on 2026-12-07), fastcore, ftfy or Ray. Versions are this checkout's venv's (make venv), so both machines run the same code.
#
#   bash tools/device_wheels.sh          # .whl/*.whl, plus .whl/ray.tar.xz with --ray
#   bash tools/device_wheels.sh --ray
#   bash tools/device_wheels.sh --ray --train   # also trl and datasets (the GPU machine's transformers 5.17, peft and
#                                               # accelerate run trl 1.16: 43_training_gpu's runs)
#
# On the GPU machine (the device tool's `run`, carry [".whl"]):
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
#     && { [ ! -f .whl/ray.tar.xz ] || tar -xJf .whl/ray.tar.xz -C /tmp/site; } && export PYTHONPATH=/tmp/site:$PWD
#
# Ray's wheel (79 MB) is over the limit: unzipped, without ray/jars, ray/rllib and ray/serve (unused here), and
# packed with xz -9 it is about 27 MB (stack-notes.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=".venv/bin/python -m pip"
ver() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
PLAT=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
rm -rf .whl && mkdir -p .whl
PKGS=(diffusers openai distro jiter sniffio pydantic pydantic_core annotated_types typing_inspection httpx2 httpcore2 truststore
      fastcore ftfy wcwidth)   # av (video files) is left out: benchmarks render with cache=False
for p in "${PKGS[@]}"; do
  v=$(ver "$p" 2>/dev/null || true)
  spec="$p${v:+==$v}"
  $PIP download -q --no-deps "${PLAT[@]}" -d .whl "$spec"
done
if [[ " $* " == *" --train "* ]]; then     # GRPO and the trainers: the versions this checkout is tested with
  for p in trl datasets dill multiprocess; do
    $PIP download -q --no-deps "${PLAT[@]}" -d .whl "$p==$(ver "$p")"
  done
fi
if [[ " $* " == *" --ray "* ]]; then
  tmp=$(mktemp -d)
  $PIP download -q --no-deps "${PLAT[@]}" -d "$tmp" "ray==$(ver ray)"
  for p in jsonschema jsonschema-specifications referencing rpds-py; do
    $PIP download -q --no-deps "${PLAT[@]}" -d .whl "$p==$(ver "$p")"
  done
  (cd "$tmp" && unzip -q ray-*.whl && rm -rf ray-*.whl ray/jars ray/rllib ray/serve && tar -cf - . | xz -9 -T2 > ray.tar.xz)
  mv "$tmp/ray.tar.xz" .whl/ && rm -rf "$tmp"
fi
du -ch .whl/* | tail -1
