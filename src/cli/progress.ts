// Terminal rendering of worker events: a one-line progress bar on a TTY, plain lines otherwise.
import type { WorkerEvent } from '../protocol/events';
import { printableText } from '../core/printable';

function fmtTime(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

export class ProgressRenderer {
  private epochs = 0;
  private stepsPerEpoch = 1;
  private firstStep = -1;
  private firstStepTime = 0;
  private lastDraw = 0;
  private lineOpen = false;
  constructor(private readonly out: NodeJS.WriteStream, private readonly tty = Boolean(out.isTTY)) {}

  private line(text: string): void {
    if (this.lineOpen) this.out.write('\r\x1b[2K');
    this.lineOpen = false;
    this.out.write(printableText(text) + '\n'); // a path in an event may hold escape codes
  }

  private status(text: string): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.out.write('\r\x1b[2K' + printableText(text).slice(0, (this.out.columns || 120) - 1));
    this.lineOpen = true;
  }

  handle(e: WorkerEvent): void {
    switch (e.type) {
      case 'started':
        this.epochs = e.epochs;
        this.stepsPerEpoch = e.stepsPerEpoch;
        this.line(`run ${e.runDir}\n  backend ${e.backend} (${e.backendDetail}), ${e.parameters.toLocaleString('en-US')} parameters, ${e.lossType} loss`);
        this.line(`  train: ${e.train.images} images in ${e.train.classes} classes${e.train.skipped ? `, ${e.train.skipped} unreadable skipped` : ''}${e.validation ? `; validation: ${e.validation.images} images in ${e.validation.classes} classes` : ''}`);
        if (e.resumedFrom) this.line(`  resumed at epoch ${e.resumedFrom.epoch + 1}, step ${e.resumedFrom.step}`);
        break;
      case 'progress':
        this.status(e.task === 'download'
          ? `download ${bar(e.done / Math.max(1, e.total))} ${(e.done / 1e6).toFixed(1)}/${(e.total / 1e6).toFixed(1)} MB`
          : `${e.task} ${bar(e.done / Math.max(1, e.total))} ${e.done}/${e.total}`);
        break;
      case 'step': {
        if (this.firstStep < 0) { this.firstStep = e.step; this.firstStepTime = Date.now(); }
        const total = this.epochs * this.stepsPerEpoch;
        const done = e.step + 1;
        const rate = (done - this.firstStep) / Math.max(1e-3, (Date.now() - this.firstStepTime) / 1000);
        const eta = (total - done) / Math.max(rate, 1e-9);
        const inEpoch = done - e.epoch * this.stepsPerEpoch;
        this.status(`epoch ${e.epoch + 1}/${this.epochs} ${bar(inEpoch / this.stepsPerEpoch)} step ${done}/${total}  loss ${e.loss.toFixed(4)}  d+ ${e.posDist.toFixed(3)} d− ${e.negDist.toFixed(3)}  ${Math.round(e.imagesPerSec)} img/s  ETA ${fmtTime(eta)}`);
        break;
      }
      case 'baseline':
        this.line(`before training  val P@1 ${e.validation.precisionAt1.toFixed(3)}  MAP@R ${e.validation.mapAtR.toFixed(3)}`);
        break;
      case 'epoch': {
        const v = e.validation;
        this.line(`epoch ${e.epoch + 1}/${this.epochs}  loss ${e.trainLoss === null ? '–' : e.trainLoss.toFixed(4)}${v ? `  val P@1 ${v.precisionAt1.toFixed(3)}  MAP@R ${v.mapAtR.toFixed(3)}${e.best ? ' (best)' : ''}` : ''}  ${fmtTime(e.seconds)}`);
        break;
      }
      case 'warning':
        this.line(`warning: ${e.message}`);
        break;
      case 'checkpoint':
        break;
      case 'done':
        this.line(`${e.status === 'done' ? 'finished' : 'stopped'} after ${e.step} steps in ${fmtTime(e.seconds)}${e.bestMapAtR !== null ? `; best validation MAP@R ${e.bestMapAtR.toFixed(4)}` : ''}`);
        break;
      case 'error':
        this.line(`error: ${e.message}`);
        break;
    }
  }

  close(): void {
    if (this.lineOpen) this.out.write('\n');
    this.lineOpen = false;
  }
}
