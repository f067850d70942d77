// `npm run demo` is the README's first command: its short form must run end to end and leave the run and tables.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, tmpDir } from './helpers';

test('the demo (--quick) generates data, trains, embeds, evaluates and prints the comparison', () => {
  const dir = tmpDir('demo');
  try {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'demo.mjs'), '--quick'], {
      env: { ...process.env, EMBEDLAB_DEMO_DIR: dir }, encoding: 'utf8', timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Held-out classes \(never seen in training\): \w+/);
    for (const metric of ['Precision@1', 'MAP@R', 'NMI (k-means)', 'ROC AUC']) assert.match(r.stdout, new RegExp(`${metric.replace(/[()]/g, '\\$&')}\\s+\\d\\.\\d{4}\\s+\\d\\.\\d{4}`));
    const runs = fs.readdirSync(path.join(dir, 'runs'));
    assert.equal(runs.length, 1);
    for (const f of ['tables/heldout-trained.parquet', 'tables/heldout-untrained.parquet', `runs/${runs[0]}/tables/val.parquet`, `runs/${runs[0]}/model/branch/model.json`]) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
