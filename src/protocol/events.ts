// Worker → host events. One JSON object per line on the worker's event channel (file descriptor 3 when the
// host opens it, else stdout), and appended to the run folder's events.jsonl.
// A consumer ignores fields it does not know, so the protocol can grow; `protocolVersion` is in `started`.

export const PROTOCOL_VERSION = 1;

export type LossType = 'contrastive' | 'triplet' | 'quartet';
export type BackendName = 'wasm' | 'cpu' | 'tensorflow' | 'tensorflow-gpu' | 'webgpu';
export type RunStatus = 'running' | 'done' | 'failed' | 'stopped';

interface EventBase {
  time: string; // ISO 8601
  runId: string;
}

export interface DatasetSummary {
  root: string;
  classes: number;
  images: number;
  skipped: number; // corrupt or unreadable, skipped
  ignored: number; // non-image files
  classesWithPositives: number;
}

export interface StartedEvent extends EventBase {
  type: 'started';
  protocolVersion: number;
  runDir: string;
  backend: BackendName;
  backendDetail: string;
  parameters: number;
  lossType: LossType;
  epochs: number;
  stepsPerEpoch: number;
  batchSize: number;
  train: DatasetSummary;
  validation?: DatasetSummary;
  resumedFrom?: { epoch: number; step: number };
}

export interface StepEvent extends EventBase {
  type: 'step';
  epoch: number;
  step: number; // global step, counted from 0 over the whole run
  loss: number;
  posDist: number; // mean anchor–positive distance in the batch
  negDist: number; // mean anchor–negative distance in the batch
  imagesPerSec: number;
  learningRate: number;
  activeFraction?: number; // share of tuples with non-zero loss (mined or not)
}

export interface EpochEvent extends EventBase {
  type: 'epoch';
  epoch: number;
  step: number;
  /** Mean loss of the epoch's steps; null for an epoch that ran no step here (a run resumed at the epoch's end). */
  trainLoss: number | null;
  seconds: number;
  validation?: { precisionAt1: number; mapAtR: number; rPrecision: number; count: number };
  best: boolean;
}

/**
 * Validation before the first step (a fresh run with validation): the network's metrics as it starts — for a
 * pretrained network the number training has to beat. Not emitted again on resume.
 */
export interface BaselineEvent extends EventBase {
  type: 'baseline';
  step: number;
  validation: { precisionAt1: number; mapAtR: number; rPrecision: number; count: number };
}

export interface CheckpointEvent extends EventBase {
  type: 'checkpoint';
  epoch: number;
  step: number;
  path: string;
  kind: 'last' | 'best';
}

export interface WarningEvent extends EventBase {
  type: 'warning';
  code: 'skipped-images' | 'distance-gap-collapse' | 'loss-at-margin' | 'backend' | 'other';
  message: string;
  paths?: string[];
  /** The condition `code` named earlier no longer holds (e.g. the distances spread again): that warning is over. */
  cleared?: boolean;
}

export interface DoneEvent extends EventBase {
  type: 'done';
  status: 'done' | 'stopped';
  epoch: number;
  step: number;
  bestMapAtR: number | null;
  seconds: number;
}

export interface ErrorEvent extends EventBase {
  type: 'error';
  code: 'nan-loss' | 'bad-config' | 'bad-data' | 'backend' | 'io' | 'busy' | 'internal';
  message: string;
  step?: number;
}

export interface ProgressEvent extends EventBase {
  type: 'progress';
  task: 'embed' | 'decode' | 'eval' | 'export' | 'download';
  done: number;
  total: number;
}

export type WorkerEvent =
  | StartedEvent
  | StepEvent
  | EpochEvent
  | BaselineEvent
  | CheckpointEvent
  | WarningEvent
  | DoneEvent
  | ErrorEvent
  | ProgressEvent;

export type WorkerEventType = WorkerEvent['type'];

/** Parses one JSON line into an event; returns undefined for a line that is not an event object. */
export function parseEventLine(line: string): WorkerEvent | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(trimmed) as { type?: unknown };
    if (typeof v !== 'object' || v === null || typeof v.type !== 'string') return undefined;
    return v as WorkerEvent;
  } catch {
    return undefined;
  }
}
