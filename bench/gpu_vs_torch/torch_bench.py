#!/usr/bin/env python3
"""bench/gpu_vs_torch/torch_bench.py - the PyTorch side of the comparison.

Times the same networks as gpu_bench (our CUDA trainer) on the same GPU, the
way a PyTorch user would run them: channels_last, autocast, eager and
torch.compile. Networks: timm's gernet_s/m/l for genet-light/normal/large
(the same structure and parameter count, see shared/reference/models.md),
else a module file written by `gpu_bench --model M --export-pytorch FILE`
(our own generator, exactly our network; used for GPUNet, which timm lacks).

Training: SGD (Nesterov 0.9, wd 4e-5), CrossEntropyLoss(label_smoothing=0.1),
one synthetic batch kept on the GPU, `--warmup` untimed then `--steps` timed
steps, images/s. Inference: model.eval(), no_grad, autocast in the given
precision, 30 runs each timed with CUDA events after a warm-up, the mean
without the fastest and slowest 10% (GENet's method, as ours), plus p50/p90.
Prints one markdown table row per figure, in gpu_bench's format.
"""
import argparse
import importlib.util
import math
import sys

import torch
import torch.nn as nn

TIMM_NAMES = {"genet-light": "gernet_s", "genet-normal": "gernet_m", "genet-large": "gernet_l"}


def build(model_name, module_file, classes):
    if module_file:
        spec = importlib.util.spec_from_file_location("exported_net", module_file)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.build_model(), "gpunas export"
    if model_name in TIMM_NAMES:
        try:
            import timm
        except ImportError:
            sys.exit(f"timm is not installed; pass --module FILE from gpu_bench --export-pytorch")
        return timm.create_model(TIMM_NAMES[model_name], num_classes=classes), "timm " + TIMM_NAMES[model_name]
    sys.exit(f"no timm equivalent of {model_name}: pass --module FILE (gpu_bench --export-pytorch)")


def trimmed_stats(ms):
    s = sorted(ms)
    n = len(s)
    cut = int(math.floor(n * 0.10))
    kept = s[cut:n - cut] if n - 2 * cut > 0 else s
    mean = sum(kept) / len(kept)

    def pct(q):
        r = q * (n - 1)
        lo = int(math.floor(r))
        hi = min(lo + 1, n - 1)
        return s[lo] + (s[hi] - s[lo]) * (r - lo)

    return mean, pct(0.5), pct(0.9)


def dtype_of(name):
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def train(model, args, label):
    dev = "cuda"
    model = model.to(dev).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=4e-5)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(args.batch, 3, args.res, args.res, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, args.classes, (args.batch,), device=dev)
    dt = dtype_of(args.precision)
    scaler = torch.amp.GradScaler("cuda", enabled=(args.precision == "fp16"))
    step_model = torch.compile(model) if args.compile else model

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dt, enabled=(args.precision != "fp32")):
            loss = loss_fn(step_model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(args.warmup + (10 if args.compile else 0)):
        step()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(args.steps):
        step()
    stop.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(stop) / 1e3
    mode = "compiled" if args.compile else "eager"
    print(f"| {args.model} | train | {args.res}x{args.res} | {args.precision} | {args.batch} | "
          f"{args.steps * args.batch / seconds:.1f} images/s | PyTorch {torch.__version__} {mode}, {label} |")


@torch.no_grad()
def infer(model, args, label):
    dev = "cuda"
    model = model.to(dev).to(memory_format=torch.channels_last).eval()
    run_model = torch.compile(model) if args.compile else model
    dt = dtype_of(args.latency_precision)
    for batch in args.latency:
        x = torch.randn(batch, 3, args.res, args.res, device=dev).to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=dt, enabled=(args.latency_precision != "fp32")):
            for _ in range(10 + (20 if args.compile else 0)):
                run_model(x)
            torch.cuda.synchronize()
            ms = []
            for _ in range(30):
                a = torch.cuda.Event(enable_timing=True)
                b = torch.cuda.Event(enable_timing=True)
                a.record()
                run_model(x)
                b.record()
                b.synchronize()
                ms.append(a.elapsed_time(b))
        mean, p50, p90 = trimmed_stats(ms)
        mode = "compiled" if args.compile else "eager"
        print(f"| {args.model} | infer | {args.res}x{args.res} | {args.latency_precision} | {batch} | "
              f"{mean / batch:.4f} ms/image (batch mean {mean:.3f} ms, p50 {p50:.3f}, p90 {p90:.3f}) | "
              f"PyTorch {torch.__version__} {mode}, {label} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--module", help="file from gpu_bench --export-pytorch (else timm)")
    ap.add_argument("--res", type=int, required=True)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--mode", choices=["train", "infer"], required=True)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp16", "fp32"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--latency", type=lambda s: [int(v) for v in s.split(",")], default=[1, 64])
    ap.add_argument("--latency-precision", default="fp16", choices=["bf16", "fp16", "fp32"])
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("torch_bench: no CUDA device visible to PyTorch")
    torch.backends.cudnn.benchmark = True
    model, label = build(args.model, args.module, args.classes)
    label += f", {torch.cuda.get_device_name()}"
    (train if args.mode == "train" else infer)(model, args, label)


if __name__ == "__main__":
    main()
