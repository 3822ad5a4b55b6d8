"Open-Sora 1.2 video VAE (prompt_a_video.opensora_vae) with tiny random weights: loading, shapes, chunking, errors."
import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from prompt_a_video.core import PavError
from prompt_a_video.opensora_vae import OpenSoraVAE, OpenSoraVAEConfig, build_tiny_opensora_vae


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_opensora_vae(tmp_path_factory.mktemp("osvae"))


@pytest.fixture(scope="module")
def vae(tiny_dir):
    return OpenSoraVAE.from_pretrained(tiny_dir)


def video(t, h=16, w=16, b=1, seed=0):
    return torch.rand(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_tiny_checkpoint_keys_match_module(tiny_dir, vae):
    saved = load_file(str(tiny_dir / "model.safetensors"))
    assert set(saved) == set(vae.state_dict())
    assert any(k.startswith("spatial_vae.module.encoder.") for k in saved)
    assert any(k.startswith("temporal_vae.decoder.conv_out.conv.") for k in saved)
    for k, v in vae.state_dict().items(): assert torch.equal(v, saved[k]), k
    assert OpenSoraVAE.from_pretrained(tiny_dir).config == OpenSoraVAEConfig.tiny()
    # the same seed builds the same weights on every machine
    again = load_file(str(build_tiny_opensora_vae(tiny_dir.parent / "again") / "model.safetensors"))
    assert all(torch.equal(again[k], saved[k]) for k in saved)


def test_missing_or_unexpected_keys_refused(tiny_dir, tmp_path):
    sd = load_file(str(tiny_dir / "model.safetensors"))
    (tmp_path / "config.json").write_text((tiny_dir / "config.json").read_text())
    dropped = dict(sd); dropped.pop("temporal_vae.quant_conv.conv.weight")
    save_file(dropped, str(tmp_path / "model.safetensors"))
    with pytest.raises(PavError, match="missing \\['temporal_vae.quant_conv.conv.weight'\\]"):
        OpenSoraVAE.from_pretrained(tmp_path)
    # the normalisation buffers may be absent: they come from the config
    nobuf = {k: v for k, v in sd.items() if k not in ("scale", "shift")}
    save_file(nobuf, str(tmp_path / "model.safetensors"))
    m = OpenSoraVAE.from_pretrained(tmp_path)
    assert torch.allclose(m.scale.flatten(), torch.tensor([3.85, 2.32, 2.33, 3.06]))   # measured 0 (the same float32 casts)


def test_released_config_format():
    released = {"architectures": ["VideoAutoencoderPipeline"], "model_type": "VideoAutoencoderPipeline", "cal_loss": False,
                "freeze_vae_2d": False, "micro_frame_size": 17, "shift": [-0.1, 0.34, 0.27, 0.98], "scale": [3.85, 2.32, 2.33, 3.06],
                "vae_2d": {"type": "VideoAutoencoderKL", "micro_batch_size": 4, "subfolder": "vae",
                           "from_pretrained": "PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers"},
                "vae_temporal": {"type": "VAE_Temporal_SD", "from_pretrained": None}}
    assert OpenSoraVAEConfig.from_dict(json.loads(json.dumps(released))) == OpenSoraVAEConfig()


def expected_latent_frames(t, chunk=17):
    "Independent count: each chunk of up to 17 frames, padded in front to a multiple of 4, gives len/4 latent frames."
    return sum(math.ceil(min(chunk, t - s) / 4) for s in range(0, t, chunk))


@pytest.mark.parametrize("t", [1, 4, 5, 17, 18, 21, 34, 40])
def test_encode_decode_shapes(vae, t):
    x = video(t, 16, 24, b=2)
    with torch.no_grad():
        z = vae.encode(x)
        assert z.shape == (2, 4, expected_latent_frames(t), 2, 3)
        assert vae.get_latent_size((t, 16, 24)) == [expected_latent_frames(t), 2, 3]
        assert vae.decode(z, t).shape == x.shape


def test_decode_is_chunk_by_chunk(vae):
    "Decoding 20 frames = decoding the first 5 latent frames to 17 and the last one to 3, separately."
    z = torch.randn(1, 4, 6, 2, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = vae.decode(z, 20)
        parts = torch.cat([vae.decode(z[:, :, :5], 17), vae.decode(z[:, :, 5:], 3)], dim=2)
    # measured max |diff| 2.0e-6 (2 threads), 1.3e-6 (1 thread) on values up to 1.49 (convolutions over chunks of a
    # different length sum in another order); 10x margin
    assert torch.allclose(whole, parts, rtol=0, atol=2e-5)


def test_chunks_are_independent_but_groupnorm_spans_a_chunk(vae):
    x = video(34)
    later = x.clone(); later[:, :, 25] = 0.0        # a frame of the second chunk
    inside = x.clone(); inside[:, :, 16] = 0.0      # the last frame of the first chunk
    with torch.no_grad():
        z, z_later, z_inside = (vae.encode(v, sample=False) for v in (x, later, inside))
    assert torch.equal(z_later[:, :, :5], z[:, :, :5])
    assert (z_later[:, :, 5:] - z[:, :, 5:]).abs().max() > 1e-5        # measured 0.21 (1 and 2 threads)
    # the convolutions are causal, but GroupNorm pools a whole chunk: latent frame 0 moves too
    assert (z_inside[:, :, 0] - z[:, :, 0]).abs().max() > 0             # measured 2.1e-4 (1 and 2 threads)


def test_sampling_and_micro_batches(tiny_dir):
    x = video(9, b=2)
    full = OpenSoraVAE.from_pretrained(tiny_dir)
    with torch.no_grad():
        a = full.encode(x, generator=torch.Generator().manual_seed(3))
        b = full.encode(x, generator=torch.Generator().manual_seed(3))
        c = full.encode(x, generator=torch.Generator().manual_seed(4))
        m = full.encode(x, sample=False)
        # seeds 3 and 4: measured max |a - c| 1.13, far outside allclose's defaults
        assert torch.equal(a, b) and not torch.allclose(a, c) and torch.equal(m, full.encode(x, sample=False))
        full.config.micro_batch_size, full.config.micro_frame_size = None, None
        one = full.decode(m, 9)
        full.config.micro_batch_size = 1
        # measured max |diff| 2.8e-6 (2 threads), 2.7e-6 (1 thread) on values up to 1.40; 10x margin
        assert torch.allclose(full.decode(m, 9), one, rtol=0, atol=3e-5)


def test_bf16_load(tiny_dir):
    m = OpenSoraVAE.from_pretrained(tiny_dir, dtype=torch.bfloat16)
    assert m.dtype == torch.bfloat16 and all(p.dtype == torch.bfloat16 for p in m.parameters())
    with torch.no_grad(): y = m.decode(torch.randn(1, 4, 3, 2, 2, dtype=torch.bfloat16), 9)
    assert y.shape == (1, 3, 9, 16, 16) and y.dtype == torch.bfloat16


def test_shape_errors(vae):
    with pytest.raises(PavError, match="channels to dim 1"): vae.encode(torch.zeros(1, 9, 3, 16, 16))
    with pytest.raises(PavError, match="multiples of 8"): vae.encode(torch.zeros(1, 3, 9, 12, 16))
    with pytest.raises(PavError, match="latents \\(B, 4"): vae.decode(torch.zeros(1, 16, 3, 2, 2), 9)
    with pytest.raises(PavError, match="9 frames make 3 latent frames, but the latents have 5"):
        vae.decode(torch.zeros(1, 4, 5, 2, 2), 9)
    with pytest.raises(PavError, match="no Open-Sora VAE"): OpenSoraVAE.from_pretrained("/nonexistent/vae/folder")
