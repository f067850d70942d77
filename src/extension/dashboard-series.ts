// A run's series for the dashboard: config.json → RunConfigInfo, worker events → steps, epochs, warnings
// (RunSeries), and the run's status (run.json, the events, a supervised worker).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { effectiveStatus, readRunInfo, runPaths } from '../core/run-folder';
import type { EpochEvent, LossType, RunStatus, WarningEvent, WorkerEvent } from '../protocol/events';
import { emptySeries, pushStep, type EpochPoint, type RunView, type RunWarning } from '../protocol/webview';


/** What the host knows of a run's config snapshot (config.json): loss, epochs and the dataset folders. */
export interface RunConfigInfo {
  lossType?: LossType;
  margin?: number;
  epochs?: number;
  train?: string;
  validation?: string;
}

export function readRunConfig(runDir: string): RunConfigInfo {
  try {
    const c = JSON.parse(fs.readFileSync(runPaths(runDir).config, 'utf8')) as {
      data?: { train?: unknown; validation?: unknown }; loss?: { type?: unknown; margin?: unknown }; training?: { epochs?: unknown };
    };
    const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
    const abs = (v: unknown) => { const s = str(v); return s ? path.resolve(runDir, s) : undefined; };
    const lt = c.loss?.type;
    return {
      lossType: lt === 'triplet' || lt === 'contrastive' || lt === 'quartet' ? lt : undefined,
      margin: num(c.loss?.margin), epochs: num(c.training?.epochs), train: abs(c.data?.train), validation: abs(c.data?.validation),
    };
  } catch {
    return {};
  }
}

export const epochPoint = (e: EpochEvent): EpochPoint =>
  ({ epoch: e.epoch, step: e.step, trainLoss: e.trainLoss ?? Number.NaN, precisionAt1: e.validation?.precisionAt1, mapAtR: e.validation?.mapAtR });

export const runWarning = (e: WarningEvent, step?: number): RunWarning => ({ code: e.code, message: e.message, time: e.time, step, ...(e.cleared ? { cleared: true } : {}) });

/**
 * A run's series, built by applying its events in file order. A resume appends a second `started` whose
 * `resumedFrom` says where training continues: steps and epochs at or after that point (done before the stop, then
 * redone from the checkpoint) are dropped, so the curves stay monotonic.
 */
export class RunSeries {
  runId: string;
  lossType: LossType;
  epochs: number;
  stepsPerEpoch = 0;
  steps = emptySeries();
  epochPoints: EpochPoint[] = [];
  warnings: RunWarning[] = [];
  /** Status from the events alone (running until done/error). */
  eventStatus: RunStatus = 'running';
  lastStep: number | undefined;
  started = 0;

  constructor(readonly name: string, readonly config: RunConfigInfo = {}) {
    this.runId = name;
    this.lossType = config.lossType ?? 'triplet';
    this.epochs = config.epochs ?? 0;
  }

  /** Applies one event; returns what changed, for the deltas. */
  apply(e: WorkerEvent): 'step' | 'epoch' | 'warning' | 'status' | 'restart' | undefined {
    switch (e.type) {
      case 'started': {
        this.started++;
        this.runId = e.runId || this.runId;
        this.lossType = e.lossType;
        this.epochs = e.epochs;
        this.stepsPerEpoch = e.stepsPerEpoch;
        this.eventStatus = 'running';
        if (e.resumedFrom) this.truncate(e.resumedFrom.step, e.resumedFrom.epoch);
        return this.started > 1 ? 'restart' : 'status';
      }
      case 'step':
        pushStep(this.steps, e);
        this.lastStep = e.step;
        return 'step';
      case 'epoch':
        this.epochPoints.push(epochPoint(e));
        return 'epoch';
      case 'baseline':
        // The validation before the first step: an epoch point at epoch −1 (drawn at 0, "before training").
        this.epochPoints = [...this.epochPoints.filter((p) => p.epoch !== -1), { epoch: -1, step: e.step, trainLoss: Number.NaN, precisionAt1: e.validation.precisionAt1, mapAtR: e.validation.mapAtR }];
        return 'epoch';
      case 'warning':
        this.warnings.push(runWarning(e, this.lastStep));
        return 'warning';
      case 'done':
        this.eventStatus = e.status;
        return 'status';
      case 'error':
        this.eventStatus = 'failed';
        return 'status';
      default:
        return undefined;
    }
  }

  private truncate(step: number, epoch: number): void {
    let keep = this.steps.step.findIndex((s) => s >= step);
    if (keep < 0) keep = this.steps.step.length;
    for (const c of Object.keys(this.steps) as Array<keyof typeof this.steps>) this.steps[c].length = keep;
    this.epochPoints = this.epochPoints.filter((p) => p.epoch < epoch);
    this.lastStep = keep > 0 ? this.steps.step[keep - 1] : undefined;
  }

  view(status: RunStatus, resumable: boolean): RunView {
    const copy = emptySeries();
    for (const c of Object.keys(copy) as Array<keyof typeof copy>) copy[c] = this.steps[c].slice();
    return {
      runId: this.runId, name: this.name, status, lossType: this.lossType, margin: this.config.margin, epochs: this.epochs,
      stepsPerEpoch: this.stepsPerEpoch, resumable, steps: copy, epochPoints: this.epochPoints.slice(), warnings: this.warnings.slice(),
    };
  }
}


/** Whether a run has a last checkpoint to resume from. */
export function hasLastCheckpoint(runDir: string): boolean {
  return fs.existsSync(runPaths(runDir).last);
}

/** A run's status: running when this window supervises it; else run.json (a dead pid → failed); else the events. */
export function runStatusOf(runDir: string, series: RunSeries, supervised: boolean): { status: RunStatus; resumable: boolean } {
  let status: RunStatus;
  if (supervised) status = 'running';
  else {
    const info = readRunInfo(runDir);
    status = info ? effectiveStatus(info) : series.eventStatus;
    // run.json can lag the events by a moment: a done/error event wins over "running".
    if (status === 'running' && series.eventStatus !== 'running') status = series.eventStatus;
  }
  return { status, resumable: (status === 'stopped' || status === 'failed') && hasLastCheckpoint(runDir) };
}
