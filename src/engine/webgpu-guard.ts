// The guard on the active webgpu backend: every buffer it allocates is checked against the device limits (a buffer
// larger than maxStorageBufferBindingSize gives silently WRONG results), and uncaptured device errors and device
// loss are fatal: the next allocation, read or checkWebGpuHealth() throws them. docs/webgpu.md.
import type { LayersModel } from '@tensorflow/tfjs';
import { LabError } from '../core/errors';
import { BackendError } from './backend-error';
import { bundledTf } from './tf';
import { adapterLabel, formatBytes, STORAGE_USAGE, type WebGpuAdapter, type WebGpuBackendLike } from './webgpu-adapters';

export interface WebGpuLimits { maxStorageBufferBindingSize: number; maxBufferSize: number }

interface ActiveState {
  backend: WebGpuBackendLike;
  limits: WebGpuLimits;
  adapter: WebGpuAdapter;
  fatal?: string;
  disposing: boolean;
}
let active: ActiveState | undefined;

/** Thrown when a device error or loss was reported: the numbers since then cannot be trusted. */
export class WebGpuDeviceError extends LabError {
  constructor(message: string) {
    super('backend', message, { exitCode: 1 });
  }
}

/** Hooks the device's error reporting and every buffer allocation of the active webgpu backend; returns its limits. */
export function guardBackend(backend: WebGpuBackendLike, adapter: WebGpuAdapter): WebGpuLimits {
  if (active?.backend === backend) return active.limits;
  const device = backend.device;
  const state: ActiveState = {
    backend, adapter, disposing: false,
    limits: { maxStorageBufferBindingSize: Number(device.limits.maxStorageBufferBindingSize), maxBufferSize: Number(device.limits.maxBufferSize) },
  };
  active = state;
  device.onuncapturederror = (ev) => {
    const kind = ev.error?.constructor?.name ?? 'GPUError';
    state.fatal ??= `WebGPU device error (${kind}): ${oneLine(ev.error?.message ?? 'unknown')}`;
  };
  void device.lost.then((info) => {
    if (state.disposing || info.reason === 'destroyed') return;
    state.fatal ??= `WebGPU device lost (${info.reason ?? 'unknown'}): ${oneLine(info.message ?? '')}`.trim();
  }, () => undefined);

  const bm = backend.bufferManager;
  const acquire = bm.acquireBuffer.bind(bm);
  bm.acquireBuffer = (size: number, usage: number, ...rest: unknown[]) => {
    throwIfFatal(state);
    checkBytes(state, size, usage, 'a buffer the webgpu backend was about to allocate');
    return acquire(size, usage, ...rest);
  };
  const read = backend.read.bind(backend);
  backend.read = async (dataId: object) => {
    throwIfFatal(state);
    const v = await read(dataId);
    throwIfFatal(state); // errors reported while the work behind this read ran
    return v;
  };
  return state.limits;
}

function oneLine(s: string): string {
  return s.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
}

function throwIfFatal(state: ActiveState): void {
  if (state.fatal) {
    throw new WebGpuDeviceError(`${state.fatal}; the results of the WebGPU backend cannot be trusted after this, so training stops (the last checkpoint is kept)`);
  }
}

function checkBytes(state: ActiveState, bytes: number, usage: number, what: string): void {
  const { maxStorageBufferBindingSize: binding, maxBufferSize } = state.limits;
  const storage = (usage & STORAGE_USAGE) !== 0;
  const limitName = storage && bytes > binding ? 'maxStorageBufferBindingSize' : bytes > maxBufferSize ? 'maxBufferSize' : undefined;
  if (!limitName) return;
  const limit = limitName === 'maxBufferSize' ? maxBufferSize : binding;
  const reason = `${what} needs ${formatBytes(bytes)} (${bytes} bytes), more than the device's ${limitName} of ${formatBytes(limit)} (${limit} bytes) on ${adapterLabel(state.adapter)}; WebGPU would compute wrong numbers without an error`;
  const fix = "lower training.batchSize or data.imageSize (or the model's width), or choose another backend ('tensorflow-gpu', 'wasm')";
  throw new BackendError(`${reason}. Fix: ${fix}`, 'webgpu', reason, fix);
}

/** The device limits of the active webgpu backend, or undefined when webgpu is not the active backend. */
export function webGpuLimits(): WebGpuLimits | undefined {
  if (!active || bundledTf.engine().backendName !== 'webgpu') return undefined;
  return { ...active.limits };
}

/** Throws the pending device error (uncaptured error or loss), if any. A no-op when webgpu is not active. */
export function checkWebGpuHealth(): void {
  if (active && bundledTf.engine().backendName === 'webgpu') throwIfFatal(active);
}

/**
 * Refuses a float32 tensor of `shape` (or `bytes`) that the active webgpu device cannot hold in one storage
 * binding: BackendError (exit 2) naming the size and the limit. A no-op on other backends.
 */
export function checkTensorFits(shapeOrBytes: readonly number[] | number, what = 'a tensor', bytesPerElement = 4): void {
  if (!active || bundledTf.engine().backendName !== 'webgpu') return;
  const bytes = typeof shapeOrBytes === 'number' ? shapeOrBytes : shapeOrBytes.reduce((a, b) => a * b, 1) * bytesPerElement;
  const label = typeof shapeOrBytes === 'number' ? what : `${what} [${shapeOrBytes.join(', ')}]`;
  checkBytes(active, bytes, STORAGE_USAGE, label);
}

export interface ActivationEstimate {
  /** Bytes of the largest single activation (float32) of one forward pass over `batch` images. */
  bytes: number;
  layer: string;
  shape: number[];
}

/** The largest activation of a forward pass over `batch` images: each layer's output shape × batch × 4 bytes. */
export function largestActivation(model: LayersModel, batch: number): ActivationEstimate {
  let best: ActivationEstimate = { bytes: 0, layer: '', shape: [] };
  const consider = (layer: string, shape: ReadonlyArray<number | null>) => {
    const full = shape.map((d, i) => (d == null ? (i === 0 ? batch : 1) : d));
    const bytes = full.reduce((a, b) => a * b, 1) * 4;
    if (bytes > best.bytes) best = { bytes, layer, shape: full };
  };
  for (const layer of model.layers) {
    const out = layer.outputShape as unknown;
    const shapes = (Array.isArray(out) && Array.isArray(out[0]) ? out : [out]) as Array<ReadonlyArray<number | null>>;
    for (const s of shapes) if (Array.isArray(s)) consider(layer.name, s);
  }
  return best;
}

/**
 * For the training loop and embed: refuses a batch whose input or largest activation does not fit the active
 * webgpu device (BackendError naming the layer, the size and the limit). A no-op on other backends.
 */
export function checkModelFits(model: LayersModel, batch: number, what = 'a batch'): void {
  if (!active || bundledTf.engine().backendName !== 'webgpu') return;
  const est = largestActivation(model, batch);
  checkTensorFits(est.bytes, `${what} of ${batch} images: the output of layer '${est.layer}' [${est.shape.join(', ')}]`);
}

/** Test hook: the state of the guard (active adapter and pending fatal message). */
export function webGpuGuardState(): { adapter?: WebGpuAdapter; fatal?: string } {
  return { adapter: active?.adapter, fatal: active?.fatal };
}
