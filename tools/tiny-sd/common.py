"""Shared settings and helpers of the tiny text-to-image model: paths, the architectures, the noise schedule, data."""
import os
import random
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

TOKENIZER = os.path.join(ROOT, "models", "tiny-sd", "tokenizer")

# Noise schedule (Stable Diffusion's): scaled_linear betas 0.00085 .. 0.012 over 1000 steps.
NUM_TRAIN_TIMESTEPS, BETA_START, BETA_END = 1000, 0.00085, 0.012

# Sized for one shared CPU core (about 0.4 s of CPU per UNet step at batch 32): cross-attention only at 4x4 and in
# the middle block, where 16 positions per image attend to the 77 text positions.
TEXT = dict(width=32, layers=2, heads=4, mlp=128)
VAE = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
           block_out_channels=(16, 32, 32), layers_per_block=1, latent_channels=4, norm_num_groups=8, sample_size=32,
           mid_block_add_attention=False)
UNET = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32, attention_head_dim=4, norm_num_groups=16)


def diffusers_models():
    """diffusers' model classes, from its source tree (DIFFUSERS_SRC) with the hub packages stubbed."""
    src = os.environ.get("DIFFUSERS_SRC", os.path.join(ROOT, ".scratch", "diffusers", "src"))
    if src not in sys.path:
        sys.path.insert(0, src)
    import hub_stubs
    hub_stubs.install()
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    return AutoencoderKL, UNet2DConditionModel


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def alphas_cumprod():
    betas = torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, NUM_TRAIN_TIMESTEPS, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def load_images(path):
    """uint8 [N,28,28], labels; and the images padded to 32x32 as float [N,3,32,32] in [-1, 1] (gray in all three channels)."""
    d = np.load(path)
    img = d["images"]
    x = torch.from_numpy(img.astype(np.float32) / 127.5 - 1.0)[:, None]
    x = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0).repeat(1, 3, 1, 1)
    return img, d["labels"].astype(np.int64), x


def to_digit(images):
    """SDK-style output [B,3,32,32] in about [-1, 1] -> the classifier's input [B,1,28,28] (channel mean, centre crop)."""
    return images.clamp(-1, 1).mean(dim=1, keepdim=True)[:, :, 2:30, 2:30]
