// The exported TensorFlow.js model in stock layers only, so that `tf.loadLayersModel` of a stock @tensorflow/tfjs
// loads a branch with no code of ours (docs/onnx.md, "Stock TensorFlow.js"). A pure rewrite of the layers-format
// artifacts (topology JSON + float32 weights); training and checkpoints keep the custom layers of models.ts.
//
//   InputConv2D (a training-speed variant) → Conv2D with the same kernel: bias-free, 'same' padding, linear.
//   L2Normalize of a vector x [D] (tfjs-layers 4.22 has no UnitNormalization and no Lambda layer) →
//     Rescaling(−1) and Concatenate: v = [x, −x] (mean exactly 0, variance ‖x‖²/D)
//     → LayerNormalization(ε = 1e-12/D, no centre, γ = [+1/√D …, −1/√D …]): [x̂, x̂] with x̂ = x / √(‖x‖² + 1e-12)
//     → Reshape [2, D] → GlobalAveragePooling1D: x̂.
//     Agrees with models.ts's x / √max(‖x‖², 1e-12) to float32 rounding (~1e-7) for any ‖x‖² ≫ 1e-12; O(D) work
//     and 2·D extra weights. The last layer keeps the L2Normalize layer's name, so output names do not change.
//   PairDistance (the full model's distances) has no stock equivalent (no square root of a tensor in stock layers):
//     it stays custom, registered by the module shipped as dist/tfjs-layers.js (src/engine/tfjs-layers.ts).
// `fromStockTopology` is the inverse for the ONNX converter (a tfjs-only export converts in memory at load).
import type { LayersArtifacts } from './onnx';

interface LayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}
interface ModelConfig { layers: LayerJson[]; [k: string]: unknown }
type Inbound = [string, number, number, Record<string, unknown>];

const isModel = (l: LayerJson) => ['Model', 'Functional', 'Sequential'].includes(l.class_name) && Array.isArray((l.config as Partial<ModelConfig>).layers);

export class StockExportError extends Error {}

/** The Conv2D config equal to an InputConv2D config. */
function conv2dConfig(c: Record<string, unknown>): Record<string, unknown> {
  const pair = (v: unknown) => (Array.isArray(v) ? v : [v, v]);
  return {
    name: c.name, trainable: c.trainable ?? true, filters: c.filters, kernel_size: pair(c.kernel_size), strides: pair(c.strides ?? 1),
    padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: false,
    kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'normal', seed: null } },
    bias_initializer: { class_name: 'Zeros', config: {} },
    kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
  };
}

const suffixes = ['_neg', '_pm', '_ln', '_halves'] as const;

/**
 * Rewrites a layers model's artifacts into stock layers (see the header); nested models (the full model's branch)
 * are rewritten too. New weights (the normalisation's γ) are appended to the weight data. `vectorLength` gives each
 * L2Normalize layer's input length (stockVectorLengths of the model); without it, it is read from a Dense before it.
 */
