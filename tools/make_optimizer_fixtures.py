#!/usr/bin/env python3
"""Golden fixtures for the Optimizers tests: PyTorch's optimizers, gradient clipping and learning-rate schedules
replayed on fixed data.

Run by hand in a venv with torch (CI never runs it):
    /root/tkvenv/bin/python tools/make_optimizer_fixtures.py
Writes Tests/OptimizersTests/Fixtures/*.safetensors (float32, a few KB each).

Optimizer fixtures: two parameters, p0 [4, 3] and p1 [5], in two parameter groups with different learning rates
and weight decays; 10 steps, each with a fixed pre-generated gradient (stored: grad.p0 [10, 4, 3], grad.p1
[10, 5]). Stored: p0.initial, p1.initial, expected.p0 / expected.p1 (the parameters after each step), lr [10, 2]
(each group's learning rate at each step), and where it applies momentum [10, 2] and grad_norm [10] (the norm that
clip_grad_norm_ returned). The header metadata holds the configuration the Swift test builds.

schedules.safetensors: learning-rate factor sequences (base lr 1) of PyTorch schedulers, and fastai's one-cycle
schedule (lr and momentum) evaluated the way fastai's ParamScheduler does; fastai is not installed here, so
fastai 2.x's formulas (fastai/callback/schedule.py: combine_scheds, combined_cos, SchedCos; TrainEvalCallback's
pct_train) are restated below, keeping fastai's float32 tensor of phase boundaries.
"""
import math
import os

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "OptimizersTests", "Fixtures")
STEPS = 10

torch.manual_seed(0)
P0 = torch.randn(4, 3)
P1 = torch.randn(5)
# Gradient scale grows over the steps, so clip_grad_norm_(max_norm=1) leaves the early steps alone (norm < 1) and
# scales the later ones.
SCALES = torch.tensor([0.05 * (k + 1) for k in range(STEPS)])
G0 = torch.randn(STEPS, 4, 3) * SCALES.view(-1, 1, 1)
G1 = torch.randn(STEPS, 5) * SCALES.view(-1, 1)


def run(make_optimizer, groups, clip=None, make_scheduler=None):
    p0 = torch.nn.Parameter(P0.clone())
    p1 = torch.nn.Parameter(P1.clone())
    opt = make_optimizer([
        {"params": [p0], "lr": groups[0][0], "weight_decay": groups[0][1]},
        {"params": [p1], "lr": groups[1][0], "weight_decay": groups[1][1]},
    ])
    sched = make_scheduler(opt) if make_scheduler else None
    e0, e1, lrs, moms, norms = [], [], [], [], []
    for k in range(STEPS):
        p0.grad = G0[k].clone()
        p1.grad = G1[k].clone()
        if clip is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_([p0, p1], clip, foreach=False)))
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append([g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups])
        opt.step()
        if sched:
            sched.step()
        e0.append(p0.detach().clone())
        e1.append(p1.detach().clone())
    out = {
        "p0.initial": P0, "p1.initial": P1, "grad.p0": G0, "grad.p1": G1,
        "expected.p0": torch.stack(e0), "expected.p1": torch.stack(e1),
        "lr": torch.tensor(lrs, dtype=torch.float32), "momentum": torch.tensor(moms, dtype=torch.float32),
    }
    if clip is not None:
        out["grad_norm"] = torch.tensor(norms, dtype=torch.float32)
    return out


def save(name, tensors, **meta):
    tensors = {k: v.contiguous().to(torch.float32) for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, f"{name}.safetensors"), metadata={k: str(v) for k, v in meta.items()})


def groups_meta(groups):
    return {"lr0": groups[0][0], "wd0": groups[0][1], "lr1": groups[1][0], "wd1": groups[1][1]}


