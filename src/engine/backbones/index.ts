// The backbone registry: one entry per backbone (its own file here), keyed by the names of src/core/backbones.ts.
// models.ts builds the entry the config names, the pretrained loaders ask the entry for its importer, and the ONNX
// writer converts the layer classes each entry declares. Adding a backbone: docs/extending.md, "Adding a backbone".
import type { BackboneName } from '../../core/backbones';
import type { Backbone } from './blocks';
import { convnet } from './convnet';
import { resnet18, resnet34, resnet50 } from './resnet';

export type { Backbone, BodyOptions, Padding } from './blocks';
export { SeededInit } from './blocks';

/** Every entry, by name: the type makes it list exactly the names of core/backbones.ts. */
export const BACKBONE_REGISTRY: Readonly<Record<BackboneName, Backbone>> = { resnet18, resnet34, resnet50, convnet };

export function backboneOf(name: BackboneName): Backbone {
  const entry = (BACKBONE_REGISTRY as Partial<Record<string, Backbone>>)[name];
  if (!entry) throw new Error(`unknown backbone ${JSON.stringify(name)} (known: ${Object.keys(BACKBONE_REGISTRY).join(', ')})`);
  return entry;
}
