#!/usr/bin/env python3
"""Trains the LoRA example that ships beside the tiny text-to-image model: a "bold" style adapter in kohya's format.

The trained model (read back from models/tiny-sd's ONNX files, onnx_weights.py) stays frozen. A rank-4 adapter on
every Linear layer of the UNet's transformer blocks (attn1 and attn2 to_q, to_k, to_v, to_out.0; ff.net.0.proj,
ff.net.2: 40 modules) is fine-tuned on the bold digits (captions.py's rule: ink mass at or above the class's 75th
percentile), captioned WITHOUT the word "bold" (size and slant kept with probability 1/2 as in training, never empty),
and, for a quarter of each batch, on digits of every weight with the empty caption, so that the unconditional
prediction stays the model's. So the adapter learns that "a handwritten N" looks like a bold N: loaded at weight 1 it
thickens the strokes of prompts that do not ask for it (and guidance, which amplifies the difference between the
captioned and the empty prediction, amplifies that), at weight 0 it changes nothing.

Training: epsilon-MSE with the model's schedule, timesteps uniform, a fresh posterior sample of each digit's latent
per step (as train.py), Adam, constant learning rate after a warm-up; one thread, every random draw from the seed,
so a rerun on the same machine repeats the file. The adapter is rounded to float16 (the file's type) and measured in
torch before it is written: mean ink mass of "a handwritten N" (N = 0..9, fixed seeds, guidance 5, 20 DDIM steps)
at weights 0, 0.5 and 1. The SDK's measurement is the test (tests/Sdk.Tests/TinySd/TinySdLoraTests.cs).

Writes models/tiny-sd-lora/bold.safetensors and tools/tiny-sd/results/lora_bold_loss.csv, lora_bold.json.
Usage: nice python3 tools/tiny-sd/train_lora.py [--steps 400]
"""
import argparse
import csv
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

import common as C
import onnx_weights as W
from captions import attributes, training_caption
from classifier import OnnxClassifier
from clip_bpe import ClipBpe
from evaluate import sample
from train import encode_all, log

TARGETS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k", "attn2.to_v",
           "attn2.to_out.0", "ff.net.0.proj", "ff.net.2")


class LoraHooks:
    """A LoRA on Linear modules by forward hooks: y = base(x) + weight * (alpha / rank) * up(down(x))."""

    def __init__(self, unet, rank, alpha, generator):
        self.rank, self.alpha, self.weight = rank, alpha, 1.0
        self.modules = {}
        for name, m in unet.named_modules():
            if isinstance(m, torch.nn.Linear) and name.endswith(TARGETS) and ".transformer_blocks." in name:
                # kohya's initialisation: down ~ kaiming-uniform(a = sqrt 5), as torch's Linear; up = 0, so training starts at the model
                bound = 1.0 / math.sqrt(m.in_features)
                down = ((torch.rand(rank, m.in_features, generator=generator) * 2 - 1) * bound).requires_grad_()
                up = torch.zeros(m.out_features, rank, requires_grad=True)
                self.modules[name] = (down, up)
                m.register_forward_hook(self._hook(down, up))

    def _hook(self, down, up):
        def hook(_module, inputs, output):
            if self.weight == 0:
                return output
            return output + (self.weight * self.alpha / self.rank) * (inputs[0] @ down.t() @ up.t())
        return hook

    def parameters(self):
        return [t for pair in self.modules.values() for t in pair]

    def round_to_half(self):
        with torch.no_grad():
            for t in self.parameters():
                t.copy_(t.half().float())

    def kohya_tensors(self):
        """kohya's keys: lora_unet_<module path, every . as _>.lora_down.weight [rank, in], .lora_up.weight [out, rank], .alpha."""
        out = {}
        for name, (down, up) in self.modules.items():
            key = "lora_unet_" + name.replace(".", "_")
            out[key + ".lora_down.weight"] = down.detach().half().numpy()
            out[key + ".lora_up.weight"] = up.detach().half().numpy()
            out[key + ".alpha"] = np.array(self.alpha, dtype=np.float16)
        return out


