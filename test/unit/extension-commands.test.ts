// The command table and its trust gate, through the real Ctx and the real command functions (VS Code replaced by
// test/unit/fixtures/vscode-stub.ts; child_process.spawn/execFile replaced by recorders whose processes fail at
// once). Derived from the table, not from a list copied here: every command is driven with every kind of argument a
// menu or a picker gives it. Trusted, a command starts a process exactly when its entry declares one; untrusted, no
// command starts any process, however it is called (menu, palette, or another command calling it).
import * as assert from 'node:assert/strict';
import * as childProcess from 'node:child_process';
import { EventEmitter as NodeEmitter } from 'node:events';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { installVscodeStub, stubState, Uri } from './fixtures/vscode-stub';

installVscodeStub();

interface Spawned { command: string; args: readonly string[] }
const spawned: Spawned[] = [];

/** A child process that fails to start (ENOENT), as seen by cli-runner and the supervisor. */
function failingChild(emitError = true): childProcess.ChildProcess {
  const c = new NodeEmitter() as unknown as childProcess.ChildProcess & { pid?: number };
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  Object.assign(c, { stdout, stderr, stdin: null, stdio: [null, stdout, stderr, null], pid: undefined, exitCode: null, signalCode: null, kill: () => true });
  setImmediate(() => {
    const err = Object.assign(new Error('spawn stub ENOENT'), { code: 'ENOENT' });
    if (emitError) c.emit('error', err);
    (c.stdout as PassThrough).end();
    (c.stderr as PassThrough).end();
    c.emit('exit', 1, null);
    c.emit('close', 1, null);
  });
  return c;
}

// The module object itself (the extension's CommonJS modules read `.spawn` from it at each call).
const cp = createRequire(__filename)('node:child_process') as Record<string, unknown>;
const realSpawn = cp.spawn;
const realExecFile = cp.execFile;

