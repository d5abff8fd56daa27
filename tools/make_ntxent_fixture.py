#!/usr/bin/env python3
"""Golden values of the NT-Xent loss (Tests/SelfSupervisedTests) computed as lightly's `NTXentLoss`
(lightly/loss/ntx_ent_loss.py, memory_bank_size=0, no distributed gather) does, re-implemented here in PyTorch line
for line (cosine similarities of the normalised views, the diagonal of the same-view blocks removed, cross-entropy
with the other view as the target). CI never runs it:

    /opt/torchvenv/bin/python tools/make_ntxent_fixture.py

Writes Tests/SelfSupervisedTests/Fixtures/ntxent.json: for N = 4, D = 6 views z0, z1 with element i of the
concatenated [z0; z1] equal to sin(0.37 · i + 0.2) + 0.3 · cos(1.3 · i), the loss at τ = 0.5 and τ = 0.1 and its
gradient with respect to z0 and z1 at τ = 0.5.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SelfSupervisedTests", "Fixtures", "ntxent.json")


def lightly_ntxent(out0, out1, temperature):
    out0 = F.normalize(out0, dim=1)
    out1 = F.normalize(out1, dim=1)
    batch_size = out0.shape[0]
    logits_00 = torch.einsum("nc,mc->nm", out0, out0) / temperature
    logits_01 = torch.einsum("nc,mc->nm", out0, out1) / temperature
    logits_10 = torch.einsum("nc,mc->nm", out1, out0) / temperature
    logits_11 = torch.einsum("nc,mc->nm", out1, out1) / temperature
    diag_mask = ~torch.eye(batch_size, dtype=torch.bool)
    logits_00 = logits_00[diag_mask].view(batch_size, -1)
    logits_11 = logits_11[diag_mask].view(batch_size, -1)
    logits_0100 = torch.cat([logits_01, logits_00], dim=1)
    logits_1011 = torch.cat([logits_10, logits_11], dim=1)
    logits = torch.cat([logits_0100, logits_1011], dim=0)
    labels = torch.arange(batch_size, dtype=torch.long).repeat(2)
    return F.cross_entropy(logits, labels)


def main():
    n, d = 4, 6
    values = [math.sin(0.37 * i + 0.2) + 0.3 * math.cos(1.3 * i) for i in range(2 * n * d)]
    z = torch.tensor(values, dtype=torch.float64).view(2 * n, d)
    z0 = z[:n].clone().requires_grad_(True)
    z1 = z[n:].clone().requires_grad_(True)
    loss = lightly_ntxent(z0, z1, 0.5)
    loss.backward()
    with torch.no_grad():
        loss_01 = lightly_ntxent(z0, z1, 0.1)
    out = {"n": n, "d": d, "z": values, "loss_t05": float(loss), "loss_t01": float(loss_01),
           "grad_z0_t05": z0.grad.flatten().tolist(), "grad_z1_t05": z1.grad.flatten().tolist()}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
    print(out["loss_t05"], out["loss_t01"])


if __name__ == "__main__":
    main()
