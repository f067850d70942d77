#!/usr/bin/python3
"""PyTorch CUDA reference for bench/gpu-train.ts: bench/torch_train.py's branch and triplet step on a GPU.

bench/torch_train.py has no --device option (CPU only); this reuses its Branch and row_dist unchanged and runs the
same step (3 x B images, channels_last, BN in training mode, Adam 1e-3, loss read back with .item(), which also
synchronises) on `--device` (default cuda). Prints one JSON line like torch_train.py.

  python3 bench/torch_train_cuda.py --width 1.0 --batch 32 --size 64 [--amp]
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
from torch_train import Branch, row_dist  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--width', type=float, default=0.25)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--embedding', type=int, default=128)
    ap.add_argument('--margin', type=float, default=0.2)
    ap.add_argument('--amp', action='store_true', help='float16 autocast (default: float32, like tfjs)')
    args = ap.parse_args()
    dev = torch.device(args.device)
    if dev.type == 'cuda' and not torch.cuda.is_available():
        print(json.dumps({'engine': 'torch', 'device': args.device, 'error': 'CUDA is not available'}))
        sys.exit(2)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    model = Branch(args.width, args.embedding).to(dev, memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b, s = args.batch, args.size
    streams = [torch.rand(b, 3, s, s, device=dev).contiguous(memory_format=torch.channels_last) for _ in range(3)]

    def step():
        x = torch.cat(streams, 0).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=dev.type, enabled=args.amp):
            e = model(x)
            a, p, n = torch.split(e.float(), b, 0)
            loss = F.relu(row_dist(a, p) - row_dist(a, n) + args.margin).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    times, loss = [], float('nan')
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
    med = statistics.median(times)
    print(json.dumps({
        'engine': 'torch', 'version': torch.__version__, 'device': str(dev),
        'deviceName': torch.cuda.get_device_name(dev) if dev.type == 'cuda' else str(dev), 'amp': args.amp,
        'width': args.width, 'params': sum(p.numel() for p in model.parameters() if p.requires_grad),
        'batchTriplets': b, 'size': s, 'stepSeconds': med, 'imagesPerSec': 3 * b / med, 'tripletsPerSec': b / med,
        'stepsSeconds': [round(t, 5) for t in times], 'lastLoss': loss,
    }))


if __name__ == '__main__':
    main()
