"""Seed corpora for the fuzzing targets (tests/Fuzz/corpus/<target>/). Small, valid inputs of each kind; the fuzzer
mutates them. Run with Debian's python3 (numpy, PIL): /usr/bin/python3 tests/Fuzz/make_seeds.py"""
import io
import json
import os
import struct

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


# scheduler_config.json: the shipped models' files and a few reference configurations.
for name, path in [("digits", "models/digits/scheduler/scheduler_config.json"), ("tiny-sd", "models/tiny-sd/scheduler/scheduler_config.json")]:
    write("scheduler-config", name + ".json", open(os.path.join(ROOT, path), "rb").read())
ref = os.path.join(ROOT, "tests/Sdk.Tests/TestData/reference/schedulers")
for file in sorted(os.listdir(ref))[::25]:
    config = json.load(open(os.path.join(ref, file)))["config"]
    write("scheduler-config", file, json.dumps(config))
write("scheduler-config", "nonfinite.json", '{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "trained_betas": [0.1, NaN]}')


# A CLIP-style tokenizer small enough to mutate: the byte-level alphabet, its end-of-word forms, a few merges.
def byte_alphabet():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


alphabet = byte_alphabet()
vocab = {}
for c in alphabet:
    vocab[c] = len(vocab)
for c in alphabet:
    vocab[c + "</w>"] = len(vocab)
merges = ["c a", "ca t</w>", "p h", "ph o", "pho t", "phot o</w>"]
for m in merges:
    vocab[m.replace(" ", "")] = len(vocab)
vocab["<|startoftext|>"] = len(vocab)
vocab["<|endoftext|>"] = len(vocab)
config = {"model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
sep = "\n--8<--\n"
write("tokenizer", "small", json.dumps(vocab) + sep + "#version: 0.2\n" + "\n".join(merges) + "\n" + sep + json.dumps(config) + sep + "a cat photo")
write("tokenizer", "sd2-pad", json.dumps(vocab) + sep + "#version: 0.2\n" + "\n".join(merges) + "\n" + sep + json.dumps({**config, "pad_token": "!"}) + sep + "(a photo:1.2)")


# .safetensors: a tiny kohya-style adapter in float32 and float16, and one with metadata.
def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        raw = array.tobytes()
        header[name] = {"dtype": {"float32": "F32", "float16": "F16"}[str(array.dtype)], "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


rng = np.random.default_rng(0)
kohya = {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": rng.standard_normal((2, 4)).astype(np.float32),
         "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": rng.standard_normal((4, 2)).astype(np.float32),
         "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": np.array(1.0, dtype=np.float32)}
write("safetensors", "kohya-f32.safetensors", safetensors(kohya, {"ss_network_dim": "2"}))
write("safetensors", "kohya-f16.safetensors", safetensors({k: v.astype(np.float16) for k, v in kohya.items()}))
write("safetensors", "peft.safetensors", safetensors({"unet.conv_in.lora_A.weight": rng.standard_normal((2, 4, 3, 3)).astype(np.float32)}))


# Images and masks: small PNG (RGB, RGBA, grey, palette), BMP and JPEG.
def encode(image, fmt):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


pixels = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
rgb = Image.fromarray(pixels, "RGB")
for target in ("image", "mask"):
    write(target, "rgb.png", encode(rgb, "PNG"))
    write(target, "grey.png", encode(rgb.convert("L"), "PNG"))
    write(target, "rgba.png", encode(rgb.convert("RGBA"), "PNG"))
    write(target, "palette.png", encode(rgb.convert("P"), "PNG"))
    write(target, "rgb.bmp", encode(rgb, "BMP"))
    write(target, "rgb.jpg", encode(rgb, "JPEG"))


# Prompts: the reference's prompt cases, and the syntax's corners.
cases = json.load(open(os.path.join(ROOT, "tests/Sdk.Tests/TestData/prompts/cases.json")))
prompts = set()
def collect(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("prompt", "negative_prompt", "text") and isinstance(value, str):
                prompts.add(value)
            collect(value)
    elif isinstance(node, list):
        for value in node:
            collect(value)
collect(cases)
prompts |= {"(a:1.3) [b] ((c)) \\(d\\) e:f", "(((((((x)))))))", "[unclosed (also:", "(w:-1.5e3)", "BREAK and AND"}
for i, prompt in enumerate(sorted(prompts)[:40]):
    write("prompt", f"p{i:02d}.txt", prompt)

# An export's configs: model_index.json, vae_decoder/config.json, unet/config.json, text_encoder/config.json (a part is
# empty where the export has no such file), from the shipped model and the reference exports.
def read_or_empty(path):
    return open(path, encoding="utf-8").read() if os.path.exists(path) else ""


exports = [os.path.join(ROOT, "models", "tiny-sd")] + sorted(
    os.path.join(ROOT, "tests/Sdk.Tests/TestData", name, "model") for name in os.listdir(os.path.join(ROOT, "tests/Sdk.Tests/TestData"))
    if os.path.exists(os.path.join(ROOT, "tests/Sdk.Tests/TestData", name, "model", "model_index.json")))
for folder in exports:
    parts = [read_or_empty(os.path.join(folder, f)) for f in ("model_index.json", "vae_decoder/config.json", "unet/config.json", "text_encoder/config.json")]
    name = os.path.basename(folder) if os.path.basename(folder) != "model" else os.path.basename(os.path.dirname(folder))
    write("model-config", name, sep.join(parts))
print("seeds written")
