#!/usr/bin/env python3
"""bench/trainer_cpu_torch.py - the PyTorch side of bench/trainer_cpu.

Builds the architecture (gpunas canonical JSON, see space/arch.h) as a
torch.nn.Module with the same blocks as trainer/graph.c (GENet XX/BL/DW with
ReLU after the residual add, GPUNet conv/Fused-IRB/IRB with optional SE, tail
conv, pool, dropout, fc), checks that its parameter count equals ours, and
times the same training loop: SGD with Nesterov momentum and weight decay on
conv/fc weights only, cross-entropy with label smoothing 0.1, a fixed random
batch, torch.set_num_threads(threads). Prints "torch images/s: X".

Needs Debian's python3-torch: apt-get install python3-torch (run with
/usr/bin/python3). Plain eager mode, default NCHW layout, as a PyTorch user
would train on a CPU.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def mid_width(stage, c_in):
    if stage["kind"] in ("xx", "bl", "dw"):
        return int(round(stage["width"] * stage["ratio"]))
    if stage["kind"] in ("fused_irb", "irb"):
        return make_divisible(c_in * stage["ratio"])
    return stage["width"]


def padding(stage, stride):
    if stage["pad"] == "timm" and stride > 1:
        return 0
    return ((stride - 1) + (stage["kernel"] - 1)) // 2


def act_layer(name):
    return nn.SiLU(inplace=True) if name == "swish" else nn.ReLU(inplace=True)


class ConvBN(nn.Sequential):
    def __init__(self, c_in, c_out, k, stride, pad, groups, act, eps):
        layers = [nn.Conv2d(c_in, c_out, k, stride, pad, groups=groups, bias=False),
                  nn.BatchNorm2d(c_out, eps=eps)]
        if act:
            layers.append(act_layer(act))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, c, rd, act):
        super().__init__()
        self.conv_reduce = nn.Conv2d(c, rd, 1, bias=True)
        self.act = act_layer(act)
        self.conv_expand = nn.Conv2d(rd, c, 1, bias=True)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        s = self.conv_expand(self.act(self.conv_reduce(s)))
        return x * torch.sigmoid(s)


class Layer(nn.Module):
    """One layer of a stage, as trainer/graph.c's build_layer."""

    def __init__(self, st, c_in, stride, eps):
        super().__init__()
        kind, k, c_out, act = st["kind"], st["kernel"], st["width"], st["act"]
        mid = mid_width(st, c_in)
        pad, pad1 = padding(st, stride), padding(st, 1)
        self.kind = kind
        self.shortcut = None
        self.identity = False
        self.post_act = None
        if kind in ("xx", "bl", "dw"):
            if stride == 1 and c_in == c_out:
                self.identity = True
            else:
                self.shortcut = ConvBN(c_in, c_out, 1, stride, 0, 1, None, eps)
            self.post_act = act_layer(act)
        elif kind in ("fused_irb", "irb"):
            self.identity = stride == 1 and c_in == c_out
        if kind == "conv":
            body = [ConvBN(c_in, c_out, k, stride, pad, 1, act, eps)]
        elif kind == "xx":
            body = [ConvBN(c_in, mid, k, stride, pad, 1, act, eps),
                    ConvBN(mid, c_out, k, 1, pad1, 1, None, eps)]
        elif kind in ("bl", "dw"):
            groups = mid if kind == "dw" else 1
            body = [ConvBN(c_in, mid, 1, 1, 0, 1, act, eps),
                    ConvBN(mid, mid, k, stride, pad, groups, act, eps),
                    ConvBN(mid, c_out, 1, 1, 0, 1, None, eps)]
        elif kind == "fused_irb":
            body = [ConvBN(c_in, mid, k, stride, pad, 1, act, eps)]
        else:  # irb
            body = [ConvBN(c_in, mid, 1, 1, 0, 1, act, eps),
                    ConvBN(mid, mid, k, stride, pad, mid, act, eps)]
        if kind in ("fused_irb", "irb"):
            if st["se"]:
                body.append(SqueezeExcite(mid, int(round(mid * 0.25 / st["ratio"])), act))
            body.append(ConvBN(mid, c_out, 1, 1, 0, 1, None, eps))
        self.body = nn.Sequential(*body)

    def forward(self, x):
        y = self.body(x)
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        elif self.identity:
            y = y + x
        return self.post_act(y) if self.post_act is not None else y


class Net(nn.Module):
    def __init__(self, arch):
        super().__init__()
        eps, c = arch["bn_eps"], arch["in_channels"]
        layers = []
        for st in arch["stages"]:
            for j in range(st["depth"]):
                layers.append(Layer(st, c, st["stride"] if j == 0 else 1, eps))
                c = st["width"]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(arch["dropout"])
        self.fc = nn.Linear(c, arch["classes"])

    def forward(self, x):
        x = self.features(x).mean((2, 3))
        return self.fc(self.dropout(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--expect-params", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    with open(a.arch) as f:
        arch = json.load(f)
    model = Net(arch)
    params = sum(p.numel() for p in model.parameters())
    if a.expect_params and params != a.expect_params:
        print(f"torch model has {params} parameters, gpunas {a.expect_params}: not the same network",
              file=sys.stderr)
        return 1
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-5},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9, nesterov=True)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    r = arch["resolution"]
    images = torch.randn(a.batch, arch["in_channels"], r, r)
    labels = torch.randint(0, arch["classes"], (a.batch,))
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        step()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(f"torch {torch.__version__}: {params} parameters, {torch.get_num_threads()} threads, "
          f"mkldnn {torch.backends.mkldnn.is_available()}")
    print(f"torch images/s: {a.steps * a.batch / elapsed:.1f}  ({1e3 * elapsed / a.steps:.2f} ms/step)"
          f"  images per CPU-second: {a.steps * a.batch / cpu:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
