#!/usr/bin/env python3
"""Writes the PyTorch golden fixtures that the Swift tests compare against.

Run by hand with a Python environment that has torch, numpy and safetensors (CI never runs this; the outputs are
committed):

    /root/tkvenv/bin/python tools/make_golden_fixtures.py

Outputs
  Tests/TensorsTests/Fixtures/<case>.safetensors
      One file per case: the inputs, the weights, the upstream gradient, the forward outputs and the gradients, all
      float32 (targets of cross-entropy are I64). Every case seeds torch with its own fixed seed. The reference is
      computed in float64 from the float32 inputs and rounded to float32 once, so a Swift/float32 result differs from
      it only by the Swift side's own rounding. Gradients are those of `(out * upstream).sum()` for the stored random
      `upstream` (of the loss itself for cross-entropy). `__metadata__` has one entry, "golden": a JSON object with
      the operation ("op"), its parameters and a "description" of the exact computation.
  Tests/CheckpointsTests/Fixtures/python_dtypes.safetensors
      A tiny file written by the reference `safetensors` library with F32, F16, BF16, I64, I32, U8 and BOOL tensors,
      a scalar, an empty tensor and metadata, for the reader's interoperability test.

The script is deterministic: running it again produces byte-identical files on the same torch version.
"""

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "Tests" / "TensorsTests" / "Fixtures"
CHECKPOINT = ROOT / "Tests" / "CheckpointsTests" / "Fixtures"

torch.use_deterministic_algorithms(True)


def save(directory, name, tensors, meta):
    """Writes `tensors` (float tensors stored as float32, integer tensors as they are) with string metadata."""
    out = {}
    for k, v in tensors.items():
        v = v.detach().contiguous()
        out[k] = v.to(torch.float32) if v.is_floating_point() else v
    # One metadata entry holding sorted JSON: the safetensors library writes the metadata map in hash-map order,
    # so several entries would come out in a different order on every run.
    meta = dict(meta, generator="tools/make_golden_fixtures.py (torch %s)" % torch.__version__)
    metadata = {"golden": json.dumps(meta, sort_keys=True)}
    path = directory / f"{name}.safetensors"
    save_file(out, str(path), metadata=metadata)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


def leaf(t):
    """A float64 leaf that requires grad, from float32 values (so the Swift side sees exactly the same inputs)."""
    return t.to(torch.float32).to(torch.float64).requires_grad_(True)


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def backward_with_upstream(out):
    """Back-propagates a fixed random upstream gradient (float32 values) and returns it."""
    g = randn(*out.shape).to(torch.float64)
    (out * g).sum().backward()
    return g


