// Adam as one kernel per variable.
//
// tf.train.adam's applyGradients runs ~11 small kernels per variable (mul, add, square, div, sqrt, assign …): for a
// ResNet-18 that is ~700 kernel calls per step, each with its own dispatch and allocation. This kernel computes the
// same update in one pass and one call per variable, with every operation rounded to float32 in the stock order
// (Math.fround after each op: products and sums of two float32 values are exact in float64, and sqrt and division
// are correctly rounded), so its results equal the stock optimizer's bit for bit on the wasm backend.
//
//   m' = m·β₁ + g·(1−β₁)      v' = v·β₂ + g²·(1−β₂)
//   w' = (m'/(1−β₁ᵗ)) / (√(v'/(1−β₂ᵗ)) + ε) · (−lr) + w
//
// The optimizer state (names, order, accBeta) is the stock AdamOptimizer's, so checkpoints are interchangeable.
import type * as TfTypes from '@tensorflow/tfjs';
import type { TfModule } from '../tf';
import type { WasmHeapBackend } from './simd';

export const ADAM_UPDATE = 'EmbedLabAdamUpdate';

type TensorInfo = TfTypes.TensorInfo;
const f = Math.fround;

export interface AdamScalars { lr: number; beta1: number; beta2: number; epsilon: number; oneMinusAccBeta1: number; oneMinusAccBeta2: number }

/** One Adam step over n elements: writes the new value, first and second moments. */
export function adamUpdateInto(
  value: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, n: number, s: AdamScalars,
  outValue: Float32Array, outM: Float32Array, outV: Float32Array,
): void {
  const b1 = f(s.beta1), b2 = f(s.beta2), c1 = f(1 - s.beta1), c2 = f(1 - s.beta2);
  const d1 = f(s.oneMinusAccBeta1), d2 = f(s.oneMinusAccBeta2), eps = f(s.epsilon), nlr = f(-s.lr);
  for (let i = 0; i < n; i++) {
    const gi = g[i];
    const mi = f(f(m[i] * b1) + f(gi * c1));
    const vi = f(f(v[i] * b2) + f(f(gi * gi) * c2));
    outM[i] = mi;
    outV[i] = vi;
    const step = f(f(mi / d1) / f(f(Math.sqrt(f(vi / d2))) + eps));
    outValue[i] = f(f(step * nlr) + value[i]);
  }
}


/** The kernel for the wasm backend (reads and writes its heap in place). */
export function adamKernel(): TfTypes.KernelConfig {
  return {
    kernelName: ADAM_UPDATE,
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { value, m, v, g } = inputs as Record<string, TensorInfo>;
      for (const t of [value, m, v, g]) if (t.dtype !== 'float32') throw new Error(`Adam kernel takes float32, got ${t.dtype}`);
      const b = backend as unknown as WasmHeapBackend;
      const outs = [b.makeOutput(value.shape, 'float32'), b.makeOutput(value.shape, 'float32'), b.makeOutput(value.shape, 'float32')];
      const n = value.shape.reduce((p, q) => p * q, 1);
      const [ov, om, ovv] = outs.map((t) => b.typedArrayFromHeap(t));
      adamUpdateInto(b.typedArrayFromHeap(value), b.typedArrayFromHeap(m), b.typedArrayFromHeap(v), b.typedArrayFromHeap(g), n,
        attrs as unknown as AdamScalars, ov, om, ovv);
      return outs;
    },
  };
}

export function registerAdamKernel(tf: TfModule): void {
  if (tf.getKernel(ADAM_UPDATE, 'wasm') == null) tf.registerKernel(adamKernel());
}

/** The AdamOptimizer fields the fused step reads (protected in tfjs's typings). */
interface AdamFields {
  learningRate: number; beta1: number; beta2: number; epsilon: number;
  accBeta1: TfTypes.Variable; accBeta2: TfTypes.Variable;
  accumulatedFirstMoment: Array<{ originalName: string; variable: TfTypes.Variable } | undefined>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: TfTypes.Variable } | undefined>;
  incrementIterations(): void;
}

/**
 * tf.train.adam(learningRate), whose applyGradients runs the fused kernel where the active backend has it (wasm)
 * and the stock code elsewhere. Same class name, state and results.
 */
export function fusedAdam(tf: TfModule, learningRate: number): TfTypes.AdamOptimizer {
  class FusedAdam extends tf.AdamOptimizer {
    override applyGradients(variableGradients: Parameters<TfTypes.AdamOptimizer['applyGradients']>[0]): void {
      if (Array.isArray(variableGradients) || tf.getKernel(ADAM_UPDATE, tf.getBackend()) == null) {
        super.applyGradients(variableGradients);
        return;
      }
      const self = this as unknown as AdamFields;
      const names = Object.keys(variableGradients);
      tf.tidy(() => {
        const accs = [self.accBeta1.dataSync()[0], self.accBeta2.dataSync()[0]];
        const attrs: AdamScalars = {
          lr: self.learningRate, beta1: self.beta1, beta2: self.beta2, epsilon: self.epsilon,
          oneMinusAccBeta1: Math.fround(1 - accs[0]), oneMinusAccBeta2: Math.fround(1 - accs[1]),
        };
        names.forEach((name, i) => {
          const value = tf.engine().registeredVariables[name];
          self.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
          self.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
          const gradient = (variableGradients as TfTypes.NamedTensorMap)[name];
          if (gradient == null) return;
          const m = self.accumulatedFirstMoment[i]!.variable;
          const v = self.accumulatedSecondMoment[i]!.variable;
          const [nv, nm, nvv] = tf.engine().runKernel(ADAM_UPDATE, { value, m, v, g: gradient }, attrs as unknown as TfTypes.NamedAttrMap) as TfTypes.Tensor[];
          m.assign(nm);
          v.assign(nvv);
          value.assign(nv);
        });
        self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
        self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
      });
      self.incrementIterations();
    }
  }
  return new FusedAdam(learningRate, 0.9, 0.999);
}
