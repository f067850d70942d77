// Plays the extension host's side for the browser tests: turns a run's events.jsonl into a RunView and deltas,
// a table into TableView + PCA projection, and answers selectQuery with core knn() (as the host does).
import type { EpochEvent, StartedEvent, StepEvent, WarningEvent, WorkerEvent } from '../../src/protocol/events';
import { parseEventLine } from '../../src/protocol/events';
import type { EpochPoint, NeighborsView, ProjectionView, RunView, RunWarning, StepSeries, TableView } from '../../src/protocol/webview';
import { emptySeries, pushStep } from '../../src/protocol/webview';
import { knn } from '../../src/core/knn';
import { pca2d } from '../../src/core/projection';
import type { Table } from '../../src/core/table';
import type { DistanceName } from '../../src/core/config-types';

export function parseEvents(text: string): WorkerEvent[] {
  return text.split('\n').map(parseEventLine).filter((e): e is WorkerEvent => e !== undefined);
}

export function epochPoint(e: EpochEvent): EpochPoint {
  return { epoch: e.epoch, step: e.step, trainLoss: e.trainLoss ?? Number.NaN, precisionAt1: e.validation?.precisionAt1, mapAtR: e.validation?.mapAtR };
}

export function warning(e: WarningEvent, step?: number): RunWarning {
  return { code: e.code, message: e.message, time: e.time, step, ...(e.cleared ? { cleared: true } : {}) };
}

/** A RunView from the events up to (not including) index `upTo`. */
export function runView(events: WorkerEvent[], name: string, upTo = events.length, margin?: number): RunView {
  const started = events.find((e): e is StartedEvent => e.type === 'started');
  if (!started) throw new Error('no started event');
  const steps: StepSeries = emptySeries();
  const epochPoints: EpochPoint[] = [];
  const warnings: RunWarning[] = [];
  let status: RunView['status'] = 'running';
  let lastStep: number | undefined;
  for (const e of events.slice(0, upTo)) {
    if (e.type === 'step') { pushStep(steps, e); lastStep = e.step; }
    else if (e.type === 'epoch') epochPoints.push(epochPoint(e));
    else if (e.type === 'baseline') epochPoints.push({ epoch: -1, step: e.step, trainLoss: Number.NaN, precisionAt1: e.validation.precisionAt1, mapAtR: e.validation.mapAtR });
    else if (e.type === 'warning') warnings.push(warning(e, lastStep));
    else if (e.type === 'done') status = e.status;
    else if (e.type === 'error') status = 'failed';
  }
  return { runId: started.runId, name, status, lossType: started.lossType, margin, epochs: started.epochs, stepsPerEpoch: started.stepsPerEpoch, resumable: status !== 'running' && status !== 'done', steps, epochPoints, warnings };
}

export function stepEvents(events: WorkerEvent[]): StepEvent[] {
  return events.filter((e): e is StepEvent => e.type === 'step');
}

export function tableView(file: string, t: Table, distance: string): TableView {
  return { file, rows: t.paths.length, dim: t.dim, distance, paths: t.paths, labels: t.labels };
}

export function projectionView(t: Table): ProjectionView {
  const p = pca2d(t.vectors, t.paths.length, t.dim);
  return { method: 'pca', x: Array.from(p.x), y: Array.from(p.y), explained: p.explained };
}

/** The host's answer to selectQuery: core knn of the row's vector over the rest of the table (the row left out, as eval). */
export function neighborsOf(t: Table, row: number, k: number, distance: DistanceName): NeighborsView {
  const n = t.paths.length;
  const res = knn(t.vectors, 1, t.vectors, n, t.dim, k, distance, { queryOffset: row, excludeSelf: true });
  return {
    query: { kind: 'row', row, path: t.paths[row], label: t.labels[row] },
    k: res.k, distance,
    neighbors: Array.from(res.indices, (idx, i) => ({ rank: i + 1, row: idx, path: t.paths[idx], label: t.labels[idx], distance: res.distances[i] })),
  };
}
