// The dashboard's "Use as the model's threshold": the threshold in force on the threshold panel (the user's, or the
// F1-optimal one) written into the model's threshold.json by the same code `embedlab eval --save-threshold` uses
// (core/threshold.ts: thresholdFromReport, then saveThreshold, which checks the vector length and distance against
// the model and writes atomically).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BadDataError } from '../core/errors';
import { saveThreshold, thresholdFromReport, type ThresholdFile } from '../core/threshold';
import type { EvalView } from '../protocol/webview';
import { readTableMeta, runDirOfModel } from './logic';

/** The folder a table's threshold belongs to: the run (or model folder) that embedded it, else the dashboard's run. */
export function thresholdTarget(runDir: string, tableFile: string | null): string {
  const model = tableFile ? readTableMeta(tableFile)?.model : undefined;
  if (model && fs.existsSync(model)) return runDirOfModel(model) ?? path.resolve(model);
  return runDir;
}

/** threshold.json's content for an eval report with `threshold` as the one commands use (the rest: eval's calibration). */
export function thresholdFileFor(report: EvalView, threshold: number, now = new Date()): ThresholdFile {
  if (!report.verification) throw new BadDataError(`${report.table ?? 'the table'}: the evaluation has no verification (too few labelled pairs): no threshold to save`);
  if (!Number.isFinite(threshold) || threshold < 0) throw new BadDataError(`threshold must be a finite distance ≥ 0 (got ${threshold})`);
  const t = thresholdFromReport(report as unknown as Parameters<typeof thresholdFromReport>[0], now);
  return { ...t, threshold };
}

/** Writes it; returns the file written and what it holds. */
export async function saveDashboardThreshold(report: EvalView, threshold: number, target: string): Promise<{ file: string; value: ThresholdFile }> {
  const value = thresholdFileFor(report, threshold);
  return { file: await saveThreshold(target, value), value };
}
