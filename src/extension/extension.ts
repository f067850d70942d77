// Entry point of the VS Code extension (bundled to dist/extension.js). Thin: it builds the Ctx, registers the
// commands and logs the activation time. The engine (tfjs, sharp) is never loaded here: it runs in child processes.
import { loadStart } from './timing';
import * as vscode from 'vscode';
import { COMMANDS, TEST_COMMANDS } from './commands';
import { Ctx } from './ctx';

let ctx: Ctx | undefined;

/** The e2e tests' hooks (`_testState`, `_dashboardState`) exist only in a test run: an extension host started with
 * extensionTestsPath (ExtensionMode.Test), or EMBEDDING_LAB_TEST_HOOKS=1 in its environment (test/e2e/run.sh sets it
 * for code-server, whose UI test drives the installed extension). */
export function testHooksEnabled(context: Pick<vscode.ExtensionContext, 'extensionMode'>, env: NodeJS.ProcessEnv = process.env): boolean {
  return context.extensionMode === vscode.ExtensionMode.Test || env.EMBEDDING_LAB_TEST_HOOKS === '1';
}

export function activate(context: vscode.ExtensionContext): { ctx: Ctx } | undefined {
  const t0 = performance.now();
  try {
    ctx = new Ctx(context);
    ctx.registerCommands(COMMANDS);
    if (testHooksEnabled(context)) ctx.registerCommands(TEST_COMMANDS);
    const activateMs = performance.now() - t0;
    ctx.activationMs = Math.round((performance.now() - loadStart) * 10) / 10;
    ctx.log.info(`activated in ${ctx.activationMs.toFixed(1)} ms (bundle load + activate; activate() alone ${activateMs.toFixed(1)} ms)${vscode.workspace.isTrusted ? '' : '; workspace not trusted: every command that starts a process (training, embedding, search, evaluation, export, Check Environment, installs) is disabled'}`);
    return { ctx };
  } catch (err) {
    // VS Code does not show a notification when activation fails.
    void vscode.window.showErrorMessage(`Embedding Lab failed to activate: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  }
}

export async function deactivate(): Promise<void> {
  const c = ctx;
  ctx = undefined;
  await c?.dispose();
}
