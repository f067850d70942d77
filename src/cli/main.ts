// `embedlab`: the command-line interface; its commands are declared in src/cli/commands.ts.
// Exit codes: 0 success, 1 failure, 2 bad usage, config or data.
import { exitCodeOf, messageOf } from '../core/errors';
import { printableText } from '../core/printable';
import { COMMANDS } from './commands';
import { mainUsage } from './help';

const USAGE = mainUsage(COMMANDS);
const byName = new Map(COMMANDS.map((c) => [c.name, c]));

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  const command = byName.get(cmd);
  if (!command) {
    process.stderr.write(`embedlab: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await command.main(rest);
  } catch (err) {
    process.stderr.write(`embedlab ${cmd}: ${printableText(messageOf(err))}\n`);
    return exitCodeOf(err);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
