// Commands for the e2e tests only (what the user was shown, what each dashboard posted). They are not in the
// shipped command table: extension.ts registers them only in a test run (see testHooksEnabled).
import type { CommandFn } from '../ctx';
import { opts } from './args';

/** For the e2e tests: what each open dashboard panel posted (counts by message type, step points, status). */
export const dashboardState: CommandFn = async (ctx) => ctx.dashboards.testState();

export const testState: CommandFn = async (ctx, a0) => {
  if (opts<{ refresh: boolean }>(a0).refresh) await ctx.runs.refresh();
  return ctx.testState();
};
