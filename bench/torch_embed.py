#!/usr/bin/python3
"""PyTorch reference for bench/embed-throughput.ts: the same branch network (ResNet-18 ImageNet layout at width 0.25,
i.e. 16-32-64-128, GAP, Linear(128), L2 norm; input 64x64x3) in eval mode, channels_last, N threads, over the same
image files. Decoding uses PIL if available, else torchvision.io; the one used is reported as "decoder".

    /usr/bin/python3 bench/torch_embed.py <folder> [--runs 2] [--threads 2] [--batch 64] [--size 64]

Prints one line "RESULT {json}" with inference-only, decode-only and end-to-end images/s (medians of --runs runs after a
warm-up) and peak RSS (ru_maxrss). End to end = decode (one thread, as a simple script would) + normalise + forward,
batch by batch, in one process.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from PIL import Image, ImageOps
    import numpy as np
    DECODER = f"PIL {Image.__version__}"
except ImportError:  # pragma: no cover
    Image = None
    try:
        import torchvision.io as tvio
        DECODER = "torchvision.io"
    except ImportError:
        DECODER = None


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.proj is None else self.proj(x)))


class Branch(nn.Module):
    def __init__(self, widths=(16, 32, 64, 128), dim=128):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            layers += [Block(cin, w, 1 if i == 0 else 2), Block(w, w, 1)]
            cin = w
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, dim)

    def forward(self, x):
        x = self.stages(self.stem(x))
        x = x.mean((2, 3))
        return F.normalize(self.fc(x), dim=-1)


MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


def list_images(folder):
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for f in sorted(files):
            if not f.startswith('.') and f.lower().endswith(('.png', '.jpg', '.jpeg', '.webp')):
                out.append(os.path.join(root, f))
    return out


def decode(path, size):
    """HWC uint8, size x size, 'cover' (scale to fill, centre crop), RGB."""
    if Image is not None:
        with Image.open(path) as im:
            im = im.convert('RGB')
            if im.size != (size, size):
                im = ImageOps.fit(im, (size, size), Image.BILINEAR)
            return np.asarray(im)
    t = tvio.decode_image(tvio.read_file(path), mode=tvio.ImageReadMode.RGB)  # CHW
    if t.shape[1:] != (size, size):
        t = F.interpolate(t[None].float(), size=(size, size), mode='bilinear', antialias=True)[0].round().clamp(0, 255).byte()
    return t.permute(1, 2, 0).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('folder')
    ap.add_argument('--runs', type=int, default=2)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--size', type=int, default=64)
    args = ap.parse_args()
    if DECODER is None:
        print('neither PIL nor torchvision is available', file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Branch().eval().to(memory_format=torch.channels_last)
    files = list_images(args.folder)
    B, S = args.batch, args.size

    def forward(x_uint8_nhwc):
        x = torch.from_numpy(x_uint8_nhwc).permute(0, 3, 1, 2).float()  # NCHW view of NHWC = channels_last
        x = ((x - MEAN) / STD).contiguous(memory_format=torch.channels_last)
        return model(x)

    with torch.inference_mode():
        # inference only: random batches, as many images as the folder (capped at 4096)
        n_inf = max(B, min(len(files), 4096) // B * B)
        xb = (torch.rand(B, 3, S, S) * 4 - 2).contiguous(memory_format=torch.channels_last)
        inf = []
        for r in range(args.runs + 1):
            t0 = time.perf_counter()
            for _ in range(n_inf // B):
                model(xb)
            if r:
                inf.append(n_inf / (time.perf_counter() - t0))

        dec, e2e = [], []
        for r in range(args.runs + 1):
            t0 = time.perf_counter()
            for f in files:
                decode(f, S)
            if r:
                dec.append(len(files) / (time.perf_counter() - t0))
        for r in range(args.runs + 1):
            t0 = time.perf_counter()
            out = []
            for s in range(0, len(files), B):
                batch = np.stack([decode(f, S) for f in files[s:s + B]])
                out.append(forward(batch).numpy())
            if r:
                e2e.append(len(files) / (time.perf_counter() - t0))
    print('RESULT ' + json.dumps({
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'decoder': DECODER, 'batch': B, 'images': len(files),
        'inferImagesPerSec': round(statistics.median(inf)), 'decodeImagesPerSec': round(statistics.median(dec)),
        'e2eImagesPerSec': round(statistics.median(e2e)), 'inferRuns': [round(v) for v in inf], 'e2eRuns': [round(v) for v in e2e],
        'maxRssMiB': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == '__main__':
    main()
