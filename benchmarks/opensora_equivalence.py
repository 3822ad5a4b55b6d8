"""Our Open-Sora 1.2 stack (`prompt_a_video.opensora`) against the official code, same random weights, fp32, CPU.

Not part of CI. It needs the official code of hpcaitech/Open-Sora at tag v1.2.0 unpacked in a folder
(default /tmp/opensora_official, or $OPENSORA_OFFICIAL), e.g. from a clone:

    git --git-dir=Open-Sora/.git archive v1.2.0 | tar -x -C /tmp/opensora_official

and the official code's pure-Python dependencies in a folder on the path (default /tmp/osx/site, or
$OPENSORA_SITE): `rotary_embedding_torch==0.5.3` (the version Open-Sora pins) with `einops` and `beartype`,
and `ftfy` (its caption cleaning; `bs4` is taken from the environment):

    pip install --no-deps --target /tmp/osx/site rotary_embedding_torch==0.5.3 einops==0.8.0 beartype ftfy==6.2.0 wcwidth

The official package imports mmengine, colossalai, xformers, timm and torchvision; the script replaces them
with plain-PyTorch stand-ins: a dictionary registry, xformers' `memory_efficient_attention` and
`BlockDiagonalMask` written with `scaled_dot_product_attention` and a dense block mask, timm's `Mlp` (fc1,
GELU, fc2: the layers the checkpoint names) and `DropPath` as identity (0 at inference). Package
`__init__` files are skipped (they import every model family). Nothing of the official code is kept here.

Checks:
1. full size (meta device): the official STDiT3-XL/2 and ours have the same state-dict keys, order and shapes;
2. a scaled-down STDiT3 (hidden 64, 2+2 blocks, 4 heads) with random weights: ours load into the official
   module with strict=True; the forward pass agrees for two latent sizes (one with odd sides: patch padding)
   with captions of different lengths in the batch;
3. the sampler: the official `RFLOW.sample` (its text encoder replaced by the same caption states, its
   unconditional branch the model's `y_embedding`) against `rflow_sample`, 1 step and 3 steps, cfg 7;
   the timestep transform for the paper and 480p settings;
4. the temporal RoPE against `rotary_embedding_torch` itself; the caption cleaning against the official
   `text_preprocessing` on a set of prompts;
5. the VAE decode: helper script benchmarks/opensora_vae_equivalence.py is run (its table is appended);
6. a negative control: one weight of ours nudged by 1e-2 must break the agreement.

    python benchmarks/opensora_equivalence.py   # prints what opensora_equivalence.out.txt keeps
"""
import os
import subprocess
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

OFFICIAL = Path(os.environ.get("OPENSORA_OFFICIAL", "/tmp/opensora_official"))
SITE = os.environ.get("OPENSORA_SITE", "/tmp/osx/site")
TOL = 1e-4
REPO = Path(__file__).resolve().parents[1]


def _mod(name, **attrs):
    m = types.ModuleType(name); m.__dict__.update(attrs); sys.modules[name] = m; return m


class _Registry:
    def __init__(self, *a, **k): self._m = {}
    def register_module(self, name=None, force=False, module=None):
        def deco(obj): self._m[name or obj.__name__] = obj; return obj
        return deco if module is None else deco(module)


class _BlockDiagonalMask:
    "xformers' block-diagonal attention bias: query block i sees key block i only."
    def __init__(self, q, k): self.q, self.k = q, k
    @classmethod
    def from_seqlens(cls, q_seqlen, kv_seqlen=None): return cls(list(q_seqlen), list(kv_seqlen or q_seqlen))
    def dense(self, device):
        m = torch.zeros(sum(self.q), sum(self.k), dtype=torch.bool, device=device); qi = ki = 0
        for a, b in zip(self.q, self.k): m[qi:qi + a, ki:ki + b] = True; qi += a; ki += b
        return m


def _memory_efficient_attention(q, k, v, p=0.0, attn_bias=None):   # (B, M, H, D) as xformers
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    mask = attn_bias.dense(q.device) if isinstance(attn_bias, _BlockDiagonalMask) else attn_bias
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2)


