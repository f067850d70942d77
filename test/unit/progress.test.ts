// The CLI's rendering of worker events (src/cli/progress.ts), as `embedlab train` prints them on a pipe: an epoch that
// ran no step (a run resumed at its end: trainLoss null on the wire) and the validation before the first step.
import test from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { ProgressRenderer } from '../../src/cli/progress';
import { parseEventLine, type WorkerEvent } from '../../src/protocol/events';

function render(events: WorkerEvent[]): string {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => { text += d.toString(); });
  const r = new ProgressRenderer(out as unknown as NodeJS.WriteStream, false);
  for (const e of events) r.handle(e);
  r.close();
  return text;
}

const base = { time: '2026-12-07T00:00:00.000Z', runId: 'r' };
const started = { ...base, type: 'started', protocolVersion: 1, runDir: '/runs/r', backend: 'wasm', backendDetail: 'SIMD', parameters: 10, lossType: 'triplet', epochs: 2, stepsPerEpoch: 3, batchSize: 8, train: { root: '/d', classes: 2, images: 8, skipped: 0, ignored: 0, classesWithPositives: 2 } } as const;

test('an epoch without steps (trainLoss null, as JSON carries a NaN) prints a dash, not a crash', () => {
  const epoch = parseEventLine(JSON.stringify({ ...base, type: 'epoch', epoch: 0, step: 3, trainLoss: Number.NaN, seconds: 1.5, best: true, validation: { precisionAt1: 0.5, mapAtR: 0.25, rPrecision: 0.3, count: 8 } }))!;
  assert.equal((epoch as { trainLoss: unknown }).trainLoss, null);
  assert.match(render([started, epoch]), /epoch 1\/2 {2}loss – {2}val P@1 0\.500 {2}MAP@R 0\.250 \(best\)/);
});

test('the validation before the first step is printed as the baseline', () => {
  const text = render([started, { ...base, type: 'baseline', step: 0, validation: { precisionAt1: 0.625, mapAtR: 0.4, rPrecision: 0.3, count: 8 } }]);
  assert.match(text, /before training {2}val P@1 0\.625 {2}MAP@R 0\.400/);
});
