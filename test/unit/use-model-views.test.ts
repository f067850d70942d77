// Compare Images' panel and Classify Folder's dashboard view, from the CLI's JSON (src/extension/use-model-views.ts).
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { thresholdFromReport } from '../../src/core/threshold';
import { thresholdFileFor } from '../../src/extension/dashboard-threshold';
import { classificationViewOf, compareImagesHtml, verifyResultOf } from '../../src/extension/use-model-views';
import type { EvalView } from '../../src/protocol/webview';

describe('Compare Images: verify --json → the panel', () => {
  const line = { type: 'verify', a: '/w/a <1>.png', b: '/w/b.png', distance: 0.25, metric: 'euclidean', threshold: 0.5, thresholdSource: '/w/runs/r/model/threshold.json', same: true };

  it('reads the verify line and rejects a malformed one', () => {
    assert.deepEqual(verifyResultOf([{ type: 'progress' }, line]), { a: line.a, b: line.b, distance: 0.25, metric: 'euclidean', threshold: 0.5, thresholdSource: line.thresholdSource, same: true });
    assert.equal(verifyResultOf([{ ...line, distance: '0.25' }]), undefined);
    assert.equal(verifyResultOf([]), undefined);
  });

  it('shows both images, the distance, the threshold, the verdict and the rule; names are escaped', () => {
    const r = verifyResultOf([line])!;
    const html = compareImagesHtml(r, { aSrc: 'https://w/a.png', bSrc: 'https://w/b.png', cspSource: 'https://w', model: '/w/runs/r' });
    assert.match(html, /<img id="image-a" src="https:\/\/w\/a.png" alt="a &#60;1&#62;.png">/);
    assert.match(html, /<img id="image-b" src="https:\/\/w\/b.png"/);
    assert.match(html, /<p id="verdict" class="same" role="status">same<\/p>/);
    assert.match(html, /<td id="distance">0\.25<\/td>/);
    assert.match(html, /<td id="threshold">0\.5<\/td>/);
    assert.match(html, /0\.25 &#60; 0\.5<\/td>/);
    assert.match(html, /img-src https:\/\/w;/);
    assert.doesNotMatch(html, /<script/);
    const diff = compareImagesHtml({ ...r, distance: 0.5, same: false }, { aSrc: 'x', bSrc: 'y', cspSource: 'z', model: 'm' });
    assert.match(diff, /class="different" role="status">different</);
    assert.match(diff, /0\.5 ≥ 0\.5/);
  });
});

describe('Classify Folder: classify --json → the dashboard\'s confusion matrix', () => {
  it('takes the report\'s counts, and null without labelled queries', () => {
    const summary = {
      type: 'classified', table: '/w/photos.classified.csv', queries: 5, unknown: 1, threshold: 0.7, thresholdSource: 't.json',
      report: { known: 4, correct: 3, accuracy: 0.75, perClass: { a: {}, b: {} }, confusion: { a: { a: 2, b: 0 }, b: { a: 1, b: 1 }, c: { unknown: 1 } } },
    };
    assert.deepEqual(classificationViewOf(summary), {
      table: '/w/photos.classified.csv', queries: 5, classes: ['a', 'b'], known: 4, correct: 3, accuracy: 0.75, unknown: 1, threshold: 0.7,
      thresholdSource: 't.json', confusion: summary.report.confusion,
    });
    assert.equal(classificationViewOf({ type: 'classified', table: 't', queries: 2 }), null);
    const closed = classificationViewOf({ ...summary, threshold: null, thresholdSource: 'closed set', report: { ...summary.report, accuracy: null } })!;
    assert.equal(closed.threshold, null);
    assert.ok(Number.isNaN(closed.accuracy));
  });
});

describe('the dashboard\'s "Use as the model\'s threshold"', () => {
  const verification = { positives: 10, negatives: 30, rocAuc: 0.9, sampled: false, bestF1: { threshold: 0.4, f1: 0.8, precision: 0.75, recall: 0.857 }, atPrecision: null, curve: [], histograms: { edges: [], positive: [], negative: [] } };
  const report = { table: '/w/t.parquet', rows: 40, labels: 4, dim: 16, distance: 'euclidean', retrieval: {}, verification } as unknown as EvalView;

  it('keeps eval\'s calibration and puts the threshold in force first', () => {
    const t = thresholdFileFor(report, 0.3, new Date('2026-01-01T00:00:00Z'));
    assert.equal(t.threshold, 0.3);
    assert.deepEqual(t.bestF1, verification.bestF1);
    assert.deepEqual(t.source, { table: '/w/t.parquet', rows: 40, labels: 4, positives: 10, negatives: 30, sampled: false, rocAuc: 0.9 });
    assert.equal(t.createdAt, '2026-01-01T00:00:00.000Z');
    assert.deepEqual({ ...thresholdFromReport(report as never, new Date('2026-01-01T00:00:00Z')), threshold: 0.3 }, t);
  });

  it('refuses an evaluation without verification and a threshold that is not a distance', () => {
    assert.throws(() => thresholdFileFor({ ...report, verification: null }, 0.3), /no verification/);
    assert.throws(() => thresholdFileFor(report, -1), /finite distance/);
    assert.throws(() => thresholdFileFor(report, Number.NaN), /finite distance/);
  });
});
