// Errors in *.embedding.json as the user types: what `embedlab train` would refuse (core/config's validation),
// shown as Error diagnostics at the field. The schema (contributed through jsonValidation) still gives hovers and
// completion; VS Code's JSON service reports its own schema problems only as warnings, which is why this exists.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { nameFromFile } from '../core/config';
import { configProblems } from './logic';

const isConfig = (d: vscode.TextDocument) => d.uri.scheme === 'file' && d.fileName.endsWith('.embedding.json');

export function watchConfigDiagnostics(): vscode.Disposable {
  const collection = vscode.languages.createDiagnosticCollection('embedding-lab');
  const update = (d: vscode.TextDocument) => {
    if (!isConfig(d)) return;
    const text = d.getText();
    collection.set(d.uri, configProblems(text, path.dirname(d.fileName), nameFromFile(d.fileName)).map((p) => {
      const diag = new vscode.Diagnostic(new vscode.Range(d.positionAt(p.start), d.positionAt(p.end)), p.message, vscode.DiagnosticSeverity.Error);
      diag.source = 'Embedding Lab';
      return diag;
    }));
  };
  for (const d of vscode.workspace.textDocuments) update(d);
  const subs = [
    collection,
    vscode.workspace.onDidOpenTextDocument(update),
    vscode.workspace.onDidChangeTextDocument((e) => update(e.document)),
    vscode.workspace.onDidCloseTextDocument((d) => collection.delete(d.uri)),
  ];
  return vscode.Disposable.from(...subs);
}
