// "Use the model" through the real CLI (issue 16): train a tiny model on 6 of 8 synth classes, calibrate and save its
// threshold with eval, then verify pairs (verdicts checked against distances computed here from an embedded table),
// classify the 2 held-out classes against 5 reference images each (open set, a class missing from the reference),
// find planted near-duplicates (resized, re-encoded copies made with sharp), and the bad inputs of each command.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { readTable } from '../../src/core/table';
import { cli, onlyRunDir, smallConfig, tmpDir, writeConfig } from './helpers';

const work = tmpDir('use-model');
const all = path.join(work, 'all');
const train = path.join(work, 'train');
const val = path.join(work, 'val');
const held = path.join(work, 'held');
let run = '';
let classes: string[] = [];
let heldClasses: string[] = [];

const euclid = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
const csvRows = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(','));

/** The same results written with --out x.parquet, read by hyparquet, as CSV fields (header first). */
async function parquetAsCsvRows(file: string): Promise<string[][]> {
  const buf = fs.readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const names = parquetSchema(parquetMetadata(ab)).children.map((c) => c.element.name);
  const objs = await parquetReadObjects({ file: ab }) as Array<Record<string, unknown>>;
  return [names, ...objs.map((o) => names.map((k) => (o[k] === null ? '' : String(o[k]))))];
}

test.before(async () => {
  assert.equal((await cli(['synth', all, '--classes', '12', '--per-class', '24', '--size', '32', '--seed', '1'])).code, 0);
  assert.equal((await cli(['synth', val, '--classes', '6', '--per-class', '10', '--size', '32', '--seed', '2'])).code, 0);
  // synth's first 6 classes train (and validate); 2 of the next 6 are held out (heart and crescent: not pentagon and
  // hexagon, which differ by one corner at 32 pixels).
  classes = fs.readdirSync(val).sort();
  heldClasses = ['crescent', 'heart'];
  for (const c of fs.readdirSync(all)) if (!classes.includes(c) && !heldClasses.includes(c)) fs.rmSync(path.join(all, c), { recursive: true });
  fs.mkdirSync(train);
  fs.mkdirSync(held);
  for (const c of [...classes, ...heldClasses]) fs.renameSync(path.join(all, c), path.join(heldClasses.includes(c) ? held : train, c));
  const runs = path.join(work, 'runs');
  const cfg = writeConfig(work, smallConfig(train, val, {
    loss: { mining: 'semi-hard' }, data: { samplesPerEpoch: 960 },
    training: { epochs: 6, batchSize: 24, classesPerBatch: 6, imagesPerClass: 4 },
  }));
  const r = await cli(['train', cfg, '--out', runs, '--json']);
  assert.equal(r.code, 0, r.stderr);
  run = onlyRunDir(runs);
});

test.after(() => { if (!process.env.KEEP_WORK) fs.rmSync(work, { recursive: true, force: true }); else console.log(work); });

