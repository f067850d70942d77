// The PyTorch fixtures of the pretrained-weights tests: made by scripts/make-pretrained-fixtures.py (Debian's
// python3-torch and python3-torchvision) into .cache/pretrained-fixtures/ (gitignored; ~350 MB), once, and again
// whenever the script changes (reference.json records its SHA-256). Without torch the tests FAIL with a message
// saying what to install: they are the check that our import equals PyTorch.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');
const script = path.join(root, 'scripts', 'make-pretrained-fixtures.py');
export const FIXTURES = path.join(root, '.cache', 'pretrained-fixtures');
const PYTHON = '/usr/bin/python3';

export interface FixtureModel {
  file: string;
  backbone: 'resnet18' | 'resnet34' | 'resnet50';
  layout: 'torchvision' | 'timm';
  dtype: 'F32' | 'F16';
  features: Record<string, number[]>;
  imageFeatures: number[];
}

export interface Fixtures {
  dir: string;
  torch: string;
  mean: number[];
  std: number[];
  /** name → [C, H, W] float32 (NCHW, batch 1) */
  inputs: Array<{ name: string; shape: [number, number, number]; data: Float32Array }>;
  images: Array<{ file: string; height: number; width: number }>;
  models: Record<string, FixtureModel>;
}

interface Reference extends Omit<Fixtures, 'dir' | 'inputs'> {
  script: string;
  inputs: Array<{ name: string; shape: [number, number, number]; offset: number }>;
}

function readReference(): Reference | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference.json'), 'utf8')) as Reference;
  } catch {
    return undefined;
  }
}

/** One generator at a time (test processes may run side by side): a lock folder, waited for up to 20 minutes. */
function withLock<T>(fn: () => T): T {
  const lock = `${FIXTURES}.lock`;
  fs.mkdirSync(path.dirname(FIXTURES), { recursive: true });
  const until = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > until) throw new Error(`${lock} is held for more than 20 minutes; remove it if no test is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function generate(): Reference {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`the pretrained-weights fixtures need PyTorch: ${PYTHON} -c "import torch, torchvision" failed `
      + `(${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}). Install Debian's packages: `
      + 'sudo apt-get install python3-torch python3-torchvision');
  }
  // Into a fresh folder, then renamed, so that a run cut short never leaves a half-made cache.
  const tmp = `${FIXTURES}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const run = spawnSync(PYTHON, [script, tmp], { encoding: 'utf8', timeout: 15 * 60_000 });
  if (run.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`${script} failed (${run.status ?? run.signal}): ${run.stderr}`);
  }
  fs.rmSync(FIXTURES, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(FIXTURES), { recursive: true });
  fs.renameSync(tmp, FIXTURES);
  return readReference()!;
}

let cached: Fixtures | undefined;

/** The fixtures, generated first when missing or stale. */
export function pretrainedFixtures(): Fixtures {
  if (cached) return cached;
  const hash = createHash('sha256').update(fs.readFileSync(script)).digest('hex');
  const fresh = (r: Reference | undefined): r is Reference => r !== undefined && r.script === hash && Object.values(r.models).every((m) => fs.existsSync(path.join(FIXTURES, m.file)));
  let ref = readReference();
  if (!fresh(ref)) ref = withLock(() => { const again = readReference(); return fresh(again) ? again : generate(); });
  const raw = fs.readFileSync(path.join(FIXTURES, 'inputs.f32'));
  const inputs = ref.inputs.map((i) => {
    const n = i.shape[0] * i.shape[1] * i.shape[2];
    const data = new Float32Array(n);
    for (let k = 0; k < n; k++) data[k] = raw.readFloatLE(i.offset + k * 4);
    return { name: i.name, shape: i.shape, data };
  });
  cached = { dir: FIXTURES, torch: ref.torch, mean: ref.mean, std: ref.std, inputs, images: ref.images, models: ref.models };
  return cached;
}

/** CHW → HWC. */
export function chwToHwc(data: Float32Array, [c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(y * w + x) * c + k] = data[(k * h + y) * w + x];
  return out;
}

/** max |a − b| / max |b|: the error relative to the reference's scale. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

/** A safetensors file from float32 tensors (for variants of the fixtures: keys dropped, renamed or reshaped). */
export function writeSafetensorsF32(file: string, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const body = Buffer.alloc(offset);
  let at = 0;
  for (const t of tensors.values()) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(body, at);
    at += t.data.byteLength;
  }
  fs.writeFileSync(file, Buffer.concat([len, json, body]));
}