class _Mlp(torch.nn.Module):
    "timm 0.9.16 `vision_transformer.Mlp` at inference: fc1 -> act -> fc2."
    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=torch.nn.GELU, drop=0.0, **_):
        super().__init__()
        self.fc1 = torch.nn.Linear(in_features, hidden_features or in_features); self.act = act_layer()
        self.fc2 = torch.nn.Linear(hidden_features or in_features, out_features or in_features)
    def forward(self, x): return self.fc2(self.act(self.fc1(x)))


def import_official(root: Path = OFFICIAL):
    "The official stdit3, rf scheduler and t5 text preprocessing modules, with stand-ins for their heavy imports."
    if not (root / "opensora/models/stdit/stdit3.py").is_file():
        sys.exit(f"no official code in {root}: unpack hpcaitech/Open-Sora v1.2.0 there (see this file's docstring)")
    sys.path[:0] = [SITE, str(root)]
    _mod("mmengine"); _mod("mmengine.registry", Registry=_Registry)
    _mod("colossalai"); _mod("colossalai.booster", Booster=object); _mod("colossalai.checkpoint_io", GeneralCheckpointIO=object)
    xf = _mod("xformers"); ops = _mod("xformers.ops", memory_efficient_attention=_memory_efficient_attention)
    ops.fmha = _mod("xformers.ops.fmha", BlockDiagonalMask=_BlockDiagonalMask); xf.ops = ops
    _mod("timm"); _mod("timm.models"); _mod("timm.models.layers", DropPath=torch.nn.Identity)
    _mod("timm.models.vision_transformer", Mlp=_Mlp)
    for pkg in ["opensora", "opensora.models", "opensora.models.stdit", "opensora.models.layers", "opensora.models.text_encoder",
                "opensora.schedulers", "opensora.acceleration", "opensora.utils"]:
        _mod(pkg).__path__ = [str(root / pkg.replace(".", "/"))]
    _mod("opensora.utils.ckpt_utils", load_checkpoint=None)
    _mod("opensora.schedulers.iddpm"); _mod("opensora.schedulers.iddpm.gaussian_diffusion", _extract_into_tensor=None, mean_flat=None)
    import importlib
    stdit3 = importlib.import_module("opensora.models.stdit.stdit3")
    rf = importlib.import_module("opensora.schedulers.rf")
    t5 = importlib.import_module("opensora.models.text_encoder.t5")
    iu = types.SimpleNamespace()
    src = (root / "opensora/utils/inference_utils.py").read_text()   # append_score_to_prompts only (the module imports datasets)
    start = src.index("def append_score_to_prompts"); end = src.index("\ndef ", start + 10)
    exec(src[start:end], iu.__dict__)
    return stdit3, rf, t5, iu


def _rel(a, b): return ((a - b).abs().max() / b.abs().max()).item()


