"""Every registered video target (but Open-Sora) at real size with random weights: text encoding, denoising step, VAE decode, PAB.

For each target at its recommended setting (frames, resolution, steps) the pipeline is built by
`random_pipeline` in bf16 directly on the GPU and rendered through the package's own path,
`VideoGenerator.from_target(target, pipeline=pipe)`, with probes on the pipeline's modules:

- text encoding: seconds from the first text-encoder call to the first denoising step (every encoder
  call the pipeline makes: the negative prompt too under classifier-free guidance), and peak memory;
- denoising: one warm-up step, then `--steps` timed steps of the real schedule (the rest of the
  schedule is skipped through the pipeline's own `interrupt` flag, so the timesteps and the model
  each step calls are the real ones); the mean step is extrapolated to the recommended step count;
- VAE decode of the denoised latents: untiled (inside the render) and with `vae.enable_tiling()`
  (a second decode of the same latents), each with its peak memory;
- Pyramid Attention Broadcast (the package's `cache_hook="pab"`): a warm-up step and `--steps` timed
  steps inside PAB's timestep range (100, 800) of the real schedule; the extrapolation counts the
  steps outside that range at the plain step's time. Use an even `--steps`: PAB computes every other
  in-range call, so an odd count over- or under-weights the skipped calls.
- token budget: each text encoder's limit, and the benchmark prompt counted with the target's own
  tokenizers (`TokenBudget.for_target`) where they load offline; UMT5 (Wan) and Llama-3
  (HunyuanVideo) have no offline twin, so their counts read n/a (the pipelines then run on a
  stand-in tokenizer of the real vocabulary size, which changes no cost: the encoders read padded
  sequences).

Each pipeline is freed before the next. Needs a CUDA GPU; `--tiny` runs the same program on the CPU
with the tiny configurations (9 frames at 64x64; the figures mean nothing there).

    python benchmarks/targets_real_size.py --json benchmarks/targets_real_size.jsonl | tee benchmarks/targets_real_size.out.txt
    python benchmarks/targets_real_size.py --tiny                # CPU check of the mechanics
"""
import os
os.environ.setdefault("HF_HUB_OFFLINE", "1")     # the GPU machine has no network: never wait on the hub
import argparse
import gc
import json
import time

import torch

from prompt_a_video.benchmarking import ARCHITECTURES, random_pipeline
from prompt_a_video.core import PavError, format_table
from prompt_a_video.targets import encoder_tokenizer, get_target
from prompt_a_video.video import VideoGenerator

PROMPT = ("A corgi runs along a wide sandy beach at sunset, ears flapping, kicking up wet sand; "
          "golden light glints on the waves behind it while the camera tracks alongside at dog height.")
GB = 1e9
PAB_RANGE = (100, 800)       # the package's PyramidAttentionBroadcastConfig spatial_attention_timestep_skip_range
# Settings chosen for the time budget (one H100, all targets in about 8 minutes): a 14B step at 720p
# is about 4x the 480p one (2.3x the tokens, attention quadratic in them). `--setting T=720p` restores it.
BUDGET_SETTING = {"wan2.1-t2v-14b": "480p", "wan2.2-t2v-a14b": "480p"}
# Targets whose weights do not leave room beside the activations on an 80 GB card: model CPU offload.
OFFLOAD = {"wan2.2-t2v-a14b": "two 14B experts (57 GB bf16) + UMT5-XXL (11 GB): enable_model_cpu_offload"}
# Cache hooks the package's generator cannot apply as asked, and why.
PAB_NA = {"wan2.2-t2v-a14b": "VideoGenerator hooks pipe.transformer only; PAB's range t in (100, 800) lies wholly in "
                             "the low-noise expert (transformer_2, t < 875), which stays unhooked"}