export function toStockArtifacts(art: LayersArtifacts, vectorLength?: ReadonlyMap<string, number>): LayersArtifacts {
  const topo = structuredClone(art.modelTopology) as { config?: ModelConfig } | null;
  const specs = [...art.weightSpecs];
  const extra: Float32Array[] = [];
  const rewrite = (cfg: ModelConfig) => {
    const units = new Map(cfg.layers.map((l) => [l.name, l.class_name === 'Dense' ? (l.config.units as number) : undefined]));
    const out: LayerJson[] = [];
    for (const l of cfg.layers) {
      if (isModel(l)) { rewrite(l.config as unknown as ModelConfig); out.push(l); continue; }
      if (l.class_name === 'InputConv2D') { out.push({ ...l, class_name: 'Conv2D', config: conv2dConfig(l.config) }); continue; }
      if (l.class_name !== 'L2Normalize') { out.push(l); continue; }
      const nodes = l.inbound_nodes as Inbound[][];
      const from = nodes.length === 1 && nodes[0].length === 1 ? nodes[0][0] : undefined;
      const d = vectorLength?.get(l.name) ?? (from ? units.get(from[0]) : undefined);
      if (!from || d === undefined) throw new StockExportError(`layer ${l.name}: only an L2Normalize of a vector of known length, applied once, has a stock TensorFlow.js form`);
      const n = l.name;
      const node = (name: string, k = 0): Inbound => [name, k, 0, {}];
      out.push(
        { name: `${n}_neg`, class_name: 'Rescaling', config: { name: `${n}_neg`, trainable: false, scale: -1, offset: 0 }, inbound_nodes: [[from]] },
        { name: `${n}_pm`, class_name: 'Concatenate', config: { name: `${n}_pm`, trainable: false, axis: -1 }, inbound_nodes: [[from, node(`${n}_neg`)]] },
        {
          name: `${n}_ln`, class_name: 'LayerNormalization', inbound_nodes: [[node(`${n}_pm`)]],
          config: { name: `${n}_ln`, trainable: false, axis: -1, epsilon: 1e-12 / d, center: false, scale: true, beta_initializer: { class_name: 'Zeros', config: {} }, gamma_initializer: { class_name: 'Ones', config: {} }, beta_regularizer: null, gamma_regularizer: null },
        },
        { name: `${n}_halves`, class_name: 'Reshape', config: { name: `${n}_halves`, trainable: false, target_shape: [2, d] }, inbound_nodes: [[node(`${n}_ln`)]] },
        { name: n, class_name: 'GlobalAveragePooling1D', config: { name: n, trainable: false }, inbound_nodes: [[node(`${n}_halves`)]] },
      );
      const gamma = new Float32Array(2 * d);
      gamma.fill(1 / Math.sqrt(d), 0, d);
      gamma.fill(-1 / Math.sqrt(d), d);
      specs.push({ name: `${n}_ln/gamma`, shape: [2 * d], dtype: 'float32' });
      extra.push(gamma);
    }
    cfg.layers = out;
  };
  if (!topo?.config || !Array.isArray(topo.config.layers)) throw new StockExportError('the model topology is not a layers model');
  rewrite(topo.config);
  const bytes = Buffer.concat([Buffer.from(art.weightData), ...extra.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength))]);
  return { modelTopology: topo, weightSpecs: specs, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer };
}

/**
 * The inverse of the L2Normalize rewrite (InputConv2D stays a Conv2D, which converts as it is): the topology with
 * each stock normalisation block folded back into one L2Normalize layer. Other topologies are returned unchanged.
 */
export function fromStockTopology(topology: unknown): unknown {
  const topo = topology as { config?: ModelConfig } | null;
  if (!topo?.config || !Array.isArray(topo.config.layers)) return topology;
  const byName = new Map(topo.config.layers.map((l) => [l.name, l]));
  const inputOf = (l: LayerJson | undefined) => ((l?.inbound_nodes as Inbound[][] | undefined)?.[0]?.[0]?.[0]);
  const drop = new Set<string>();
  const layers = topo.config.layers.map((l) => {
    if (l.class_name !== 'GlobalAveragePooling1D') return l;
    const [neg, pm, ln, halves] = suffixes.map((s) => byName.get(`${l.name}${s}`));
    if (neg?.class_name !== 'Rescaling' || pm?.class_name !== 'Concatenate' || ln?.class_name !== 'LayerNormalization' || halves?.class_name !== 'Reshape') return l;
    if (inputOf(l) !== halves.name || inputOf(halves) !== ln.name || inputOf(ln) !== pm.name) return l;
    const from = (neg.inbound_nodes as Inbound[][])[0][0];
    suffixes.forEach((s) => drop.add(`${l.name}${s}`));
    return { name: l.name, class_name: 'L2Normalize', config: { name: l.name, trainable: false }, inbound_nodes: [[from]] };
  });
  if (drop.size === 0) return topology;
  return { ...topo, config: { ...topo.config, layers: layers.filter((l) => !drop.has(l.name)) } };
}

/** The input length of each L2Normalize layer of a model in memory (nested models included), for toStockArtifacts. */
export function stockVectorLengths(model: { layers: Array<{ name: string; getClassName(): string; outputShape: unknown; layers?: unknown }> }): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (m: typeof model) => {
    for (const l of m.layers) {
      if (Array.isArray(l.layers)) walk(l as typeof model);
      else if (l.getClassName() === 'L2Normalize') {
        const shape = l.outputShape as Array<number | null>;
        const d = shape[shape.length - 1];
        if (shape.length === 2 && typeof d === 'number') out.set(l.name, d);
      }
    }
  };
  walk(model);
  return out;
}
