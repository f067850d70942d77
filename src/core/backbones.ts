// The backbones as the pure parts of the program know them: names, the default, which take pretrained weights, the
// ResNet stage layouts, the pooled feature width and the words that pickers and usage strings show. No tfjs here
// (src/core is pure): how each one is built, which layers it needs in the ONNX writer and how PyTorch weights map
// onto it is its entry under src/engine/backbones/. test/unit/backbones.test.ts checks that every descriptor here has
// exactly one entry there and that the schema's `model.backbone` enum lists exactly these names.
// Adding a backbone: docs/extending.md, "Adding a backbone".

/** A backbone's stage widths at a width multiplier (engine/backbones builds them; here for featureWidth). */
export function stageWidths(base: readonly number[], width: number): number[] {
  return base.map((w) => Math.max(4, Math.round(w * width)));
}

/** The ResNets' stage layouts: block type and blocks per stage (torchvision's and timm's). */
export const RESNET_LAYOUT = {
  resnet18: { bottleneck: false, blocks: [2, 2, 2, 2] },
  resnet34: { bottleneck: false, blocks: [3, 4, 6, 3] },
  resnet50: { bottleneck: true, blocks: [3, 4, 6, 3] },
} as const satisfies Record<string, { bottleneck: boolean; blocks: readonly [number, number, number, number] }>;
export type ResnetName = keyof typeof RESNET_LAYOUT;

export interface BackboneDescriptor {
  readonly name: string;
  /** It loads PyTorch weights (model.pretrained): the words of the New Experiment picker for the weights' architecture. */
  readonly pretrained?: { readonly summary: string };
  /** New Experiment offers it when starting from scratch, with these words, in this order. */
  readonly fromScratch?: { readonly summary: string; readonly order: number };
  /** Channels out of its global average pooling at a width multiplier (model.head "none"'s embedding length). */
  featureWidth(width: number): number;
}

function resnet<N extends ResnetName>(name: N) {
  const { bottleneck } = RESNET_LAYOUT[name];
  const features = (width: number) => stageWidths([512], width)[0] * (bottleneck ? 4 : 1);
  return {
    name,
    pretrained: { summary: `ResNet-${name.slice('resnet'.length)} (${bottleneck ? 'bottleneck' : 'basic'} blocks, ${features(1)} features)` },
    featureWidth: features,
  };
}

/** Every backbone, in the order the schema, usage strings and pickers list them. */
export const BACKBONES = [
  { ...resnet('resnet18'), fromScratch: { summary: 'ResNet-18 (11 M parameters); better features, needs a native or GPU backend', order: 2 } },
  resnet('resnet34'),
  resnet('resnet50'),
  {
    name: 'convnet',
    fromScratch: { summary: 'small and fast; good for a first run on the CPU', order: 1 },
    featureWidth: (width: number) => stageWidths([128], width)[0],
  },
] as const satisfies readonly BackboneDescriptor[];

export type BackboneName = (typeof BACKBONES)[number]['name'];

export const DEFAULT_BACKBONE: BackboneName = 'resnet18';

export const BACKBONE_NAMES: readonly BackboneName[] = BACKBONES.map((b) => b.name);

/** The backbones that take pretrained weights (model.pretrained), in list order. */
export const PRETRAINED_BACKBONES: readonly BackboneName[] = BACKBONES.filter((b) => 'pretrained' in b).map((b) => b.name);

/** A backbone name we build (a model folder's preprocessing.json names its backbone as a plain string). */
export function isBackboneName(name: string): name is BackboneName {
  return (BACKBONE_NAMES as readonly string[]).includes(name);
}

export function backboneDescriptor(name: BackboneName): BackboneDescriptor {
  const found: BackboneDescriptor | undefined = BACKBONES.find((b) => b.name === name);
  if (!found) throw new Error(`unknown backbone ${JSON.stringify(name)}`);
  return found;
}

export function acceptsPretrained(name: BackboneName): boolean {
  return PRETRAINED_BACKBONES.includes(name);
}

/** `"a", "b" or "c"` for messages; `quote` '' and `last` 'and' give `a, b and c`. */
export function listWords(names: readonly string[], quote = '"', last = 'or'): string {
  const q = names.map((n) => `${quote}${n}${quote}`);
  return q.length <= 1 ? q.join('') : `${q.slice(0, -1).join(', ')} ${last} ${q[q.length - 1]}`;
}

/** `a|b|c`, for usage strings. */
export const BACKBONE_CHOICES = BACKBONE_NAMES.join('|');

/** New Experiment's backbone picker: the architectures pretrained weights can have, or the from-scratch choices in their order. */
export function backbonePicks(pretrained: boolean): Array<{ name: BackboneName; summary: string }> {
  const all: readonly BackboneDescriptor[] = BACKBONES;
  if (pretrained) return all.flatMap((d) => (d.pretrained ? [{ name: d.name as BackboneName, summary: d.pretrained.summary }] : []));
  return all.flatMap((d) => (d.fromScratch ? [{ name: d.name as BackboneName, summary: d.fromScratch.summary, order: d.fromScratch.order }] : []))
    .sort((a, b) => a.order - b.order).map(({ name, summary }) => ({ name, summary }));
}

/** The backbone a hub id's repo is named after (hf:timm/resnet50.a1_in1k → resnet50), if it takes pretrained weights. */
export function backboneOfHubId(id: string): BackboneName | undefined {
  return PRETRAINED_BACKBONES.find((b) => new RegExp(`^hf:[^/]+/${b}\\b`).test(id));
}
