#!/usr/bin/env python3
"""Shape and parameter-count tests of the published architectures (run by tests/archs.rs,
or directly: `python3 -m models.archs.test_archs [--out DIR]`).

- every architecture at full size (width 1) has the parameter count recorded below (the
  structure is the papers'; a change of count means a change of structure), and where the
  paper gives a figure the count is within the stated tolerance of it;
- full-size forwards with the papers' clip lengths (at 64x64 to keep CI short), and the trained configurations' forwards, give [B,2] logits or
  [B,R+2] q_values;
- each trained configuration scripts with a metadata() that violenceclassify accepts;
  with --out the scripted models are written there (tests/archs.rs then runs them in the
  plugin, SSHA through the multi-step loop in all three stream variants).
"""

import argparse
import json
import os
import sys

import torch

from models.archs import cnn_bilstm, common, mobilenet_lstm, r2plus1d, ssha, tcnn_attention

# Full-size parameter counts of our definitions (torch counting: weights and biases, BN
# affine parameters; no running statistics).
EXPECTED_FULL = {
    "ssha_rgb": 13_090_600,
    "ssha_rgb+flow": 25_355_912,
    "r2plus1d_18": 31_301_151,
    "mobilenetv2_lstm": 4_028_930,
    "cnn_bilstm_vgg16": 16_868_312,
    "cnn_bilstm_efficientnet_b0": 7_734_036,
    "tcnn_spatial_attention": 33_167_811,
}
# Papers' figures: (count, relative tolerance, how we count for the comparison).
PAPER = {
    "ssha_rgb": (13_200_000, 0.02, "torch"),
    "mobilenetv2_lstm": (4_074_435, 0.01, "keras"),
}

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def full_models():
    return {
        "ssha_rgb": ssha.SSHANet(["rgb"], 1.0),
        "ssha_rgb+flow": ssha.SSHANet(["rgb", "flow"], 1.0),
        "r2plus1d_18": r2plus1d.R2Plus1D18(1.0),
        "mobilenetv2_lstm": mobilenet_lstm.MobileNetLSTM(1.0),
        "cnn_bilstm_vgg16": cnn_bilstm.CNNBiLSTM("vgg16", 1.0),
        "cnn_bilstm_efficientnet_b0": cnn_bilstm.CNNBiLSTM("efficientnet_b0", 1.0),
        "tcnn_spatial_attention": tcnn_attention.TCNNSpatialAttention(1.0),
    }


