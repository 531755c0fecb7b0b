"""Writes a tiny TF.js graph model shaped like MoveNet MultiPose's backbone (the same node
names, preprocessing, fused ops and float16-quantized weight shard, random weights), so CI
can run the whole conversion -> features -> head -> cascade export -> plugin loop in seconds
without fetching the real weights.

    python3 -m models.checks.tiny_graph OUT_DIR   # writes OUT_DIR/movenet-multipose.{json,bin}
"""

import base64
import json
import sys
from pathlib import Path

import numpy as np

from models.pose.movenet import FEATURES_NODE, MODEL_FILE, NORMALIZED_NODE, PREFIX


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    nodes, weights, blobs = [], [], []

    def const(name, array, quantize=True):
        array = np.asarray(array)
        spec = {"name": name, "shape": list(array.shape), "dtype": "float32"}
        if quantize:
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            blobs.append(array.astype(np.float16).tobytes())
        else:
            blobs.append(array.astype(np.float32).tobytes())
        weights.append(spec)
        nodes.append({"name": name, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {
            "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": str(n)} for n in array.shape]}}}}})

    def conv(name, src, k, cin, cout, stride, fused, depthwise=False):
        shape = [k, k, cin, 1] if depthwise else [k, k, cin, cout]
        const(name + "_weights", rng.normal(0, (2.0 / (k * k * cin)) ** 0.5, shape))
        const(name + "_bn_offset", rng.normal(0, 0.1, [cout]))
        nodes.append({
            "name": name, "op": "FusedDepthwiseConv2dNative" if depthwise else "_FusedConv2D",
            "input": [src, name + "_weights", name + "_bn_offset"],
            "attr": {"strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}},
                     "fused_ops": {"list": {"s": [b64(f) for f in fused]}},
                     "data_format": {"s": b64("NHWC")}, "padding": {"s": b64("SAME")},
                     "dilations": {"list": {"i": ["1", "1", "1", "1"]}}, "num_args": {"i": "1"}},
        })
        return name

    nodes.append({"name": "input", "op": "Placeholder", "attr": {"dtype": {"type": "DT_INT32"}}})
    nodes.append({"name": "StatefulPartitionedCall/Cast", "op": "Cast", "input": ["input"],
                  "attr": {"SrcT": {"type": "DT_INT32"}, "DstT": {"type": "DT_FLOAT"}}})
    const("StatefulPartitionedCall/Reshape", np.zeros([1, 1, 1, 3]), quantize=False)
    const("StatefulPartitionedCall/truediv", np.full([1, 1, 1, 3], 1 / 127.5), quantize=False)
    const("StatefulPartitionedCall/sub_1/y", np.float32(1.0), quantize=False)
    nodes.append({"name": "StatefulPartitionedCall/sub", "op": "Sub",
                  "input": ["StatefulPartitionedCall/Cast", "StatefulPartitionedCall/Reshape"]})
    nodes.append({"name": "StatefulPartitionedCall/truediv_1", "op": "Mul",
                  "input": ["StatefulPartitionedCall/sub", "StatefulPartitionedCall/truediv"]})
    nodes.append({"name": NORMALIZED_NODE, "op": "Sub",
                  "input": ["StatefulPartitionedCall/truediv_1", "StatefulPartitionedCall/sub_1/y"]})
    x = conv(PREFIX + "Conv1_relu/Relu6", NORMALIZED_NODE, 3, 3, 8, 2, ["BiasAdd", "Relu6"])
    d = conv(PREFIX + "block_1_depthwise/depthwise", x, 3, 8, 8, 2, ["BiasAdd", "Relu6"], depthwise=True)
    p = conv(PREFIX + "block_1_project_BN/FusedBatchNormV3", d, 1, 8, 8, 1, ["BiasAdd"])
    e = conv(PREFIX + "block_2_expand_relu/Relu6", p, 1, 8, 8, 1, ["BiasAdd", "Relu6"])
    nodes.append({"name": PREFIX + "block_2_add/add", "op": "AddV2", "input": [p, e]})
    conv(FEATURES_NODE, PREFIX + "block_2_add/add", 1, 8, 16, 2, ["BiasAdd", "Relu6"])
    spec = {
        "format": "graph-model",
        "generatedBy": "models/checks/tiny_graph.py (random weights, for CI)",
        "modelTopology": {"node": nodes, "versions": {"producer": 1}},
        "weightsManifest": [{"paths": ["movenet-multipose.bin"], "weights": weights}],
    }
    (out / MODEL_FILE).write_text(json.dumps(spec))
    (out / "movenet-multipose.bin").write_bytes(b"".join(blobs))
    print(f"wrote {out / MODEL_FILE}")


if __name__ == "__main__":
    main()
