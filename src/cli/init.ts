// `embedlab init`: writes a new experiment config (*.embedding.json) with the schema's defaults.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BACKBONE_CHOICES, type BackboneName } from '../core/backbones';
import { scaffoldConfig, validateConfig } from '../core/config';
import { printablePath } from '../core/printable';
import type { LossType } from '../protocol/events';
import { defineCommand, UsageError } from './args';

export const initCommand = defineCommand({
  name: 'init',
  summary: 'Write a new experiment config (*.embedding.json) with every default filled in',
  usage: `embedlab init --type contrastive|triplet|quartet [--train <dir>] [--validation <dir>] [--backbone ${BACKBONE_CHOICES}] [--pretrained <hf:owner/repo|weights.safetensors>] [--name <name>] [--out <file>] [--force]`,
  positionals: [0, 0],
  options: {
    type: { type: 'string' }, train: { type: 'string' }, validation: { type: 'string' }, backbone: { type: 'string' }, pretrained: { type: 'string' },
    name: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' },
  },
  async run({ values: v, usage }) {
    const type = v.type;
    if (type !== 'contrastive' && type !== 'triplet' && type !== 'quartet') {
      throw new UsageError(`--type must be contrastive, triplet or quartet (got ${type === undefined ? 'nothing' : JSON.stringify(type)})\nusage: ${usage}`);
    }
    const name = v.name ?? `my-${type}`;
    const out = path.resolve(v.out ?? `${name}.embedding.json`);
    if (!out.endsWith('.embedding.json')) throw new UsageError(`the config file name must end in .embedding.json (got ${out}) so that editors apply its schema`);
    if (fs.existsSync(out) && !v.force) throw new UsageError(`${out} already exists; pass --force to overwrite it`);
    const schemaPath = path.relative(path.dirname(out), path.join(__dirname, '..', 'schemas', 'embedding.schema.json')).split(path.sep).join('/');
    const obj = scaffoldConfig(type as LossType, {
      name, train: v.train, validation: v.validation, backbone: v.backbone as BackboneName | undefined, schema: schemaPath, pretrained: v.pretrained,
    });
    const { issues } = validateConfig(obj, path.dirname(out));
    if (issues.length) throw new UsageError(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
    const { writeFileAtomic } = await import('../core/atomic');
    await writeFileAtomic(out, JSON.stringify(obj, null, 2) + '\n');
    process.stdout.write(`wrote ${printablePath(out)}\n`);
    return 0;
  },
});