def meta_for(name, T, step, size, extra=None):
    cfg = {"clip_length": T, "frame_step": step, "size": [size, size]}
    m = common.contract(cfg, f"shape-test {name}", "untrained", 0.5, {"arch": name})
    if extra:
        m.update(extra)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="write the scripted trained-size models here")
    ap.add_argument("--print-counts", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    models = full_models()
    for name, m in models.items():
        n = common.count_params(m)
        k = common.keras_style_count(m)
        if args.print_counts:
            print(f"{name}: {n} (keras-style {k})")
        if EXPECTED_FULL[name] is not None:
            check(n == EXPECTED_FULL[name], f"{name} full size has {n:,} parameters (expected {EXPECTED_FULL[name]:,})")
        if name in PAPER:
            ref, tol, how = PAPER[name]
            v = k if how == "keras" else n
            check(abs(v - ref) <= tol * ref, f"{name}: {v:,} ({how} count) within {tol:.0%} of the paper's {ref:,}")

    # R(2+1)D-18 with torchvision's 400-class Kinetics head has torchvision's 31,505,325.
    n = common.count_params(models["r2plus1d_18"]) - (512 * 2 + 2) + (512 * 400 + 400)
    check(n == 31_505_325, f"r2plus1d_18 with a 400-class head: {n:,} parameters (torchvision's r2plus1d_18: 31,505,325)")

    with torch.no_grad():
        # Full size, papers' inputs where affordable on CPU.
        m = models["r2plus1d_18"].eval()
        for T in (4, 8, 12):
            x = torch.randn(1, 3, T, 64, 64)
            f = m.features(x)
            check(f.shape[2] == T, f"r2plus1d_18: window of {T} frames keeps {T} time steps (no temporal downsampling)")
            check(m(x).shape == (1, 2), f"r2plus1d_18 [1,3,{T},64,64] -> [1,2]")
        for kind in range(4):
            m.set_activation(kind)
            check(torch.isfinite(m(torch.randn(1, 3, 4, 64, 64))).all().item(),
                  f"r2plus1d_18 runs with activation {r2plus1d.ACTIVATIONS[kind]}")
        m.set_activation(0)
        # The switching rule: a rise of the held-out loss moves to the next activation and
        # keeps every weight; a fall keeps the activation.
        small = r2plus1d.R2Plus1D18(0.125).eval()
        before = {k: v.clone() for k, v in small.state_dict().items()}
        sw = r2plus1d.Switcher()
        seen = []
        for loss in (0.7, 0.6, 0.65, 0.5, 0.55, 0.56, 0.57):
            sw(0, loss, small)
            seen.append(r2plus1d.ACTIVATIONS[small.activation])
        check(seen == ["relu", "relu", "leaky_relu", "leaky_relu", "celu", "relu6", "relu"],
              f"r2plus1d activation switching on held-out loss rises: {seen}")
        check(all(torch.equal(v, small.state_dict()[k]) for k, v in before.items()),
              "r2plus1d: switching keeps the weights")
        small.set_activation(2)
        kinds = {mod.kind for mod in small.modules() if isinstance(mod, r2plus1d.DynAct)}
        check(kinds == {2}, "r2plus1d: every activation module follows the switch")
        scripted = torch.jit.script(common.Exported(small, "{}"))
        x = torch.randn(1, 3, 4, 32, 32)
        check(torch.allclose(scripted(x), small(x), atol=1e-5), "r2plus1d: the export keeps the activation in use (CELU)")
        check(models["mobilenetv2_lstm"].eval()(torch.randn(1, 3, 30, 64, 64)).shape == (1, 2),
              "mobilenetv2_lstm [1,3,30,64,64] -> [1,2] (30-frame clip)")
        check(models["cnn_bilstm_vgg16"].eval()(torch.randn(1, 3, 20, 64, 64)).shape == (1, 2),
              "cnn_bilstm_vgg16 [1,3,20,64,64] -> [1,2] (the notebook's 20 frames)")
        check(models["cnn_bilstm_efficientnet_b0"].eval()(torch.randn(1, 3, 20, 64, 64)).shape == (1, 2),
              "cnn_bilstm_efficientnet_b0 [1,3,20,64,64] -> [1,2]")
        t = models["tcnn_spatial_attention"].eval()
        x = torch.randn(1, 3, 16, 64, 64)
        br = t.branches(x)
        check(br.shape == (4, 1, 2), "tcnn_spatial_attention [1,3,16,64,64] -> 4 branches of [1,2]")
        check(torch.allclose(br[0], br[1:].mean(0), atol=1e-5), "tcnn: fused logits = mean of the three passes")
        l0, crm = t.backbone(x)
        vd, vc = t.attention_videos(x, crm, l0)
        check(vd.shape == x.shape and vc.shape == x.shape, "tcnn: discriminative and complementary videos keep the shape")
        q = models["ssha_rgb"].eval()([torch.randn(1, 3, 32, 64, 64)], ssha.one_hot([0], ssha.MAX_STEPS))
        check(q.shape == (1, len(ssha.PRIOR_BOXES) + 2), "ssha_rgb [1,3,32,64,64] + step -> q_values [1,R+2]")
        q = models["ssha_rgb+flow"].eval()([torch.randn(1, 3, 16, 64, 64), torch.randn(1, 2, 16, 64, 64)],
                                            ssha.one_hot([1], ssha.MAX_STEPS))
        check(q.shape == (1, len(ssha.PRIOR_BOXES) + 2), "ssha two-stream (fused by multiplication) -> q_values")
        # Algorithm 1's rewards and targets.
        R = len(ssha.PRIOR_BOXES)
        check((ssha.class_reward(R + 1, 1, 0, 0.5), ssha.class_reward(R, 1, 1, 0.5), ssha.class_reward(R, 0, 3, 0.5))
              == (1.0, -1.0, 0.25), "ssha: class rewards +1/-1, diminished past two steps")
        check([ssha.attention_reward(k, 0.5, 0.5, 1.0) for k in range(3)] == [0.5, 0.25, 0.125],
              "ssha: attention reward 0.5, exponentially diminishing")
        q_next = torch.tensor([3.0] * R + [0.2, 0.4])
        y = ssha.q_targets([0.5, 0.5, -1.0, 1.0], [q_next, q_next, None, None], [False, True, False, False], 0.9)
        check(torch.allclose(y, torch.tensor([1.5, 0.5 + 0.9 * 0.4, -1.0, 1.0])),
              f"ssha: Q targets clipped to [-1, 1.5], class actions only at the last step: {y.tolist()}")
        # The Python copy of the element's to_pixels agrees with src/model/attention.rs's tests.
        check(ssha.to_pixels((0.75, 0.25, 0.25, 0.25), 640, 480) == (480, 120, 160, 120), "ssha.to_pixels as attention.rs")
        check(ssha.to_pixels((0.99, 0.99, 0.001, 0.001), 100, 100) == (99, 99, 1, 1), "ssha.to_pixels clamps as attention.rs")

    # Trained configurations (the values used for models/zoo), scripted with metadata.
    trained = {
        "ssha": (ssha.SSHANet(["rgb"], 0.125), 16, 2, 64),
        "r2plus1d": (r2plus1d.R2Plus1D18(0.25), 12, 1, 64),
        "mobilenet_lstm": (mobilenet_lstm.MobileNetLSTM(0.5), 10, 3, 64),
        "cnn_bilstm": (cnn_bilstm.CNNBiLSTM("vgg16", 0.125), 10, 2, 64),
        "tcnn_attention": (tcnn_attention.TCNNSpatialAttention(0.125), 16, 1, 64),
    }
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    for name, (net, T, step, size) in trained.items():
        net.eval()
        if name == "ssha":
            extra = {"inputs": ["rgb", "step"], "output": "q_values", "prior_boxes": ssha.PRIOR_BOXES,
                     "max_steps": ssha.MAX_STEPS}
            meta = meta_for(name, T, step, size, extra)
            meta.pop("labels")
            meta.pop("violent_label")
            mod = ssha.export_module(net, json.dumps(meta))
            inputs = (torch.randn(2, 3, T, size, size), ssha.one_hot([0, 2], ssha.MAX_STEPS))
            want = (2, len(ssha.PRIOR_BOXES) + 2)
        else:
            meta = meta_for(name, T, step, size)
            mod = common.Exported(net, json.dumps(meta))
            inputs = (torch.randn(2, 3, T, size, size),)
            want = (2, 2)
        scripted = torch.jit.script(mod)
        with torch.no_grad():
            out = scripted(*inputs)
        check(tuple(out.shape) == want, f"{name} trained config scripted: {tuple(out.shape)} "
              f"({common.count_params(net):,} parameters)")
        check(json.loads(scripted.metadata())["clip_length"] == T, f"{name} metadata() clip_length {T}")
        if args.out:
            scripted.save(os.path.join(args.out, f"{name}.pt"))
    if args.out:
        # SSHA's flow and two-stream variants, for the plugin run with opticalflow.
        for streams in (["flow"], ["rgb", "flow"]):
            net = ssha.SSHANet(streams, 0.125).eval()
            extra = {"inputs": streams + ["step"], "output": "q_values", "prior_boxes": ssha.PRIOR_BOXES,
                     "max_steps": ssha.MAX_STEPS}
            meta = meta_for("ssha-" + "+".join(streams), 8, 1, 32, extra)
            meta.pop("labels")
            meta.pop("violent_label")
            torch.jit.script(ssha.export_module(net, json.dumps(meta))).save(
                os.path.join(args.out, "ssha_" + "_".join(streams) + ".pt"))
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("all architecture checks passed")


if __name__ == "__main__":
    main()
