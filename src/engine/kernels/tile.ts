// A faster Tile for the wasm backend. tfjs-core's BatchNorm gradient tiles the per-channel [1,1,1,C] statistics up
// to the full [N,H,W,C] activation; wasm's stock Tile is a naive per-element loop and was the largest single cost of
// a training step (191 of ~350 ms for a small convnet, measured with tf.profile). Tiling is a broadcast in disguise:
// out[r, i] = x[i] for a repeat index r, so we lay the output out as interleaved (repeat, size) axes, drop axes of
// size 1, merge neighbours of the same kind, and let the broadcasting Add kernel fill it (x + zeros). Shapes that
// stay above 4 merged axes use the stock kernel.
import type * as TfTypes from '@tensorflow/tfjs';
import type { TfModule } from '../tf';

/** Merged (size, fromX) axes of tile(x, reps), or undefined when the layout needs more than 4 axes. */
export function tileLayout(shape: readonly number[], reps: readonly number[]): { out: number[]; xShape: number[] } | undefined {
  const axes: Array<{ size: number; fromX: boolean }> = [];
  shape.forEach((d, i) => {
    for (const a of [{ size: reps[i], fromX: false }, { size: d, fromX: true }]) {
      if (a.size === 1) continue;
      const last = axes[axes.length - 1];
      if (last && last.fromX === a.fromX) last.size *= a.size;
      else axes.push({ ...a });
    }
  });
  if (axes.length > 4) return undefined;
  if (axes.length === 0) axes.push({ size: 1, fromX: true });
  return { out: axes.map((a) => a.size), xShape: axes.map((a) => (a.fromX ? a.size : 1)) };
}

export function tileViaBroadcast(tf: TfModule, x: TfTypes.Tensor, reps: readonly number[]): TfTypes.Tensor | undefined {
  const layout = tileLayout(x.shape, reps);
  if (!layout || x.dtype !== 'float32') return undefined;
  const outShape = x.shape.map((d, i) => d * reps[i]);
  return tf.tidy(() => tf.reshape(tf.add(tf.zeros(layout.out), tf.reshape(x, layout.xShape)), outShape));
}

/** Our Tile kernel config; falls back to the stock kernel function for layouts it does not handle. */
export function tileKernel(tf: TfModule, backendName: string, stock: TfTypes.KernelConfig | undefined): TfTypes.KernelConfig {
  return {
    kernelName: 'Tile',
    backendName,
    setupFunc: stock?.setupFunc,
    kernelFunc: (args) => {
      const x = args.inputs.x as TfTypes.Tensor;
      const reps = (args.attrs as unknown as { reps: number[] }).reps;
      const fast = x instanceof tf.Tensor ? tileViaBroadcast(tf, x, reps) : undefined;
      if (fast) return fast;
      if (!stock) throw new Error('Tile: layout not supported and no stock kernel to fall back to');
      return stock.kernelFunc(args);
    },
  };
}
