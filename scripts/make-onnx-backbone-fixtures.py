#!/usr/bin/python3
"""Fixtures for test/integration/onnx-backbone.test.ts: torch.onnx.export'ed image models used as frozen feature
extractors through ONNX Runtime (src/engine/onnx-backbone.ts), and PyTorch's outputs for the test's own inputs.

Usage: /usr/bin/python3 scripts/make-onnx-backbone-fixtures.py OUT_DIR JOBS.json
Needs Debian's python3-torch and python3-torchvision (nothing from pip; torch.onnx.export needs no onnx package).

Models (seeded random weights; BN statistics perturbed so eval-mode BN matters):
  resnet18_nchw.onnx   torchvision resnet18, fc = Identity: input "pixels" float32 [N, 3, 64, 64] (fixed), output
                       "features" [N, 512] — the torchvision export a user makes.
  tiny_nhwc_dyn.onnx   a small CNN taking NHWC input [N, H, W, 3] with H and W dynamic; outputs "tokens" [N, T, 16]
                       (the spatial map flattened) and "pooled" [N, 16] — the pooled output must be picked.
  tiny_nchw_b1.onnx    a small NCHW CNN exported without dynamic axes (batch fixed at 1, 30×20): run image by image.
  two_images.onnx      two image inputs (refused).
  uint8_input.onnx     a uint8 NHWC input (refused).
JOBS.json: [{"model": "resnet18_nchw", "input": "x.f32", "shape": [n, h, w, c], "output": "ref.f32"}, ...]; each
input is float32 NHWC (the normalised pixels our image pipeline makes); the output is the model's pooled features
in float32, computed by PyTorch in eval mode (the reference ONNX Runtime must reproduce).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision


def perturb_bn(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=g)
            m.bias.data = 0.2 * (torch.rand(n, generator=g) - 0.5)
            m.running_mean.data = 0.2 * (torch.rand(n, generator=g) - 0.5)
            m.running_var.data = 0.5 + torch.rand(n, generator=g)
    return model.eval()


def resnet18():
    torch.manual_seed(1)
    m = torchvision.models.resnet18(weights=None)
    m.fc = nn.Identity()
    return perturb_bn(m, 2)


class TinyNhwc(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        perturb_bn(self, 4)

    def forward(self, x):  # x: [N, H, W, 3]
        y = self.body(x.permute(0, 3, 1, 2))
        tokens = y.flatten(2).transpose(1, 2)
        return tokens, y.mean(dim=(2, 3))


class TinyNchw(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        perturb_bn(self, 6)

    def forward(self, x):  # x: [N, 3, H, W]
        return self.body(x)  # [N, 8, 1, 1]: pooled, not flattened


class TwoImages(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, a, b):
        return (self.conv(a) + self.conv(b)).mean(dim=(2, 3))


class Uint8Input(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x.permute(0, 3, 1, 2).float() / 255).mean(dim=(2, 3))


def export(model, args, path, inputs, outputs, dynamic=None):
    torch.onnx.export(model, args, path, input_names=inputs, output_names=outputs, opset_version=13,
                      dynamic_axes=dynamic, do_constant_folding=True)


def main():
    out_dir, jobs_file = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    models = {'resnet18_nchw': (resnet18(), 'NCHW'), 'tiny_nhwc_dyn': (TinyNhwc().eval(), 'NHWC'), 'tiny_nchw_b1': (TinyNchw().eval(), 'NCHW')}
    with torch.no_grad():
        export(models['resnet18_nchw'][0], torch.zeros(1, 3, 64, 64), os.path.join(out_dir, 'resnet18_nchw.onnx'),
               ['pixels'], ['features'], {'pixels': {0: 'N'}, 'features': {0: 'N'}})
        export(models['tiny_nhwc_dyn'][0], torch.zeros(1, 24, 20, 3), os.path.join(out_dir, 'tiny_nhwc_dyn.onnx'),
               ['image'], ['tokens', 'pooled'],
               {'image': {0: 'N', 1: 'H', 2: 'W'}, 'tokens': {0: 'N', 1: 'T'}, 'pooled': {0: 'N'}})
        export(models['tiny_nchw_b1'][0], torch.zeros(1, 3, 30, 20), os.path.join(out_dir, 'tiny_nchw_b1.onnx'), ['x'], ['y'])
        export(TwoImages().eval(), (torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)),
               os.path.join(out_dir, 'two_images.onnx'), ['left', 'right'], ['features'])
        export(Uint8Input().eval(), torch.zeros(1, 16, 16, 3, dtype=torch.uint8), os.path.join(out_dir, 'uint8_input.onnx'),
               ['image'], ['features'])
        with open(jobs_file) as f:
            jobs = json.load(f)
        for job in jobs:
            model, layout = models[job['model']]
            x = torch.from_numpy(np.fromfile(job['input'], dtype='<f4').reshape(job['shape']).copy())
            if layout == 'NCHW':
                x = x.permute(0, 3, 1, 2).contiguous()
            y = model(x)
            y = y[1] if isinstance(y, tuple) else y.flatten(1)
            y.numpy().astype('<f4').tofile(job['output'])
    with open(os.path.join(out_dir, 'done'), 'w') as f:
        f.write('ok\n')


if __name__ == '__main__':
    main()
