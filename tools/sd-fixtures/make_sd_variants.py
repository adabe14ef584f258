#!/usr/bin/python3
"""Small ONNX graphs derived from the tiny Stable Diffusion fixture, for the SDK's layout tests.

Run with Debian's python3-onnx (no torch needed), from the repository root:

    /usr/bin/python3 tools/sd-fixtures/make_sd_variants.py

It reads tests/Sdk.Tests/TestData/sd-tiny-legacy/model/ and writes:

* sd-tiny-optimum/unet/model.onnx: the legacy UNet with Optimum's current timestep, a float32 *scalar*
  (reshaped to [1] inside the graph); its weights stay in ../weights.pb, which the tests copy beside it.
* sd-inpaint-tiny-optimum/unet/model.onnx: the same change to sd-inpaint-tiny-legacy's 9-channel inpainting UNet
  (its weights stay in that fixture's weights.pb; the VAE encoder is sd-tiny-optimum's, the two fixtures share it).
* sd-tiny-optimum/vae_encoder/model.onnx: the legacy VAE encoder cut before its in-graph sampling, returning
  Optimum's `latent_parameters` (mean and log-variance on the channel axis, [B, 8, h, w]) for the pipeline to sample.
* sd-synthetic/text_encoder_int64.onnx: a 3-node text encoder with int64 ids (Optimum's type) whose hidden state is
  the id itself repeated 32 times, so that a test can see exactly which ids arrived.
* sd-synthetic/text_encoder_nan.onnx: the int64 encoder's shape, whose hidden state is NaN everywhere (0 / 0), for
  the guard that names a component returning NaN.
* sd-synthetic/vae-fixed-factor4/: a VAE folder (model.onnx and config.json) whose decoder fixes [1, 4, 8, 8] in and
  [1, 3, 32, 32] out (4 pixels per latent) while its config's 4 blocks say 8, for the load-time consistency check.
* sd-synthetic/vae_decoder_fp16.onnx: a float16 "decoder" that returns the first 3 latent channels, upsampled 8x.
* sd-synthetic/vae_encoder_6ch.onnx: an "encoder" that returns 6 channels (the picture averaged over 8x8 blocks, twice),
  which fits neither a 4-channel UNet's latents (4) nor their mean and log-variance (8): the load-time channel check.

The outputs are deterministic (no random values) and pass onnx.checker.
"""
import os
import onnx
from onnx import helper, TensorProto

ROOT = "tests/Sdk.Tests/TestData"
LEGACY = os.path.join(ROOT, "sd-tiny-legacy", "model")
OPTIMUM = os.path.join(ROOT, "sd-tiny-optimum")
INPAINT_LEGACY = os.path.join(ROOT, "sd-inpaint-tiny-legacy", "model")
INPAINT_OPTIMUM = os.path.join(ROOT, "sd-inpaint-tiny-optimum")
SYNTHETIC = os.path.join(ROOT, "sd-synthetic")


def scalar_timestep_unet(legacy=LEGACY, optimum=OPTIMUM):
    model = onnx.load(os.path.join(legacy, "unet", "model.onnx"), load_external_data=False)
    graph = model.graph
    old = next(i for i in graph.input if i.name == "timestep")
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name == "timestep":
                node.input[k] = "timestep_as_1d"
    graph.input.remove(old)
    graph.input.insert(1, helper.make_tensor_value_info("timestep", TensorProto.FLOAT, []))
    graph.initializer.append(helper.make_tensor("timestep_shape_1", TensorProto.INT64, [1], [1]))
    graph.node.insert(0, helper.make_node("Reshape", ["timestep", "timestep_shape_1"], ["timestep_as_1d"], name="optimum_scalar_timestep"))
    path = os.path.join(optimum, "unet", "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save_model(model, path)
    # The checker needs the external weights beside the file: check it in the legacy folder, where they are.
    probe = os.path.join(legacy, "unet", "scalar-timestep-probe.onnx")
    try:
        onnx.save_model(model, probe)
        onnx.checker.check_model(probe)
    finally:
        os.remove(probe)


def latent_parameters_encoder():
    source = os.path.join(LEGACY, "vae_encoder", "model.onnx")
    model = onnx.load(source)
    nodes = model.graph.node
    # The sample is mean + exp(0.5 * clip(logvar)) * randn, where mean = Slice(moments); moments is what Optimum returns.
    final_add = next(n for n in nodes if "latent_sample" in n.output)
    mean = final_add.input[0]
    moments = next(n for n in nodes if mean in n.output and n.op_type == "Slice").input[0]
    # Keep only the nodes the moments depend on, and make the moments the output.
    needed, keep = {moments}, []
    for node in reversed(list(nodes)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(node.input)
    keep.reverse()
    for node in keep:
        for k, name in enumerate(node.output):
            if name == moments:
                node.output[k] = "latent_parameters"
    graph = model.graph
    del graph.node[:]
    graph.node.extend(keep)
    used = {name for node in keep for name in node.input}
    kept_init = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_init)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("latent_parameters", TensorProto.FLOAT, ["batch", 8, "latent_height", "latent_width"]))
    del graph.value_info[:]
    assert not any(n.op_type.startswith("Random") for n in graph.node)
    onnx.checker.check_model(model)
    path = os.path.join(OPTIMUM, "vae_encoder", "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save_model(model, path)


def int64_text_encoder():
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", 32])
    pooled = helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", 32])
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_float"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids_float", "axis_last"], ["ids_column"]),
        helper.make_node("Mul", ["ids_column", "ones_32"], ["last_hidden_state"]),
        helper.make_node("ReduceMax", ["last_hidden_state"], ["pooler_output"], axes=[1], keepdims=0),
    ]
    init = [helper.make_tensor("axis_last", TensorProto.INT64, [1], [-1]), helper.make_tensor("ones_32", TensorProto.FLOAT, [32], [1.0] * 32)]
    graph = helper.make_graph(nodes, "text_encoder_int64", [ids], [pooled, out], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="make_sd_variants")
    model.ir_version = 7
    onnx.checker.check_model(model)
    os.makedirs(SYNTHETIC, exist_ok=True)
    onnx.save_model(model, os.path.join(SYNTHETIC, "text_encoder_int64.onnx"))


