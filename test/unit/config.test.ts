// Config validation: the example config resolves, every bad field is reported with its path and the expected
// value, JSON syntax errors carry line:column, scaffolds are valid, and the schema documents every key.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import {
  ConfigError,
  EMBEDDING_SCHEMA,
  loadConfig,
  scaffoldConfig,
  schemaRef,
  suggestKey,
  validateConfig,
} from '../../src/core/config';
import type { ConfigIssue } from '../../src/core/config-types';

const dir = resolve('/tmp/embedlab-config-test');

function example(): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    name: 'shoes-triplet',
    data: { train: 'data/train', validation: 'data/val', labelLevel: -2, imageSize: [64, 64], channels: 3, samplesPerEpoch: 2048, augment: { flip: 'vertical' } },
    model: { backbone: 'resnet18', width: 0.25, embeddingDim: 64, normalize: true },
    loss: { type: 'triplet', margin: 0.2, distance: 'euclidean', mining: 'batch-hard' },
    training: { epochs: 10, batchSize: 32, optimizer: { type: 'adam', learningRate: 0.001 }, seed: 1234, backend: 'auto' },
  };
}

/** Applies `edit` to a fresh example and returns the issues. */
function issuesOf(edit: (c: Record<string, any>) => void): ConfigIssue[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const c = example();
  edit(c);
  const r = validateConfig(c, dir);
  assert.equal(r.config, undefined, 'a config with issues must not resolve');
  return r.issues;
}

function hasIssue(issues: ConfigIssue[], path: string, ...fragments: string[]): void {
  const hit = issues.find((i) => i.path === path && fragments.every((f) => i.message.includes(f)));
  assert.ok(hit, `expected an issue at ${path} containing ${JSON.stringify(fragments)}; got ${JSON.stringify(issues)}`);
}

test('the example config validates and resolves with defaults and absolute paths', () => {
  const { config, issues } = validateConfig(example(), dir);
  assert.deepEqual(issues, []);
  assert.ok(config);
  assert.equal(config.name, 'shoes-triplet');
  assert.equal(config.data.train, join(dir, 'data/train'));
  assert.equal(config.data.validation, join(dir, 'data/val'));
  assert.deepEqual(config.data.imageSize, [64, 64]);
  assert.equal(config.data.fit, 'cover');
  assert.equal(config.data.normalize, 'imagenet');
  assert.equal(config.data.positiveRatio, 0.5);
  assert.deepEqual(config.data.augment, { flip: 'vertical', minCropScale: 0.8, brightness: 0.1, contrast: 0.1 });
  assert.equal(config.loss.margin2, 0.1);
  assert.equal(config.training.classesPerBatch, 8);
  assert.equal(config.training.imagesPerClass, 4);
  assert.equal(config.training.optimizer.momentum, 0.9);
  assert.equal(config.training.checkpointEverySteps, 0);
});

test('minimal configs: margin defaults by loss type, margin2 = margin / 2, augment off, absolute paths kept', () => {
  const margins = { contrastive: 2.0, triplet: 0.2, quartet: 0.2 } as const;
  for (const type of ['contrastive', 'triplet', 'quartet'] as const) {
    const { config, issues } = validateConfig({ data: { train: '/abs/train' }, loss: { type } }, dir, { defaultName: 'from-file' });
    assert.deepEqual(issues, []);
    assert.ok(config);
    assert.equal(config.loss.margin, margins[type]);
    assert.equal(config.loss.margin2, margins[type] / 2);
    assert.equal(config.data.train, resolve('/abs/train'));
    assert.equal(config.data.validation, undefined);
    assert.equal(config.data.augment, null);
    assert.equal(config.data.labelLevel, -2);
    assert.equal(config.name, 'from-file');
    assert.equal(config.training.backend, 'auto');
  }
  const on = validateConfig({ data: { train: 'x', augment: true }, loss: { type: 'triplet' } }, dir).config;
  assert.deepEqual(on?.data.augment, { flip: 'horizontal', minCropScale: 0.8, brightness: 0.1, contrast: 0.1 });
});

