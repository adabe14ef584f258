"""Shared helpers for the digits model tools (data, noise schedule, DDIM,
Fréchet distance, PNG writing, ONNX export). Works with torch 1.13 (Debian
python3-torch, CPU) and torch 2.x (CUDA)."""
import inspect
import json
import os
import random
import struct
import zlib

import numpy as np
import torch

NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02
UNCOND_LABEL = 10
NUM_HELD_OUT = 1000


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(name="auto"):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_digits(path):
    """Returns images as float32 [N,1,28,28] in [-1, 1] and int64 labels [N]
    (the npz order written by prepare_data.py: last 1,000 = held out)."""
    d = np.load(path)
    x = d["images"].astype(np.float32) / 255.0 * 2.0 - 1.0
    return torch.from_numpy(x[:, None]), torch.from_numpy(d["labels"].astype(np.int64))


def alphas_cumprod():
    """Linear beta schedule exactly as diffusers: torch.linspace in float32."""
    betas = torch.linspace(BETA_START, BETA_END, NUM_TRAIN_TIMESTEPS, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0)


def ddim_timesteps(num_steps, spacing="trailing", steps_offset=0):
    """The inference timesteps of diffusers' DDIMScheduler.set_timesteps."""
    T = NUM_TRAIN_TIMESTEPS
    if spacing == "trailing":
        step_ratio = T / num_steps
        ts = np.round(np.arange(T, 0, -step_ratio)).astype(np.int64) - 1
    elif spacing == "leading":
        step_ratio = T // num_steps
        ts = (np.arange(0, num_steps) * step_ratio).round()[::-1].astype(np.int64) + steps_offset
    elif spacing == "linspace":
        ts = np.linspace(0, T - 1, num_steps).round()[::-1].astype(np.int64)
    else:
        raise ValueError(spacing)
    return ts


@torch.no_grad()
def ddim_sample(eps_fn, noise, labels, num_steps=20, guidance=3.0, spacing="trailing",
                clip_sample=True, clip_range=1.0, set_alpha_to_one=True, steps_offset=0):
    """DDIM (eta = 0) with classifier-free guidance, step for step as diffusers'
    DDIMScheduler.step (use_clipped_model_output=False).

    eps_fn(x [B,1,28,28] float32, t [B] float32, labels [B] int64) -> eps.
    Guidance: eps = eps_u + w (eps_c - eps_u); w = 1 is plain conditional."""
    ac = alphas_cumprod().double()
    final_ac = torch.tensor(1.0, dtype=torch.float64) if set_alpha_to_one else ac[0]
    x = noise.clone()
    B = x.shape[0]
    dev = x.device
    uncond = torch.full_like(labels, UNCOND_LABEL)
    ratio = NUM_TRAIN_TIMESTEPS // num_steps
    for t in ddim_timesteps(num_steps, spacing, steps_offset):
        t = int(t)
        tt = torch.full((B,), float(t), dtype=torch.float32, device=dev)
        if guidance == 1.0:
            eps = eps_fn(x, tt, labels)
        else:
            e = eps_fn(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, uncond]))
            e_c, e_u = e[:B], e[B:]
            eps = e_u + guidance * (e_c - e_u)
        prev_t = t - ratio
        a_t = float(ac[t])
        a_prev = float(ac[prev_t]) if prev_t >= 0 else float(final_ac)
        x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5
        if clip_sample:
            x0 = x0.clamp(-clip_range, clip_range)
        x = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
    return x


def frechet_distance(mu1, cov1, mu2, cov2):
    """||mu1-mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), numpy only:
    tr (C1 C2)^(1/2) = sum sqrt(eig(C1^(1/2) C2 C1^(1/2)))."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    w, v = np.linalg.eigh((cov1 + cov1.T) / 2)
    s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = s1 @ cov2 @ s1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = np.sqrt(np.clip(ev, 0, None)).sum()
    d = mu1 - mu2
    return float(d @ d + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def feature_stats(feats):
    f = np.asarray(feats, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def write_png_gray(path, img):
    """img: uint8 [H, W]. Standard library PNG writer (8-bit grayscale)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def make_grid(images, rows, cols, pad=2, scale=2):
    """images: float array [rows*cols, 28, 28] in [-1,1] -> uint8 grid, white digits on black."""
    imgs = np.clip((np.asarray(images) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    h, w = imgs.shape[1:]
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad), np.uint8) + 40
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = imgs[i]
    if scale > 1:
        grid = grid.repeat(scale, 0).repeat(scale, 1)
    return grid


def export_onnx(model, args, path, input_names, output_names, dynamic_axes, opset=17):
    """Single-file ONNX export (no external data), TorchScript-based exporter
    (torch 1.13 .. 2.x with dynamo=False). Returns the exporter used."""
    model.eval()
    kwargs = dict(input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                  opset_version=opset, do_constant_folding=True)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    torch.onnx.export(model, args, path, **kwargs)
    try:
        import onnx
        m = onnx.load(path)
        onnx.checker.check_model(m)
        # re-save to be sure every tensor is inline (single file)
        onnx.save_model(m, path, save_as_external_data=False)
    except ImportError:
        pass
    return "torchscript"


def ema_decay(step, max_decay):
    return min(max_decay, (1.0 + step) / (10.0 + step))


def save_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