def same_pads(size, kernel, stride, dilation):
    """TensorFlow SAME padding for one spatial dimension: (before, after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------------------------------------------------------
# Convolution


def conv_case(name, seed, x_shape, w_shape, stride, dilation, groups, padding, description):
    """`padding` is ("symmetric", ph, pw) or ("same",): SAME is done as F.pad + conv with padding 0."""
    torch.manual_seed(seed)
    x = leaf(randn(*x_shape))
    w = leaf(randn(*w_shape) * 0.3)
    b = leaf(randn(w_shape[0]) * 0.1)
    meta = {
        "op": "conv2d",
        "stride": list(stride),
        "dilation": list(dilation),
        "groups": groups,
        "description": description,
    }
    if padding[0] == "same":
        top, bottom = same_pads(x_shape[2], w_shape[2], stride[0], dilation[0])
        left, right = same_pads(x_shape[3], w_shape[3], stride[1], dilation[1])
        xp = F.pad(x, (left, right, top, bottom))
        out = F.conv2d(xp, w, b, stride=stride, padding=0, dilation=dilation, groups=groups)
        meta["padding"] = "same"
        meta["pads_top_bottom_left_right"] = [top, bottom, left, right]
    else:
        ph, pw = padding[1], padding[2]
        out = F.conv2d(x, w, b, stride=stride, padding=(ph, pw), dilation=dilation, groups=groups)
        meta["padding"] = "symmetric"
        meta["pads_top_bottom_left_right"] = [ph, ph, pw, pw]
    g = backward_with_upstream(out)
    save(GOLDEN, name, {"x": x, "weight": w, "bias": b, "out": out, "upstream": g,
                        "grad_x": x.grad, "grad_weight": w.grad, "grad_bias": b.grad}, meta)


def conv_cases():
    conv_case("conv2d_plain", 1, (2, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), 1, ("symmetric", 1, 1),
              "3x3, stride 1, padding 1 on both sides, with bias")
    conv_case("conv2d_same_stride2", 2, (2, 3, 8, 7), (4, 3, 3, 3), (2, 2), (1, 1), 1, ("same",),
              "3x3 stride 2, TensorFlow SAME padding done as F.pad(x, (left, right, top, bottom)) + conv padding 0; "
              "total = max((ceil(in/s)-1)*s + (k-1)*d + 1 - in, 0), top/left = total // 2 (H 8: 0/1, W 7: 1/1)")
    conv_case("conv2d_dilated", 3, (2, 3, 9, 9), (4, 3, 3, 3), (1, 1), (2, 2), 1, ("symmetric", 2, 2),
              "3x3, dilation 2, stride 1, padding 2")
    conv_case("conv2d_grouped", 4, (2, 4, 6, 6), (6, 2, 3, 3), (1, 1), (1, 1), 2, ("symmetric", 1, 1),
              "3x3, groups 2 (4 -> 6 channels), stride 1, padding 1")
    conv_case("conv2d_depthwise_same", 5, (2, 4, 9, 8), (4, 1, 5, 5), (2, 2), (1, 1), 4, ("same",),
              "depthwise 5x5 (groups = C = 4) stride 2 with TensorFlow SAME padding (H 9: 2/2, W 8: 1/2), "
              "done as F.pad + conv padding 0")


# ---------------------------------------------------------------------------------------------------------------
# Normalisation


def batch_norm_cases():
    torch.manual_seed(10)
    x0 = randn(4, 3, 5, 5) * 2 + 0.5
    w0 = randn(3) * 0.5 + 1
    b0 = randn(3) * 0.2
    rm0 = randn(3) * 0.5
    rv0 = torch.rand(3) + 0.5
    momentum, eps = 0.1, 1e-3

    x, w, b = leaf(x0), leaf(w0), leaf(b0)
    rm, rv = rm0.to(torch.float64).clone(), rv0.to(torch.float64).clone()
    out = F.batch_norm(x, rm, rv, w, b, training=True, momentum=momentum, eps=eps)
    g = backward_with_upstream(out)
    save(GOLDEN, "batch_norm_train", {
        "x": x, "weight": w, "bias": b, "running_mean": rm0, "running_var": rv0,
        "out": out, "upstream": g, "grad_x": x.grad, "grad_weight": w.grad, "grad_bias": b.grad,
        "running_mean_after": rm, "running_var_after": rv,
    }, {
        "op": "batch_norm", "training": True, "momentum": momentum, "eps": eps,
        "description": "F.batch_norm training mode over N,H,W per channel (biased variance for normalising); "
                       "running_mean/var are the stats before the step, *_after after one step: "
                       "r = (1 - momentum) * r + momentum * batch_stat, with the UNBIASED batch variance (n / (n - 1))",
    })

    x, w, b = leaf(x0), leaf(w0), leaf(b0)
    rm, rv = rm0.to(torch.float64).clone(), rv0.to(torch.float64).clone()
    out = F.batch_norm(x, rm, rv, w, b, training=False, momentum=momentum, eps=eps)
    g = backward_with_upstream(out)
    save(GOLDEN, "batch_norm_eval", {
        "x": x, "weight": w, "bias": b, "running_mean": rm0, "running_var": rv0,
        "out": out, "upstream": g, "grad_x": x.grad, "grad_weight": w.grad, "grad_bias": b.grad,
    }, {
        "op": "batch_norm", "training": False, "momentum": momentum, "eps": eps,
        "description": "F.batch_norm eval mode: (x - running_mean) / sqrt(running_var + eps) * weight + bias; "
                       "running stats unchanged",
    })


def layer_norm_case():
    torch.manual_seed(11)
    x = leaf(randn(2, 5, 16) * 3 + 1)
    w = leaf(randn(16) * 0.5 + 1)
    b = leaf(randn(16) * 0.2)
    eps = 1e-12
    out = F.layer_norm(x, (16,), w, b, eps)
    g = backward_with_upstream(out)
    save(GOLDEN, "layer_norm", {"x": x, "weight": w, "bias": b, "out": out, "upstream": g,
                                "grad_x": x.grad, "grad_weight": w.grad, "grad_bias": b.grad},
         {"op": "layer_norm", "normalized_shape": [16], "eps": eps,
          "description": "F.layer_norm over the last dimension (biased variance), eps 1e-12 as in BERT"})


# ---------------------------------------------------------------------------------------------------------------
# Losses and activations


def cross_entropy_cases():
    torch.manual_seed(12)
    logits0 = randn(8, 5) * 2
    targets = torch.tensor([0, 3, -100, 4, 1, 1, 2, 0], dtype=torch.int64)
    logits = leaf(logits0)
    loss = F.cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.1, reduction="mean")
    loss.backward()
    save(GOLDEN, "cross_entropy_smoothing", {"logits": logits, "targets": targets, "loss": loss,
                                             "grad_logits": logits.grad},
         {"op": "cross_entropy", "label_smoothing": 0.1, "ignore_index": -100, "reduction": "mean",
          "description": "F.cross_entropy(logits [8,5], targets I64 with one entry = ignore_index -100, "
                         "label_smoothing 0.1, mean over the non-ignored rows); loss is a scalar, "
                         "grad_logits is d loss / d logits (upstream 1)"})

    torch.manual_seed(13)
    logits = leaf(randn(8, 5) * 2)
    targets = torch.tensor([4, 0, 2, 2, 1, 3, 0, 4], dtype=torch.int64)
    loss = F.cross_entropy(logits, targets, reduction="mean")
    loss.backward()
    save(GOLDEN, "cross_entropy_plain", {"logits": logits, "targets": targets, "loss": loss,
                                         "grad_logits": logits.grad},
         {"op": "cross_entropy", "label_smoothing": 0.0, "ignore_index": -100, "reduction": "mean",
          "description": "F.cross_entropy(logits [8,5], targets I64 (none ignored), no smoothing, mean); "
                         "loss is a scalar, grad_logits is d loss / d logits (upstream 1)"})


def gelu_case():
    torch.manual_seed(14)
    x0 = torch.linspace(-6, 6, 4 * 33, dtype=torch.float32).reshape(4, 33)
    tensors = {"x": x0}
    g0 = randn(4, 33)
    tensors["upstream"] = g0
    for approximate in ("none", "tanh"):
        x = leaf(x0)
        out = F.gelu(x, approximate=approximate)
        (out * g0.to(torch.float64)).sum().backward()
        suffix = "erf" if approximate == "none" else "tanh"
        tensors[f"out_{suffix}"] = out
        tensors[f"grad_x_{suffix}"] = x.grad
    save(GOLDEN, "gelu", tensors,
         {"op": "gelu", "description": "x = linspace(-6, 6, 132) as [4, 33]; *_erf: F.gelu(x) (exact, "
                                       "0.5 x (1 + erf(x / sqrt 2))); *_tanh: F.gelu(x, approximate='tanh'); "
                                       "both with the same upstream"})


def softmax_case():
    torch.manual_seed(15)
    x0 = randn(3, 4, 5) * 2
    g0 = randn(3, 4, 5)
    tensors = {"x": x0, "upstream": g0}
    for name, fn in (("softmax", F.softmax), ("log_softmax", F.log_softmax)):
        x = leaf(x0)
        out = fn(x, dim=1)
        (out * g0.to(torch.float64)).sum().backward()
        tensors[f"{name}_out"] = out
        tensors[f"{name}_grad_x"] = x.grad
    save(GOLDEN, "softmax", tensors,
         {"op": "softmax", "axis": 1,
          "description": "softmax and log_softmax along dim 1 of x [3, 4, 5], same upstream for both"})


# ---------------------------------------------------------------------------------------------------------------
# Attention


def attention_case():
    torch.manual_seed(16)
    B, T, D, H = 2, 7, 16, 2
    dh = D // H
    x = leaf(randn(B, T, D))
    params = {}
    for p in ("q", "k", "v", "o"):
        params[f"w{p}"] = leaf(randn(D, D) * (1 / math.sqrt(D)))
        params[f"b{p}"] = leaf(randn(D) * 0.1)
    mask = torch.zeros(B, 1, 1, T, dtype=torch.float64)
    mask[1, :, :, T - 2:] = -1e4

    def heads(t):  # [B, T, D] -> [B, H, T, dh]
        return t.reshape(B, T, H, dh).transpose(1, 2)

    q = heads(x.matmul(params["wq"].t()) + params["bq"])
    k = heads(x.matmul(params["wk"].t()) + params["bk"])
    v = heads(x.matmul(params["wv"].t()) + params["bv"])
    scores = q.matmul(k.transpose(-2, -1)) / math.sqrt(dh) + mask
    probs = torch.softmax(scores, dim=-1)
    ctx = probs.matmul(v).transpose(1, 2).reshape(B, T, D)
    out = ctx.matmul(params["wo"].t()) + params["bo"]
    g = backward_with_upstream(out)
    tensors = {"x": x, "mask": mask, "out": out, "upstream": g, "grad_x": x.grad}
    for name, p in params.items():
        tensors[name] = p
        tensors[f"grad_{name}"] = p.grad
    save(GOLDEN, "attention", tensors, {
        "op": "attention", "batch": B, "tokens": T, "dim": D, "heads": H, "head_dim": dh,
        "description": "x [2,7,16]; q/k/v = x @ w{q,k,v}^T + b{q,k,v} (PyTorch Linear layout [out, in]); "
                       "split heads: [B,T,D] -> reshape [B,T,2,8] -> transpose(1,2) -> [B,2,T,8]; "
                       "scores = q @ k^T / sqrt(8) + mask, mask [2,1,1,7] is 0 except -1e4 on the last 2 key "
                       "positions of batch item 1; probs = softmax(scores, -1); ctx = probs @ v -> transpose(1,2) "
                       "-> reshape [B,T,16]; out = ctx @ wo^T + bo; grads of (out * upstream).sum()",
    })


# ---------------------------------------------------------------------------------------------------------------
# Pooling


def pooling_case():
    torch.manual_seed(17)
    x0 = randn(2, 3, 9, 8)
    tensors = {"x": x0}
    cases = {
        "max_pool": lambda x: F.max_pool2d(x, kernel_size=3, stride=2, padding=1),
        "avg_pool": lambda x: F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=True),
        "global_avg_pool": lambda x: F.adaptive_avg_pool2d(x, 1),
    }
    for name, fn in cases.items():
        x = leaf(x0)
        out = fn(x)
        g = backward_with_upstream(out)
        tensors[f"{name}_out"] = out
        tensors[f"{name}_upstream"] = g
        tensors[f"{name}_grad_x"] = x.grad
    save(GOLDEN, "pooling", tensors, {
        "op": "pooling",
        "description": "x [2,3,9,8]; max_pool: F.max_pool2d(k 3, s 2, p 1) -> [2,3,5,4]; avg_pool: "
                       "F.avg_pool2d(k 3, s 2, p 1, count_include_pad=True) (always divides by 9); "
                       "global_avg_pool: F.adaptive_avg_pool2d(x, 1) -> [2,3,1,1]; each with its own upstream",
    })


# ---------------------------------------------------------------------------------------------------------------
# safetensors interoperability fixture for the Checkpoints reader


def checkpoint_fixture():
    torch.manual_seed(18)
    f16_source = torch.tensor([1.0, -2.5, 0.1, 3.14159, 65504.0, 6e-8, -0.0, float("inf")], dtype=torch.float32)
    bf16_source = torch.tensor([1.0, -2.5, 0.1, 3.14159, 3.0e38, 1e-30, -7.75, float("-inf")], dtype=torch.float32)
    f16 = f16_source.to(torch.float16)
    bf16 = bf16_source.to(torch.bfloat16)
    tensors = {
        "f32": (torch.arange(6, dtype=torch.float32) * 0.5 - 1).reshape(2, 3),
        "f16": f16.reshape(2, 4),
        "f16_as_f32": f16.to(torch.float32).reshape(2, 4),
        "bf16": bf16.reshape(2, 4),
        "bf16_as_f32": bf16.to(torch.float32).reshape(2, 4),
        "i64": torch.tensor([-100, 0, 7, 1099511627779], dtype=torch.int64),
        "i32": torch.tensor([[-5, 6], [2147483647, -2147483648]], dtype=torch.int32),
        "u8": torch.tensor([0, 1, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True], dtype=torch.bool),
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    path = CHECKPOINT / "python_dtypes.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})  # one entry: several would be written in random order
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


def main():
    GOLDEN.mkdir(parents=True, exist_ok=True)
    CHECKPOINT.mkdir(parents=True, exist_ok=True)
    conv_cases()
    batch_norm_cases()
    layer_norm_case()
    cross_entropy_cases()
    gelu_case()
    softmax_case()
    attention_case()
    pooling_case()
    checkpoint_fixture()


if __name__ == "__main__":
    main()