def write_safetensors(path, tensors, metadata):
    """The safetensors format (no package for it here): 8-byte little-endian header length, JSON header, data in key order."""
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for key in sorted(tensors):
        a = np.ascontiguousarray(tensors[key])
        data = a.tobytes()
        header[key] = {"dtype": {np.float16: "F16", np.float32: "F32"}[a.dtype.type], "shape": list(a.shape),
                       "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def ink_mass(images):
    """DigitMeasures.InkMass of each decoded picture ([-1, 1]): the sum of p = (grey + 1) / 2 over the centre 28x28."""
    return ((C.to_digit(images) + 1) / 2).sum(dim=(1, 2, 3)).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(C.ROOT, ".scratch", "data", "mnist10k.npz"))
    ap.add_argument("--model", default=os.path.join(C.ROOT, "models", "tiny-sd"))
    ap.add_argument("--out", default=os.path.join(C.ROOT, "models", "tiny-sd-lora", "bold.safetensors"))
    ap.add_argument("--results", default=os.path.join(C.HERE, "results"))
    ap.add_argument("--seed", type=int, default=4040)
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--prior", type=int, default=8, help="of each batch, digits of every weight with the empty caption")
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-seeds", type=int, default=3, help="seeds per digit for the torch measurement")
    args = ap.parse_args()

    torch.set_num_threads(1)
    t0 = time.time()
    C.seed_everything(args.seed)
    scaling = json.load(open(os.path.join(args.model, "vae_decoder", "config.json")))["scaling_factor"]
    unet, text, vae = W.load_unet(args.model), W.load_text_encoder(args.model), W.load_vae(args.model, scaling)
    for m in (unet, text, vae):
        m.requires_grad_(False)
    log("model read back from its ONNX files", t0)

    images, labels, x = C.load_images(args.data)
    attrs = attributes(images, labels)
    bold = np.flatnonzero(attrs["weight"] == "bold")
    bold_t = torch.from_numpy(bold)
    mean, std = encode_all(vae, x)
    log(f"{len(labels)} digits encoded, {len(bold)} of them bold", t0)

    bpe = ClipBpe(C.TOKENIZER)
    captions = {}

    @torch.no_grad()
    def hidden_of(caption):
        if caption not in captions:
            captions[caption] = text(torch.tensor([bpe.frame(caption)], dtype=torch.int64))[0][0]
        return captions[caption]

    g = torch.Generator().manual_seed(args.seed + 1)
    lora = LoraHooks(unet, args.rank, args.alpha, g)
    opt = torch.optim.Adam(lora.parameters(), lr=args.lr)
    ac = C.alphas_cumprod()
    rng = np.random.default_rng(args.seed + 2)
    rows = []
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / 50)
        for group in opt.param_groups:
            group["lr"] = lr
        # The first part of the batch: bold digits, captioned without "bold". The rest: any digit with the empty caption,
        # as in the model's own training, so that the unconditional prediction stays the model's and classifier-free
        # guidance amplifies the difference the adapter makes to captioned prompts.
        n_bold = args.batch - args.prior
        idx = torch.cat([bold_t[torch.randint(0, len(bold), (n_bold,), generator=g)], torch.randint(0, len(labels), (args.prior,), generator=g)])
        z0 = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=g)) * scaling
        noise = torch.randn(z0.shape, generator=g)
        t = torch.randint(0, C.NUM_TRAIN_TIMESTEPS, (args.batch,), generator=g)
        a = ac[t].view(-1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        caps = [training_caption(rng, labels[i], "", attrs["size"][i], attrs["slant"][i], empty_rate=0.0) for i in idx[:n_bold].tolist()]
        caps += [""] * args.prior
        hidden = torch.stack([hidden_of(c) for c in caps])
        loss = F.mse_loss(unet(zt, t, encoder_hidden_states=hidden).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        rows.append((step + 1, float(loss), lr, time.time() - t0))
        if (step + 1) % args.log_every == 0:
            log(f"lora step {step + 1}/{args.steps} loss {np.mean([r[1] for r in rows[-args.log_every:]]):.5f}", t0)

    lora.round_to_half()
    clf = OnnxClassifier(os.path.join(C.ROOT, "models", "classifier", "model.onnx"))
    digits = [d for d in range(10) for _ in range(args.eval_seeds)]
    seeds = [i % args.eval_seeds for i in range(len(digits))]
    measured = {}
    for weight in (0.0, 0.5, 1.0):
        lora.weight = weight
        with torch.no_grad():
            img = sample(text, unet, vae, scaling, bpe, [f"a handwritten {d}" for d in digits], seeds, 20, 5.0)
        mass = ink_mass(img)
        correct = int((clf.logits(C.to_digit(img)).argmax(1).numpy() == np.array(digits)).sum())
        measured[str(weight)] = {"mean_ink_mass": float(mass.mean()), "classifier_correct": correct, "pictures": len(digits)}
        log(f"weight {weight}: mean ink mass {mass.mean():.1f}, classifier {correct}/{len(digits)}", t0)

    write_safetensors(args.out, lora.kohya_tensors(), {
        "ss_network_module": "networks.lora", "ss_network_dim": str(args.rank), "ss_network_alpha": str(args.alpha),
        "ss_base_model": "models/tiny-sd", "description": "tiny-sd 'bold' style: bolder strokes for prompts without the word bold (tools/tiny-sd/train_lora.py)"})
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "lora_bold_loss.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "lr", "seconds"])
        w.writerows([(s, f"{l:.6g}", f"{r:.6g}", f"{sec:.1f}") for s, l, r, sec in rows])
    summary = {"seed": args.seed, "rank": args.rank, "alpha": args.alpha, "steps": args.steps, "batch": args.batch, "prior": args.prior, "lr": args.lr,
               "modules": len(lora.modules), "parameters": sum(t.numel() for t in lora.parameters()), "bold_digits": int(len(bold)),
               "loss_first_25": float(np.mean([r[1] for r in rows[:25]])), "loss_last_25": float(np.mean([r[1] for r in rows[-25:]])),
               "torch_eval": {"prompts": "a handwritten N, N = 0..9", "seeds": list(range(args.eval_seeds)), "guidance": 5, "steps": 20,
                              "by_weight": measured},
               "file_bytes": os.path.getsize(args.out), "seconds": time.time() - t0}
    with open(os.path.join(args.results, "lora_bold.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    log(f"wrote {os.path.relpath(args.out, C.ROOT)} ({summary['file_bytes']:,} bytes, {summary['parameters']:,} parameters)", t0)


if __name__ == "__main__":
    main()
