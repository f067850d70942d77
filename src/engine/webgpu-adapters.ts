// WebGPU adapters as Dawn reports them: the structural types of the WebGPU objects we touch (no dependency on
// @webgpu/types' globals), how an adapter is described and labelled, and which adapters are software. Shared by the
// backend (src/engine/webgpu.ts) and the probe child (src/engine/webgpu-probe-child.ts). docs/webgpu.md.


export interface GpuAdapterInfoLike {
  vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean;
}
export type LimitName = 'maxStorageBufferBindingSize' | 'maxBufferSize' | 'maxComputeWorkgroupStorageSize'
  | 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupsPerDimension';
export interface GpuAdapterLike {
  info?: GpuAdapterInfoLike;
  isFallbackAdapter?: boolean;
  limits: Record<LimitName, number>;
  features: Iterable<string> & { has(f: string): boolean };
}
export interface GpuLike {
  requestAdapter(opts?: { powerPreference?: 'low-power' | 'high-performance'; forceFallbackAdapter?: boolean }): Promise<GpuAdapterLike | null>;
}
export interface GpuDeviceLike {
  limits: Record<LimitName, number>;
  lost: Promise<{ reason?: string; message?: string }>;
  onuncapturederror: ((ev: { error?: { message?: string; constructor?: { name?: string } } }) => void) | null;
}
export interface WebGpuBackendLike {
  device: GpuDeviceLike;
  adapterInfo?: { vendor?: string; architecture?: string };
  bufferManager: { acquireBuffer(size: number, usage: number, ...rest: unknown[]): unknown };
  read(dataId: object): Promise<unknown>;
}
export interface DawnModule { create(flags: string[]): GpuLike; globals: Record<string, unknown> }

export const STORAGE_USAGE = 0x80; // GPUBufferUsage.STORAGE

// ---------------------------------------------------------------------------------------------------------
// Adapters


export interface WebGpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** Fallback or software (lavapipe/llvmpipe, SwiftShader, WARP): usable when chosen explicitly, never by `auto`. */
  software: boolean;
  limits: Record<LimitName, number>;
  features: string[];
}

/** A software adapter: flagged as fallback, architecture 'software', or a known CPU rasteriser. */
export function isSoftwareAdapter(a: GpuAdapterInfoLike & { isFallbackAdapter?: boolean }): boolean {
  if (a.isFallbackAdapter) return true;
  if ((a.architecture ?? '').toLowerCase() === 'software') return true;
  const text = `${a.vendor ?? ''} ${a.device ?? ''} ${a.description ?? ''}`.toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|softpipe|microsoft basic render|\bwarp\b/.test(text);
}

export function describeAdapter(a: GpuAdapterLike): WebGpuAdapter {
  const info = a.info ?? {};
  const limits = {} as Record<LimitName, number>;
  for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension'] as const) limits[k] = Number(a.limits[k]);
  const features = Array.from(a.features);
  const base = {
    vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? a.isFallbackAdapter),
  };
  return { ...base, software: isSoftwareAdapter(base), limits, features: features.sort() };
}

/** Every adapter Dawn offers for the usual requests (high-performance, low-power, fallback), without duplicates. */
export async function listAdapters(gpu: GpuLike): Promise<WebGpuAdapter[]> {
  const out: WebGpuAdapter[] = [];
  for (const opts of [{ powerPreference: 'high-performance' as const }, { powerPreference: 'low-power' as const }, { forceFallbackAdapter: true }]) {
    const a = await gpu.requestAdapter(opts).catch(() => null);
    if (!a) continue;
    const d = describeAdapter(a);
    if (!out.some((o) => o.vendor === d.vendor && o.device === d.device && o.description === d.description && o.architecture === d.architecture)) out.push(d);
  }
  return out;
}

export function adapterLabel(a: WebGpuAdapter): string {
  const name = a.description || a.device || 'unnamed adapter';
  return `${name} (${[a.vendor, a.architecture].filter(Boolean).join('/') || 'unknown vendor'}${a.software ? ', software' : ''}${a.isFallbackAdapter ? ', fallback' : ''})`;
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(n % 2 ** 30 === 0 ? 0 : 2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(n % 2 ** 20 === 0 ? 0 : 1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Dawn's toggles from EMBEDLAB_DAWN_FLAGS (comma-separated), for dawn.create(). */
export function dawnFlags(): string[] {
  return (process.env.EMBEDLAB_DAWN_FLAGS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
