// The markdown of the reports: a run's summary and an evaluation report (pure: tested without VS Code).
import * as path from 'node:path';
import type { RunInfo } from '../core/run-folder';
import type { EpochEvent, RunStatus, WorkerEvent } from '../protocol/events';
import { formatMetric } from './run-status';

const f4 = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(4) : String(x ?? '–'));

/** The run summary that stands in for the dashboard: status, per-epoch table, warnings, the last events. */
export function runSummaryMarkdown(runDir: string, info: RunInfo | undefined, status: RunStatus | undefined, events: readonly WorkerEvent[]): string {
  const lines: string[] = [`# Run ${path.basename(runDir)}`, ''];
  if (info) {
    lines.push(
      `| | |`, `|---|---|`,
      `| status | **${status ?? info.status}** |`,
      `| experiment | ${info.name} (${info.lossType}) |`,
      `| backend | ${info.backend ?? '–'} |`,
      `| progress | ${(status ?? info.status) === 'running' ? `epoch ${Math.min(info.epoch + 1, info.epochs)}/${info.epochs} (${info.epoch} done)` : `${info.epoch}/${info.epochs} epochs done`}, step ${info.step} |`,
      `| best MAP@R | ${formatMetric(info.bestMapAtR)} |`,
      `| last MAP@R | ${formatMetric(info.lastMapAtR)} |`,
      `| started | ${info.startedAt} |`,
      `| ended | ${info.endedAt ?? '–'} |`,
      ...(info.error ? [`| error | ${info.error.replace(/\|/g, '\\|')} |`] : []),
      `| config | ${info.configFile ?? '–'} |`,
      `| folder | ${runDir} |`,
      '',
    );
  } else {
    lines.push('_No run.json in this folder (yet)._', '');
  }
  const started = [...events].reverse().find((e) => e.type === 'started');
  if (started && started.type === 'started') {
    lines.push(
      `Training set: ${started.train.images} images in ${started.train.classes} classes` +
        (started.validation ? `; validation: ${started.validation.images} images in ${started.validation.classes} classes` : '') +
        `. ${started.parameters.toLocaleString('en-US')} parameters, ${started.stepsPerEpoch} steps per epoch, batch ${started.batchSize}, backend ${started.backend} (${started.backendDetail}).`,
      '',
    );
  }
  const epochs = events.filter((e): e is EpochEvent => e.type === 'epoch');
  const baseline = events.find((e) => e.type === 'baseline');
  if (baseline && baseline.type === 'baseline') lines.push(baselineLine(baseline.validation.mapAtR, epochs), '');
  if (epochs.length) {
    lines.push('## Epochs', '', '| epoch | train loss | P@1 | MAP@R | R-precision | seconds | best |', '|---:|---:|---:|---:|---:|---:|:---:|');
    for (const e of epochs) {
      lines.push(`| ${e.epoch + 1} | ${f4(e.trainLoss)} | ${f4(e.validation?.precisionAt1)} | ${f4(e.validation?.mapAtR)} | ${f4(e.validation?.rPrecision)} | ${e.seconds.toFixed(1)} | ${e.best ? '★' : ''} |`);
    }
    lines.push('');
  }
  const lastStep = [...events].reverse().find((e) => e.type === 'step');
  if (lastStep && lastStep.type === 'step') {
    lines.push(`Last step ${lastStep.step} (epoch ${lastStep.epoch + 1}): loss ${f4(lastStep.loss)}, positive distance ${f4(lastStep.posDist)}, negative distance ${f4(lastStep.negDist)}, ${Math.round(lastStep.imagesPerSec)} images/s.`, '');
  }
  // Epochs as a person counts them, from 1: the epoch of the checkpoint's last step (event fields stay 0-based).
  const spe = started && started.type === 'started' ? started.stepsPerEpoch : 0;
  const epochOfStep = (step: number, fallback: number) => (spe > 0 ? Math.floor(Math.max(0, step - 1) / spe) + 1 : fallback + 1);
  const notes = events.filter((e) => e.type === 'warning' || e.type === 'error' || e.type === 'checkpoint' || e.type === 'done');
  if (notes.length) {
    lines.push('## Events', '');
    for (const e of notes.slice(-30)) {
      if (e.type === 'warning') lines.push(`- ${e.time} ⚠ ${e.code}: ${e.message}`);
      else if (e.type === 'error') lines.push(`- ${e.time} ✗ ${e.code}: ${e.message.split('\n')[0]}`);
      else if (e.type === 'checkpoint') lines.push(`- ${e.time} checkpoint (${e.kind}) after step ${e.step}, epoch ${epochOfStep(e.step, e.epoch)}`);
      else if (e.type === 'done') lines.push(`- ${e.time} ${e.status} after ${e.seconds.toFixed(1)} s, best MAP@R ${formatMetric(e.bestMapAtR)}`);
    }
    lines.push('');
  }
  lines.push(`Full history: \`${path.join(runDir, 'events.jsonl')}\``, '');
  return lines.join('\n');
}

