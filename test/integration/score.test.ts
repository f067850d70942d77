// `embedlab score` through the real CLI (issue 16, item 3): untrained-exported triplet, quartet and contrastive
// models (the full model as TensorFlow.js + ONNX, the branch on its own), real synth PNGs decoded by sharp. Every
// distance score writes — on ONNX Runtime and on TensorFlow.js, as CSV and as Parquet — equals the distance computed
// here from the branch's embeddings of the same images (`embedlab embed`) within 1e-5; `correct` and the share of
// correct rows are checked against the same hand-computed distances. An undecodable image skips its row (listed);
// a missing file, missing columns, a branch as --model and --threshold on triplets are errors.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { readSkippedList, readTable } from '../../src/core/table';
import { cli, jsonLines, tmpDir } from './helpers';

const work = tmpDir('score');
test.after(() => { if (!process.env.KEEP_WORK) fs.rmSync(work, { recursive: true, force: true }); else console.log(work); });
const data = path.join(work, 'data');
const at = (...p: string[]) => path.join(work, ...p);
type Kind = 'triplet' | 'quartet' | 'contrastive';
const KINDS: Kind[] = ['triplet', 'quartet', 'contrastive'];
const emb: Record<Kind, Map<string, Float32Array>> = // 'data/<class>/<file>' → the branch's embedding
  { triplet: new Map(), quartet: new Map(), contrastive: new Map() };
let files: string[] = []; // 'data/<class>/<file>', sorted

const euclid = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
const sq = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0);

function runConfig(kind: Kind, distance: string): Record<string, unknown> {
  return {
    name: `score-${kind}`,
    data: { train: data, labelLevel: -2, imageSize: [32, 32], channels: 3, fit: 'cover', normalize: 'zero-one', samplesPerEpoch: 64,
      positiveRatio: 0.5, augment: null, cacheMB: 16, decodeConcurrency: 2, validationLimit: 100 },
    model: { backbone: 'convnet', width: 0.5, embeddingDim: 16, normalize: kind !== 'quartet' },
    loss: { type: kind, margin: 0.2, margin2: 0.1, distance, mining: 'none' },
    training: { epochs: 1, batchSize: 8, classesPerBatch: 2, imagesPerClass: 4, optimizer: { type: 'adam', learningRate: 0.001, momentum: 0 },
      seed: 21, backend: 'wasm', checkpointEverySteps: 0 },
  };
}
const DIST: Record<Kind, string> = { triplet: 'euclidean', quartet: 'squared-euclidean', contrastive: 'euclidean' };
const dist = (kind: Kind, a: Float32Array, b: Float32Array) => (DIST[kind] === 'euclidean' ? euclid(a, b) : sq(a, b));

test.before(async () => {
  assert.equal((await cli(['synth', data, '--classes', '3', '--per-class', '4', '--size', '32', '--seed', '9'])).code, 0);
  files = fs.readdirSync(data).sort().flatMap((c) => fs.readdirSync(path.join(data, c)).sort().map((f) => `data/${c}/${f}`));
  fs.writeFileSync(at('broken.png'), 'not a png at all');
  for (const kind of KINDS) {
    const run = at(`run-${kind}`);
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify(runConfig(kind, DIST[kind])));
    for (const [type, fmt] of [['branch', 'tfjs'], ['full', 'both']] as const) {
      const r = await cli(['export', run, '--type', type, '--untrained', '--out', at(`${type}-${kind}`), '--format', fmt]);
      assert.equal(r.code, 0, r.stderr);
    }
    const table = at(`emb-${kind}.parquet`);
    const e = await cli(['embed', '--model', at(`branch-${kind}`), data, '--out', table, '--engine', 'tfjs', '--backend', 'wasm']);
    assert.equal(e.code, 0, e.stderr);
    const t = await readTable(table);
    t.paths.forEach((p, i) => emb[kind].set(`data/${p}`, t.vectors.slice(i * t.dim, (i + 1) * t.dim)));
  }
});

