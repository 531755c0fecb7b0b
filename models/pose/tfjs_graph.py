"""Reads a TF.js graph model (model.json + weight shards) and rebuilds a sub-graph of it as a
PyTorch module, so the pretrained weights run in libtorch after `torch.jit.trace`.

Only the operations of convolutional backbones and feature pyramids are supported (the fused
convolutions that the TF.js converter emits are split back into convolution, bias and
activation; additions; bilinear upsampling by a constant factor); anything else raises with the
node's name, so a graph outside that subset fails loudly, not silently.
"""

import base64
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_DTYPES = {"float32": np.float32, "int32": np.int32, "float16": np.float16, "uint8": np.uint8,
           "uint16": np.uint16, "bool": np.bool_}


def load_weights(model_json: Path) -> dict:
    """Every weight of the manifest as a float32/int32 numpy array, dequantized."""
    spec = json.loads(Path(model_json).read_text())
    out = {}
    for group in spec["weightsManifest"]:
        blob = b"".join((Path(model_json).parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            quant = w.get("quantization")
            stored = np.dtype(_DTYPES[quant["dtype"] if quant else w["dtype"]])
            raw = np.frombuffer(blob, dtype=stored, count=count, offset=offset)
            offset += count * stored.itemsize
            if quant and quant["dtype"] != "float16":
                raw = raw.astype(np.float32) * quant["scale"] + quant["min"]
            out[w["name"]] = raw.astype(_DTYPES[w["dtype"]]).reshape(w["shape"])
        if offset != len(blob):
            raise ValueError(f"{model_json}: weight shards hold {len(blob)} bytes, the manifest {offset}")
    return out


def _attr_str(node, key):
    return base64.b64decode(node["attr"][key]["s"]).decode()


def _attr_ints(node, key):
    return [int(i) for i in node["attr"][key]["list"].get("i", [])]


def _same_padding(size: int, kernel: int, stride: int, dilation: int = 1):
    """TensorFlow's SAME padding (the extra pixel goes after, unlike PyTorch's symmetric one)."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class _Conv(nn.Module):
    """A TF (depthwise) convolution with SAME/VALID padding, bias and activation."""

    def __init__(self, weight, bias, stride, padding, activation, depthwise):
        super().__init__()
        w = torch.from_numpy(np.ascontiguousarray(weight)).float()
        if depthwise:  # [kh, kw, in, multiplier] -> [in * multiplier, 1, kh, kw]
            kh, kw, cin, mult = w.shape
            w = w.permute(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)
            self.groups = cin
        else:  # [kh, kw, in, out] -> [out, in, kh, kw]
            w = w.permute(3, 2, 0, 1)
            self.groups = 1
        self.weight = nn.Parameter(w.contiguous(), requires_grad=False)
        self.bias = nn.Parameter(torch.from_numpy(bias).float(), requires_grad=False) if bias is not None else None
        self.stride = stride
        self.padding = padding
        self.activation = activation

    def forward(self, x):
        padding = (0, 0)
        weight = self.weight
        if self.padding == "SAME":
            kh, kw = self.weight.shape[2], self.weight.shape[3]
            top, bottom = _same_padding(x.shape[2], kh, self.stride)
            left, right = _same_padding(x.shape[3], kw, self.stride)
            if bottom - top in (0, 1) and right - left in (0, 1):
                # The convolution pads itself: no padded copy of the activations. TF pads the
                # bottom and right one more when the total is odd (stride 2); a kernel with a
                # leading row (column) of zeros and one more padding on each side computes
                # exactly that, 4x faster than convolving a padded copy.
                shift_h, shift_w = bottom - top, right - left
                if shift_h or shift_w:
                    weight = F.pad(weight, (shift_w, 0, shift_h, 0))
                padding = (top + shift_h, left + shift_w)
            else:
                x = F.pad(x, (left, right, top, bottom))
        if self.weight.shape[2] == 1 and self.weight.shape[3] == 1 and self.stride == 1 and self.groups == 1:
            # A pointwise convolution is a matrix product over channels. Written as one on the
            # channels-last view it is a single GEMM on the input in place; as conv2d, libtorch on one
            # thread takes its slow im2col path for 1x1 kernels and copies the input twice.
            w = weight.reshape(weight.shape[0], weight.shape[1])
            x = F.linear(x.permute(0, 2, 3, 1), w, self.bias).permute(0, 3, 1, 2)
        else:
            x = F.conv2d(x, weight, self.bias, self.stride, padding, 1, self.groups)
        if self.activation == "Relu6":
            x = x.clamp_(0.0, 6.0)  # in place: x is the fresh output above
        elif self.activation == "Relu":
            x = x.clamp_min_(0.0)
        elif self.activation is not None:
            raise ValueError(f"unsupported activation {self.activation}")
        return x


class TfjsSubgraph(nn.Module):
    """The nodes from the graph input to `output` (one node name, or a list of them: the module
    then returns a list) as a module taking NCHW float input that has already been through the
    graph's own preprocessing (see `preprocessing_of`)."""

    def __init__(self, model_json: Path, first: str, output):
        super().__init__()
        spec = json.loads(Path(model_json).read_text())
        nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
        weights = load_weights(model_json)
        order, seen = [], {first}
        outputs = [output] if isinstance(output, str) else list(output)

        def visit(name):
            name = name.split(":")[0].lstrip("^")
            if name in seen or nodes[name]["op"] == "Const":
                return
            seen.add(name)
            inputs = nodes[name].get("input", [])
            # An upsampling's size is computed from its input's shape (Shape, StridedSlice, Mul by
            # a constant): only the factor is kept, so that sub-graph is not rebuilt.
            for i in inputs[:1] if nodes[name]["op"] == "ResizeBilinear" else inputs:
                visit(i)
            order.append(name)

        for name in outputs:
            visit(name)
        self.convs = nn.ModuleList()
        self.program = []  # (op, output name, input names, conv index)
        for name in order:
            node = nodes[name]
            op = node["op"]
            inputs = [i.split(":")[0] for i in node.get("input", [])]
            if op in ("_FusedConv2D", "FusedDepthwiseConv2dNative", "Conv2D", "DepthwiseConv2dNative"):
                fused = [base64.b64decode(s).decode() for s in node["attr"].get("fused_ops", {}).get("list", {}).get("s", [])]
                if any(f not in ("BiasAdd", "Relu6", "Relu") for f in fused):
                    raise ValueError(f"{name}: unsupported fused ops {fused}")
                if _attr_str(node, "data_format") != "NHWC" or set(_attr_ints(node, "dilations")) - {1}:
                    raise ValueError(f"{name}: only NHWC, undilated convolutions are supported")
                strides = _attr_ints(node, "strides")
                bias = weights[inputs[2]] if "BiasAdd" in fused else None
                activation = next((f for f in fused if f != "BiasAdd"), None)
                self.convs.append(_Conv(weights[inputs[1]], bias, strides[1], _attr_str(node, "padding"),
                                        activation, depthwise="Depthwise" in op))
                self.program.append(("conv", name, [inputs[0]], len(self.convs) - 1))
            elif op == "AddV2":
                self.program.append(("add", name, inputs, -1))
            elif op == "ResizeBilinear":
                if node["attr"].get("align_corners", {}).get("b") or not node["attr"].get("half_pixel_centers", {}).get("b"):
                    raise ValueError(f"{name}: only half-pixel-centre resizing is supported")
                size = nodes[inputs[1]]
                factors = [weights[i.split(":")[0]] for i in size.get("input", []) if i.split(":")[0] in weights]
                if size["op"] != "Mul" or len(factors) != 1 or len(set(factors[0].tolist())) != 1:
                    raise ValueError(f"{name}: only upsampling by one constant factor is supported")
                self.program.append(("upsample", name, inputs[:1], int(factors[0][0])))
            else:
                raise ValueError(f"{name}: operation {op} is not supported by this converter")
        self.first = first
        self.output = output
        self.outputs = outputs

    def forward(self, x):
        values = {self.first: x}
        for op, name, inputs, arg in self.program:
            if op == "conv":
                values[name] = self.convs[arg](values[inputs[0]])
            elif op == "upsample":
                # TF's half_pixel_centers without align_corners is PyTorch's align_corners=False.
                values[name] = F.interpolate(values[inputs[0]], scale_factor=float(arg), mode="bilinear",
                                             align_corners=False)
            else:
                values[name] = values[inputs[0]] + values[inputs[1]]
        if isinstance(self.output, str):
            return values[self.output]
        return [values[name] for name in self.outputs]


def constant(model_json: Path, name: str) -> np.ndarray:
    return load_weights(model_json)[name]