test('training and eval --save-threshold write threshold.json; verify\'s verdicts are distance < threshold, computed independently', async () => {
  const thrFile = path.join(run, 'model', 'threshold.json');
  const fromTraining = JSON.parse(fs.readFileSync(thrFile, 'utf8'));
  assert.equal(fromTraining.source.table, val, 'training\'s last validation wrote it');
  assert.equal(fromTraining.source.positives, 6 * 45, 'all same-class pairs of 6 classes × 10 images');
  fs.rmSync(thrFile);
  const noThr = await cli(['verify', path.join(val, classes[0], fs.readdirSync(path.join(val, classes[0]))[0]), path.join(val, classes[1], fs.readdirSync(path.join(val, classes[1]))[0]), '--model', run]);
  assert.equal(noThr.code, 2, 'no threshold yet');
  assert.match(noThr.stderr, /no saved threshold.*--save-threshold/);

  const table = path.join(work, 'val.parquet');
  assert.equal((await cli(['embed', '--model', run, val, '--out', table])).code, 0);
  const ev = await cli(['eval', table, '--save-threshold', run, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const saved = JSON.parse(fs.readFileSync(thrFile, 'utf8'));
  const report = JSON.parse(ev.stdout.trim().split('\n').find((l) => l.includes('"verification"'))!);
  assert.equal(saved.threshold, report.verification.bestF1.threshold);
  assert.equal(saved.source.positives, report.verification.positives);
  assert.equal(saved.dim, 32);
  assert.ok(Math.abs(saved.threshold - fromTraining.threshold) < 1e-3, `the same validation images, the same threshold (${saved.threshold} vs ${fromTraining.threshold})`);

  // Pairs: every same-class pair of the first 3 images of each class and the cross pairs of image 0.
  const t = await readTable(table);
  const rowOf = new Map(t.paths.map((p, i) => [p, i]));
  const vec = (rel: string) => t.vectors.subarray(rowOf.get(rel)! * t.dim, rowOf.get(rel)! * t.dim + t.dim);
  const pairs: Array<[string, string, boolean]> = [];
  const rel = (c: string, i: number) => `${c}/${fs.readdirSync(path.join(val, c)).sort()[i]}`;
  for (const c of classes.slice(0, 6)) { pairs.push([rel(c, 0), rel(c, 1), true], [rel(c, 1), rel(c, 2), true]); }
  for (let a = 0; a < 6; a++) for (let b = a + 1; b < 6; b++) pairs.push([rel(classes[a], 0), rel(classes[b], 0), false]);
  const broken = path.join(work, 'broken.png');
  fs.writeFileSync(broken, 'not a png');
  const pairsFile = path.join(val, 'pairs.csv');
  fs.writeFileSync(pairsFile, 'a,b,label\n' + pairs.map(([a, b, s]) => `${a},${b},${s ? 'same' : 'different'}`).join('\n') + `\n${rel(classes[0], 0)},../broken.png,1\n`);
  const out = path.join(work, 'scores.csv');
  const r = await cli(['verify', '--pairs', pairsFile, '--model', run, '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(summary.pairs, pairs.length);
  assert.equal(summary.skippedPairs, 1, 'the pair with an undecodable image is skipped');
  assert.equal(summary.skippedImages, 1);
  assert.match(r.stderr, /broken\.png/);
  assert.match(fs.readFileSync(`${out}.skipped.txt`, 'utf8'), /broken\.png/);
  const rows = csvRows(out).slice(1);
  let tp = 0; let fp = 0; let tn = 0; let fn = 0;
  rows.forEach(([, , label, d, verdict], i) => {
    const [a, b, same] = pairs[i];
    const mine = euclid(vec(a), vec(b));
    assert.ok(Math.abs(mine - Number(d)) < 1e-5, `pair ${i}: ${d} vs ${mine}`);
    assert.equal(verdict, mine < saved.threshold ? 'same' : 'different', `pair ${i}`);
    assert.equal(label, same ? 'same' : 'different');
    if (verdict === 'same') { if (same) tp++; else fp++; } else if (same) fn++; else tn++;
  });
  assert.deepEqual([summary.stats.tp, summary.stats.fp, summary.stats.tn, summary.stats.fn], [tp, fp, tn, fn]);
  assert.equal(summary.stats.accuracy, (tp + tn) / rows.length);
  // --out .parquet: the same rows (Parquet's doubles print as the CSV's numbers).
  const pq = await cli(['verify', '--pairs', pairsFile, '--model', run, '--out', path.join(work, 'scores.parquet')]);
  assert.equal(pq.code, 0, pq.stderr);
  assert.deepEqual(await parquetAsCsvRows(path.join(work, 'scores.parquet')), csvRows(out));

  // One pair: --exit-code says the verdict; --threshold overrides the saved one.
  const [a, b] = pairs[0];
  const d = euclid(vec(a), vec(b));
  for (const thr of [d * 0.999, d * 1.001]) {
    const one = await cli(['verify', path.join(val, a), path.join(val, b), '--model', run, '--threshold', String(thr), '--exit-code']);
    assert.equal(one.code, d < thr ? 0 : 1, one.stderr);
    assert.match(one.stdout, d < thr ? /^same/ : /^different/);
  }
  const dflt = await cli(['verify', path.join(val, a), path.join(val, b), '--model', path.join(run, 'model', 'branch'), '--json']);
  assert.equal(dflt.code, 0, dflt.stderr);
  const j = JSON.parse(dflt.stdout);
  assert.equal(j.threshold, saved.threshold, 'found from model/branch too');
  assert.equal(j.same, j.distance < saved.threshold);

  // Bad input: an undecodable image, a missing one, pairs with a missing column or a path that does not exist.
  const bad = await cli(['verify', broken, path.join(val, a), '--model', run]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /broken\.png/);
  assert.equal((await cli(['verify', path.join(work, 'nope.png'), path.join(val, a), '--model', run])).code, 2);
  fs.writeFileSync(path.join(val, 'p1.csv'), `a,c\n${a},${b}\n`);
  const noCol = await cli(['verify', '--pairs', path.join(val, 'p1.csv'), '--model', run]);
  assert.equal(noCol.code, 2);
  assert.match(noCol.stderr, /p1\.csv line 1: the header needs columns a and b/);
  fs.writeFileSync(path.join(val, 'p2.csv'), `a,b\n${a},${b}\n${a},missing.png\n`);
  const noFile = await cli(['verify', '--pairs', path.join(val, 'p2.csv'), '--model', run]);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /p2\.csv line 3: image b does not exist: .*missing\.png/);
});

test('classify: 2 classes held out of training, 5 reference images each; open set rejects a class missing from the reference', async () => {
  const ref = path.join(work, 'ref');
  const queries = path.join(work, 'queries');
  for (const c of heldClasses) {
    const files = fs.readdirSync(path.join(held, c)).sort();
    fs.mkdirSync(path.join(ref, c), { recursive: true });
    fs.mkdirSync(path.join(queries, c), { recursive: true });
    files.forEach((f, i) => fs.copyFileSync(path.join(held, c, f), path.join(i < 5 ? ref : queries, c, f)));
  }
  const closedOut = path.join(work, 'closed.csv');
  const closed = await cli(['classify', queries, '--reference', ref, '--model', run, '--closed-set', '--out', closedOut, '--json']);
  assert.equal(closed.code, 0, closed.stderr);
  const cs = JSON.parse(closed.stdout.trim().split('\n').pop()!);
  assert.equal(cs.queries, 2 * 19);
  assert.equal(cs.report.known, 38);
  console.log(`few-shot accuracy on 2 held-out classes (5 reference images each, nearest centroid): ${cs.report.accuracy.toFixed(3)}`);
  assert.ok(cs.report.accuracy > 0.5, `above chance: ${cs.report.accuracy}`);
  const knnRun = await cli(['classify', queries, '--reference', ref, '--model', run, '--closed-set', '--method', 'knn', '-k', '3', '--out', path.join(work, 'knn.csv'), '--json']);
  assert.equal(knnRun.code, 0, knnRun.stderr);
  const ks = JSON.parse(knnRun.stdout.trim().split('\n').pop()!);
  console.log(`few-shot accuracy, 3-NN vote: ${ks.report.accuracy.toFixed(3)}`);
  assert.ok(ks.report.accuracy > 0.5);

  // A trained class that is not in the reference: open set, at the saved threshold.
  const missing = 'cross'; // a trained class unlike the reference's (circle is near crescent)
  fs.mkdirSync(path.join(queries, missing));
  for (const f of fs.readdirSync(path.join(train, missing)).slice(0, 10)) fs.copyFileSync(path.join(train, missing, f), path.join(queries, missing, f));
  const openOut = path.join(work, 'open.csv');
  const open = await cli(['classify', queries, '--reference', ref, '--model', run, '--out', openOut, '--json']);
  assert.equal(open.code, 0, open.stderr);
  const os = JSON.parse(open.stdout.trim().split('\n').pop()!);
  const saved = JSON.parse(fs.readFileSync(path.join(run, 'model', 'threshold.json'), 'utf8'));
  assert.equal(os.threshold, saved.threshold);
  assert.equal(os.report.unknownQueries, 10);
  const rows = csvRows(openOut).slice(1);
  for (const [, , predicted, d] of rows) assert.equal(predicted === 'unknown', !(Number(d) < saved.threshold), 'unknown exactly when the nearest distance is not below the threshold');
  const rejectedMissing = rows.filter(([, label, p]) => label === missing && p === 'unknown').length;
  assert.equal(os.report.unknownRejected, rejectedMissing);
  const rejectRate = rejectedMissing / 10;
  const falseRate = os.report.falselyRejected / os.report.known;
  console.log(`open set: ${rejectedMissing}/10 of the missing class rejected, ${os.report.falselyRejected}/${os.report.known} known queries rejected`);
  assert.ok(rejectRate > falseRate, 'the missing class is rejected more often than the known ones');
  const text = await cli(['classify', queries, '--reference', ref, '--model', run, '--out', openOut]);
  assert.match(text.stdout, /confusion/);

  // Bad input: a reference class with no readable image; a reference table of another length; no threshold.
  const badRef = path.join(work, 'badref');
  fs.mkdirSync(path.join(badRef, 'empty'), { recursive: true });
  fs.writeFileSync(path.join(badRef, 'empty', 'x.png'), 'garbage');
  fs.cpSync(path.join(ref, heldClasses[0]), path.join(badRef, heldClasses[0]), { recursive: true });
  const br = await cli(['classify', queries, '--reference', badRef, '--model', run, '--closed-set', '--out', path.join(work, 'x.csv')]);
  assert.equal(br.code, 2);
  assert.match(br.stderr, /reference class "empty" .* has no readable images \(1 could not be decoded\)/);
  const wrongDim = path.join(work, 'wrong.csv');
  fs.writeFileSync(wrongDim, 'path,label,emb_0,emb_1\na.png,x,0,1\n');
  const wd = await cli(['classify', queries, '--reference', wrongDim, '--model', run, '--closed-set', '--out', path.join(work, 'x.csv')]);
  assert.equal(wd.code, 2);
  assert.match(wd.stderr, /length 2, the model gives 32/);
});

test('duplicates: finds the planted copies (resized, re-encoded with sharp) and nothing else', async () => {
  // 96-pixel originals (the model sees them at 32): a copy at 64 pixels, JPEG quality 90, is then near its original,
  // while at 32 pixels the resampled pixel noise alone moves a copy as far as another image of its class.
  const dup = path.join(work, 'dup');
  assert.equal((await cli(['synth', dup, '--classes', '6', '--per-class', '6', '--size', '96', '--seed', '3'])).code, 0);
  const picked = fs.readdirSync(dup).sort().map((c) => `${c}/${fs.readdirSync(path.join(dup, c)).sort()[0]}`);
  const planted = picked.map((p) => `${p.replace(/\.png$/, '')}-copy.jpg`);
  for (let i = 0; i < picked.length; i++) await sharp(path.join(dup, picked[i])).resize(64, 64).jpeg({ quality: 90 }).toFile(path.join(dup, planted[i]));
  const table = path.join(work, 'dup.parquet');
  assert.equal((await cli(['embed', '--model', run, dup, '--out', table])).code, 0);
  const t = await readTable(table);
  const n = t.paths.length;
  const v = (i: number) => t.vectors.subarray(i * t.dim, (i + 1) * t.dim);
  const isPlanted = (a: string, b: string) => planted.some((p, i) => (a === p && b === picked[i]) || (b === p && a === picked[i]));
  let maxPlanted = 0;
  let minOther = Infinity;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = euclid(v(i), v(j));
      if (isPlanted(t.paths[i], t.paths[j])) maxPlanted = Math.max(maxPlanted, d); else minOther = Math.min(minOther, d);
    }
  }
  assert.ok(maxPlanted < minOther, `the copies are nearer than any other pair (${maxPlanted} vs ${minOther})`);
  const thr = (maxPlanted + minOther) / 2;
  const out = path.join(work, 'groups.csv');
  const r = await cli(['duplicates', table, '--threshold', String(thr), '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const groups = new Map<string, string[]>();
  for (const [g, size, p] of csvRows(out).slice(1)) { groups.set(g, [...(groups.get(g) ?? []), p]); assert.equal(size, '2'); }
  const got = [...groups.values()].map((g) => g.sort().join(' ')).sort();
  const want = picked.map((p, i) => [p, planted[i]].sort().join(' ')).sort();
  assert.deepEqual(got, want);
  const rpq = await cli(['duplicates', table, '--threshold', String(thr), '--out', path.join(work, 'groups.parquet')]);
  assert.equal(rpq.code, 0, rpq.stderr);
  assert.deepEqual(await parquetAsCsvRows(path.join(work, 'groups.parquet')), csvRows(out), 'the same groups as Parquet');

  // eval --outliers: each row's distance to its nearest other row and to its class's (unit) centroid, as computed here.
  const outl = path.join(work, 'outliers.csv');
  const ev = await cli(['eval', table, '--outliers', outl, '--outlier-k', '1', '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const scores = csvRows(outl).slice(1);
  assert.equal(scores.length, n);
  assert.equal((await cli(['eval', table, '--outliers', path.join(work, 'outliers.parquet'), '--outlier-k', '1', '--json'])).code, 0);
  assert.deepEqual(await parquetAsCsvRows(path.join(work, 'outliers.parquet')), csvRows(outl), 'the same scores as Parquet');
  const centroidOf = (label: string) => {
    const c = new Float64Array(t.dim);
    t.labels.forEach((l, i) => { if (l === label) v(i).forEach((x, d) => { c[d] += x; }); });
    const norm = Math.sqrt(c.reduce((s2, x) => s2 + x * x, 0));
    return Float32Array.from(c, (x) => x / norm);
  };
  scores.forEach(([p, label, kth, cd], i) => {
    assert.equal(p, t.paths[i]);
    let nearest = Infinity;
    for (let j = 0; j < n; j++) if (j !== i) nearest = Math.min(nearest, euclid(v(i), v(j)));
    assert.ok(Math.abs(Number(kth) - nearest) < 1e-5, `row ${i}: ${kth} vs ${nearest}`);
    assert.ok(Math.abs(Number(cd) - euclid(v(i), centroidOf(label))) < 1e-5);
  });

  // The saved threshold is taken from the table's model; a model of another vector length is refused.
  const saved = await cli(['duplicates', table, '--out', out, '--json']);
  assert.equal(saved.code, 0, saved.stderr);
  assert.equal(JSON.parse(saved.stdout).threshold, JSON.parse(fs.readFileSync(path.join(run, 'model', 'threshold.json'), 'utf8')).threshold);
  const wrong = path.join(work, 'wrong.csv');
  const wd = await cli(['duplicates', wrong, '--model', run, '--out', out]);
  assert.equal(wd.code, 2);
  assert.match(wd.stderr, /length 2, model .* gives 32/);
  const none = await cli(['duplicates', wrong, '--out', out]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--threshold/);
});
