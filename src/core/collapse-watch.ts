// Training's collapse watch, at the end of each epoch: the mean positive and negative distances meeting (the gap
// under GAP_LIMIT of the negative distance), or a triplet loss without mining sitting at its margin, is the classic
// failure of embedding training. A condition is warned about at every epoch's end while it holds (as before), and
// cleared once when it stops holding (a warning event with `cleared: true`), so the event log holds both ends and a
// dashboard takes its banner down when the spread is back. Pure: no tfjs, no I/O.

export type CollapseCode = 'distance-gap-collapse' | 'loss-at-margin';

/** The gap under this share of the mean negative distance counts as collapsed. */
export const GAP_LIMIT = 0.05;
/** The loss within this share of the margin counts as sitting at it. */
export const MARGIN_BAND = 0.05;

export interface EpochMeans {
  /** Mean positive and negative distance and mean loss over the epoch's steps. */
  pos: number;
  neg: number;
  loss: number;
}

export interface CollapseNote {
  code: CollapseCode;
  /** True: the condition no longer holds (the warning raised before is over). */
  cleared: boolean;
  message: string;
}

export interface CollapseWatchConfig {
  lossType: string;
  mining: string;
  margin: number;
}

/** Whether the mean distances have collapsed: the gap under GAP_LIMIT of the negative distance. */
export function gapCollapsed(pos: number, neg: number): boolean {
  return neg - pos < GAP_LIMIT * Math.max(neg, 1e-6);
}

export class CollapseWatch {
  private readonly active = new Set<CollapseCode>();

  constructor(private readonly cfg: CollapseWatchConfig) {}

  /** The conditions raised and not cleared yet. */
  get raised(): ReadonlySet<CollapseCode> {
    return this.active;
  }

  /** The notes of epoch `epoch` (0-based; messages count from 1): warnings while a condition holds, a clear when it ends. */
  epochEnd(epoch: number, m: EpochMeans): CollapseNote[] {
    const out: CollapseNote[] = [];
    const { pos, neg, loss } = m;
    const n = epoch + 1;
    const gap = gapCollapsed(pos, neg);
    if (gap) {
      out.push({ code: 'distance-gap-collapse', cleared: false,
        message: `epoch ${n}: mean negative distance ${neg.toFixed(4)} is within 5% of the mean positive distance ${pos.toFixed(4)} — the embedding is not separating classes yet${epoch === 0 ? ' (common in the first epoch)' : ''}; if it persists, try a lower learning rate${this.cfg.mining === 'none' && this.cfg.lossType === 'triplet' ? ', loss.mining "semi-hard"' : ''} or a larger batch` });
    } else if (this.active.has('distance-gap-collapse')) {
      out.push({ code: 'distance-gap-collapse', cleared: true,
        message: `epoch ${n}: the distances spread again — mean negative distance ${neg.toFixed(4)}, mean positive ${pos.toFixed(4)}, a gap of ${(((neg - pos) / Math.max(neg, 1e-6)) * 100).toFixed(1)}% (the limit is 5%)` });
    }
    const watchMargin = this.cfg.lossType === 'triplet' && this.cfg.mining === 'none';
    const atMargin = watchMargin && Math.abs(loss - this.cfg.margin) < MARGIN_BAND * this.cfg.margin;
    if (atMargin) {
      out.push({ code: 'loss-at-margin', cleared: false,
        message: `epoch ${n}: the loss (${loss.toFixed(4)}) sits at the margin (${this.cfg.margin}), the sign of a collapsed embedding` });
    } else if (this.active.has('loss-at-margin')) {
      out.push({ code: 'loss-at-margin', cleared: true, message: `epoch ${n}: the loss (${loss.toFixed(4)}) has left the margin (${this.cfg.margin})` });
    }
    for (const x of out) {
      if (x.cleared) this.active.delete(x.code);
      else this.active.add(x.code);
    }
    return out;
  }
}