def main():
    stdit3, rf, t5, iu = import_official()
    from prompt_a_video.opensora import (STDiT3, STDiT3Config, RotaryEmbedding, guidance_inputs, opensora_prompt,
                                         randomize_, rflow_sample, rflow_timesteps, timestep_transform)
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    tag = (OFFICIAL / "REVISION").read_text().strip() if (OFFICIAL / "REVISION").is_file() else "v1.2.0"
    print(f"Open-Sora 1.2 STDiT3 + sampler + text: prompt_a_video.opensora (repo {rev}) vs official hpcaitech/Open-Sora "
          f"{tag}, fp32, CPU, torch {torch.__version__}")
    torch.set_grad_enabled(False)
    errs = {}

    # 1. full-size key list
    from accelerate import init_empty_weights
    with init_empty_weights():
        off_xl = stdit3.STDiT3(stdit3.STDiT3Config(depth=28, hidden_size=1152, patch_size=(1, 2, 2), num_heads=16, qk_norm=True))
    with torch.device("meta"): our_xl = STDiT3(STDiT3Config.xl2())
    a = {k: tuple(v.shape) for k, v in off_xl.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in our_xl.state_dict().items()}
    print(f"full size STDiT3-XL/2 (meta device): official {len(a)} keys, ours {len(b)}; missing {sorted(set(a) - set(b))}, "
          f"unexpected {sorted(set(b) - set(a))}, shape mismatches {[k for k in a if k in b and a[k] != b[k]]}, "
          f"same order {list(a) == list(b)}; {sum(v.numel() for v in off_xl.state_dict().values()):,} numbers")
    assert a == b and list(a) == list(b)
    del off_xl, our_xl

    # 2. scaled-down forward
    cfg = STDiT3Config(hidden_size=64, depth=2, num_heads=4, caption_channels=32)
    ours = randomize_(STDiT3(cfg), seed=0, std=0.15).eval()
    off = stdit3.STDiT3(stdit3.STDiT3Config(depth=2, hidden_size=64, num_heads=4, caption_channels=32, patch_size=(1, 2, 2),
                                            qk_norm=True, model_max_length=300)).eval()
    off.load_state_dict(ours.state_dict(), strict=True)
    print(f"scaled-down STDiT3 (hidden 64, 2+2 blocks, 4 heads, caption 32): {len(ours.state_dict())} keys, "
          f"our random weights loaded into the official module with strict=True")
    g = torch.Generator().manual_seed(1)
    B = 2
    y = torch.randn(B, 300, 32, generator=g)
    mask = torch.zeros(B, 300, dtype=torch.long); mask[0, :12] = 1; mask[1, :5] = 1
    print(f"{'latent (B,C,T,H,W)':>22} {'pixels':>9} {'timestep':>9}  forward rel err")
    for shape, t in [((B, 4, 5, 6, 10), 870.0), ((B, 4, 3, 5, 7), 310.0)]:
        x = torch.randn(shape, generator=g)
        hw = dict(height=torch.full((B,), 8.0 * shape[3]), width=torch.full((B,), 8.0 * shape[4]))
        fps = torch.full((B,), 24.0)
        ts = torch.full((B,), t)
        o_off = off(x, ts, y[:, None], mask=mask, fps=fps, **hw)
        o_our = ours(x, ts, y, mask, fps=fps, **hw)
        errs[f"forward {shape}"] = e = _rel(o_our, o_off)
        print(f"{str(shape):>22} {8 * shape[3]}x{8 * shape[4]:<5} {t:9.0f}  {e:.2e}")

    # 3. the sampler
    class _Text:   # the official sampler's text encoder, giving our caption states; null() is the model's y_embedding
        y_embedder = off.y_embedder
        def encode(self, prompts): return dict(y=y[:, None], mask=mask)
        def null(self, n): return self.y_embedder.y_embedding[None].repeat(n, 1, 1)[:, None]
    T, H, W, nf = 5, 6, 10, 17
    f64 = dict(dtype=torch.float64)   # float64 size tensors: the official transform then runs in float64, as ours does
    args = dict(height=torch.full((B,), 8.0 * H, **f64), width=torch.full((B,), 8.0 * W, **f64),
                num_frames=torch.full((B,), float(nf), **f64), fps=torch.full((B,), 24.0))
    z0 = torch.randn(B, 4, T, H, W, generator=g)
    for steps in (1, 3):
        sched = rf.RFLOW(num_sampling_steps=steps, cfg_scale=7.0, use_timestep_transform=True)
        z_off = sched.sample(off, _Text(), z=z0.clone(), prompts=["a", "b"], device="cpu", additional_args=dict(args), progress=False)
        y2, m2 = guidance_inputs(ours, y, mask)
        fn = lambda zz, tt: ours(zz, tt, y2, m2, fps=24, height=8 * H, width=8 * W)
        z_our = rflow_sample(fn, z0.clone(), rflow_timesteps(steps, 8 * H, 8 * W, nf), 7.0)
        errs[f"sampler {steps} step(s)"] = e = _rel(z_our, z_off)
        print(f"rflow sampler, {steps} step(s), cfg 7, shifted timesteps, official RFLOW.sample vs rflow_sample: rel err {e:.2e}")
    print("  (size tensors in float64, so that the official timestep transform runs in float64 like ours; with float32 "
          "sizes its timesteps round differently\n   and the 1- and 3-step results differ by 1.3e-4, the rounding amplified "
          "by cfg 7 through the random timestep MLP)")
    from opensora.schedulers.rf.rectified_flow import timestep_transform as off_tt
    worst = 0.0
    for (h, w, f) in [(720, 1280, 51), (480, 848, 51), (480, 854, 51), (256, 256, 17), (512, 512, 1)]:
        kw = dict(height=torch.tensor([float(h)], dtype=torch.float64), width=torch.tensor([float(w)], dtype=torch.float64),
                  num_frames=torch.tensor([float(f)], dtype=torch.float64))
        for t in (1000.0, 900.0, 500.0, 33.3):
            ref = off_tt(torch.tensor([t], dtype=torch.float64), kw, num_timesteps=1000).item()
            worst = max(worst, abs(timestep_transform(t, h, w, f) - ref) / ref)
    errs["timestep transform"] = worst
    print(f"timestep transform (720x1280, 480x848, 480x854 at 51 frames, 256x256x17, 512x512 image; t = 1000, 900, 500, 33.3; "
          f"float64): max rel err {worst:.2e}")

    # 4. RoPE and caption cleaning
    from rotary_embedding_torch import RotaryEmbedding as RefRope
    q = torch.randn(6, 4, 13, 72, generator=g)
    e = _rel(RotaryEmbedding(72).rotate_queries_or_keys(q), RefRope(dim=72).rotate_queries_or_keys(q))
    errs["rope"] = e
    print(f"temporal RoPE (dim 72, 13 positions) vs rotary_embedding_torch 0.5.3: rel err {e:.2e}")
    prompts = [
        "A red fox runs through fresh snow at dawn, cinematic, 4K.",
        "Close-up: a chef's hands knead dough (slow motion) -- warm light",
        "“Hello world” written on a <b>chalkboard</b> &amp; a cat",
        "https://example.com/video.mp4 drone shot over the Alps, 1920x1080, jc6640 model",
        "A woman’s portrait; soft-focus, golden-hour, 35mm film grain, shallow depth-of-field, bokeh",
        "Two dogs #123 playing @john in a park... worldwide free shipping",
        "东京 street at night, neon signs, rain reflections",
        "a_very_long_snake_case_prompt-with-many-dashes-and_underscores",
        "Ａ fullwidth ＡＢＣ test with ﬁne ligatures",
        "A timelapse of clouds aesthetic score: 5.0.",
    ]
    off_clean = [t5.text_preprocessing(p) for p in iu.append_score_to_prompts(prompts, aes=6.5)]
    our_clean = [opensora_prompt(p, 6.5) for p in prompts]
    diff = [(a, b) for a, b in zip(our_clean, off_clean) if a != b]
    print(f"caption cleaning + aesthetic suffix, {len(prompts)} prompts (ftfy installed: "
          f"{__import__('importlib').util.find_spec('ftfy') is not None}): {len(prompts) - len(diff)} identical"
          + "".join(f"\n  ours {a!r}\n  official {b!r}" for a, b in diff))
    errs["caption cleaning mismatches"] = float(len(diff))

    # 6. negative control
    with torch.no_grad(): ours.temporal_blocks[1].attn.qkv.weight += 1e-2
    x = torch.randn(B, 4, 5, 6, 10, generator=g); hw = dict(height=torch.full((B,), 48.0), width=torch.full((B,), 80.0))
    e = _rel(ours(x, torch.full((B,), 500.0), y, mask, fps=24, **hw), off(x, torch.full((B,), 500.0), y[:, None], mask=mask,
                                                                          fps=torch.full((B,), 24.0), **hw))
    print(f"negative control (every weight of one temporal qkv projection of ours + 1e-2): forward rel err {e:.2e} (must exceed {TOL})")
    assert e > TOL

    # 5. the VAE decode (helper B's script, run separately: it stubs the same official packages its own way)
    vae_script = REPO / "benchmarks/opensora_vae_equivalence.py"
    vae_ok = None
    if vae_script.is_file():
        r = subprocess.run([sys.executable, str(vae_script)], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": f"{REPO}:{SITE}:" + os.environ.get("PYTHONPATH", "")})
        out = [l for l in r.stdout.splitlines() if l.strip()]
        print("VAE (benchmarks/opensora_vae_equivalence.py):\n  " + "\n  ".join(out[-8:]))
        vae_ok = r.returncode == 0 and out and out[-1].endswith("PASS")
    worst = max(v for k, v in errs.items() if "mismatches" not in k)
    ok = worst < TOL and errs["caption cleaning mismatches"] == 0 and vae_ok is not False
    print(f"max relative error {worst:.2e} (tolerance {TOL}); caption cleaning mismatches {int(errs['caption cleaning mismatches'])}; "
          f"VAE {'PASS' if vae_ok else 'not run' if vae_ok is None else 'FAIL'}: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
