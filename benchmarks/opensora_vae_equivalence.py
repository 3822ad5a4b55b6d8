"""Our Open-Sora 1.2 VAE (`prompt_a_video.opensora_vae`) against the official code, same weights, fp32.

Not part of CI. It needs the official code of hpcaitech/Open-Sora at tag v1.2.0 unpacked in a folder
(default /tmp/opensora_official, or $OPENSORA_OFFICIAL), for example from a clone:

    git --git-dir=Open-Sora/.git archive v1.2.0 opensora | tar -x -C /tmp/opensora_official
    echo "v1.2.0 $(git --git-dir=Open-Sora/.git rev-parse v1.2.0)" > /tmp/opensora_official/REVISION

and `einops` importable (pip install einops; the official code uses it). The official package imports
mmengine (registry), colossalai (checkpoint utilities) and, through its package __init__ files,
everything else; none of that is needed for the VAE, so the script loads only
`opensora/models/vae/{vae,vae_temporal,utils}.py`, with two plain-Python stand-ins: a dictionary
registry for `opensora.registry` and a `load_checkpoint` that is never called. The official spatial VAE
loads `AutoencoderKL.from_pretrained(...)`; the stand-in builds diffusers' `AutoencoderKL` from the
same config instead (no download). Nothing of the official code is kept in this repository.

Checks:
1. full size, on the meta device: the official `VideoAutoencoderPipeline` (VideoAutoencoderKL with the
   SD-XL VAE config + VAE_Temporal_SD) and our `OpenSoraVAE()` have the same state-dict keys and shapes;
2. a scaled-down model with random weights (every parameter randomised, norms included): our weights
   load into the official module with strict=True; encode (same seed: both sample their posteriors) and
   decode agree within 1e-4 max relative error, for clips of 17, 37 (two chunks + a 3-frame remainder)
   and 9 frames, batch 2; `get_latent_size` agrees for 1..70 frames;
3. a negative control: after nudging two temporal weights of ours by 1e-2 the errors exceed the tolerance.

    python benchmarks/opensora_vae_equivalence.py   # prints the table kept in opensora_vae_equivalence.out.txt

`run_vae_equivalence()` returns the figures as a dict (used by benchmarks/opensora_equivalence.py).
"""
import importlib
import os
import subprocess
import sys
import types
from pathlib import Path

import torch

from prompt_a_video.opensora_vae import OpenSoraVAE, OpenSoraVAEConfig

OFFICIAL = Path(os.environ.get("OPENSORA_OFFICIAL", "/tmp/opensora_official"))
TOL = 1e-4


def _stub_package(name, root):
    m = types.ModuleType(name)
    m.__path__ = [str(root / name.replace(".", "/"))]
    return m


def import_official_vae(root: Path = OFFICIAL):
    "The official `opensora.models.vae.vae` module (with `VideoAutoencoderPipeline`), hard imports stubbed."
    if not (root / "opensora/models/vae/vae_temporal.py").is_file():
        raise SystemExit(f"no official Open-Sora code under {root}: unpack the v1.2.0 tag's opensora/ folder there "
                         "(git archive v1.2.0 opensora | tar -x -C DIR) or set OPENSORA_OFFICIAL")
    try:
        import einops  # noqa: F401
    except ImportError:
        raise SystemExit("the official code needs einops: pip install einops") from None
    saved = {k: v for k, v in sys.modules.items() if k == "opensora" or k.startswith("opensora.")}
    for k in saved: del sys.modules[k]
    try:
        for name in ("opensora", "opensora.models", "opensora.models.vae", "opensora.utils"):
            sys.modules[name] = _stub_package(name, root)

        class Registry(dict):   # stand-in for mmengine's Registry: name -> class or function
            def register_module(self, name=None):
                def add(obj): self[name or obj.__name__] = obj; return obj
                return add
            def build(self, cfg):
                cfg = dict(cfg); return self[cfg.pop("type")](**cfg)

        def build_module(module, builder, **kwargs):
            if module is None or isinstance(module, torch.nn.Module): return module
            return builder.build({**module, **kwargs})

        reg = types.ModuleType("opensora.registry")
        reg.MODELS, reg.build_module = Registry(), build_module
        ck = types.ModuleType("opensora.utils.ckpt_utils")
        def load_checkpoint(*a, **k): raise RuntimeError("not used in this comparison")
        ck.load_checkpoint = load_checkpoint
        sys.modules["opensora.registry"], sys.modules["opensora.utils.ckpt_utils"] = reg, ck
        importlib.import_module("opensora.models.vae.vae_temporal")   # registers VAE_Temporal, VAE_Temporal_SD
        vae = importlib.import_module("opensora.models.vae.vae")
        vae.MODELS_ = reg.MODELS
        return vae
    finally:   # leave sys.modules as found: another script may stub `opensora` its own way
        for k in [k for k in sys.modules if k == "opensora" or k.startswith("opensora.")]: del sys.modules[k]
        sys.modules.update(saved)


