"""The trained weights of models/tiny-sd read back from its ONNX files into the torch modules that made them, so that
work on the shipped model (a LoRA, an evaluation) needs no training checkpoint.

torch's exporter keeps some parameter names (convolutions, Gemms) but stores Linear weights of 3-D inputs as anonymous,
transposed `onnx::MatMul_<N>` initializers. So the mapping is found, not assumed: a fresh module whose every parameter
holds distinct values is exported with export.py's own code; the graph it gives has the shipped graph's nodes in the same
order, which pairs each of its initializers with a shipped one; and each parameter is found among its initializers by
value (as stored, or transposed). load_* then checks the result: exporting the loaded module again must reproduce every
shipped initializer bit for bit."""
import os
import tempfile

import numpy as np
import onnx
import torch
from onnx import numpy_helper

import common as C
import export as E
from text_encoder import HalfEmbeddingExport, TinyClipTextModel

UNET_ARGS = lambda: (torch.randn(2, 4, 8, 8), torch.tensor(500.0), torch.randn(2, 77, C.TEXT["width"]))


def _initializer_pairs(mine, shipped):
    """Initializer name in `mine` -> the array of the initializer at the same place of `shipped` (same nodes, in order)."""
    a, b = onnx.load(mine).graph, onnx.load(shipped).graph
    if [n.op_type for n in a.node] != [n.op_type for n in b.node]:
        raise RuntimeError(f"{shipped}: the graph's nodes differ from a fresh export's (another torch or diffusers version?)")
    init_a = {i.name: i for i in a.initializer}
    init_b = {i.name: numpy_helper.to_array(i) for i in b.initializer}
    pairs = {}
    for na, nb in zip(a.node, b.node):
        for ia, ib in zip(na.input, nb.input):
            if ia in init_a and ib in init_b:
                pairs[ia] = (numpy_helper.to_array(init_a[ia]), init_b[ib])
    return pairs


def _load(module, export_fn, shipped, tensors):
    """Fills `tensors` (name -> tensor of `module`, parameters and buffers that reach the graph) from `shipped`."""
    g = torch.Generator().manual_seed(20260)
    with torch.no_grad():
        for t in tensors.values():
            t.copy_(torch.randn(t.shape, generator=g).to(t.dtype))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        export_fn(path)
        pairs = _initializer_pairs(path, shipped)
        for name, t in tensors.items():
            want = t.detach().numpy()
            found = None
            for fresh, trained in pairs.values():
                if fresh.dtype != want.dtype or fresh.size != want.size:
                    continue
                if np.array_equal(fresh.reshape(want.shape), want):
                    found = trained.reshape(want.shape)
                elif want.ndim == 2 and fresh.shape == want.T.shape and np.array_equal(fresh.T, want):
                    found = trained.T
                if found is not None:
                    break
            if found is None:
                raise RuntimeError(f"{shipped}: no initializer holds {name}")
            with torch.no_grad():
                t.copy_(torch.from_numpy(np.ascontiguousarray(found)))
        # The check: the loaded module exports to the shipped initializers, bit for bit.
        export_fn(path)
        for fresh, trained in _initializer_pairs(path, shipped).values():
            if not np.array_equal(fresh, trained):
                raise RuntimeError(f"{shipped}: the loaded module does not reproduce the shipped weights")


def load_unet(folder):
    _, UNet2DConditionModel = C.diffusers_models()
    unet = UNet2DConditionModel(**C.UNET).eval()
    wrapper = E.UnetExport(unet)
    export_fn = lambda path: E._export(wrapper, UNET_ARGS(), path, ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
                                       {"sample": {0: "batch_size", 2: "height", 3: "width"},
                                        "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
                                        "out_sample": {0: "batch_size", 2: "height", 3: "width"}})
    _load(unet, export_fn, os.path.join(folder, "unet", "model.onnx"), dict(unet.named_parameters()))
    return unet.eval()


def load_text_encoder(folder):
    """The text encoder with its token table as shipped (float16 values, widened), as the SDK computes it."""
    text = TinyClipTextModel(**C.TEXT).eval()
    wrapper = HalfEmbeddingExport(text)
    tensors = {k: v for k, v in text.named_parameters() if k != "token_embedding.weight"}
    tensors["table16"] = wrapper.table16
    export_fn = lambda path: E._export(wrapper, (torch.full((2, 77), 49407, dtype=torch.int64),), path, ["input_ids"],
                                       ["last_hidden_state", "pooler_output"],
                                       {"input_ids": {0: "batch_size", 1: "sequence_length"},
                                        "last_hidden_state": {0: "batch_size", 1: "sequence_length"}, "pooler_output": {0: "batch_size"}})
    _load(text, export_fn, os.path.join(folder, "text_encoder", "model.onnx"), tensors)
    with torch.no_grad():
        text.token_embedding.weight.copy_(wrapper.table16.float())
    return text.eval()


def load_vae(folder, scaling):
    AutoencoderKL, _ = C.diffusers_models()
    vae = AutoencoderKL(**C.VAE, scaling_factor=scaling).eval()
    params = dict(vae.named_parameters())
    enc = {k: v for k, v in params.items() if not k.startswith(("decoder.", "post_quant_conv."))}
    dec = {k: v for k, v in params.items() if k.startswith(("decoder.", "post_quant_conv."))}
    _load(vae, lambda path: E._export(E.VaeEncoderExport(vae), (torch.randn(1, 3, 32, 32),), path, ["sample"], ["latent_parameters"],
                                      {"sample": {0: "batch_size", 2: "sample_height", 3: "sample_width"},
                                       "latent_parameters": {0: "batch_size", 2: "latent_height", 3: "latent_width"}}),
          os.path.join(folder, "vae_encoder", "model.onnx"), enc)
    _load(vae, lambda path: E._export(E.VaeDecoderExport(vae), (torch.randn(1, 4, 8, 8),), path, ["latent_sample"], ["sample"],
                                      {"latent_sample": {0: "batch_size", 2: "latent_height", 3: "latent_width"},
                                       "sample": {0: "batch_size", 2: "sample_height", 3: "sample_width"}}),
          os.path.join(folder, "vae_decoder", "model.onnx"), dec)
    return vae.eval()