/** "Before training: MAP@R 0.412; best after training 0.655 (+0.243)": what training gained or lost against the baseline. */
export function baselineLine(before: number, epochs: readonly EpochEvent[]): string {
  const vals = epochs.map((e) => e.validation?.mapAtR).filter((v): v is number => typeof v === 'number');
  if (!vals.length) return `Before training (step 0): validation MAP@R ${before.toFixed(4)}.`;
  const best = Math.max(...vals);
  const d = best - before;
  return `Before training (step 0): validation MAP@R ${before.toFixed(4)}; best after training ${best.toFixed(4)} (${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(4)}${d < 0 ? ', worse than the network it started from' : ''}).`;
}

/** The evaluation report of `embedlab eval --json`, as markdown. Unknown fields are listed raw at the end. */
export function evalMarkdown(report: Record<string, unknown>): string {
  const r = report as {
    table?: string; rows?: number; dim?: number; labels?: number; distance?: string;
    retrieval?: { precisionAt1?: number; recallAtK?: Record<string, number>; rPrecision?: number; mapAtR?: number; count?: number };
    clustering?: { nmi: number; k: number } | null;
    verification?: { rocAuc?: number; bestF1?: { threshold: number; f1: number; precision: number; recall: number }; atPrecision?: { target: number; threshold: number; precision: number; recall: number } | null; positives?: number; negatives?: number; sampled?: boolean };
    fewShot?: { accuracy: number; count: number; k: number };
  };
  const lines = [`# Evaluation of ${r.table ? path.basename(r.table) : 'table'}`, '', `${r.rows ?? '?'} rows × ${r.dim ?? '?'}, ${r.labels ?? '?'} labels, ${r.distance ?? '?'} distance.`, ''];
  if (r.retrieval) {
    lines.push(`## Retrieval (leave-one-out over ${r.retrieval.count ?? '?'} queries)`, '', '| metric | value |', '|---|---:|',
      `| Precision@1 | ${f4(r.retrieval.precisionAt1)} |`,
      ...Object.entries(r.retrieval.recallAtK ?? {}).map(([k, v]) => `| Recall@${k} | ${f4(v)} |`),
      `| R-Precision | ${f4(r.retrieval.rPrecision)} |`,
      `| MAP@R | ${f4(r.retrieval.mapAtR)} |`, '');
  }
  lines.push(r.clustering ? `## Clustering\n\nNMI of k-means (k = ${r.clustering.k}): ${f4(r.clustering.nmi)}\n` : '## Clustering\n\nskipped\n');
  if (r.verification) {
    const v = r.verification;
    lines.push(`## Verification (${v.positives ?? '?'} positive, ${v.negatives ?? '?'} negative pairs${v.sampled ? ', sampled' : ''})`, '',
      `- ROC AUC: ${f4(v.rocAuc)}`,
      v.bestF1 ? `- best F1 ${f4(v.bestF1.f1)} at distance ≤ ${f4(v.bestF1.threshold)} (precision ${f4(v.bestF1.precision)}, recall ${f4(v.bestF1.recall)})` : '- best F1: –',
      v.atPrecision ? `- precision ≥ ${v.atPrecision.target}: distance ≤ ${f4(v.atPrecision.threshold)} (precision ${f4(v.atPrecision.precision)}, recall ${f4(v.atPrecision.recall)})` : '- target precision: not reachable at any threshold',
      '');
  }
  if (r.fewShot) lines.push(`## Few-shot`, '', `kNN classification (k = ${r.fewShot.k}) against the reference: accuracy ${f4(r.fewShot.accuracy)} over ${r.fewShot.count} queries`, '');
  lines.push('## Raw', '', '```json', JSON.stringify(report, null, 2), '```', '');
  return lines.join('\n');
}
