// Rewrites README.md's command table from the CLI's declarations (src/cli/commands.ts).
// `npm run readme:commands`; test/unit/cli-help.test.ts fails when README's table and the declarations differ.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMANDS } from '../src/cli/commands';
import { readmeTable, replaceReadmeTable } from '../src/cli/help';

const file = path.join(__dirname, '..', 'README.md');
const before = fs.readFileSync(file, 'utf8');
const after = replaceReadmeTable(before, readmeTable(COMMANDS));
if (after === undefined) {
  process.stderr.write(`${file} has no command table markers (see src/cli/help.ts README_BEGIN / README_END)\n`);
  process.exit(1);
}
if (after !== before) fs.writeFileSync(file, after);
process.stdout.write(after === before ? 'README.md: the command table is current\n' : 'README.md: rewrote the command table\n');
