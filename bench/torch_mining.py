#!/usr/bin/python3
"""PyTorch reference for bench/train-mining.ts: the same ResNet-18 branch (bench/torch_train.py's, with the stem
taking --channels) and the same training step per loss and mining mode.

B = P x K images (--classes P, --per-class K) through the branch, BN in training mode, then the loss on the
embeddings, as src/engine/losses.ts defines it (euclidean distance, clamped at 1e-12 before the sqrt, margin 0.2):
batch-all / batch-hard / semi-hard mining over the B x B distance matrix of the P x K batch; contrastive, triplet
and quartet on the B images split into 2, 3 or 4 streams. Backward, Adam 1e-3; the loss is read back (.item()).
Prints one JSON line: per mode, the median step seconds and images/s.

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_mining.py --size 32 --channels 1 --threads 1
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train import Branch, conv_bn, row_dist  # noqa: E402

MARGIN = 0.2


def pairwise(e):
    sq = (e * e).sum(-1, keepdim=True)
    d2 = F.relu(sq - 2 * e @ e.t() + sq.t())
    return torch.sqrt(torch.clamp(d2, min=1e-12))


def mined(e, labels, mode):
    d = pairwise(e)
    same = labels[:, None] == labels[None, :]
    pos = (same & ~torch.eye(len(labels), dtype=torch.bool)).float()
    neg = (~same).float()
    if mode == 'batch-hard':
        big = d.max() + 1
        hp = (d * pos).max(1).values
        hn = (d + (1 - neg) * big).min(1).values
        has = (pos.sum(1) > 0).float()
        return (F.relu(hp - hn + MARGIN) * has).sum() / has.sum().clamp(min=1)
    if mode == 'batch-all':
        per = F.relu(d[:, :, None] - d[:, None, :] + MARGIN) * (pos[:, :, None] * neg[:, None, :])
        return per.sum() / (per > 1e-16).sum().clamp(min=1)
    # semi-hard (TF-Addons): per positive pair, the closest negative farther than the positive, else the farthest.
    with torch.no_grad():
        farther = (pos[:, :, None] * neg[:, None, :]) * (d[:, None, :] > d[:, :, None]).float()
        big = d.max() + 1
        masked = d[:, None, :] * farther + (1 - farther) * big
        semi_idx = masked.argmin(2)
        hard_idx = (d * neg).argmax(1, keepdim=True).expand_as(semi_idx)
        idx = torch.where(farther.sum(2) > 0, semi_idx, hard_idx)
    chosen = torch.gather(d, 1, idx)
    return (F.relu(d - chosen + MARGIN) * pos).sum() / pos.sum().clamp(min=1)


def streams_loss(e, mode, y):
    n = {'contrastive': 2, 'triplet': 3, 'quartet': 4}[mode]
    parts = torch.split(e, e.shape[0] // n, 0)
    if mode == 'contrastive':
        d = row_dist(parts[0], parts[1])
        return ((1 - y) * 0.5 * d ** 2 + y * 0.5 * F.relu(MARGIN - d) ** 2).mean()
    if mode == 'triplet':
        return F.relu(row_dist(parts[0], parts[1]) - row_dist(parts[0], parts[2]) + MARGIN).mean()
    a, p, n1, n2 = parts
    ap2 = row_dist(a, p) ** 2
    return (F.relu(ap2 - row_dist(a, n1) ** 2 + MARGIN) + F.relu(ap2 - row_dist(n1, n2) ** 2 + MARGIN / 2)).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--channels', type=int, default=1)
    ap.add_argument('--classes', type=int, default=6)
    ap.add_argument('--per-class', type=int, default=16)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--width', type=float, default=0.25)
    ap.add_argument('--modes', default='semi-hard,batch-hard,batch-all,triplet,contrastive,quartet')
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = Branch(args.width, 128)
    model.stem = conv_bn(args.channels, model.stem[0].out_channels, 7, 2, True)
    model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b = args.classes * args.per_class
    x = torch.rand(b, args.channels, args.size, args.size).contiguous(memory_format=torch.channels_last)
    labels = torch.arange(b) // args.per_class
    y = (torch.arange(b // 2) % 2).float()

    out = {}
    for mode in args.modes.split(','):
        def step():
            e = model(x)
            loss = mined(e, labels, mode) if mode in ('batch-all', 'batch-hard', 'semi-hard') else streams_loss(e, mode, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        times = []
        for i in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            step()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        out[mode] = {'stepSeconds': med, 'imagesPerSec': b / med, 'stepsSeconds': [round(t, 5) for t in times]}
    print(json.dumps({'engine': 'torch', 'version': torch.__version__, 'threads': torch.get_num_threads(),
                      'size': args.size, 'channels': args.channels, 'images': b, 'modes': out}))


if __name__ == '__main__':
    main()
