#!/usr/bin/python3
"""Fixtures for test/unit/pretrained-resnet.test.ts: PyTorch ResNets and their outputs, the reference that our
import of torchvision/timm state dicts (src/engine/pretrained/resnet-import.ts) must reproduce.

Usage: /usr/bin/python3 scripts/make-pretrained-fixtures.py OUT_DIR
Needs Debian's python3-torch and python3-torchvision (nothing from pip; the safetensors writer is below).

For each of resnet18, resnet34 and resnet50 (torchvision, v1.5 bottlenecks) with seeded random weights:
  - BN made to matter: gamma, beta random; running statistics measured on random inputs in train mode, then
    perturbed (so eval-mode BN is neither the identity nor the batch statistics);
  - <arch>.safetensors: torchvision's state dict as it is (F32, num_batches_tracked as I64, fc included);
  - <arch>-timm.safetensors: the same network as timm writes it to the hub (timm's ResNet has torchvision's key
    names; its hub files carry no num_batches_tracked), stored as F16 — the reference for it is computed from the
    F16-rounded weights, so it also checks the F16 conversion end to end;
  - pooled features (the input of fc), eval mode, for each input.
Inputs: float32 NCHW tensors (inputs.f32; two 64×64 and one 57×71, odd sizes catch padding errors) and two 64×64
PNGs (rgb.png plain RGB, rgba.png RGBA fully opaque) whose reference is their pixels / 255, ImageNet-normalised.
Everything is indexed by reference.json; its "script" field is this file's SHA-256, so a changed script regenerates.
"""
import hashlib
import json
import os
import struct
import sys
import zlib

import torch
import torch.nn as nn
import torchvision

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
ARCHS = ['resnet18', 'resnet34', 'resnet50']
DTYPES = {torch.float32: ('F32', 4), torch.float16: ('F16', 2), torch.int64: ('I64', 8)}


def write_safetensors(path, tensors, metadata=None):
    """The safetensors format: u64 LE header length, JSON header (space-padded to 8 bytes), the raw tensors."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        dtype, _ = DTYPES[t.dtype]
        data = t.numpy().tobytes()  # little-endian on every machine we run on
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_png(path, pixels, alpha):
    """An 8-bit RGB (or RGBA, alpha 255) PNG from a [H][W][3] list of bytes; no library needed."""
    h, w = len(pixels), len(pixels[0])
    raw = b''.join(b'\x00' + bytes(v for px in row for v in (list(px) + ([255] if alpha else []))) for row in pixels)

    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack('>IIBBBBB', w, h, 8, 6 if alpha else 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def randomise(model, g):
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5, generator=g)
            m.bias.normal_(0.0, 0.2, generator=g)
            m.reset_running_stats()
            m.momentum = None  # cumulative averages while calibrating
        model.train()
        for _ in range(2):
            model(torch.randn(8, 3, 64, 64, generator=g))
        for m in bns:
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.7, 1.3, generator=g))
            m.running_mean.add_(torch.randn(m.running_mean.shape, generator=g) * 0.1 * m.running_var.sqrt())
            m.momentum = 0.1
    model.eval()


def features(model, x):
    fc = model.fc
    model.fc = nn.Identity()
    try:
        with torch.no_grad():
            return model(x)[0].tolist()
    finally:
        model.fc = fc


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with open(__file__, 'rb') as f:
        script_hash = hashlib.sha256(f.read()).hexdigest()
    torch.manual_seed(1234)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    g = torch.Generator().manual_seed(1234)

    inputs = [('a64', torch.randn(1, 3, 64, 64, generator=g)), ('b64', torch.randn(1, 3, 64, 64, generator=g)),
              ('c57x71', torch.randn(1, 3, 57, 71, generator=g))]
    index, offset = [], 0
    with open(os.path.join(out, 'inputs.f32'), 'wb') as f:
        for name, x in inputs:
            data = x.contiguous().numpy().astype('<f4').tobytes()
            f.write(data)
            index.append({'name': name, 'shape': list(x.shape[1:]), 'offset': offset})
            offset += len(data)

    # Two images: smooth gradients plus seeded noise, so that every pixel and channel differs.
    noise = torch.randint(0, 64, (64, 64, 3), generator=g).tolist()
    pixels = [[[(x * 3 + noise[y][x][0]) % 256, (y * 3 + noise[y][x][1]) % 256, ((x + y) * 2 + noise[y][x][2]) % 256]
               for x in range(64)] for y in range(64)]
    images = []
    for name, alpha in [('rgb.png', False), ('rgba.png', True)]:
        write_png(os.path.join(out, name), pixels, alpha)
        images.append({'file': name, 'height': 64, 'width': 64})
    img = torch.tensor(pixels, dtype=torch.float32).permute(2, 0, 1) / 255.0
    img = ((img - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)).unsqueeze(0)

    models = {}
    for arch in ARCHS:
        model = getattr(torchvision.models, arch)(weights=None)
        randomise(model, g)
        sd = model.state_dict()
        entry = {'file': f'{arch}.safetensors', 'backbone': arch, 'layout': 'torchvision', 'dtype': 'F32'}
        write_safetensors(os.path.join(out, entry['file']), sd)
        entry['features'] = {name: features(model, x) for name, x in inputs}
        entry['imageFeatures'] = features(model, img)
        models[arch] = entry

        # timm's hub layout: same names, no num_batches_tracked, F16, a 10-class fc.
        timm = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items() if not k.endswith('num_batches_tracked')}
        timm['fc.weight'] = torch.randn(10, sd['fc.weight'].shape[1], generator=g).half()
        timm['fc.bias'] = torch.zeros(10).half()
        rounded = {k: (v.half().float() if v.is_floating_point() else v) for k, v in sd.items()}
        model.load_state_dict(rounded)
        model.eval()
        tentry = {'file': f'{arch}-timm.safetensors', 'backbone': arch, 'layout': 'timm', 'dtype': 'F16'}
        write_safetensors(os.path.join(out, tentry['file']), timm, {'format': 'pt'})
        tentry['features'] = {name: features(model, x) for name, x in inputs}
        tentry['imageFeatures'] = features(model, img)
        models[f'{arch}-timm'] = tentry

    ref = {'script': script_hash, 'torch': torch.__version__, 'torchvision': torchvision.__version__,
           'mean': MEAN, 'std': STD, 'inputs': index, 'images': images, 'models': models}
    tmp = os.path.join(out, 'reference.json.tmp')
    with open(tmp, 'w') as f:
        json.dump(ref, f)
    os.replace(tmp, os.path.join(out, 'reference.json'))


if __name__ == '__main__':
    main()