def nan_text_encoder():
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", 32])
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ids_float", "zero"], ["zeros"]),
        helper.make_node("Div", ["zeros", "zeros"], ["nans"]),
        helper.make_node("Unsqueeze", ["nans", "axis_last"], ["nan_column"]),
        helper.make_node("Mul", ["nan_column", "ones_32"], ["last_hidden_state"]),
    ]
    init = [
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("axis_last", TensorProto.INT64, [1], [-1]),
        helper.make_tensor("ones_32", TensorProto.FLOAT, [32], [1.0] * 32),
    ]
    graph = helper.make_graph(nodes, "text_encoder_nan", [ids], [out], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="make_sd_variants")
    model.ir_version = 7
    onnx.checker.check_model(model)
    os.makedirs(SYNTHETIC, exist_ok=True)
    onnx.save_model(model, os.path.join(SYNTHETIC, "text_encoder_nan.onnx"))


def slice_resize_decoder(name, dtype, latent_shape, image_shape, factor):
    """A stand-in VAE decoder: the first three latent channels as RGB, upsampled by nearest neighbour."""
    latent = helper.make_tensor_value_info("latent_sample", dtype, latent_shape)
    image = helper.make_tensor_value_info("sample", dtype, image_shape)
    nodes = [
        helper.make_node("Slice", ["latent_sample", "starts", "ends", "axes"], ["rgb"]),
        helper.make_node("Resize", ["rgb", "", "scales"], ["sample"], mode="nearest"),
    ]
    init = [
        helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
        helper.make_tensor("ends", TensorProto.INT64, [1], [3]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, float(factor), float(factor)]),
    ]
    graph = helper.make_graph(nodes, name, [latent], [image], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="make_sd_variants")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def fp16_decoder():
    model = slice_resize_decoder("vae_decoder_fp16", TensorProto.FLOAT16, ["batch", 4, "height", "width"],
                                 ["batch", 3, "image_height", "image_width"], 8)
    onnx.save_model(model, os.path.join(SYNTHETIC, "vae_decoder_fp16.onnx"))


def fixed_factor4_decoder():
    model = slice_resize_decoder("vae_decoder_fixed_factor4", TensorProto.FLOAT, [1, 4, 8, 8], [1, 3, 32, 32], 4)
    folder = os.path.join(SYNTHETIC, "vae-fixed-factor4")
    os.makedirs(folder, exist_ok=True)
    onnx.save_model(model, os.path.join(folder, "model.onnx"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write('{"_class_name": "AutoencoderKL", "block_out_channels": [32, 32, 32, 32], "latent_channels": 4, "scaling_factor": 0.18215}\n')


def six_channel_encoder():
    nodes = [
        helper.make_node("AveragePool", ["sample"], ["blocks"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Concat", ["blocks", "blocks"], ["latent_sample"], axis=1),
    ]
    graph = helper.make_graph(nodes, "vae_encoder_6ch",
                              [helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
                              [helper.make_tensor_value_info("latent_sample", TensorProto.FLOAT, ["batch", 6, "latent_height", "latent_width"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="make_sd_variants")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save_model(model, os.path.join(SYNTHETIC, "vae_encoder_6ch.onnx"))


if __name__ == "__main__":
    scalar_timestep_unet()
    scalar_timestep_unet(INPAINT_LEGACY, INPAINT_OPTIMUM)
    latent_parameters_encoder()
    int64_text_encoder()
    nan_text_encoder()
    fixed_factor4_decoder()
    fp16_decoder()
    six_channel_encoder()
    for folder in (OPTIMUM, INPAINT_OPTIMUM, SYNTHETIC):
        for dirpath, _, files in os.walk(folder):
            for f in sorted(files):
                p = os.path.join(dirpath, f)
                print(p, os.path.getsize(p))
