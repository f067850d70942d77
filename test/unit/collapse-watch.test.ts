// The training collapse watch (src/core/collapse-watch.ts): a warning at every epoch end while the distances have
// collapsed (or the loss sits at the margin), one clear when the condition ends, none when it never held.
import * as assert from 'node:assert/strict';
import { it } from 'node:test';
import { CollapseWatch, gapCollapsed } from '../../src/core/collapse-watch';

it('gapCollapsed: the gap under 5 % of the negative distance', () => {
  assert.equal(gapCollapsed(0.96, 1), true); // gap 0.04 < 0.05
  assert.equal(gapCollapsed(0.95, 1), false); // gap 0.05, not under
  assert.equal(gapCollapsed(0.5, 1), false);
  assert.equal(gapCollapsed(0, 0), true); // no spread at all
});

it('collapse, collapse, recovery, steady, collapse again: warn, warn, clear, nothing, warn', () => {
  const w = new CollapseWatch({ lossType: 'triplet', mining: 'semi-hard', margin: 0.2 });
  const at = (epoch: number, pos: number, neg: number) => w.epochEnd(epoch, { pos, neg, loss: 0.1 }).map((n) => [n.code, n.cleared]);
  assert.deepEqual(at(0, 0.99, 1), [['distance-gap-collapse', false]]);
  assert.deepEqual(at(1, 0.97, 1), [['distance-gap-collapse', false]]);
  assert.deepEqual([...w.raised], ['distance-gap-collapse']);
  const rec = w.epochEnd(2, { pos: 0.6, neg: 1, loss: 0.1 });
  assert.deepEqual(rec.map((n) => [n.code, n.cleared]), [['distance-gap-collapse', true]]);
  assert.match(rec[0].message, /^epoch 3: the distances spread again .* a gap of 40\.0% \(the limit is 5%\)/);
  assert.deepEqual([...w.raised], []);
  assert.deepEqual(at(3, 0.5, 1), [], 'no clear without a warning before it');
  assert.deepEqual(at(4, 1, 1), [['distance-gap-collapse', false]]);
});

it('loss at the margin (triplet without mining): warned while it sits there, cleared when it leaves', () => {
  const w = new CollapseWatch({ lossType: 'triplet', mining: 'none', margin: 0.2 });
  const note = (epoch: number, loss: number) => w.epochEnd(epoch, { pos: 0.2, neg: 1, loss });
  const first = note(0, 0.195);
  assert.deepEqual(first.map((n) => [n.code, n.cleared]), [['loss-at-margin', false]]);
  assert.match(first[0].message, /^epoch 1: the loss \(0\.1950\) sits at the margin \(0\.2\)/);
  assert.deepEqual(note(1, 0.12).map((n) => [n.code, n.cleared]), [['loss-at-margin', true]]);
  assert.deepEqual(note(2, 0.1), []);
  // With mining the margin is not watched.
  const m = new CollapseWatch({ lossType: 'triplet', mining: 'semi-hard', margin: 0.2 });
  assert.deepEqual(m.epochEnd(0, { pos: 0.2, neg: 1, loss: 0.2 }), []);
});