def official_pipeline(off, cfg: OpenSoraVAEConfig, temporal: dict):
    "The official VideoAutoencoderPipeline with our spatial config (from_pretrained replaced by a config build)."
    from diffusers import AutoencoderKL

    class FromConfig:   # what VideoAutoencoderKL calls as AutoencoderKL.from_pretrained(name, subfolder=...)
        config = None
        @staticmethod
        def from_pretrained(*a, **k): return AutoencoderKL(**cfg.spatial_config())

    off.AutoencoderKL = FromConfig
    pc = off.VideoAutoencoderPipelineConfig(
        vae_2d=dict(type="VideoAutoencoderKL", from_pretrained="PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers",
                    subfolder="vae", micro_batch_size=cfg.micro_batch_size),
        vae_temporal=temporal, micro_frame_size=cfg.micro_frame_size, shift=cfg.shift, scale=cfg.scale)
    return off.VideoAutoencoderPipeline(pc)


def _randomise(model, seed):
    "Every parameter random (conv/linear ~ N(0, 1/fan_in), norm weights 1 + N(0, 0.1), biases N(0, 0.1))."
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if p.ndim > 1: p.copy_(r / (p[0].numel() ** 0.5))
            elif "norm" in name and name.endswith("weight"): p.copy_(1 + 0.1 * r)
            else: p.copy_(0.1 * r)


def _rel(a, b): return ((a - b).abs().max() / b.abs().max()).item()


