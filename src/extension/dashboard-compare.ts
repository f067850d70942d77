// Runs compared in a dashboard: each a run folder read like the dashboard's own run (its events.jsonl from the
// start, then what is appended), with its config.json flattened for the comparison table's config differences.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPaths } from '../core/run-folder';
import type { RunStatus, StepEvent } from '../protocol/events';
import type { ConfigValue, HostToWebview, RunChoice, RunView } from '../protocol/webview';
import { readRunConfig, RunSeries, runStatusOf } from './dashboard-series';
import { EventTail } from './dashboard-tail';

/** config.json as dotted keys → scalars; arrays become their JSON ("data.imageSize": "[64,64]"). */
export function flattenConfig(v: unknown, prefix = '', out: Record<string, ConfigValue> = {}): Record<string, ConfigValue> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flattenConfig(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = Array.isArray(v) ? JSON.stringify(v) : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null ? v : String(v);
  }
  return out;
}

/** A run's config snapshot, flattened; {} when it cannot be read. */
export function readFlatConfig(runDir: string): Record<string, ConfigValue> {
  try {
    return flattenConfig(JSON.parse(fs.readFileSync(runPaths(runDir).config, 'utf8')) as unknown);
  } catch {
    return {};
  }
}

/** What a compared run's view carries beyond the series: its folder, config and role. */
export function withRunContext(v: RunView, runDir: string, config: Record<string, ConfigValue>, primary: boolean): RunView {
  return { ...v, runDir, config, primary };
}

/** What ComparedRuns needs of its dashboard session. */
export interface CompareHost {
  post(m: HostToWebview): void;
  /** Posts the batched steps (before a message that must follow them). */
  flush(): void;
  /** Adds a step to the session's batcher (posted with the next flush). */
  batch(e: StepEvent): void;
  isSupervised(runDir: string): boolean;
  listRuns(): Promise<RunChoice[]>;
}

interface Compared {
  series: RunSeries;
  tail: EventTail;
  flat: Record<string, ConfigValue>;
  last: { status: RunStatus; resumable: boolean } | null;
}

/** The runs a dashboard overlays on its own run, read from their run folders like it. */
export class ComparedRuns {
  private choices: RunChoice[] = [];
  private readonly runs = new Map<string, Compared>();

  constructor(private readonly runDir: string, private readonly host: CompareHost) {}

  get runDirs(): string[] {
    return [...this.runs.keys()];
  }

  get anyRunning(): boolean {
    return [...this.runs.values()].some((c) => c.last?.status === 'running');
  }

  /** Lists the runs of the workspace other than the dashboard's own, and posts them with the ones overlaid. */
  async refreshChoices(): Promise<RunChoice[]> {
    const runs = await this.host.listRuns();
    this.choices = runs.map((r) => ({ ...r, runDir: path.resolve(r.runDir) })).filter((r) => r.runDir !== this.runDir);
    this.postChoices();
    return this.choices;
  }

  private postChoices(): void {
    this.host.post({ type: 'runChoices', runs: this.choices, compared: this.runDirs });
  }

  /** Each compared run's full view, read from the start (the snapshot). */
  views(): RunView[] {
    return this.runDirs.map((d) => this.view(d, true));
  }

  private view(runDir: string, fresh = false): RunView {
    const c = this.runs.get(runDir)!;
    if (fresh) {
      c.series = new RunSeries(path.basename(runDir), readRunConfig(runDir));
      c.tail = new EventTail(runPaths(runDir).events);
      for (const e of c.tail.readAll()) c.series.apply(e);
    }
    const st = runStatusOf(runDir, c.series, this.host.isSupervised(runDir));
    c.last = st;
    return withRunContext(c.series.view(st.status, st.resumable), runDir, c.flat, false);
  }

  /**
   * Overlays exactly `runDirs` (runs of the workspace; the dashboard's own run is ignored): new ones are read and
   * posted as `run`, dropped ones as `removeRun`. A folder that is not a run (no events.jsonl) is refused.
   */
  async set(runDirs: readonly string[]): Promise<void> {
    const want = [...new Set(runDirs.map((d) => path.resolve(d)))].filter((d) => d !== this.runDir);
    if (want.some((d) => !this.choices.some((r) => r.runDir === d))) await this.refreshChoices();
    const bad = want.filter((d) => !this.choices.some((r) => r.runDir === d) && !fs.existsSync(runPaths(d).events));
    if (bad.length) throw new Error(`not a run of the workspace: ${bad.join(', ')}`);
    for (const [d, c] of [...this.runs]) {
      if (want.includes(d)) continue;
      this.runs.delete(d);
      this.host.flush();
      this.host.post({ type: 'removeRun', runId: c.series.runId });
    }
    for (const d of want) {
      if (this.runs.has(d)) continue;
      this.runs.set(d, { series: new RunSeries(path.basename(d)), tail: new EventTail(runPaths(d).events), flat: readFlatConfig(d), last: null });
      this.host.flush();
      this.host.post({ type: 'run', run: this.view(d, true) });
    }
    this.postChoices();
  }

  /** New events of the compared runs: steps to the batcher, the rest posted at once. Returns how many. */
  pump(): number {
    let n = 0;
    for (const [d, c] of this.runs) {
      const got = c.tail.readNew();
      if (got === 'reset') { this.host.post({ type: 'run', run: this.view(d, true) }); continue; }
      n += got.length;
      for (const e of got) {
        const what = c.series.apply(e);
        if (what === 'step' && e.type === 'step') { this.host.batch(e); continue; }
        if (what === undefined || what === 'status') continue;
        this.host.flush();
        if (what === 'epoch') this.host.post({ type: 'epochs', runId: c.series.runId, epochs: [c.series.epochPoints[c.series.epochPoints.length - 1]] });
        else if (what === 'warning') this.host.post({ type: 'warnings', runId: c.series.runId, warnings: [c.series.warnings[c.series.warnings.length - 1]] });
        else if (what === 'restart') this.host.post({ type: 'run', run: this.view(d) });
      }
      const st = runStatusOf(d, c.series, this.host.isSupervised(d));
      if (!c.last || c.last.status !== st.status || c.last.resumable !== st.resumable) {
        c.last = st;
        this.host.flush();
        this.host.post({ type: 'runStatus', runId: c.series.runId, status: st.status, resumable: st.resumable });
      }
    }
    return n;
  }
}
