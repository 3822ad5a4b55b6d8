#!/usr/bin/env bash
# The GPU benchmarks of one device session in one background process, so they outlast the device tool's 10-minute
# calls (a process in its own session runs on while the machine is held); `poll` waits and copies what they wrote.
#
# Here:  bash tools/device_wheels.sh --ray --train && python tools/minilm_standin.py copy .bench/minilm
#         cp -r .venv/lib/python3*/site-packages/invokeai/backend/t5/tokenizer .bench/t5-tokenizer
# There (the device tool's `run`, carry [".whl", ".bench", ".pav-cache/assets"]):
#   bash tools/device_bench.sh start [SECONDS]   # install the wheels, start the runs, then poll
#   bash tools/device_bench.sh poll [SECONDS]    # wait up to SECONDS for the runs to end, copy logs and rows to $OUT
# RUNS="mps targets reducers" picks the runs (default: mps targets, plus reducers with WITH_REDUCERS=1).
# TARGETS="a b" limits targets_real_size.py to those targets; WITH_REDUCERS=1 adds the 8-round reducers run of evolution_throughput.py (about 9 minutes on an H100).
# Each run's log and JSON lines land in /tmp/bench (and in $OUT at every poll); `done` marks the end.
# Later calls carry nothing: the machine keeps /tmp/site and .bench between calls, and a call that carries .bench
# again replaces it with this checkout's copy, which has no MiniLM weights (they are made there, by `start`).
set -uo pipefail
B=/tmp/bench
poll() {
  local end=$((SECONDS + ${1:-540}))
  while [ ! -f $B/done ] && [ $SECONDS -lt $end ]; do sleep 5; done
  cp -r $B/. "${OUT:-/tmp/out}/" 2>/dev/null; nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
  tail -n 5 $B/*.log
}
if [ "${1:-}" = "start" ]; then
  mkdir -p $B /tmp/site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  [ ! -f .whl/ray.tar.xz ] || tar -xJf .whl/ray.tar.xz -C /tmp/site || exit 1
  # T5's tokenizer files (CogVideoX, LTX) where the package looks for them, in invokeai's folder (the wheel is too big to carry)
  [ ! -d .bench/t5-tokenizer ] || { mkdir -p /tmp/site/invokeai/backend/t5 && rm -rf /tmp/site/invokeai/backend/t5/tokenizer \
                                    && cp -r .bench/t5-tokenizer /tmp/site/invokeai/backend/t5/tokenizer; } || exit 1
  export PYTHONPATH=/tmp/site:$PWD/.bench/minilm:$PWD PAV_CACHE=$PWD/.pav-cache HF_HUB_OFFLINE=1 \
         PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True TOKENIZERS_PARALLELISM=false
  python3 tools/minilm_standin.py weights .bench/minilm > $B/setup.log 2>&1 || { cat $B/setup.log; exit 1; }
  RUNS=${RUNS:-mps targets${WITH_REDUCERS:+ reducers}}
  setsid nohup bash -c "
    [[ \" $RUNS \" != *\" mps \"* ]] || python3 benchmarks/mps_autocast.py > $B/0_mps_autocast.log 2>&1
    [[ \" $RUNS \" != *\" targets \"* ]] || python3 benchmarks/targets_real_size.py ${TARGETS:+--targets $TARGETS} --json $B/targets_real_size.jsonl > $B/1_targets.log 2>&1
    [[ \" $RUNS \" != *\" reducers \"* ]] || python3 benchmarks/evolution_throughput.py --sections reducers --iterations 8 --sources 3 --steps 6 --latency 8 \
        --reducers 'screen 1 in 3 + pab' --json $B/evolution_throughput.jsonl > $B/2_reducers.log 2>&1
    touch $B/done" > /dev/null 2>&1 < /dev/null &
  poll "${2:-540}"
elif [ "${1:-}" = "poll" ]; then
  poll "${2:-540}"
else
  sed -n 2,9p "$0"; exit 2
fi
