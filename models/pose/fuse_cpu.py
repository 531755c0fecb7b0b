"""The verifier's backbone for CPU inference, its layers fused by oneDNN.

MoveNet's backbone as converted (`tfjs_graph.py`) runs every pointwise convolution as a GEMM
that first copies its bias into the output (`addmm`), then clamps the result in a second pass
(ReLU6), and every depthwise convolution followed by its own clamp pass. On one CPU thread those
extra passes over the activations cost about a fifth of the backbone's time. oneDNN computes
the same layers with the bias, the clamp and a block's residual addition fused into the one
pass that writes the output (`mkldnn::_linear_pointwise`, `mkldnn::_convolution_pointwise`:
the kernels libtorch's own compiler uses on CPU).

TorchScript's front end cannot call those two operators (their `Scalar?[]` argument has no
spelling in it), so the fused copy is made by rewriting the traced backbone's graph. The copy
shares its parameters with the original: a saved model stores them once. The operators exist
only for float32 CPU tensors in libtorch builds with oneDNN (PyPI's torch wheels have it); the
verifier keeps the original for any other device or precision.

Depthwise convolutions come out bit for bit the same; the pointwise ones differ by float
rounding (oneDNN's GEMM sums in another order than MKL's): about 2e-6 of the features' norm.
"""

import io

import torch

# A pointwise convolution with ReLU6: linear on the channels-last view, back to NCHW, clamp.
_LINEAR_RELU6 = ("""
graph(%x, %w, %b, %perm, %lo, %hi):
  %y = aten::linear(%x, %w, %b)
  %z = aten::permute(%y, %perm)
  %r = aten::clamp_(%z, %lo, %hi)
  return (%r)""", """
graph(%x, %w, %b, %perm, %lo, %hi):
  %attr : str = prim::Constant[value="hardtanh"]()
  %scalars : Scalar?[] = prim::ListConstruct(%lo, %hi)
  %algorithm : str = prim::Constant[value=""]()
  %y = mkldnn::_linear_pointwise(%x, %w, %b, %attr, %scalars, %algorithm)
  %r = aten::permute(%y, %perm)
  return (%r)""")

# A block's projection (pointwise, no activation) added to the block's input.
_LINEAR_ADD = ("""
graph(%x, %w, %b, %perm, %residual, %alpha):
  %y = aten::linear(%x, %w, %b)
  %z = aten::permute(%y, %perm)
  %s = aten::add(%residual, %z, %alpha)
  return (%s)""", """
graph(%x, %w, %b, %perm, %residual, %alpha):
  %i0 : int = prim::Constant[value=0]()
  %i1 : int = prim::Constant[value=1]()
  %i2 : int = prim::Constant[value=2]()
  %i3 : int = prim::Constant[value=3]()
  %nhwc : int[] = prim::ListConstruct(%i0, %i2, %i3, %i1)
  %other = aten::permute(%residual, %nhwc)
  %attr : str = prim::Constant[value="add"]()
  %y = mkldnn::_linear_pointwise(%x, %other, %w, %b, %attr)
  %s = aten::permute(%y, %perm)
  return (%s)""")

# Any other pointwise convolution (a projection without a residual).
_LINEAR = ("""
graph(%x, %w, %b):
  %y = aten::linear(%x, %w, %b)
  return (%y)""", """
graph(%x, %w, %b):
  %attr : str = prim::Constant[value="none"]()
  %scalars : Scalar?[] = prim::ListConstruct()
  %algorithm : str = prim::Constant[value=""]()
  %y = mkldnn::_linear_pointwise(%x, %w, %b, %attr, %scalars, %algorithm)
  return (%y)""")

# A (depthwise or strided) convolution with ReLU6.
_CONV_RELU6 = ("""
graph(%x, %w, %b, %stride, %pad, %dil, %transposed, %out_pad, %groups, %b1, %b2, %b3, %b4, %lo, %hi):
  %y = aten::_convolution(%x, %w, %b, %stride, %pad, %dil, %transposed, %out_pad, %groups, %b1, %b2, %b3, %b4)
  %r = aten::clamp_(%y, %lo, %hi)
  return (%r)""", """
graph(%x, %w, %b, %stride, %pad, %dil, %transposed, %out_pad, %groups, %b1, %b2, %b3, %b4, %lo, %hi):
  %attr : str = prim::Constant[value="hardtanh"]()
  %scalars : Scalar?[] = prim::ListConstruct(%lo, %hi)
  %algorithm : str = prim::Constant[value=""]()
  %r = mkldnn::_convolution_pointwise(%x, %w, %b, %pad, %stride, %dil, %groups, %attr, %scalars, %algorithm)
  return (%r)""")

# The order matters: the fused forms first, then what is left of the pointwise convolutions.
REWRITES = (_LINEAR_RELU6, _LINEAR_ADD, _LINEAR, _CONV_RELU6)
UNFUSED = ("aten::linear", "aten::_convolution", "aten::clamp_", "aten::clamp_min_")


def operators(graph):
    """How many times each aten / mkldnn operator appears in `graph`."""
    counts = {}
    for node in graph.nodes():
        if not node.kind().startswith("prim::"):
            counts[node.kind()] = counts.get(node.kind(), 0) + 1
    return counts


def fused_cpu_backbone(backbone, size: int, check_frames: int = 3):
    """A copy of the scripted backbone `backbone` (RGB [N,3,H,W] -> feature map) whose layers
    run fused by oneDNN, sharing its parameters. Checked on random frames of `size` x `size`:
    the same output to 1e-4 of its norm, and no layer left unfused."""
    saved = io.BytesIO()
    torch.jit.save(backbone, saved)
    saved.seek(0)
    # A loaded copy has types of its own: rewriting its graph leaves the original's alone.
    fused = torch.jit.load(saved).eval()
    graph = fused.graph
    torch._C._jit_pass_inline(graph)
    for pattern, replacement in REWRITES:
        torch._C._jit_pass_custom_pattern_based_rewrite_graph(pattern, replacement, graph)
    torch._C._jit_pass_dce(graph)
    left = {kind: n for kind, n in operators(graph).items() if kind in UNFUSED}
    if left:
        raise ValueError(f"the backbone has layers this fusion does not know: {left}")
    # Share the original's tensors: the copy's are equal copies of them.
    originals = dict(backbone.named_parameters())
    originals.update(dict(backbone.named_buffers()))
    for name, tensor in list(fused.named_parameters()) + list(fused.named_buffers()):
        owner = fused
        *path, leaf = name.split(".")
        for part in path:
            owner = getattr(owner, part)
        if not torch.equal(originals[name], tensor):
            raise ValueError(f"{name}: the copy's tensor differs from the original's")
        owner._c.setattr(leaf, originals[name])
    with torch.no_grad():
        frames = (torch.rand(check_frames, 3, size, size, generator=torch.Generator().manual_seed(0)) * 255.0)
        frames = frames.contiguous(memory_format=torch.channels_last)
        reference, out = backbone(frames), fused(frames)
        gap = ((out - reference).norm() / reference.norm()).item()
    if not gap <= 1e-4:
        raise ValueError(f"the fused backbone's features differ from the original's by {gap:.2e} of their norm")
    return fused
