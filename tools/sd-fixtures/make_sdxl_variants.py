#!/usr/bin/python3
"""A small ONNX graph for the SDXL tests: a float16 VAE decoder that overflows, as SDXL's original VAE does in float16.

Run with Debian's python3-onnx, from the repository root:

    /usr/bin/python3 tools/sd-fixtures/make_sdxl_variants.py

It writes tests/Sdk.Tests/TestData/sdxl-synthetic/vae-fp16-overflow/vae_decoder/{model.onnx,config.json}: the first
3 latent channels, upsampled 8x and multiplied by 60000 in float16, so that any value above about 1.09 in size
becomes infinity (float16's largest is 65504). Its config is an SDXL VAE's (scaling_factor 0.13025, force_upcast true).
The output is deterministic and passes onnx.checker.
"""
import json
import os
import onnx
from onnx import helper, TensorProto

TARGET = "tests/Sdk.Tests/TestData/sdxl-synthetic/vae-fp16-overflow/vae_decoder"


def overflowing_fp16_decoder():
    latent = helper.make_tensor_value_info("latent_sample", TensorProto.FLOAT16, ["batch", 4, "height", "width"])
    image = helper.make_tensor_value_info("sample", TensorProto.FLOAT16, ["batch", 3, "image_height", "image_width"])
    nodes = [
        helper.make_node("Slice", ["latent_sample", "starts", "ends", "axes"], ["rgb"]),
        helper.make_node("Resize", ["rgb", "", "scales"], ["upsampled"], mode="nearest"),
        helper.make_node("Mul", ["upsampled", "gain"], ["sample"]),
    ]
    init = [
        helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
        helper.make_tensor("ends", TensorProto.INT64, [1], [3]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 8.0, 8.0]),
        helper.make_tensor("gain", TensorProto.FLOAT16, [], [60000.0]),
    ]
    graph = helper.make_graph(nodes, "vae_decoder_fp16_overflow", [latent], [image], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="make_sdxl_variants")
    model.ir_version = 7
    onnx.checker.check_model(model)
    os.makedirs(TARGET, exist_ok=True)
    onnx.save_model(model, os.path.join(TARGET, "model.onnx"))
    config = {"_class_name": "AutoencoderKL", "block_out_channels": [128, 256, 512, 512], "latent_channels": 4,
              "scaling_factor": 0.13025, "force_upcast": True, "sample_size": 1024}
    with open(os.path.join(TARGET, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    overflowing_fp16_decoder()
