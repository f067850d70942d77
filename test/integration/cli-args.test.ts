// Bad numbers on the real command line (dist/cli.js): every number option is range-checked before any work starts,
// the error names the option, and the exit code is 2. `embedlab --help` and `<cmd> --help` come from the declarations.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMANDS } from '../../src/cli/commands';
import { helpText } from '../../src/cli/args';
import { cli, tmpDir } from './helpers';

const work = tmpDir('cli-args');

test('embed --batch abc (was passed on as NaN) and --batch 0 are bad usage naming --batch; nothing is written', async () => {
  const out = path.join(work, 't.csv');
  for (const bad of ['abc', '0', '2.5', '']) {
    const r = await cli(['embed', '--model', work, work, '--out', out, '--batch', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^embedlab embed: --batch must be an integer from 1 to 4096 \\(got ${bad || 'nothing'}\\)\\nusage: embedlab embed `));
  }
  assert.ok(!fs.existsSync(out));
});

test('number options of eval, knn, classify and verify are checked where they are declared', async () => {
  const table = path.join(work, 'no-such-table.csv');
  const cases: Array<[string[], RegExp]> = [
    [['eval', table, '--precision', '1.5'], /--precision must be a number in \(0, 1\] \(got 1\.5\)/],
    [['eval', table, '--precision', 'x'], /--precision must be a number in \(0, 1\] \(got x\)/],
    [['eval', table, '--outlier-k', '0'], /--outlier-k must be a positive integer \(got 0\)/],
    [['knn', table, '--query', 'a.png', '-k', '1e1'], /-k must be a positive integer \(got 1e1\)/],
    [['classify', work, '--reference', work, '-k', 'two'], /-k must be a positive integer \(got two\)/],
    [['verify', 'a.png', 'b.png', '--model', work, '--threads', '0'], /--threads must be an integer from 1 to 256 \(got 0\)/],
    [['synth', path.join(work, 's'), '--seed', '-1'], /--seed must be an integer from 0 to 4294967295 \(got -1\)/],
    [['duplicates', table, '--out', path.join(work, 'g.csv'), '--distance', 'manhattan'], /--distance must be one of euclidean, squared-euclidean, cosine \(got manhattan\)/],
  ];
  for (const [args, want] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want, args.join(' '));
  }
  assert.ok(!fs.existsSync(path.join(work, 's')));
});

test('embedlab --help lists the declared commands; <cmd> --help prints its declaration', async () => {
  const top = await cli(['--help']);
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`^  ${c.name} `, 'm'));
  const none = await cli([]);
  assert.equal(none.code, 2);
  assert.equal(none.stdout, top.stdout);
  const unknown = await cli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^embedlab: unknown command "frobnicate"\n\nembedlab — /);
  for (const name of ['synth', 'verify']) {
    const r = await cli([name, '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, helpText(COMMANDS.find((c) => c.name === name)!) + '\n');
  }
});
