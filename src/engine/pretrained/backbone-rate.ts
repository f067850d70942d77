// training.backboneLearningRate: the backbone learns at a multiple of the head's rate (fine-tuning a pretrained
// network with a fresh head: the head fast, the backbone slowly).
//
// Scaling the backbone's gradients would do it for SGD but not for Adam or RMSProp, whose steps do not depend on the
// gradients' scale; so the variables are split between two optimizers of the same kind, the head's at
// learningRate, the backbone's at learningRate × multiplier. Head variables are the head's layers (models.ts:
// `embedding`, `head<i>`); everything else is the backbone. Each optimizer sees its variables in a fixed order
// (the gradient map's order, filtered), which is what tfjs's index-based optimizer state needs. The state saves
// as one list, names prefixed `head/` and `backbone/`; the class name (`<Class>+backbone`) keeps a checkpoint of one
// kind from loading into the other.
import type { NamedTensorMap, Optimizer, Tensor } from '@tensorflow/tfjs';
import { tf } from '../tf';

type NamedTensor = { name: string; tensor: Tensor };

/** A variable of the head (its layer is `embedding` or `head<i>`), by its tfjs variable name. */
export function isHeadVariable(name: string): boolean {
  return /^(embedding|head\d+)(_\d+)?\//.test(name);
}

/** Two optimizers as one: head variables to `head`, the others to `backbone`. */
export function splitOptimizer(head: Optimizer, backbone: Optimizer, isHead: (name: string) => boolean = isHeadVariable): Optimizer {
  class SplitOptimizer extends tf.Optimizer {
    static className = 'SplitOptimizer';
    override applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
      const entries: Array<[string, NamedTensorMap[string]]> = Array.isArray(variableGradients)
        ? variableGradients.map((g) => [g.name, g.tensor]) : Object.entries(variableGradients);
      const h: NamedTensorMap = {};
      const b: NamedTensorMap = {};
      for (const [name, g] of entries) (isHead(name) ? h : b)[name] = g;
      if (Object.keys(h).length > 0) head.applyGradients(h);
      if (Object.keys(b).length > 0) backbone.applyGradients(b);
    }
    override getClassName(): string {
      return `${head.getClassName()}+backbone`;
    }
    override getConfig(): Record<string, never> {
      return {};
    }
    override async getWeights(): Promise<NamedTensor[]> {
      const [h, b] = await Promise.all([head.getWeights(), backbone.getWeights()]);
      return [...h.map((w) => ({ name: `head/${w.name}`, tensor: w.tensor })), ...b.map((w) => ({ name: `backbone/${w.name}`, tensor: w.tensor }))];
    }
    override async setWeights(weights: NamedTensor[]): Promise<void> {
      const part = (prefix: string) => weights.filter((w) => w.name.startsWith(prefix)).map((w) => ({ name: w.name.slice(prefix.length), tensor: w.tensor }));
      await head.setWeights(part('head/'));
      await backbone.setWeights(part('backbone/'));
    }
    override dispose(): void {
      head.dispose();
      backbone.dispose();
    }
  }
  return new SplitOptimizer();
}
