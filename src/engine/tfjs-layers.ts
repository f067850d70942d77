// The registration module for a stock TensorFlow.js: built alone into dist/tfjs-layers.js (no other code of ours,
// no import at run time), shipped in the package, for loading Embedding Lab models with `tf.loadLayersModel`:
//
//   const tf = require('@tensorflow/tfjs');
//   require('embedding-lab/dist/tfjs-layers.js').registerEmbeddingLabLayers(tf);
//
// A branch exported now is stock layers only (src/engine/tfjs-stock.ts) and needs none of this. The full model's
// distance layer (PairDistance: no stock layer takes a square root) needs it, and so do exports made before the
// stock rewrite (InputConv2D, L2Normalize). Inference only; the same arithmetic as src/engine/models.ts.
import type * as TF from '@tensorflow/tfjs';

type Tf = typeof TF;
type Config = TF.serialization.ConfigDict;

const registered = new WeakSet<object>();

/** Registers Embedding Lab's custom layers (PairDistance, L2Normalize, InputConv2D) with this tfjs. Idempotent. */
export function registerEmbeddingLabLayers(tf: Tf): void {
  if (registered.has(tf)) return;
  const first = (s: TF.Shape | TF.Shape[]) => (Array.isArray(s[0]) ? s[0] : s) as TF.Shape;

  class L2Normalize extends tf.layers.Layer {
    static className = 'L2Normalize';
    override computeOutputShape(s: TF.Shape | TF.Shape[]): TF.Shape | TF.Shape[] { return s; }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        return tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-12)));
      });
    }
  }

  class PairDistance extends tf.layers.Layer {
    static className = 'PairDistance';
    readonly distance: string;
    constructor(args: Config) {
      super({ name: args.name as string | undefined });
      this.distance = String(args.distance);
      if (!['euclidean', 'squared-euclidean', 'cosine'].includes(this.distance)) throw new Error(`PairDistance: unknown distance ${this.distance}`);
    }
    override computeOutputShape(s: TF.Shape | TF.Shape[]): TF.Shape { return [first(s)[0], 1]; }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return tf.tidy(() => {
        const [a, b] = inputs as TF.Tensor[];
        if (this.distance === 'cosine') {
          const na = tf.sqrt(tf.maximum(tf.sum(tf.square(a), -1, true), 1e-12));
          const nb = tf.sqrt(tf.maximum(tf.sum(tf.square(b), -1, true), 1e-12));
          return tf.sub(1, tf.div(tf.sum(tf.mul(a, b), -1, true), tf.mul(na, nb)));
        }
        const sq = tf.sum(tf.square(tf.sub(a, b)), -1, true);
        return this.distance === 'squared-euclidean' ? sq : tf.sqrt(tf.maximum(sq, 1e-12));
      });
    }
    override getConfig(): Config { return { ...super.getConfig(), distance: this.distance }; }
  }

  // A bias-free 'same' convolution (older exports; new ones hold a stock Conv2D instead). Weight: `<name>/kernel`.
  class InputConv2D extends tf.layers.Layer {
    static className = 'InputConv2D';
    readonly filters: number;
    readonly kernelSize: number;
    readonly strides: number;
    private kernel?: TF.LayerVariable;
    constructor(args: Config) {
      super({ name: args.name as string | undefined });
      this.filters = Number(args.filters);
      this.kernelSize = Number(args.kernelSize);
      this.strides = Number(args.strides ?? 1);
    }
    override build(s: TF.Shape | TF.Shape[]): void {
      const shape = first(s);
      this.kernel = this.addWeight('kernel', [this.kernelSize, this.kernelSize, shape[shape.length - 1] as number, this.filters], 'float32', tf.initializers.zeros());
      this.built = true;
    }
    override computeOutputShape(s: TF.Shape | TF.Shape[]): TF.Shape {
      const shape = first(s);
      const out = (d: number | null) => (d === null ? null : Math.ceil(d / this.strides));
      return [shape[0], out(shape[1]), out(shape[2]), this.filters];
    }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as TF.Tensor4D;
      return tf.conv2d(x, this.kernel!.read() as TF.Tensor4D, this.strides, 'same');
    }
    override getConfig(): Config { return { ...super.getConfig(), filters: this.filters, kernelSize: this.kernelSize, strides: this.strides }; }
  }

  for (const cls of [L2Normalize, PairDistance, InputConv2D]) tf.serialization.registerClass(cls);
  registered.add(tf);
}
