#!/usr/bin/env python3
"""Golden fixtures for the Layers tests: small PyTorch modules, their weights (state_dict keys = TransferKit
parameter paths), an input, the output, a fixed upstream gradient, the gradients of every parameter and of the
input, and the buffers after one training step.

Run by hand in a venv with torch (CI never runs it):
    /root/tkvenv/bin/python tools/make_layer_fixtures.py
Writes Tests/LayersTests/Fixtures/{cnn_stack,attention_block}.safetensors (float32, a few KB each).
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "LayersTests", "Fixtures")


def cnn_stack():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False),
        nn.BatchNorm2d(8, eps=1e-3),
        nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )


class SelfAttention(nn.Module):
    """BERT's self-attention: separate query/key/value, scores scaled by 1/sqrt(head dim), additive mask."""

    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, x, mask):
        b, t, h = x.shape
        d = h // self.heads
        split = lambda y: y.view(b, t, self.heads, d).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d) + mask
        return (scores.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b, t, h)


class AttentionBlock(nn.Module):
    """A post-LN transformer layer with the module names of this fixture's Swift twin."""

    def __init__(self, hidden=16, heads=2, inner=32):
        super().__init__()
        self.attention = SelfAttention(hidden, heads)
        self.dense = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.up = nn.Linear(hidden, inner)
        self.down = nn.Linear(inner, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, mask):
        h = self.norm1(x + self.dense(self.attention(x, mask)))
        return self.norm2(h + self.down(F.gelu(self.up(h))))


def dump(name, model, x, extra_inputs=None, call=None):
    model.train()
    with torch.no_grad():  # non-trivial affine and running stats
        for k, p in model.state_dict().items():
            if k.endswith("running_var"):
                p.uniform_(0.5, 1.5)
            elif k.endswith("running_mean"):
                p.uniform_(-0.2, 0.2)
            elif ("norm" in k or k.split(".")[0] in ("1", "4")) and k.endswith("weight"):
                p.uniform_(0.5, 1.5)
    tensors = {"param." + k: v.detach().clone().float() for k, v in model.state_dict().items()}
    x = x.clone().requires_grad_(True)
    out = call(model, x) if call else model(x)
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()
    tensors["input"] = x.detach()
    tensors["output"] = out.detach()
    tensors["upstream"] = upstream
    tensors["grad.input"] = x.grad.detach()
    for k, p in model.named_parameters():
        tensors["grad." + k] = p.grad.detach()
    for k, b in model.named_buffers():
        tensors["after." + k] = b.detach().clone().float()
    for k, v in (extra_inputs or {}).items():
        tensors[k] = v
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, name + ".safetensors"))


def main():
    torch.manual_seed(0)
    dump("cnn_stack", cnn_stack(), torch.randn(4, 3, 8, 8))
    torch.manual_seed(1)
    keep = torch.ones(2, 5)
    keep[1, 3:] = 0
    mask = ((1 - keep) * -1e9).view(2, 1, 1, 5)
    block = AttentionBlock()
    dump("attention_block", block, torch.randn(2, 5, 16), {"keep": keep}, call=lambda m, x: m(x, mask))


if __name__ == "__main__":
    main()
