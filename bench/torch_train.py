#!/usr/bin/python3
"""PyTorch reference for bench/train-throughput.ts: the same ResNet-18 branch and triplet training step.

ImageNet layout: 7x7/2 conv stem + BN + ReLU, 3x3/2 max-pool, 4 stages x 2 basic blocks (conv-BN-ReLU, conv-BN,
identity or 1x1/stride projection shortcut with BN, add, ReLU), global average pooling, Linear(embedding) and L2
normalisation. Stage widths 64-128-256-512 x width (at least 4), as in src/engine/models.ts. Convs have no bias.
Step: anchor, positive and negative (3 x B images, channels_last) concatenated through the one branch, BN in
training mode, loss mean(relu(|a-p| - |a-n| + margin)) (euclidean, clamped at 1e-12 before the sqrt, as in
src/engine/losses.ts), backward, Adam step; the loss is read back each step (.item()).
Prints one JSON line: median step seconds, images/s, triplets/s.

  /usr/bin/python3 bench/torch_train.py --width 0.25 --steps 10 --warmup 3 --threads 2
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k, stride, relu):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = conv_bn(cin, cout, 3, stride, True)
        self.b = conv_bn(cout, cout, 3, 1, False)
        self.proj = conv_bn(cin, cout, 1, stride, False) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.b(self.a(x))
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


class Branch(nn.Module):
    def __init__(self, width, embedding_dim):
        super().__init__()
        w = [max(4, round(c * width)) for c in (64, 128, 256, 512)]
        self.stem = conv_bn(3, w[0], 7, 2, True)
        self.pool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], w[0]
        for stage, c in enumerate(w):
            blocks += [BasicBlock(cin, c, 1 if stage == 0 else 2), BasicBlock(c, c, 1)]
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, embedding_dim)

    def forward(self, x):
        x = self.blocks(self.pool(self.stem(x)))
        x = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return x / torch.sqrt(torch.clamp((x * x).sum(-1, keepdim=True), min=1e-12))


def row_dist(a, b):
    return torch.sqrt(torch.clamp(((a - b) ** 2).sum(-1), min=1e-12))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--width', type=float, default=0.25)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--embedding', type=int, default=128)
    ap.add_argument('--margin', type=float, default=0.2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = Branch(args.width, args.embedding).to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b, s = args.batch, args.size
    streams = [torch.rand(b, 3, s, s).contiguous(memory_format=torch.channels_last) for _ in range(3)]

    def step():
        x = torch.cat(streams, 0).contiguous(memory_format=torch.channels_last)
        e = model(x)
        a, p, n = torch.split(e, b, 0)
        loss = F.relu(row_dist(a, p) - row_dist(a, n) + args.margin).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    times, cpu = [], []  # wall seconds; process CPU seconds (all threads) per step
    loss = float('nan')
    for i in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if i >= args.warmup:
            times.append(dt)
            cpu.append(dc)
    med = statistics.median(times)
    print(json.dumps({
        'engine': 'torch', 'version': torch.__version__, 'threads': torch.get_num_threads(), 'channelsLast': True,
        'width': args.width, 'params': sum(p.numel() for p in model.parameters() if p.requires_grad),
        'batchTriplets': b, 'size': s, 'stepSeconds': med, 'imagesPerSec': 3 * b / med, 'tripletsPerSec': b / med,
        'cpuSecondsPerStep': statistics.median(cpu), 'stepsSeconds': [round(t, 5) for t in times], 'lastLoss': loss,
    }))


if __name__ == '__main__':
    main()