class Probe:
    "Timestamps and peak memory at marks; gates the denoising loop through the pipeline's `interrupt` property."
    def __init__(self, pipe, cuda: bool):
        self.pipe, self.cuda, self.window, self.marks = pipe, cuda, None, []
        self._cls, probe = type(pipe), self
        pipe.__class__ = type(self._cls.__name__, (self._cls,), {"interrupt": property(lambda p: probe.step())})
        self._decode, self.stub = pipe.vae.decode, None
        def decode(z, *a, **k):
            if self.stub is not None:                  # a render whose pixels are not wanted (PAB): zeros, no decode
                from diffusers.models.autoencoders.vae import DecoderOutput
                x = torch.zeros(self.stub, device=z.device, dtype=z.dtype)
                return (x,) if not k.get("return_dict", True) else DecoderOutput(sample=x)
            self.latents = z
            self.mark("decode")
            out = self._decode(z, *a, **k)
            self.mark("decoded")
            self.out_shape = tuple((out[0] if isinstance(out, tuple) else out.sample).shape)
            return out
        pipe.vae.decode = decode
        encs = [getattr(pipe, n) for n in ("text_encoder", "text_encoder_2") if getattr(pipe, n, None) is not None]
        self._hooks = [m.register_forward_pre_hook(lambda *_: self.encoding()) for m in encs]

    def close(self):
        self.pipe.__class__ = self._cls
        del self.pipe.vae.decode
        for h in self._hooks: h.remove()

    def sync(self):
        if self.cuda: torch.cuda.synchronize()

    def mark(self, name):
        self.sync()
        peak = torch.cuda.max_memory_allocated() / GB if self.cuda else None
        self.marks.append((name, time.perf_counter(), peak))
        if self.cuda: torch.cuda.reset_peak_memory_stats()

    def reset(self, window):
        "Before a render: compute only the step indices in `window` (None: all)."
        self.window, self.marks, self.i, self.encoded = window, [], 0, False

    def encoding(self):
        if not self.encoded: self.encoded = True; self.mark("encode")

    def step(self):
        i, self.i = self.i, self.i + 1
        run = self.window is None or i in self.window
        if run or (i - 1) in (self.window or ()): self.mark(f"step{i}")   # the end of a computed step is the next mark
        return not run

    def span(self, a, b):
        "(seconds, peak GB) from mark `a` to mark `b`."
        d = {n: (t, p) for n, t, p in self.marks}
        return d[b][0] - d[a][0], d[b][1]

    def next_after(self, a):
        names = [n for n, _, _ in self.marks]
        return names[names.index(a) + 1]


def step_times(probe, idx):
    "Seconds and peak GB of each computed step in `idx`."
    out = [probe.span(f"step{i}", probe.next_after(f"step{i}")) for i in idx]
    return [s for s, _ in out], max((g for _, g in out if g is not None), default=None)


def r2(x, n=2): return None if x is None else round(x, n)


def budget_cell(target):
    "Each encoder's prompt tokens / limit, counted with the target's own tokenizer (`encoder_tokenizer`, as `target_tokenizers` and `TokenBudget` load it) where it loads offline."
    t, out = get_target(target), []
    for e in t.text_encoders:
        try: out.append(f"{e.name} {len(encoder_tokenizer(t.model_id, e)(PROMPT + e.suffix).input_ids)}/{e.max_tokens}")
        except (PavError, OSError, ValueError): out.append(f"{e.name} n/a/{e.max_tokens} (no offline twin)")
    return ", ".join(out)


