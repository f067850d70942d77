// `embedlab score`: DLPy's tuples (pairs with a target, triplets, quartets) through the FULL model (issue 16,
// item 3). The CSV is read by src/core/tuples.ts, the model runs in src/engine/score.ts (ONNX Runtime when the
// export has model.onnx, else TensorFlow.js), the table is written atomically as CSV or Parquet
// (src/core/results-table.ts). docs/use-model.md, "Scoring the full model", records the decisions.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BadDataError } from '../core/errors';
import { writeResultsTable, type ResultColumn } from '../core/results-table';
import { printablePath as pp, printableText } from '../core/printable';
import { PARQUET_META_KEY, writeSkippedList } from '../core/table';
import { findThreshold, isSame, pairStats, resolveThreshold, type ResolvedThreshold } from '../core/threshold';
import { dlPredColumn, readTuples, STREAM_OUT, tupleCorrect, type StreamCount } from '../core/tuples';
import { defineCommand, UsageError } from './args';
import { decodeThreads, ENGINE_OPTIONS, engineOptions } from './scoring';

const KIND: Record<StreamCount, string> = { 2: 'pair', 3: 'triplet', 4: 'quartet' };

export const scoreCommand = defineCommand({
  name: 'score',
  summary: 'Score DLPy-style tuples (pairs, triplets, quartets) with the full model: distances per row, the share of correct rows',
  usage: 'embedlab score <tuples.csv> --model <runDir|runDir/model/full> [--out <scores.csv|scores.parquet>] [--threshold …] [--batch 64] [--engine auto|onnx|tfjs] [--threads 1] [--backend <name>] [--json]',
  help: '  tuples.csv: one image column per stream of the model (paths relative to the CSV\'s folder), named as DLPy names them\n'
    + '  (_path_, _path_1, … or _image_, …), as the model\'s inputs (image_anchor, …) or plainly: triplets anchor,positive,negative;\n'
    + '  quartets anchor,positive,negative1,negative2 (or DLPy\'s anchor,positive,negative,negative1); pairs a,b, with an optional\n'
    + '  target (_dissimilar_ 1/0 = different/same, or label same/different).\n'
    + '  Writes line, the stream paths, the distances as _DL_Pred0_, _DL_Pred1_, … and under the model\'s output names\n'
    + '  (d_anchor_positive, …), and for triplets and quartets `correct`: the positive closer than every negative\n'
    + '  (triplet d(a,p) < d(a,n); quartet d(a,p) < d(a,n1) and d(a,p) < d(n1,n2)), with the share of correct rows.\n'
    + '  Pairs get `same` (distance below the threshold) when the model has a threshold.json or --threshold is given.\n'
    + '  A row with an undecodable image is skipped and listed in <out>.skipped.txt; a missing file is an error naming its line.\n'
    + '  --out      .csv or .parquet (default <tuples>.scores.csv)\n'
    + '  --engine   auto (default: ONNX Runtime when the export has model.onnx — export --type full --format both — and\n'
    + '             onnxruntime-node loads; else TensorFlow.js, saying why), onnx (never falls back: exit 2 with the reason) or tfjs\n'
    + '  --threads  ONNX Runtime intra-op threads (default 1; decoding uses the other cores)\n'
    + '  --backend  the TensorFlow.js backend when tfjs runs (default auto)',
  positionals: [1, 1],
  options: {
    model: { type: 'string' }, out: { type: 'string' }, threshold: { type: 'string' }, batch: { type: 'int', min: 1, max: 4096, default: 64 }, json: { type: 'boolean' },
    ...ENGINE_OPTIONS,
  },
  async run({ values: v, positionals, usage }) {
    if (!v.model) throw new UsageError(`missing --model <runDir|runDir/model/full>\nusage: ${usage}`);
    const eo = engineOptions(v);
    const file = path.resolve(positionals[0]);
    if (!fs.existsSync(file)) throw new UsageError(`tuples file does not exist: ${file}`);
    const out = path.resolve(v.out ?? `${file}.scores.csv`);
    if (!/\.(csv|parquet)$/i.test(out)) throw new UsageError(`--out must end in .csv or .parquet (got ${v.out})`);
    if (!fs.existsSync(path.dirname(out))) throw new UsageError(`output folder does not exist: ${path.dirname(out)}`);
    if (path.resolve(out) === file) throw new UsageError(`--out would overwrite the tuples file ${file}`);
    const model = path.resolve(v.model);
    decodeThreads();
    const { openFullScorer, scoreTuples } = await import('../engine/score');
    const opened = await openFullScorer(model, eo);
    const { scorer, pre } = opened;
    const S = scorer.streams;
    let scored: Awaited<ReturnType<typeof scoreTuples>>;
    let tuples: ReturnType<typeof readTuples>;
    let thr: ResolvedThreshold | undefined;
    try {
      if (opened.fallbackReason && !v.json) process.stderr.write(printableText(`embedlab score: ONNX Runtime not used (${opened.fallbackReason}); running on ${scorer.detail}\n`));
      if (v.threshold !== undefined && S !== 2) throw new UsageError(`--threshold applies to pairs; the model scores ${KIND[S]}s (correct = the positive closer than every negative)`);
      tuples = readTuples(file, S);
      if (S === 2) {
        const targets = [model, opened.dir];
        const expect = { dim: pre.embeddingDim, distance: pre.distance };
        if (v.threshold !== undefined || findThreshold(...targets)) thr = resolveThreshold(v.threshold, targets, expect);
      }
      scored = await scoreTuples(opened, tuples.rows, { batch: v.batch });
    } finally {
      await scorer.dispose();
    }
    const rows = tuples.rows.map((r, i) => ({ r, i })).filter(({ i }) => scored.ok[i]);
    const failures = scored.failures.map((f) => ({ path: f.path, reason: `line ${f.line}, ${tuples.columns[f.stream]}: ${f.reason}` }));
    if (!rows.length) {
      await writeSkippedList(out, failures);
      throw new BadDataError(`none of the ${tuples.rows.length} row(s) of ${file} could be scored: every row has an unreadable image (listed in ${out}.skipped.txt)`);
    }
    // The table's columns.
    const dist = (o: number) => Float32Array.from(rows, ({ i }) => scored.distances[o][i]);
    const hasTarget = S === 2 && tuples.target !== null && rows.some(({ r }) => r.same !== null);
    const columns: ResultColumn[] = [
      { name: 'line', type: 'int', values: rows.map(({ r }) => r.line) },
      ...STREAM_OUT[S].map((name, s): ResultColumn => ({ name, type: 'string', values: rows.map(({ r }) => r.given[s]) })),
    ];
    if (hasTarget) columns.push({ name: 'label', type: 'string', values: rows.map(({ r }) => (r.same === null ? null : r.same ? 'same' : 'different')) });
    scorer.outputs.forEach((_, o) => columns.push({ name: dlPredColumn(o), type: 'double', values: dist(o) }));
    scorer.outputs.forEach((name, o) => columns.push({ name, type: 'double', values: dist(o) }));
    let correct: boolean[] | undefined;
    let stats: ReturnType<typeof pairStats> | undefined;
    if (S === 2 && thr) {
      const same = Array.from(dist(0), (d) => isSame(d, thr!.value));
      columns.push({ name: 'same', type: 'boolean', values: same });
      const labelled = rows.map(({ r }, k) => ({ same: same[k], truth: r.same })).filter((x) => x.truth !== null);
      if (hasTarget) {
        correct = rows.map(({ r }, k) => r.same !== null && same[k] === r.same);
        columns.push({ name: 'correct', type: 'boolean', values: correct });
        stats = pairStats(labelled.map((x) => x.same), labelled.map((x) => x.truth as boolean));
        correct = correct.filter((_, k) => rows[k].r.same !== null);
      }
    } else if (S > 2) {
      correct = rows.map(({ i }) => tupleCorrect(scored.distances.map((d) => d[i])));
      columns.push({ name: 'correct', type: 'boolean', values: correct });
    }
    const meta = {
      format: 'embedding-lab/scores', model: opened.dir, tuples: file, streams: S, kind: KIND[S], outputs: scorer.outputs, distance: pre.distance,
      engine: { name: scorer.name, detail: scorer.detail }, threshold: thr ? { value: thr.value, source: thr.source } : null, createdAt: new Date().toISOString(),
    };
    await writeResultsTable(out, columns, { [PARQUET_META_KEY]: JSON.stringify(meta) });
    await writeSkippedList(out, failures); // removes a stale list when nothing was skipped
    const nCorrect = correct ? correct.filter(Boolean).length : 0;
    const mean = scorer.outputs.map((_, o) => dist(o).reduce((a, b) => a + b, 0) / rows.length);
    const summary = {
      type: 'scored', table: out, kind: KIND[S], rows: rows.length, skippedRows: tuples.rows.length - rows.length, skippedImages: new Set(scored.failures.map((f) => f.path)).size,
      outputs: scorer.outputs, meanDistances: Object.fromEntries(scorer.outputs.map((n, o) => [n, mean[o]])),
      ...(correct ? { correct: nCorrect, judged: correct.length, accuracy: correct.length ? nCorrect / correct.length : null } : {}),
      ...(thr ? { threshold: thr.value, thresholdSource: thr.source } : {}), ...(stats ? { stats } : {}),
      engine: scorer.name, engineDetail: scorer.detail, ...(opened.fallbackReason ? { fallbackReason: opened.fallbackReason } : {}),
    };
    if (failures.length) {
      const shown = failures.slice(0, 5).map((f) => `  ${pp(f.path)} (${printableText(f.reason)})`).join('\n');
      process.stderr.write(`embedlab score: skipped ${summary.skippedRows} row(s) with unreadable images, listed in ${pp(out)}.skipped.txt:\n${shown}${failures.length > 5 ? '\n  …' : ''}\n`);
    }
    if (v.json) { process.stdout.write(JSON.stringify(summary) + '\n'); return 0; }
    process.stdout.write(`wrote ${pp(out)}: ${rows.length} ${KIND[S]}(s) through the full model (${pre.distance}; ${scorer.detail})\n`);
    process.stdout.write(`  mean ${scorer.outputs.map((n, o) => `${n} ${mean[o].toFixed(4)}`).join(', ')}\n`);
    if (S > 2 && correct) {
      const rule = S === 3 ? 'd(a,p) < d(a,n)' : 'd(a,p) < d(a,n1) and < d(n1,n2)';
      process.stdout.write(`  correct (${rule}): ${nCorrect}/${correct.length} = ${(nCorrect / correct.length).toFixed(4)}\n`);
    } else if (thr) {
      process.stdout.write(`  threshold ${thr.value.toFixed(6)} (${pp(thr.source)})${stats ? `: accuracy ${stats.accuracy.toFixed(4)}, precision ${stats.precision.toFixed(4)}, recall ${stats.recall.toFixed(4)} over ${stats.count} labelled pair(s)` : ''}\n`);
    }
    return 0;
  },
});
