"""The project's digit classifier (models/classifier/model.onnx) run in torch, for measuring samples during training
(onnxruntime is not installed in Debian's Python). Reads the graph's weights and replays its few operators."""
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


class OnnxClassifier:
    def __init__(self, path):
        m = onnx.load(path)
        self.w = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
        self.nodes = list(m.graph.node)

    @torch.no_grad()
    def logits(self, image):
        """image float [B,1,28,28] in [-1, 1] (-1 = background)."""
        env = {"image": image.float()}
        for n in self.nodes:
            a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
            i = [env[k] if k in env else self.w[k] for k in n.input]
            if n.op_type == "Conv":
                p = a.get("pads", [0, 0, 0, 0])
                y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, stride=a.get("strides", [1, 1]), padding=(p[0], p[1]))
            elif n.op_type == "Relu":
                y = F.relu(i[0])
            elif n.op_type == "MaxPool":
                y = F.max_pool2d(i[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]))
            elif n.op_type == "GlobalAveragePool":
                y = i[0].mean(dim=(2, 3), keepdim=True)
            elif n.op_type == "Flatten":
                y = i[0].flatten(1)
            elif n.op_type == "Gemm":
                y = i[0] @ (i[1].t() if a.get("transB", 0) else i[1]) + i[2]
            else:
                raise NotImplementedError(n.op_type)
            env[n.output[0]] = y
        return env["logits"]