def measure(target, a, cuda):
    t = get_target(target)
    setting = a.setting.get(target, BUDGET_SETTING.get(target) if not a.tiny else None)
    size = dict(num_frames=9, height=64, width=64) if a.tiny else {}
    offload = bool(cuda and target in OFFLOAD)
    dev = "cuda" if cuda else "cpu"
    notes = []
    if setting and setting != t.default_setting and target in BUDGET_SETTING and target not in a.setting:
        notes.append(f"{setting} (not the {t.default_setting} default) for the time budget")
    if offload: notes.append(OFFLOAD[target])
    t0 = time.perf_counter()
    pipe = random_pipeline(target, device=dev, dtype="bf16" if cuda else "fp32", tiny=a.tiny)
    if cuda: torch.cuda.synchronize()
    build = time.perf_counter() - t0
    kw = dict(pipeline=pipe, cache=False, device=dev, cpu_offload=offload, setting=setting, **size)
    gen = VideoGenerator.from_target(target, **kw)
    s = gen.settings
    n, k = s.steps, a.steps
    if n < k + 1: raise SystemExit(f"{target}: {n} steps cannot hold 1 warm-up + {k} timed steps")
    probe = Probe(gen.pipe, cuda)        # gen.pipe configures (device, offload hooks) first
    row = {"target": target, "setting": f"{s.setting or '-'}: {s.num_frames}x{s.height}x{s.width}, {n} steps",
           "build s": r2(build, 1), "offload": "model CPU offload" if offload else "no"}
    try:
        # plain: steps 0 (warm-up) .. k of the real schedule, then the untiled decode inside the render
        probe.reset(range(0, k + 1))
        try: gen.generate(PROMPT, seeds=0, progress=False); finite = True
        except PavError: finite = False                  # NaN pixels from random weights do not affect timing
        row["encode s"], row["encode GB"] = map(r2, probe.span("encode", "step0"))
        secs, peak = step_times(probe, range(1, k + 1))
        step = sum(secs) / k
        row |= {"step s": r2(step, 3), "denoise s (extrap.)": r2(step * n, 1), "denoise GB": r2(peak, 1)}
        row["decode s"], row["decode GB"] = map(r2, probe.span("decode", "decoded"))
        timesteps = [float(x) for x in gen.pipe.scheduler.timesteps]
        z = probe.latents
        # tiled decode of the same latents
        gen.pipe.vae.enable_tiling()
        probe.mark("tiled")
        with torch.inference_mode(): probe._decode(z, return_dict=False)
        probe.mark("tiled_end")
        gen.pipe.vae.disable_tiling()
        row["tiled decode s"], row["tiled decode GB"] = map(r2, probe.span("tiled", "tiled_end"))
        row["video s (extrap.)"] = r2(row["encode s"] + step * n + row["decode s"], 1)
        row["finite"] = finite
        del z; probe.latents = None
        # Pyramid Attention Broadcast: a warm-up and k timed steps inside its timestep range
        inside = [i for i, ts in enumerate(timesteps) if PAB_RANGE[0] < ts < PAB_RANGE[1]]
        if target in PAB_NA: row["PAB step s"] = "n/a"; notes.append(f"PAB n/a: {PAB_NA[target]}")
        elif len(inside) < k + 1: row["PAB step s"] = "n/a"; notes.append(f"PAB n/a: {len(inside)} of {n} steps in its range")
        else:
            pab = VideoGenerator.from_target(target, **kw, cache_hook="pab")
            pab.pipe                                        # configure: hooks on the transformer
            hooked = sum(1 for m in pipe.transformer.modules() if getattr(m, "_diffusers_hook", None) is not None
                         and m._diffusers_hook.get_hook("pyramid_attention_broadcast") is not None)
            window = inside[:k + 1]
            probe.reset(window)
            probe.stub = probe.out_shape                  # the decode was measured above: skip it here
            try: pab.generate(PROMPT, seeds=0, progress=False)
            except PavError: pass
            probe.stub = None
            psecs, ppeak = step_times(probe, window[1:])
            pstep = sum(psecs) / k
            total = (n - len(inside)) * step + len(inside) * pstep
            row |= {"PAB step s": r2(pstep, 3), f"PAB denoise s (extrap.)": r2(total, 1), "PAB GB": r2(ppeak, 1),
                    "PAB speed-up": r2(step * n / total), "PAB hooks": hooked, "steps in PAB range": len(inside)}
            if getattr(pipe.transformer, "is_cache_enabled", False): pipe.transformer.disable_cache()
        row["tokens (prompt/limit)"] = budget_cell(target)
        row["notes"] = "; ".join(notes)
    finally:
        probe.close()
        del gen, pipe, probe
        gc.collect()
        if cuda: torch.cuda.empty_cache()
    return row


COLS = ["target", "setting", "offload", "build s", "encode s", "encode GB", "step s", "denoise s (extrap.)", "denoise GB", "decode s", "decode GB",
        "tiled decode s", "tiled decode GB", "video s (extrap.)", "PAB step s", "PAB denoise s (extrap.)", "PAB GB",
        "PAB speed-up"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    ap.add_argument("--steps", type=int, default=2, help="timed denoising steps after one warm-up step (default 2)")
    ap.add_argument("--setting", nargs="*", default=[], metavar="TARGET=NAME",
                    help=f"a named setting per target (defaults: the target's, except {BUDGET_SETTING})")
    ap.add_argument("--json", help="append one JSON line per target to this file")
    ap.add_argument("--tiny", action="store_true", help="tiny configurations on the CPU (checks the mechanics)")
    a = ap.parse_args()
    a.setting = dict(kv.split("=", 1) for kv in a.setting)
    cuda = not a.tiny
    if cuda and not torch.cuda.is_available(): raise SystemExit("this benchmark needs a CUDA GPU (or --tiny on the CPU)")
    import diffusers, transformers
    dev = torch.cuda.get_device_name() if cuda else "CPU (tiny configurations: the figures mean nothing)"
    head = (f"{dev} | torch {torch.__version__} | diffusers {diffusers.__version__} | transformers {transformers.__version__} | "
            f"random weights, {'bf16' if cuda else 'fp32'}, {a.steps} timed steps after 1 warm-up, extrapolated")
    print(head, flush=True)
    rows, t_all = [], time.perf_counter()
    for target in a.targets:
        t0 = time.perf_counter()
        try: row = measure(target, a, cuda)
        except torch.OutOfMemoryError as e:
            row = {"target": target, "notes": f"out of memory: {str(e).splitlines()[0][:160]}"}
            gc.collect(); torch.cuda.empty_cache()
        row["wall s"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(f"{target}: {row}", flush=True)
        if a.json:
            with open(a.json, "a") as f: f.write(json.dumps({"device": dev, "torch": torch.__version__,
                                                           "diffusers": diffusers.__version__, **row}) + "\n")
    print()
    print(format_table(rows, COLS))
    print()
    ext = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in COLS or c == "target"]
    print(format_table(rows, ext))
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
