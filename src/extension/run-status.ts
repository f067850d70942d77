// The Runs view's items and the status bar's text, from a run's run.json and status (pure: tested without VS Code).
import * as path from 'node:path';
import type { RunInfo } from '../core/run-folder';
import type { RunStatus } from '../protocol/events';

export interface RunItemView {
  label: string;
  description: string;
  tooltip: string;
  contextValue: string;
  /** A codicon id. */
  icon: string;
}

export const STATUS_ICON: Record<RunStatus, string> = {
  running: 'sync~spin',
  done: 'pass',
  failed: 'error',
  stopped: 'debug-pause',
};

/** "just now", "5 min ago", "3 h ago", "2 d ago". */
export function formatAge(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400 * 1.5) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function formatMetric(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(3);
}

/** A run's saved verification threshold (threshold.json in its model folder), as the Runs view shows it. */
export type SavedThreshold = { file: string; threshold: number; distance: string; f1?: number } | { file: string; error: string };

/** The distance a threshold is: 4 significant digits (0.4123, 12.35). */
export const formatThreshold = (t: number): string => (Number.isFinite(t) ? Number(t.toPrecision(4)).toString() : String(t));

/** The Runs view item of one run: read from its run.json (and the status after a liveness check) and its threshold.json. */
export function runItemView(runDir: string, info: RunInfo, status: RunStatus, now = Date.now(), threshold: SavedThreshold | null = null): RunItemView {
  const label = path.basename(runDir);
  const when = Date.parse(status === 'running' ? info.startedAt : info.endedAt ?? info.updatedAt ?? info.startedAt);
  const parts: string[] = [status];
  if (status === 'running') parts.push(`epoch ${Math.min(info.epoch + 1, info.epochs)}/${info.epochs}`);
  else if (status !== 'done') parts.push(`${info.epoch}/${info.epochs} epochs`);
  if (info.backend) parts.push(info.backend);
  if (info.bestMapAtR !== null && info.bestMapAtR !== undefined) parts.push(`MAP@R ${formatMetric(info.bestMapAtR)}`);
  if (threshold && 'threshold' in threshold) parts.push(`threshold ${formatThreshold(threshold.threshold)}`);
  if (Number.isFinite(when)) parts.push(formatAge(now - when));
  const tooltip = [
    `${info.name} (${info.lossType})`,
    `status: ${status}${status !== info.status ? ` (run.json says ${info.status}; its process is gone)` : ''}`,
    `backend: ${info.backend ?? 'not chosen yet'}`,
    `epochs: ${info.epoch}/${info.epochs}, step ${info.step}`,
    `best MAP@R: ${formatMetric(info.bestMapAtR)}, last MAP@R: ${formatMetric(info.lastMapAtR)}`,
    `started: ${info.startedAt}${info.endedAt ? `, ended: ${info.endedAt}` : ''}`,
    ...(info.error ? [`error: ${info.error}`] : []),
    ...(threshold ? ['threshold' in threshold
      ? `threshold: ${formatThreshold(threshold.threshold)} (${threshold.distance}${threshold.f1 !== undefined ? `, F1 ${formatMetric(threshold.f1)}` : ''}) from ${threshold.file}`
      : `threshold: ${threshold.error}`] : ['threshold: none saved (Evaluate a table, then "Use as the model\'s threshold" on the dashboard, or `embedlab eval <table> --save-threshold <run>`)']),
    runDir,
  ].join('\n');
  return { label, description: parts.join(' · '), tooltip, contextValue: `run-${status}`, icon: STATUS_ICON[status] };
}

/** Status bar text for a running worker from its latest step event. */
export function statusBarText(name: string, step?: { epoch: number; loss: number; imagesPerSec: number }, epochs?: number, others = 0): string {
  const more = others > 0 ? ` (+${others})` : '';
  if (!step) return `$(sync~spin) ${name}: starting…${more}`;
  const loss = Number.isFinite(step.loss) ? step.loss.toFixed(4) : String(step.loss);
  return `$(sync~spin) ${name}: epoch ${step.epoch + 1}${epochs ? `/${epochs}` : ''} · loss ${loss} · ${Math.round(step.imagesPerSec)} img/s${more}`;
}
