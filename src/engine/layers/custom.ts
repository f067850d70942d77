// Embedding Lab's custom tfjs layers, defined against whichever TensorFlow.js is passed in (no tfjs import at run
// time), so that the same classes serve the engine (models.ts' customLayers, with our tfjs) and the registration
// module shipped for a stock TensorFlow.js (src/engine/tfjs-layers.ts → dist/tfjs-layers.js).
//   L2Normalize  x / √max(Σx², 1e-12) over the last axis (a branch's 'l2_normalize').
//   PairDistance d(a, b) [N, 1]: euclidean √max(Σ(a−b)², 1e-12), squared-euclidean Σ(a−b)², cosine 1 − a·b/(|a||b|)
//                with each norm √max(Σx², 1e-12) (the full model's distances; no stock layer takes a square root).
//   InputConv2D  the first conv of the network (its input is the image): 'same' padding, no bias, linear. tf.layers'
//                Conv2D always runs tf.fused.conv2d, whose custom gradient computes dX eagerly — for the first
//                layer a full Conv2DBackpropInput of the image (~150 ms of a ResNet-18 step on wasm) that nothing
//                uses. tf.conv2d's gradient is lazy per input. Its one weight is `<name>/kernel`, as for Conv2D.
import type * as TF from '@tensorflow/tfjs';
import type { DistanceName } from '../../core/config-types';

type Tf = typeof TF;
type Init = ReturnType<typeof TF.initializers.heNormal>;

export type PairDistanceName = DistanceName;
const PAIR_DISTANCES: readonly PairDistanceName[] = ['euclidean', 'squared-euclidean', 'cosine'];

export interface InputConvArgs {
  filters: number;
  kernelSize: number;
  strides: number;
  kernelInitializer?: Init;
  name?: string;
}

export interface CustomLayerClasses {
  L2Normalize: new (args?: TF.serialization.ConfigDict) => TF.layers.Layer;
  InputConv2D: new (args: InputConvArgs) => TF.layers.Layer;
  PairDistance: new (args: { distance: PairDistanceName; name?: string }) => TF.layers.Layer;
}

const first = (s: TF.Shape | TF.Shape[]) => (Array.isArray(s[0]) ? s[0] : s) as TF.Shape;

/** The three classes for this tfjs (not registered: the caller registers them). */
export function defineCustomLayers(t: Tf): CustomLayerClasses {
  const l2 = (x: TF.Tensor) => t.sqrt(t.maximum(t.sum(t.square(x), -1, true), 1e-12));

  class L2Normalize extends t.layers.Layer {
    static className = 'L2Normalize';
    override computeOutputShape(s: TF.Shape | TF.Shape[]): TF.Shape | TF.Shape[] { return s; }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return t.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        return t.div(x, l2(x));
      });
    }
  }

  class PairDistance extends t.layers.Layer {
    static className = 'PairDistance';
    readonly distance: PairDistanceName;
    constructor(args: { distance: PairDistanceName; name?: string }) {
      super({ name: args.name });
      if (!(PAIR_DISTANCES as readonly string[]).includes(String(args.distance))) throw new Error(`PairDistance: unknown distance ${String(args.distance)}`);
      this.distance = args.distance;
    }
    override computeOutputShape(s: TF.Shape | TF.Shape[]): TF.Shape { return [first(s)[0], 1]; }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      return t.tidy(() => {
        const [a, b] = inputs as TF.Tensor[];
        if (this.distance === 'cosine') return t.sub(1, t.div(t.sum(t.mul(a, b), -1, true), t.mul(l2(a), l2(b))));
        const sq = t.sum(t.square(t.sub(a, b)), -1, true);
        return this.distance === 'squared-euclidean' ? sq : t.sqrt(t.maximum(sq, 1e-12));
      });
    }
    override getConfig(): TF.serialization.ConfigDict { return { ...super.getConfig(), distance: this.distance }; }
  }

  class InputConv2D extends t.layers.Layer {
    static className = 'InputConv2D';
    readonly filters: number;
    readonly kernelSize: number;
    readonly strides: number;
    private readonly init?: Init;
    private kernel?: TF.LayerVariable;
    constructor(args: InputConvArgs) {
      super({ name: args.name });
      this.filters = Number(args.filters);
      this.kernelSize = Number(args.kernelSize);
      this.strides = Number(args.strides ?? 1);
      this.init = args.kernelInitializer;
    }
    override build(s: TF.Shape | TF.Shape[]): void {
      const shape = first(s);
      const cin = shape[shape.length - 1] as number;
      // Without an initialiser (a layer being loaded: its weights are read next) the kernel starts at zeros.
      this.kernel = this.addWeight('kernel', [this.kernelSize, this.kernelSize, cin, this.filters], 'float32', this.init ?? t.initializers.zeros());
      this.built = true;
    }
    override computeOutputShape(s: TF.Shape | TF.Shape[]): TF.Shape {
      const shape = first(s);
      const out = (d: number | null) => (d === null ? null : Math.ceil(d / this.strides));
      return [shape[0], out(shape[1]), out(shape[2]), this.filters];
    }
    override call(inputs: TF.Tensor | TF.Tensor[]): TF.Tensor {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as TF.Tensor4D;
      return t.conv2d(x, this.kernel!.read() as TF.Tensor4D, this.strides, 'same');
    }
    override getConfig(): TF.serialization.ConfigDict {
      return { ...super.getConfig(), filters: this.filters, kernelSize: this.kernelSize, strides: this.strides };
    }
  }

  return { L2Normalize, PairDistance, InputConv2D };
}

/** The three classes for this tfjs, registered with its serialization (so that tf.loadLayersModel finds them). */
export function registerCustomLayers(t: Tf): CustomLayerClasses {
  const classes = defineCustomLayers(t);
  for (const cls of [classes.L2Normalize, classes.PairDistance, classes.InputConv2D]) {
    t.serialization.registerClass(cls as unknown as TF.serialization.SerializableConstructor<TF.serialization.Serializable>);
  }
  return classes;
}