/** A CSV in `work` (paths relative to it, as DLPy's tables hold them). */
function writeCsv(name: string, header: string, rows: string[][]): string {
  const f = at(name);
  fs.writeFileSync(f, [header, ...rows.map((r) => r.join(','))].join('\n') + '\n');
  return f;
}
const csvObjects = (file: string) => {
  const [head, ...lines] = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(','));
  return lines.map((l) => Object.fromEntries(head.map((h, i) => [h, l[i]])));
};

// Triplets across the 3 classes (file i of class c, i+1 of c, i of the next class), plus one with an undecodable image.
const tripletRows = () => {
  const byClass = [0, 1, 2].map((c) => files.slice(c * 4, c * 4 + 4));
  const rows: string[][] = [];
  for (let c = 0; c < 3; c++) for (let i = 0; i < 3; i++) rows.push([byClass[c][i], byClass[c][i + 1], byClass[(c + 1 + (i % 2)) % 3][i]]);
  return rows;
};

test('triplets: every distance = the branch-embedding distance (1e-5) on ONNX Runtime and tfjs, CSV and Parquet; correct rows and their share; an undecodable image skips its row', async () => {
  const rows = tripletRows();
  const withBroken = [...rows.slice(0, 4), [rows[4][0], 'broken.png', rows[4][2]], ...rows.slice(4)];
  const file = writeCsv('triplets.csv', '_id_,_path_,_path_1,_path_2', withBroken.map((r, i) => [String(i + 1), ...r]));
  const e = emb.triplet;
  const want = rows.map(([a, p, n]) => [euclid(e.get(a)!, e.get(p)!), euclid(e.get(a)!, e.get(n)!)]);
  const wantCorrect = want.filter(([dp, dn]) => dp < dn).length;
  assert.ok(wantCorrect > 0 && wantCorrect < rows.length, `a mix of correct and wrong rows (${wantCorrect}/${rows.length}): the check can tell`);
  const results: Record<string, Array<Record<string, unknown>>> = {};
  for (const [engine, ext] of [['onnx', 'csv'], ['tfjs', 'csv'], ['onnx', 'parquet'], ['auto', 'parquet']] as const) {
    const out = at(`scores-${engine}.${ext}`);
    const r = await cli(['score', file, '--model', at('full-triplet'), '--out', out, '--engine', engine, '--backend', 'wasm', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = jsonLines(r.stdout).find((x) => x.type === 'scored')!;
    assert.equal(s.engine, engine === 'tfjs' ? 'tfjs-wasm' : 'onnxruntime', `${engine}: the engine asked for (auto: ONNX, the export has model.onnx)`);
    assert.deepEqual([s.rows, s.skippedRows, s.skippedImages, s.correct, s.judged], [rows.length, 1, 1, wantCorrect, rows.length]);
    assert.equal(s.accuracy, wantCorrect / rows.length);
    assert.match(r.stderr, /skipped 1 row\(s\) with unreadable images.*broken\.png \(line 6, _path_1: /s);
    const skipped = await readSkippedList(out);
    assert.deepEqual(skipped.map((x) => x.path), ['broken.png']);
    assert.match(skipped[0].reason, /^line 6, _path_1: /);
    const got = ext === 'csv' ? csvObjects(out) : await (async () => {
      const b = fs.readFileSync(out);
      return parquetReadObjects({ file: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) }) as Promise<Array<Record<string, unknown>>>;
    })();
    results[`${engine}.${ext}`] = got;
    assert.equal(got.length, rows.length);
    assert.deepEqual(Object.keys(got[0]), ['line', 'anchor', 'positive', 'negative', '_DL_Pred0_', '_DL_Pred1_', 'd_anchor_positive', 'd_anchor_negative', 'correct']);
    got.forEach((g, k) => {
      assert.deepEqual([g.anchor, g.positive, g.negative], rows[k], 'the paths as the CSV gave them');
      assert.equal(Number(g.line), k < 4 ? k + 2 : k + 3, 'the CSV line (the broken row, line 6, is left out)');
      for (const [o, col, alias] of [[0, '_DL_Pred0_', 'd_anchor_positive'], [1, '_DL_Pred1_', 'd_anchor_negative']] as const) {
        const d = Number(g[col]);
        assert.ok(Math.abs(d - want[k][o]) <= 1e-5, `${engine}.${ext} row ${k} ${col}: ${d} vs ${want[k][o]} by hand`);
        assert.equal(Number(g[alias]), d);
      }
      assert.equal(String(g.correct), String(want[k][0] < want[k][1]));
    });
  }
  // Plain output without --json: the share printed.
  const plain = await cli(['score', file, '--model', at('full-triplet'), '--out', at('plain.csv')]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, new RegExp(`correct \\(d\\(a,p\\) < d\\(a,n\\)\\): ${wantCorrect}/${rows.length} = ${(wantCorrect / rows.length).toFixed(4)}`));
});

test('quartets (DLPy\'s anchor, positive, negative, negative1 names; squared Euclidean): d(a,p), d(a,n1), d(n1,n2) by hand; correct = d(a,p) below both', async () => {
  const rows = tripletRows().map(([a, p, n], k) => [a, p, n, files[(files.indexOf(n) + 1 + k) % files.length]]);
  const file = writeCsv('quartets.csv', 'anchor,positive,negative,negative1', rows);
  const e = emb.quartet;
  const d = (x: string, y: string) => dist('quartet', e.get(x)!, e.get(y)!);
  const want = rows.map(([a, p, n1, n2]) => [d(a, p), d(a, n1), d(n1, n2)]);
  const wantCorrect = want.filter(([x, y, z]) => x < y && x < z).length;
  for (const engine of ['onnx', 'tfjs'] as const) {
    const out = at(`q-${engine}.csv`);
    const r = await cli(['score', file, '--model', at('full-quartet'), '--out', out, '--engine', engine, '--backend', 'wasm', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = jsonLines(r.stdout).find((x) => x.type === 'scored')!;
    assert.deepEqual([s.kind, s.rows, s.correct, s.skippedRows], ['quartet', rows.length, wantCorrect, 0]);
    assert.ok(!fs.existsSync(`${out}.skipped.txt`), 'nothing skipped: no list');
    const got = csvObjects(out);
    assert.deepEqual(Object.keys(got[0]).slice(0, 5), ['line', 'anchor', 'positive', 'negative1', 'negative2']);
    got.forEach((g, k) => {
      [0, 1, 2].forEach((o) => assert.ok(Math.abs(Number(g[`_DL_Pred${o}_`]) - want[k][o]) <= 1e-5, `${engine} row ${k} _DL_Pred${o}_: ${g[`_DL_Pred${o}_`]} vs ${want[k][o]}`));
      assert.equal(Number(g.d_negative1_negative2), Number(g._DL_Pred2_));
      assert.equal(g.correct, String(want[k][0] < want[k][1] && want[k][0] < want[k][2]));
    });
  }
});

test('pairs with DLPy\'s _dissimilar_ target: the distance by hand; with --threshold, same = distance < threshold and the accuracy', async () => {
  const rows = files.slice(0, 8).map((f, i) => [f, files[(i * 5 + 1) % files.length]]);
  const e = emb.contrastive;
  const want = rows.map(([a, b]) => euclid(e.get(a)!, e.get(b)!));
  const dissimilar = rows.map(([a, b]) => (a.split('/')[1] === b.split('/')[1] ? '0' : '1'));
  const file = writeCsv('pairs.csv', '_path_,_path_1,_dissimilar_', rows.map((r, i) => [...r, dissimilar[i]]));
  const t = [...want].sort((x, y) => x - y)[3] + 1e-4; // 4 pairs below, 4 above
  const r = await cli(['score', file, '--model', at('full-contrastive'), '--out', at('pairs.scores.csv'), '--threshold', String(t), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = jsonLines(r.stdout).find((x) => x.type === 'scored')!;
  const got = csvObjects(at('pairs.scores.csv'));
  assert.deepEqual(Object.keys(got[0]), ['line', 'a', 'b', 'label', '_DL_Pred0_', 'd_a_b', 'same', 'correct']);
  let correct = 0;
  got.forEach((g, k) => {
    assert.ok(Math.abs(Number(g._DL_Pred0_) - want[k]) <= 1e-5, `pair ${k}: ${g._DL_Pred0_} vs ${want[k]}`);
    const same = want[k] < t;
    assert.equal(g.same, String(same));
    assert.equal(g.label, dissimilar[k] === '1' ? 'different' : 'same', '_dissimilar_ 1 = different');
    const ok = same === (dissimilar[k] === '0');
    assert.equal(g.correct, String(ok));
    if (ok) correct++;
  });
  assert.equal(s.correct, correct);
  assert.equal(s.threshold, t);
  // No threshold (the export has no threshold.json, none given): the distances only.
  const plain = await cli(['score', file, '--model', at('full-contrastive'), '--out', at('pairs2.csv')]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.deepEqual(Object.keys(csvObjects(at('pairs2.csv'))[0]), ['line', 'a', 'b', 'label', '_DL_Pred0_', 'd_a_b']);
});

test('bad input: a missing file names its line, columns for another stream count, a branch as --model, --threshold on triplets, --engine onnx on a tfjs-only export', async () => {
  const rows = tripletRows().slice(0, 3);
  const missing = writeCsv('missing.csv', 'anchor,positive,negative', [...rows.slice(0, 2), [rows[2][0], 'data/none.png', rows[2][2]]]);
  const out = at('never.csv');
  const m = await cli(['score', missing, '--model', at('full-triplet'), '--out', out]);
  assert.equal(m.code, 2, m.stderr); // bad data
  assert.match(m.stderr, /missing\.csv line 4: image positive does not exist: .*none\.png/);
  assert.ok(!fs.existsSync(out), 'no table written');
  const pairsFile = writeCsv('p.csv', 'a,b', [rows[0].slice(0, 2)]);
  const w = await cli(['score', pairsFile, '--model', at('full-triplet'), '--out', out]);
  assert.equal(w.code, 2);
  assert.match(w.stderr, /line 1: the model scores triplets \(3 images a row\), so the header needs one of the column sets _path_,_path_1,_path_2 \|.*it has "a", "b"/);
  const triplets = writeCsv('t.csv', 'anchor,positive,negative', rows);
  const b = await cli(['score', triplets, '--model', at('branch-triplet'), '--out', out]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /holds a branch model; scoring tuples needs the full model/);
  const th = await cli(['score', triplets, '--model', at('full-triplet'), '--out', out, '--threshold', '0.5']);
  assert.equal(th.code, 2);
  assert.match(th.stderr, /--threshold applies to pairs/);
  const tfOnly = at('full-tfjs-only');
  assert.equal((await cli(['export', at('run-triplet'), '--type', 'full', '--untrained', '--out', tfOnly])).code, 0);
  const o = await cli(['score', triplets, '--model', tfOnly, '--out', out, '--engine', 'onnx']);
  assert.equal(o.code, 2);
  assert.match(o.stderr, /--engine onnx cannot run: .*has no model\.onnx \(export it with `embedlab export <run> --type full --format both`\)/);
  const allBroken = writeCsv('broken.csv', 'anchor,positive,negative', [[rows[0][0], 'broken.png', rows[0][2]]]);
  const nb = await cli(['score', allBroken, '--model', at('full-triplet'), '--out', out]);
  assert.equal(nb.code, 2);
  assert.match(nb.stderr, /none of the 1 row\(s\) of .*broken\.csv could be scored/);
  assert.equal((await readSkippedList(out)).length, 1, 'the list says which image');
  assert.ok(!fs.existsSync(out), 'and no table');
  const ext = await cli(['score', triplets, '--model', at('full-triplet'), '--out', at('x.txt')]);
  assert.equal(ext.code, 2);
  assert.match(ext.stderr, /--out must end in \.csv or \.parquet/);
  assert.ok(!fs.existsSync(out));
});