test('bad fields name the field and the expected value', () => {
  hasIssue(issuesOf((c) => (c.loss.type = 'tripplet')), 'loss.type', 'must be one of "contrastive", "triplet", "quartet"', '(got "tripplet")');
  hasIssue(issuesOf((c) => (c.training.batchSize = 0)), 'training.batchSize', 'must be an integer >= 1 (got 0)');
  hasIssue(issuesOf((c) => (c.training.epochs = '10')), 'training.epochs', 'must be an integer', '(got "10")');
  hasIssue(issuesOf((c) => (c.data.imageSize = [0, 64])), 'data.imageSize[0]', 'between 8 and 1024', '(got 0)');
  hasIssue(issuesOf((c) => (c.data.imageSize = [64])), 'data.imageSize', 'array of 2 integers', '(got [64])');
  hasIssue(issuesOf((c) => (c.model.width = 0)), 'model.width', 'between 0.0625 and 2', '(got 0)');
  hasIssue(issuesOf((c) => (c.data.positiveRatio = 1)), 'data.positiveRatio', '> 0 and < 1', '(got 1)');
  hasIssue(issuesOf((c) => (c.model.normalize = 'yes')), 'model.normalize', 'true or false');
  hasIssue(issuesOf((c) => (c.data.labelLevel = 0)), 'data.labelLevel', 'non-zero integer', '(got 0)');
  hasIssue(issuesOf((c) => (c.training.backend = 'gpu')), 'training.backend', '"auto", "wasm", "cpu", "tensorflow", "tensorflow-gpu"');
  hasIssue(issuesOf((c) => (c.training.optimizer.learningRate = -1)), 'training.optimizer.learningRate', '> 0');
  hasIssue(issuesOf((c) => (c.data.augment = { flip: 'sideways' })), 'data.augment.flip', 'must be one of "none", "horizontal"');
  hasIssue(issuesOf((c) => (c.name = 'my shoes')), 'name', 'letters, digits');
});

test('data.normalize: a name or the network\'s { mean, std }; each wrong form named once', () => {
  const ok = (n: unknown) => {
    const c = example();
    c.data.normalize = n;
    const r = validateConfig(c, dir);
    assert.deepEqual(r.issues, [], JSON.stringify(n));
    return r.config!.data.normalize;
  };
  assert.deepEqual(ok({ mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] }), { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] });
  assert.deepEqual(ok({ mean: [0.5], std: [0.25] }), { mean: [0.5], std: [0.25] });
  assert.equal(ok('minus-one-one'), 'minus-one-one');
  const only = (issues: ConfigIssue[], path: string, ...fragments: string[]) => {
    assert.equal(issues.length, 1, JSON.stringify(issues));
    hasIssue(issues, path, ...fragments);
  };
  only(issuesOf((c) => (c.data.normalize = 'imagnet')), 'data.normalize', 'must be "imagenet", "zero-one", "minus-one-one" or { "mean"', '(got "imagnet")');
  only(issuesOf((c) => (c.data.normalize = 3)), 'data.normalize', 'or { "mean": [...], "std": [...] }', '(got 3)');
  only(issuesOf((c) => (c.data.normalize = { mean: [0.5] })), 'data.normalize.std', 'is required');
  only(issuesOf((c) => (c.data.normalize = { mean: [0.5], std: [0] })), 'data.normalize.std[0]', '> 0', '(got 0)');
  only(issuesOf((c) => (c.data.normalize = { mean: [0.5], std: [0.5], sd: 1 })), 'data.normalize', 'unknown key "sd"');
  only(issuesOf((c) => (c.data.normalize = { mean: [0.5, 0.5], std: [0.5, 0.5, 0.5] })), 'data.normalize', '1 or 3 values each', '(got 2 and 3)');
});

test('unknown keys are reported with a suggestion', () => {
  const issues = issuesOf((c) => {
    c.data.imgSize = [32, 32];
    c.model.embedingDim = 8;
    c.data.margin = 1;
    c.trainig = {};
  });
  hasIssue(issues, 'data', 'unknown key "imgSize" (did you mean "imageSize"?)');
  hasIssue(issues, 'model', 'unknown key "embedingDim" (did you mean "embeddingDim"?)');
  hasIssue(issues, 'data', 'unknown key "margin" (it belongs in "loss")');
  hasIssue(issues, '(root)', 'unknown key "trainig" (did you mean "training"?)');
  assert.equal(suggestKey('zzzzzz', ['train', 'validation']), undefined);
});