def optimizer_fixtures():
    g = [(0.1, 0.01), (0.05, 0.001)]
    save("sgd_momentum_wd", run(lambda pg: torch.optim.SGD(pg, momentum=0.9, foreach=False), g),
         momentum=0.9, nesterov=0, **groups_meta(g))
    save("sgd_nesterov", run(lambda pg: torch.optim.SGD(pg, momentum=0.9, nesterov=True, foreach=False), g),
         momentum=0.9, nesterov=1, **groups_meta(g))
    g = [(0.01, 0.1), (0.003, 0.01)]
    save("adam_wd", run(lambda pg: torch.optim.Adam(pg, betas=(0.9, 0.999), eps=1e-8, foreach=False), g),
         beta1=0.9, beta2=0.999, eps=1e-8, **groups_meta(g))
    g = [(0.01, 0.1), (0.003, 0.05)]
    save("adamw", run(lambda pg: torch.optim.AdamW(pg, betas=(0.9, 0.999), eps=1e-8, foreach=False), g),
         beta1=0.9, beta2=0.999, eps=1e-8, **groups_meta(g))
    save("adamw_clip", run(lambda pg: torch.optim.AdamW(pg, betas=(0.9, 0.999), eps=1e-8, foreach=False), g,
                           clip=1.0),
         beta1=0.9, beta2=0.999, eps=1e-8, max_norm=1.0, **groups_meta(g))
    # OneCycleLR with momentum cycling: lr of each group from max_lr/25 up to max_lr (the group's lr) and down to
    # max_lr/(25*1e4); momentum (SGD momentum, Adam beta1) 0.95 -> 0.85 -> 0.95.
    one_cycle = dict(pct_start=0.25, div_factor=25.0, final_div_factor=1e4, base_momentum=0.85, max_momentum=0.95)
    g = [(0.1, 0.01), (0.05, 0.001)]
    save("onecycle_sgd", run(lambda pg: torch.optim.SGD(pg, momentum=0.9, foreach=False), g,
                             make_scheduler=lambda o: torch.optim.lr_scheduler.OneCycleLR(
                                 o, max_lr=[g[0][0], g[1][0]], total_steps=STEPS, **one_cycle)),
         momentum=0.9, nesterov=0, **one_cycle, **groups_meta(g))
    g = [(0.01, 0.1), (0.003, 0.05)]
    save("onecycle_adamw", run(lambda pg: torch.optim.AdamW(pg, betas=(0.9, 0.999), eps=1e-8, foreach=False), g,
                               make_scheduler=lambda o: torch.optim.lr_scheduler.OneCycleLR(
                                   o, max_lr=[g[0][0], g[1][0]], total_steps=STEPS, **one_cycle)),
         beta1=0.9, beta2=0.999, eps=1e-8, **one_cycle, **groups_meta(g))


def torch_factors(make_scheduler, steps):
    """The learning rate at each step of a scheduler over one parameter with base lr 1."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return torch.tensor(out, dtype=torch.float64)


def fastai_combined_cos(pct, start, middle, end):
    """fastai's combined_cos(pct, start, middle, end) = combine_scheds([pct, 1-pct], [SchedCos(start, middle),
    SchedCos(middle, end)]), restated: the phase boundaries are a float32 tensor (fastai's `tensor`), the phase is
    the last boundary <= pos (capped at the last phase), and the cosine runs in Python floats."""
    bounds = torch.cumsum(torch.tensor([0.0, pct, 1 - pct]), 0)
    last = len(bounds) - 2
    phases = [(start, middle), (middle, end)]

    def cos_sched(a, b, x):
        return a + (1 + math.cos(math.pi * (1 - x))) * (b - a) / 2

    def at(pos):
        idx = min(int((pos >= bounds).nonzero().max()), last)
        x = ((pos - bounds[idx]) / (bounds[idx + 1] - bounds[idx])).item()
        return cos_sched(*phases[idx], x)
    return at


def fastai_one_cycle(n_epoch, n_iter, pct_start=0.25, div=25.0, div_final=1e5, moms=(0.95, 0.85, 0.95)):
    """lr (lr_max = 1) and mom before each batch of fit_one_cycle, with fastai's pct_train bookkeeping
    (before_train: epoch/n_epoch; after_batch: += 1/(n_iter*n_epoch))."""
    lr = fastai_combined_cos(pct_start, 1 / div, 1.0, 1 / div_final)
    mom = fastai_combined_cos(pct_start, *moms)
    lrs, ms = [], []
    for epoch in range(n_epoch):
        pct_train = epoch / n_epoch
        for _ in range(n_iter):
            lrs.append(lr(pct_train))
            ms.append(mom(pct_train))
            pct_train += 1.0 / (n_iter * n_epoch)
    return torch.tensor(lrs, dtype=torch.float64), torch.tensor(ms, dtype=torch.float64)


def schedule_fixtures():
    S = torch.optim.lr_scheduler
    out = {}
    # Cosine with linear warm-up: 5 warm-up steps from 0.1, cosine to 0.05 at step 30.
    out["cosine_warmup.lr"] = torch_factors(lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=5),
            S.CosineAnnealingLR(o, T_max=25, eta_min=0.05)], milestones=[5]), 31)
    out["step_decay.lr"] = torch_factors(lambda o: S.StepLR(o, step_size=7, gamma=0.5), 30)
    out["linear_warmup.lr"] = torch_factors(lambda o: S.LinearLR(o, start_factor=0.2, total_iters=8), 20)
    out["onecycle_pytorch.lr"] = torch_factors(lambda o: S.OneCycleLR(
        o, max_lr=1.0, total_steps=40, pct_start=0.3, cycle_momentum=False), 40)
    lrs, moms = fastai_one_cycle(n_epoch=3, n_iter=13)
    out["onecycle_fastai.lr"] = lrs
    out["onecycle_fastai.mom"] = moms
    save("schedules", out, cosine_warmup="warmup=5 start=0.1 min=0.05 total=30",
         step_decay="step_size=7 gamma=0.5", linear_warmup="warmup=8 start=0.2",
         onecycle_pytorch="total=40 pct_start=0.3 div=25 final_div=1e4",
         onecycle_fastai="total=39 (3 epochs x 13 batches) pct_start=0.25 div=25 div_final=1e5 moms=0.95,0.85,0.95")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    optimizer_fixtures()
    schedule_fixtures()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)), "bytes")
