// The markdown reports the extension shows (run summaries, evaluation reports, the environment report): virtual
// documents under the embedding-lab: scheme, opened rendered in the markdown preview.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readEvents, readRunInfo } from '../core/run-folder';
import type { RunStatus } from '../protocol/events';
import { runSummaryMarkdown } from './logic';

export const SCHEME = 'embedding-lab';

/** Virtual documents, keyed by URI path; a text may be a function (a live summary, computed when read). */
class ReportDocuments implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly texts = new Map<string, string | (() => string)>();

  set(uri: vscode.Uri, text: string | (() => string)): void {
    this.texts.set(uri.path, text);
    this.changed.fire(uri);
  }

  touch(uri: vscode.Uri): void {
    if (this.texts.has(uri.path)) this.changed.fire(uri);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const t = this.texts.get(uri.path);
    return typeof t === 'function' ? t() : t ?? '(this report is gone; run the command again)';
  }

  dispose(): void {
    this.changed.dispose();
  }
}

export class Reports implements vscode.Disposable {
  readonly docs = new ReportDocuments();
  private readonly summaryUris = new Map<string, vscode.Uri>();
  private readonly registration: vscode.Disposable;

  /** `statusOf`: a run's status as the window knows it (running when supervised, else the Runs view's). */
  constructor(private readonly statusOf: (runDir: string) => RunStatus | undefined) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(SCHEME, this.docs);
  }

  /** A live markdown summary of a run (Show Run Summary). */
  summaryUri(runDir: string): vscode.Uri {
    const key = path.resolve(runDir);
    let uri = this.summaryUris.get(key);
    if (!uri) {
      uri = vscode.Uri.from({ scheme: SCHEME, path: `/runs/${path.basename(key)}.md`, query: key });
      this.summaryUris.set(key, uri);
      this.docs.set(uri, () => runSummaryMarkdown(key, readRunInfo(key), this.statusOf(key), fs.existsSync(key) ? readEvents(key) : []));
    }
    return uri;
  }

  /** The run's summary changed (an event, an exit): an open summary renders again. */
  touchSummary(runDir: string): void {
    const uri = this.summaryUris.get(path.resolve(runDir));
    if (uri) this.docs.touch(uri);
  }

  async showReport(name: string, markdown: string, reveal = true): Promise<vscode.Uri> {
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/reports/${name}.md` });
    this.docs.set(uri, markdown);
    if (reveal) await this.openMarkdown(uri);
    return uri;
  }

  /**
   * Opens a report rendered (the markdown preview); the raw markdown is one click away (the preview's "Open Source"
   * button, or `markdown.showSource`).
   */
  async openMarkdown(uri: vscode.Uri): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(uri);
    if (doc.languageId !== 'markdown') await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
    await vscode.commands.executeCommand('markdown.showPreview', uri);
  }

  dispose(): void {
    this.registration.dispose();
    this.docs.dispose();
  }
}