test('missing required fields', () => {
  hasIssue(issuesOf((c) => delete c.data.train), 'data.train', 'is required');
  hasIssue(issuesOf((c) => delete c.loss.type), 'loss.type', 'is required');
  hasIssue(issuesOf((c) => delete c.data), 'data', 'is required');
  const r = validateConfig([], dir);
  hasIssue(r.issues, '(root)', 'must be an object');
});

test('cross-field rules', () => {
  // Mining only for the triplet loss; reported together with schema issues.
  const both = issuesOf((c) => {
    c.loss.type = 'contrastive';
    c.loss.mining = 'semi-hard';
    delete c.data.train;
  });
  hasIssue(both, 'loss.mining', 'must be "none" for the contrastive loss', '(got "semi-hard")');
  hasIssue(both, 'data.train', 'is required');
  hasIssue(issuesOf((c) => { c.loss.type = 'quartet'; }), 'loss.mining', 'must be "none" for the quartet loss');
  // Mining: batchSize = P × K.
  hasIssue(issuesOf((c) => { c.training.classesPerBatch = 6; c.training.imagesPerClass = 4; }), 'training.batchSize', '6 × 4 = 24', '(got 32)');
  hasIssue(issuesOf((c) => { c.training.batchSize = 30; }), 'training.batchSize', 'multiple of training.imagesPerClass (4)');
  hasIssue(issuesOf((c) => (c.training.imagesPerClass = 1)), 'training.imagesPerClass', 'must be an integer between 2 and 1024', '(got 1)');
  const pk = validateConfig({ ...example(), training: { classesPerBatch: 5, imagesPerClass: 3 } }, dir).config;
  assert.equal(pk?.training.batchSize, 15);
  const p = validateConfig({ ...example(), training: { batchSize: 48, classesPerBatch: 12 } }, dir).config;
  assert.equal(p?.training.imagesPerClass, 4);
  // Margins.
  hasIssue(issuesOf((c) => (c.loss.margin = 3)), 'loss.margin', 'must be <= 2', '(got 3)');
  hasIssue(issuesOf((c) => { c.loss.mining = 'none'; c.loss.type = 'quartet'; c.loss.margin2 = 0.5; }), 'loss.margin2', 'must be <= loss.margin (0.2)');
  assert.ok(validateConfig({ ...example(), model: { normalize: false }, loss: { type: 'triplet', margin: 3 } }, dir).config);
  hasIssue(issuesOf((c) => (c.data.samplesPerEpoch = 16)), 'data.samplesPerEpoch', '>= training.batchSize (32)');
});

