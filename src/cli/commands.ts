// The CLI's command table: one entry per command, in the order `embedlab --help` and README's table list them.
// Adding a command = its `defineCommand` declaration (src/cli/args.ts) in its own file, plus one entry here
// (docs/extending.md, "Adding a CLI command"); then `npm run readme:commands` rewrites README's table.
import type { Command } from './args';
import { envCommand } from './env';
import { indexCommand } from './index-cmd';
import { initCommand } from './init';
import { scoreCommand } from './score';
import { embedCommand, evalCommand, exportCommand, knnCommand, synthCommand } from './scoring';
import { statusCommand } from './shards';
import { trainCommand } from './train';
import { classifyCommand, duplicatesCommand, verifyCommand } from './use-model';

export const COMMANDS: readonly Command[] = [
  initCommand,
  trainCommand,
  exportCommand,
  embedCommand,
  evalCommand,
  knnCommand,
  indexCommand,
  verifyCommand,
  classifyCommand,
  duplicatesCommand,
  scoreCommand,
  statusCommand,
  synthCommand,
  envCommand,
];