describe('command table: trust and processes', () => {
  let dir: string;
  let ws: string;
  let table: Record<string, { run: unknown; process?: string; doing?: string }>;
  let ctx: { dispose(): Promise<void> };
  const shapes: Array<{ name: string; args: () => unknown[] }> = [];

  before(async () => {
    cp.spawn = (command: string, args: readonly string[]) => {
      spawned.push({ command, args });
      return failingChild();
    };
    cp.execFile = (command: string, args: readonly string[], _o: unknown, cb: (err: Error | null, stdout: string, stderr: string) => void) => {
      spawned.push({ command, args });
      setImmediate(() => cb(Object.assign(new Error('not found'), { code: 'ENOENT' }), '', ''));
      return failingChild(false);
    };
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-commands-'));
    ws = path.join(dir, 'ws');
    const data = path.join(ws, 'data');
    for (const c of ['a', 'b']) {
      fs.mkdirSync(path.join(data, c), { recursive: true });
      for (const i of [1, 2]) fs.writeFileSync(path.join(data, c, `${i}.png`), 'png');
    }
    const { scaffoldConfig } = await import('../../src/core/config');
    const config = path.join(ws, 'exp.embedding.json');
    fs.writeFileSync(config, JSON.stringify(scaffoldConfig('triplet', { name: 'exp', train: './data', backbone: 'convnet' }), null, 2));
    const run = path.join(ws, 'runs', 'exp-1');
    for (const d of ['checkpoints/last', 'model/branch', 'tables']) fs.mkdirSync(path.join(run, d), { recursive: true });
    fs.writeFileSync(path.join(run, 'config.json'), fs.readFileSync(config));
    fs.writeFileSync(path.join(run, 'checkpoints/last/model.json'), '{}');
    fs.writeFileSync(path.join(run, 'model/branch/model.json'), '{}');
    fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify({
      runId: 'exp-1', name: 'exp', status: 'stopped', backend: 'wasm', lossType: 'triplet', configFile: config, startedAt: '2025-01-01T00:00:00Z',
      updatedAt: '2025-01-01T00:01:00Z', endedAt: '2025-01-01T00:01:00Z', epoch: 1, epochs: 10, step: 8, bestMapAtR: null, lastMapAtR: null, pid: null, error: null,
    }));
    const tablePath = path.join(run, 'tables', 'data.parquet');
    fs.writeFileSync(tablePath, 'parquet');
    fs.writeFileSync(`${tablePath}.meta.json`, JSON.stringify({ folder: data, model: run, dim: 4, distance: 'euclidean' }));
    const image = path.join(data, 'a', '1.png');
    stubState.answers = { folder: data, image, table: tablePath, workspace: ws, configs: [config] };
    // Every kind of argument a command gets: none (pickers answer), a menu click on each kind of resource with the
    // Explorer's selection array, a Runs view item (a path), and a two-folder multi-select.
    shapes.push(
      { name: 'no arguments', args: () => [] },
      { name: 'run folder', args: () => [Uri.file(run)] },
      { name: 'folder (Explorer)', args: () => [Uri.file(data), [Uri.file(data)]] },
      { name: 'two folders (Explorer)', args: () => [Uri.file(path.join(data, 'a')), [Uri.file(path.join(data, 'a')), Uri.file(path.join(data, 'b'))]] },
      { name: 'image (Explorer)', args: () => [Uri.file(image), [Uri.file(image)]] },
      { name: 'image (editor title)', args: () => [Uri.file(image), { groupId: 1, editorIndex: 0 }] },
      { name: 'table (Explorer)', args: () => [Uri.file(tablePath), [Uri.file(tablePath)]] },
      { name: 'config (Explorer)', args: () => [Uri.file(config), [Uri.file(config)]] },
    );
    const commands = await import('../../src/extension/commands');
    const { Ctx } = await import('../../src/extension/ctx');
    table = commands.COMMANDS as unknown as typeof table;
    const ext = { extensionPath: path.resolve('.'), globalStorageUri: Uri.file(path.join(dir, 'storage')), subscriptions: [], workspaceState: { get: (_k: string, d: unknown) => d, update: async () => undefined } };
    const c = new Ctx(ext as never);
    c.registerCommands(commands.COMMANDS);
    ctx = c;
  });

  after(async () => {
    await ctx?.dispose();
    cp.spawn = realSpawn;
    cp.execFile = realExecFile;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs one registered command with `args`; returns the processes it tried to start (bounded in time). */
  async function processesOf(name: string, args: unknown[]): Promise<Spawned[]> {
    spawned.length = 0;
    const handler = stubState.handlers.get(`embeddingLab.${name}`);
    assert.ok(handler, `embeddingLab.${name} is in the table but not registered`);
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      Promise.resolve().then(() => handler(...args)).catch(() => undefined).then(() => true),
      new Promise((r) => { timer = setTimeout(() => r(false), 4000); }),
    ]);
    if (!settled && process.env.DEBUG_COMMANDS) console.error(`hang: ${name} ${args.length}`, spawned.map((s) => s.command));
    clearTimeout(timer);
    await new Promise((r) => setTimeout(r, 20)); // follow-ups (notification buttons, refreshes)
    return spawned.splice(0);
  }

  it('untrusted: no command starts a process, with any argument (menu, palette, an internal call)', async () => {
    stubState.trusted = false;
    stubState.warnings.length = 0;
    const offenders: string[] = [];
    for (const name of Object.keys(table)) {
      for (const shape of shapes) {
        const p = await processesOf(name, shape.args());
        if (p.length) offenders.push(`${name} (${shape.name}) started ${p.map((x) => [path.basename(x.command), ...x.args.slice(0, 2)].join(' ')).join('; ')}`);
      }
    }
    assert.deepEqual(offenders, []);
    assert.ok(stubState.warnings.some((w) => /^Embedding a folder is disabled in Restricted Mode/.test(w)), 'the refusal says why');
  });

  it('trusted: a command starts a process exactly when its table entry declares one', async () => {
    stubState.trusted = true;
    const wrong: string[] = [];
    for (const [name, spec] of Object.entries(table)) {
      const started = new Set<string>();
      for (const shape of shapes) for (const p of await processesOf(name, shape.args())) started.add(path.basename(p.command));
      const declared = spec.process !== undefined;
      if (declared !== started.size > 0) wrong.push(`${name}: declares ${spec.process ?? 'no process'}, started ${[...started].join(', ') || 'none'}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('package.json: a command that starts a process is shown disabled in Restricted Mode (enablement), never hidden', () => {
    const manifest = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { contributes: { commands: Array<{ command: string; enablement?: string }>; menus: Record<string, Array<{ command: string; when?: string }>>; walkthroughs: Array<{ steps: Array<{ description: string; media: { markdown?: string } }> }> } };
    const byId = new Map(manifest.contributes.commands.map((c) => [c.command, c]));
    for (const [name, spec] of Object.entries(table)) {
      const c = byId.get(`embeddingLab.${name}`);
      assert.ok(c, `${name} is not contributed`);
      assert.equal(c.enablement, spec.process ? 'isWorkspaceTrusted' : undefined, `enablement of ${name}`);
    }
    for (const [where, items] of Object.entries(manifest.contributes.menus)) {
      for (const it of items) assert.doesNotMatch(it.when ?? '', /isWorkspaceTrusted/, `${where} hides ${it.command} in Restricted Mode instead of showing it disabled`);
    }
    // The walkthrough: its media exist (packaged under media/) and its buttons run commands of the table.
    const steps = manifest.contributes.walkthroughs.flatMap((w) => w.steps);
    assert.ok(steps.length >= 4);
    for (const st of steps) {
      if (st.media.markdown) assert.ok(fs.existsSync(st.media.markdown), st.media.markdown);
      for (const m of st.description.matchAll(/\(command:embeddingLab\.(\w+)\)/g)) assert.ok(m[1] in table, m[1]);
    }
  });

  it('the e2e hooks are not in the shipped table or the manifest; they are registered only in a test run', async () => {
    const { TEST_COMMANDS } = await import('../../src/extension/commands');
    const { testHooksEnabled } = await import('../../src/extension/extension');
    assert.deepEqual(Object.keys(table).filter((n) => n.startsWith('_')), []);
    assert.deepEqual(Object.keys(TEST_COMMANDS).sort(), ['_dashboardState', '_testState']);
    const manifest = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { contributes: { commands: Array<{ command: string }> } };
    assert.deepEqual(manifest.contributes.commands.map((c) => c.command).filter((c) => /\._/.test(c)), []);
    assert.equal(stubState.handlers.has('embeddingLab._testState'), false, 'registerCommands(COMMANDS) registered a test hook');
    assert.equal(testHooksEnabled({ extensionMode: 1 }, {}), false);
    assert.equal(testHooksEnabled({ extensionMode: 2 }, {}), false);
    assert.equal(testHooksEnabled({ extensionMode: 3 }, {}), true);
    assert.equal(testHooksEnabled({ extensionMode: 1 }, { EMBEDDING_LAB_TEST_HOOKS: '1' }), true);
  });

  it('Restricted Mode is explained once, in the Runs view', async () => {
    const { Ctx } = await import('../../src/extension/ctx');
    const ext = { extensionPath: path.resolve('.'), globalStorageUri: Uri.file(path.join(dir, 'storage')), subscriptions: [], workspaceState: { get: (_k: string, d: unknown) => d, update: async () => undefined } };
    stubState.trusted = false;
    const untrusted = new Ctx(ext as never);
    stubState.trusted = true;
    const trusted = new Ctx(ext as never);
    try {
      assert.match(String((untrusted.testState() as { runsViewMessage?: string }).runsViewMessage), /^Restricted Mode: .*disabled, because they run Node\.js processes/);
      assert.equal((trusted.testState() as { runsViewMessage?: string }).runsViewMessage, undefined);
    } finally {
      await untrusted.dispose();
      await trusted.dispose();
    }
  });

  it('Embed with Model calls Embed Folder through the gate: untrusted it is refused, not run', async () => {
    stubState.trusted = false;
    stubState.warnings.length = 0;
    stubState.errors.length = 0;
    assert.deepEqual(await processesOf('embedWithModel', [Uri.file(path.join(ws, 'runs', 'exp-1'))]), []);
    assert.ok([...stubState.warnings, ...stubState.errors].some((m) => /Restricted Mode/.test(m)), [...stubState.warnings, ...stubState.errors].join('\n'));
    stubState.trusted = true;
  });
  it('New Experiment from pretrained weights: a hub id sets the backbone its name gives; a weights file is written relative to the config', async () => {
    stubState.trusted = true;
    const handler = stubState.handlers.get('embeddingLab.newExperiment')!;
    const { validateConfig } = await import('../../src/core/config');
    const hubFile = path.join(ws, 'hub.embedding.json');
    await handler({ type: 'triplet', dataFolder: path.join(ws, 'data'), pretrained: 'hf:timm/resnet50.a1_in1k', file: hubFile });
    const hub = JSON.parse(fs.readFileSync(hubFile, 'utf8')) as { model: Record<string, unknown>; training: Record<string, unknown> };
    assert.deepEqual(hub.model, { backbone: 'resnet50', pretrained: 'hf:timm/resnet50.a1_in1k', embeddingDim: 128, normalize: true });
    assert.equal(hub.training.backboneLearningRate, 0.1);
    assert.deepEqual(validateConfig(hub, ws).issues, []);
    const weights = path.join(ws, 'weights', 'r34.safetensors');
    fs.mkdirSync(path.dirname(weights), { recursive: true });
    fs.writeFileSync(weights, '');
    const fileCfg = path.join(ws, 'file.embedding.json');
    await handler({ type: 'contrastive', dataFolder: path.join(ws, 'data'), pretrained: weights, backbone: 'resnet34', file: fileCfg });
    const local = JSON.parse(fs.readFileSync(fileCfg, 'utf8')) as { model: Record<string, unknown> };
    assert.equal(local.model.pretrained, './weights/r34.safetensors');
    assert.equal(local.model.backbone, 'resnet34');
    assert.equal(validateConfig(local, ws).config?.model.pretrained, weights);
  });
});
