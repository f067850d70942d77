// The command table: one entry per contributed command, the function (one file per area under commands/) and
// what it needs. Every command takes optional arguments that skip its pickers (the e2e tests and other extensions
// call them through executeCommand) and returns a result; without arguments it asks through quick picks and
// dialogs. Engine work happens only in child processes: `node dist/worker.js` (training, through the supervisor)
// and `node dist/cli.js … --json` (embed, knn, eval, export, env).
import type { CommandFn } from './ctx';
import type { CommandNeeds } from './logic';
import { compareRuns, openDashboard, showRunSummary } from './commands/dashboard';
import { embedFolder, embedWithModel, evaluateTable, exportModel, findSimilarImages } from './commands/embedding';
import { checkEnvironment, installer } from './commands/environment';
import { newExperiment } from './commands/experiments';
import { deleteRun, refreshRuns, revealRun } from './commands/runs';
import { dashboardState, testState } from './commands/test-hooks';
import { resumeTraining, stopTraining, trainExperiment } from './commands/training';
import { classifyFolder, compareImages } from './commands/use-model';

export type { Neighbor } from './commands/embedding';

/** One entry per contributed command: the function and what it needs (see `CommandNeeds`: a command that starts a
 * process declares which, and so needs a trusted workspace; the gate in Ctx derives from this). */
export interface CommandSpec extends CommandNeeds {
  run: CommandFn;
}

export const COMMANDS = {
  newExperiment: { run: newExperiment },
  trainExperiment: { run: trainExperiment, process: 'worker', doing: 'Training' },
  stopTraining: { run: stopTraining },
  resumeTraining: { run: resumeTraining, process: 'worker', doing: 'Resuming a run' },
  openDashboard: { run: openDashboard },
  showRunSummary: { run: showRunSummary },
  compareRuns: { run: compareRuns },
  embedFolder: { run: embedFolder, process: 'cli', doing: 'Embedding a folder' },
  embedWithModel: { run: embedWithModel, process: 'cli', doing: 'Embedding a folder' },
  findSimilarImages: { run: findSimilarImages, process: 'cli', doing: 'Finding similar images' },
  evaluateTable: { run: evaluateTable, process: 'cli', doing: 'Evaluating a table' },
  exportModel: { run: exportModel, process: 'cli', doing: 'Exporting a model' },
  compareImages: { run: compareImages, process: 'cli', doing: 'Comparing two images' },
  classifyFolder: { run: classifyFolder, process: 'cli', doing: 'Classifying a folder' },
  checkEnvironment: { run: checkEnvironment, process: 'cli', doing: 'Checking the environment' },
  installGpuBackend: { run: installer('gpu'), process: 'npm', doing: 'Installing the GPU backend' },
  installNativeCpuBackend: { run: installer('cpu'), process: 'npm', doing: 'Installing the native CPU backend' },
  installWebGpuBackend: { run: installer('webgpu'), process: 'npm', doing: 'Installing the WebGPU backend' },
  refreshRuns: { run: refreshRuns },
  deleteRun: { run: deleteRun },
  revealRun: { run: revealRun },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

/** The e2e tests' hooks (`embeddingLab._testState`, `_dashboardState`): registered only in a test run (extension.ts:
 * `testHooksEnabled`), never part of the shipped table. */
export const TEST_COMMANDS = {
  _testState: { run: testState },
  _dashboardState: { run: dashboardState },
} satisfies Record<string, CommandSpec>;