def run_vae_equivalence(root: Path = OFFICIAL, seed: int = 0) -> dict:
    "Compare our VAE with the official one; a dict of key counts, relative errors and `ok`."
    torch.set_default_dtype(torch.float32)
    off = import_official_vae(Path(root))
    rev = Path(root) / "REVISION"   # written by whoever unpacked it: tag and commit
    out = {"official_code": str(root), "official_revision": rev.read_text().strip() if rev.is_file() else "unknown"}

    # 1. full size on the meta device: keys and shapes
    with torch.device("meta"):
        theirs = official_pipeline(off, OpenSoraVAEConfig(), dict(type="VAE_Temporal_SD", from_pretrained=None))
        ours = OpenSoraVAE()
    ts = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    os_ = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    out["full_keys_official"], out["full_keys_ours"] = len(ts), len(os_)
    out["full_missing"] = sorted(set(ts) - set(os_))
    out["full_unexpected"] = sorted(set(os_) - set(ts))
    out["full_shape_mismatches"] = sorted(k for k in set(ts) & set(os_) if ts[k] != os_[k])
    out["full_params"] = sum(v.numel() for v in theirs.state_dict().values())

    # 2. scaled down, random weights: load ours into theirs, compare encode/decode
    cfg = OpenSoraVAEConfig(spatial_block_out_channels=(8, 16, 16, 16), spatial_layers_per_block=1, spatial_norm_num_groups=4,
                            temporal_filters=8, temporal_num_res_blocks=2, temporal_num_groups=4)
    temporal = dict(type="VAE_Temporal", in_out_channels=4, latent_embed_dim=4, embed_dim=4, filters=cfg.temporal_filters,
                    num_res_blocks=cfg.temporal_num_res_blocks, channel_multipliers=cfg.temporal_channel_multipliers,
                    temporal_downsample=cfg.temporal_downsample, num_groups=cfg.temporal_num_groups)
    torch.manual_seed(seed)
    ours = OpenSoraVAE(cfg).eval()
    _randomise(ours, seed)
    theirs = official_pipeline(off, cfg, temporal).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)   # raises on any missing / unexpected key or shape
    out["tiny_keys"] = len(ours.state_dict())
    rows = []
    with torch.no_grad():
        for T in (17, 37, 9):
            x = torch.rand(2, 3, T, 32, 48, generator=torch.Generator().manual_seed(seed + T)) * 2 - 1
            torch.manual_seed(seed + 100 + T); z_t = theirs.encode(x)
            torch.manual_seed(seed + 100 + T); z_o = ours.encode(x)
            y_t = theirs.decode(z_t, num_frames=T)
            y_o = ours.decode(z_t, T)
            rows.append(dict(frames=T, latent_shape=tuple(z_o.shape), video_shape=tuple(y_o.shape),
                             encode_rel_err=_rel(z_o, z_t), decode_rel_err=_rel(y_o, y_t),
                             decode_abs_max=y_t.abs().max().item()))
        # negative control: the same comparison after nudging one temporal weight of ours must fail
        x = torch.rand(1, 3, 17, 32, 48, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        torch.manual_seed(seed); z_t = theirs.encode(x)
        y_t = theirs.decode(z_t, num_frames=17)
        ours.temporal_vae.encoder.conv_blocks[1].conv.bias.add_(1e-2)
        ours.temporal_vae.decoder.conv_blocks[2].conv.weight.add_(1e-2)
        torch.manual_seed(seed)
        out["control_encode_rel_err"] = _rel(ours.encode(x), z_t)
        out["control_decode_rel_err"] = _rel(ours.decode(z_t, 17), y_t)
    out["rows"] = rows
    out["latent_size_mismatches"] = [T for T in range(1, 71)
                                     if theirs.get_latent_size([T, 64, 96]) != ours.get_latent_size((T, 64, 96))]
    out["max_rel_err"] = max(max(r["encode_rel_err"], r["decode_rel_err"]) for r in rows)
    out["ok"] = (not out["full_missing"] and not out["full_unexpected"] and not out["full_shape_mismatches"]
                 and not out["latent_size_mismatches"] and out["max_rel_err"] < TOL
                 and min(out["control_encode_rel_err"], out["control_decode_rel_err"]) > TOL)
    return out


def main():
    r = run_vae_equivalence()
    rev = ""
    try: rev = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except Exception: pass
    print(f"Open-Sora 1.2 VAE: prompt_a_video.opensora_vae (repo {rev}) vs official hpcaitech/Open-Sora {r['official_revision']}, fp32, CPU, torch {torch.__version__}")
    print(f"full size (meta device): official {r['full_keys_official']} keys, ours {r['full_keys_ours']}; "
          f"missing {r['full_missing']}, unexpected {r['full_unexpected']}, shape mismatches {r['full_shape_mismatches']}; "
          f"{r['full_params'] / 1e6:.1f} M parameters ({r['full_params'] * 4 / 1e9:.3f} GB in fp32)")
    print(f"scaled-down model: {r['tiny_keys']} keys, our weights loaded into the official module with strict=True")
    print(f"{'frames':>6} {'latents':>20} {'video':>22} {'encode rel err':>15} {'decode rel err':>15}")
    for row in r["rows"]:
        print(f"{row['frames']:>6} {str(row['latent_shape']):>20} {str(row['video_shape']):>22} "
              f"{row['encode_rel_err']:>15.2e} {row['decode_rel_err']:>15.2e}")
    print(f"get_latent_size, 1..70 frames: mismatches {r['latent_size_mismatches']}")
    print(f"negative control (one temporal encoder bias and one decoder weight of ours nudged by 1e-2): "
          f"encode rel err {r['control_encode_rel_err']:.2e}, decode rel err {r['control_decode_rel_err']:.2e} (must exceed {TOL:g})")
    print(f"max relative error {r['max_rel_err']:.2e} (tolerance {TOL:g}): {'PASS' if r['ok'] else 'FAIL'}")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
