// The status bar item while runs train: the newest run's step and epoch, how many others run, a click opens its
// dashboard.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { statusBarText } from './logic';
import type { WorkerProcess } from './supervisor';

export class TrainingStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    this.item = vscode.window.createStatusBarItem('embeddingLab.training', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'Embedding Lab Training';
    this.item.command = 'embeddingLab.openDashboard';
  }

  /** `running`: the supervisor's workers, oldest first; `titleOf`: a worker's title before its `started` event. */
  update(running: readonly WorkerProcess[], titleOf: (w: WorkerProcess) => string | undefined): void {
    if (running.length === 0) {
      this.item.hide();
      return;
    }
    const w = running[running.length - 1];
    const name = w.startedEvent ? path.basename(w.startedEvent.runDir) : (titleOf(w) ?? 'training');
    this.item.text = statusBarText(name, w.lastStep, w.startedEvent?.epochs, running.length - 1);
    this.item.tooltip = `Embedding Lab: ${running.length} run(s) training. Click for the dashboard.`;
    this.item.command = { command: 'embeddingLab.openDashboard', title: 'Open Dashboard', arguments: w.runDir ? [w.runDir] : [] };
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
