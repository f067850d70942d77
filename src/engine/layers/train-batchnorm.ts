// tf.layers' BatchNormalization, except that training mode over the last axis runs as one forward and one backward
// kernel where the backend has them (kernels/batchnorm.ts: wasm), instead of moments() + batchNorm() differentiated
// op by op. Same weights, config and class name, so saved models are stock BatchNormalization layers (it is
// deliberately not registered: loading uses the stock class). Inference is the stock code.
import type * as TF from '@tensorflow/tfjs';
import { batchNormTrain, batchNormTrainAvailable } from '../kernels/batchnorm';

export interface BatchNormArgs { axis?: number; momentum?: number; epsilon?: number; name?: string }
export type BatchNormClass = new (args: BatchNormArgs) => TF.layers.Layer;

/** The fields of tf.layers' BatchNormalization that TrainBatchNorm reads (not in its public typings). */
interface BatchNormFields {
  axis: number; momentum: number; epsilon: number; center: boolean; scale: boolean;
  gamma: TF.LayerVariable; beta: TF.LayerVariable; movingMean: TF.LayerVariable; movingVariance: TF.LayerVariable;
}

/** The class for this tfjs (not registered). */
export function defineTrainBatchNorm(t: typeof TF): BatchNormClass {
  const StockBatchNorm = Object.getPrototypeOf(t.layers.batchNormalization({})).constructor as BatchNormClass;
  class TrainBatchNorm extends StockBatchNorm {
    static className = 'BatchNormalization';
    override call(inputs: TF.Tensor | TF.Tensor[], kwargs: Record<string, unknown>): TF.Tensor | TF.Tensor[] {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs);
      const f = this as unknown as BatchNormFields;
      const axis = f.axis < 0 ? f.axis + x.rank : f.axis;
      // Frozen (model.freeze): the moving statistics normalise and stay as they are, as in inference.
      if (kwargs.training === true && (!this.trainable || (this as { frozenStats?: boolean }).frozenStats)) return super.call(inputs, { ...kwargs, training: false });
      if (kwargs.training !== true || axis !== x.rank - 1 || !f.center || !f.scale || x.dtype !== 'float32' || !batchNormTrainAvailable(t)) {
        return super.call(inputs, kwargs);
      }
      return t.tidy(() => {
        const [y, mean, variance] = batchNormTrain(t, x, f.gamma.read(), f.beta.read(), f.epsilon);
        // The moving averages exactly as the stock layer updates them.
        for (const [v, value] of [[f.movingMean, mean], [f.movingVariance, variance]] as const) {
          t.tidy(() => {
            const orig = v.read();
            v.write(t.sub(orig, t.mul(t.sub(orig, value), 1 - f.momentum)));
          });
        }
        t.dispose([mean, variance]);
        return y;
      });
    }
  }
  return TrainBatchNorm;
}
