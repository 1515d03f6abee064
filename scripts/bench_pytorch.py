#!/usr/bin/env python3
"""PyTorch peer of `engine bench --json` (a dev tool, never a project dependency).

Runs the same fixed cases on the CPU and prints one JSON object per case per line:
case, ms (median), gflops where defined, images_per_second where defined, cpu_ms (median process CPU time per run).
Run:  OPENBLAS_CORETYPE=COOPERLAKE /usr/bin/python3 scripts/bench_pytorch.py [--threads 2] [--case NAME] [--seconds S]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONV_CASES = {
    "conv_lenet_c1": (64, 1, 28, 6, 5, 1, 2),
    "conv_lenet_c2": (64, 6, 14, 16, 5, 1, 0),
    "conv_r18_stem": (8, 3, 224, 64, 7, 2, 3),
    "conv_r18_l1": (8, 64, 56, 64, 3, 1, 1),
    "conv_r18_l2": (8, 128, 28, 128, 3, 1, 1),
    "conv_r18_l3": (8, 256, 14, 256, 3, 1, 1),
    "conv_r18_l4": (8, 512, 7, 512, 3, 1, 1),
    "conv_r50_1x1": (8, 256, 56, 64, 1, 1, 0),
}


def median_ms(fn, seconds):
    fn()
    start = time.perf_counter()
    while time.perf_counter() - start < min(0.2, seconds / 4):
        fn()
    times, cpu_times = [], []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < seconds and len(times) < 2000):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
        cpu_times.append((time.process_time() - c0) * 1000)
    times.sort()
    cpu_times.sort()
    return times[len(times) // 2], cpu_times[len(cpu_times) // 2]


def gemm_case(n):
    a, b = torch.rand(n, n), torch.rand(n, n)
    return (lambda: torch.mm(a, b)), 2.0 * n ** 3, 0


def conv_case(geometry, backward):
    n, c, hw, k, kernel, stride, pad = geometry
    x = torch.rand(n, c, hw, hw, requires_grad=backward)
    w = torch.rand(k, c, kernel, kernel, requires_grad=backward)
    bias = torch.rand(k, requires_grad=backward)
    out = (hw + 2 * pad - kernel) // stride + 1
    macs = n * k * out * out * c * kernel * kernel

    def run():
        y = F.conv2d(x, w, bias, stride, pad)
        if backward:
            y.backward(y.detach())

    return run, (6.0 if backward else 2.0) * macs, 0


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def model_case(model, images, labels, train, weight_decay=0.0):
    """One run of a model case: a training step (SGD, momentum 0.9) or an eval-mode inference pass."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=weight_decay)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        loss.item()

    def infer():
        with torch.no_grad():
            model(images).numpy()

    if not train:
        model.eval()
    return (step if train else infer), 0, images.shape[0]


def lenet_case(train):
    return model_case(LeNet5(), torch.rand(64, 1, 28, 28) * 2 - 1, torch.arange(64) % 10, train)


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """torchvision's resnet18 layout (torchvision itself is not needed)."""

    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        blocks, inplanes = [], 64
        for stage in range(4):
            planes = 64 << stage
            for b in range(2):
                blocks.append(BasicBlock(inplanes, planes, 2 if b == 0 and stage > 0 else 1))
                inplanes = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


def resnet_case(batch, size, train):
    return model_case(ResNet18(), torch.rand(batch, 3, size, size) * 2 - 1, torch.arange(batch) * 37 % 1000, train)


class SmallVgg(nn.Module):
    """The engine zoo's vgg_small: two blocks of two 3x3 conv (no bias) + BN + ReLU and a 2x2 max-pool, widths 32
    and 64; adaptive average pool to 7x7; dropout 0.3, linear 3136 -> 256, ReLU, dropout 0.3, linear 256 -> 10."""

    def __init__(self, classes=10, channels=1, width=32, hidden=256, dropout=0.3):
        super().__init__()

        def block(inp, out):
            return [nn.Conv2d(inp, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                    nn.Conv2d(out, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]

        self.features = nn.Sequential(*block(channels, width), *block(width, 2 * width))
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * width * 49, hidden), nn.ReLU(),
                                        nn.Dropout(dropout), nn.Linear(hidden, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def vgg_small_case(batch):
    """As `engine train --model vgg_small --weight-decay 5e-4` on Fashion-MNIST: SGD with momentum 0.9 and weight decay 5e-4."""
    return model_case(SmallVgg(), torch.rand(batch, 1, 28, 28) * 2 - 1, torch.arange(batch) % 10, True, weight_decay=5e-4)


def all_cases():
    cases = {f"gemm_{n}": (lambda n=n: gemm_case(n)) for n in (256, 1024, 2048)}
    for name, geometry in CONV_CASES.items():
        cases[f"{name}_fwd"] = lambda g=geometry: conv_case(g, False)
        cases[f"{name}_fwdbwd"] = lambda g=geometry: conv_case(g, True)
    cases["lenet5_train_b64"] = lambda: lenet_case(True)
    cases["lenet5_infer_b64"] = lambda: lenet_case(False)
    cases["resnet18_infer_b1_224"] = lambda: resnet_case(1, 224, False)
    cases["resnet18_infer_b8_224"] = lambda: resnet_case(8, 224, False)
    cases["resnet18_train_b32_32px"] = lambda: resnet_case(32, 32, True)
    cases["vgg_small_train_b128_28px"] = lambda: vgg_small_case(128)
    return cases


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--case")
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name, make in all_cases().items():
        if args.case and name != args.case:
            continue
        fn, flops, images = make()
        ms, cpu_ms = median_ms(fn, args.seconds)
        record = {"case": name, "ms": round(ms, 3)}
        if flops:
            record["gflops"] = round(flops / ms / 1e6, 3)
        if images:
            record["images_per_second"] = round(images / ms * 1000, 3)
        record["cpu_ms"] = round(cpu_ms, 3)
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