test('loadConfig reports JSON syntax errors with line:column and issues prefixed with the file', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'embedlab-cfg-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const bad = join(tmp, 'bad.embedding.json');
  writeFileSync(bad, '{\n  "name": "x",\n  "data": { "train": "a" }\n  "loss": { "type": "triplet" }\n}\n');
  assert.throws(() => loadConfig(bad), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.exitCode, 2);
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0].line, 4);
    assert.equal(err.issues[0].column, 3);
    assert.match(err.message, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:3: invalid JSON at line 4, column 3`));
    return true;
  });
  const trunc = join(tmp, 'trunc.embedding.json');
  writeFileSync(trunc, '{\n  "data": {');
  assert.throws(() => loadConfig(trunc), (err: unknown) => err instanceof ConfigError && /line 2/.test(err.message));

  const wrong = join(tmp, 'wrong.embedding.json');
  writeFileSync(wrong, JSON.stringify({ data: { train: 'imgs', imgSize: [1, 1] }, loss: { type: 'tripplet' } }));
  assert.throws(() => loadConfig(wrong), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const lines = err.message.split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines) assert.ok(l.startsWith(`${wrong}: `), l);
    assert.ok(lines.some((l) => l.includes('data: unknown key "imgSize" (did you mean "imageSize"?)')));
    return true;
  });
  assert.throws(() => loadConfig(join(tmp, 'none.json')), /file not found/);

  const good = join(tmp, 'shoes.embedding.json');
  writeFileSync(good, JSON.stringify({ data: { train: 'imgs' }, loss: { type: 'triplet' } }));
  const cfg = loadConfig(good);
  assert.equal(cfg.name, 'shoes');
  assert.equal(cfg.data.train, join(tmp, 'imgs'));
});

test('every scaffold validates and makes its choices', () => {
  for (const type of ['contrastive', 'triplet', 'quartet'] as const) {
    const s = scaffoldConfig(type, { name: 'demo', train: 'imgs/train', validation: 'imgs/val', schema: './schemas/embedding.schema.json' });
    const { config, issues } = validateConfig(JSON.parse(JSON.stringify(s)), dir);
    assert.deepEqual(issues, [], type);
    assert.ok(config);
    assert.equal(config.loss.type, type);
    assert.equal(s.$schema, './schemas/embedding.schema.json');
    assert.equal(config.data.validation, join(dir, 'imgs/val'));
    assert.ok(validateConfig(scaffoldConfig(type), dir).config, `${type} without options`);
  }
  assert.equal(validateConfig(scaffoldConfig('contrastive'), dir).config?.loss.margin, 1.0);
  assert.equal(validateConfig(scaffoldConfig('triplet'), dir).config?.loss.mining, 'semi-hard');
  assert.equal(validateConfig(scaffoldConfig('quartet'), dir).config?.loss.margin2, 0.1);
  assert.equal(schemaRef('/p/configs', '/p/schemas/embedding.schema.json'), '../schemas/embedding.schema.json');
  assert.equal(schemaRef('/p', '/p/schemas/embedding.schema.json'), './schemas/embedding.schema.json');
});

test('the schema compiles and documents every key', () => {
  const ajv = new Ajv({ strict: false });
  assert.ok(ajv.compile(EMBEDDING_SCHEMA));
  const missing: string[] = [];
  const noAdditional: string[] = [];
  let count = 0;
  const walk = (node: Record<string, unknown>, path: string): void => {
    if (node.properties) {
      if (node.additionalProperties !== false) noAdditional.push(path || '(root)');
      for (const [key, sub] of Object.entries(node.properties as Record<string, Record<string, unknown>>)) {
        const p = path ? `${path}.${key}` : key;
        count++;
        if (typeof sub.description !== 'string' || sub.description.length < 10) missing.push(p);
        walk(sub, p);
      }
    }
    if (node.items) walk(node.items as Record<string, unknown>, `${path}[]`);
  };
  walk(EMBEDDING_SCHEMA as unknown as Record<string, unknown>, '');
  assert.ok(count > 40, `walked ${count} keys`);
  assert.deepEqual(missing, []);
  assert.deepEqual(noAdditional, []);
});

test('one mining default: a triplet config without loss.mining mines semi-hard, as the schema, New Experiment and init say', () => {
  const dir = mkdtempSync(join(tmpdir(), 'embedlab-mining-'));
  const schemaDefault = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'schemas', 'embedding.schema.json'), 'utf8')) as { properties: { loss: { properties: { mining: { default: string } } } } }).properties.loss.properties.mining.default;
  const triplet = validateConfig({ data: { train: 'x' }, loss: { type: 'triplet' } }, dir).config;
  assert.equal(triplet?.loss.mining, 'semi-hard');
  assert.equal(triplet?.loss.mining, schemaDefault);
  assert.equal(triplet?.loss.mining, (scaffoldConfig('triplet') as { loss: { mining: string } }).loss.mining);
  assert.equal(validateConfig({ data: { train: 'x' }, loss: { type: 'contrastive' } }, dir).config?.loss.mining, 'none', 'the other losses mine nothing');
  assert.equal(validateConfig({ data: { train: 'x' }, loss: { type: 'quartet' } }, dir).config?.loss.mining, 'none');
  // A batch that is no P×K shape says so, naming the way out.
  const bad = validateConfig({ data: { train: 'x' }, loss: { type: 'triplet' }, training: { batchSize: 6 } }, dir);
  assert.ok(bad.issues.some((i) => i.path === 'training.batchSize' && /multiple of training\.imagesPerClass \(4\)/.test(i.message)), JSON.stringify(bad.issues));
});
