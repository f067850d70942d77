// What the CLI says about its commands, generated from their declarations (src/cli/commands.ts): `embedlab --help`
// and the command table in README.md (scripts/readme-commands.ts writes it; test/unit/cli-help.test.ts checks it).
import { flagOf, type Command } from './args';

export function mainUsage(commands: readonly Command[]): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'embedlab — image-embedding experiments (contrastive, triplet, quartet)',
    '',
    'Usage: embedlab <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Run `embedlab <command> --help` for the options of one command.',
  ].join('\n');
}

/** The options a command shows (its declaration minus the hidden plumbing), as written on the command line. */
export function shownFlags(c: Command): string[] {
  return Object.entries(c.options).filter(([, s]) => !s.hidden).map(([name]) => flagOf(name));
}

export const README_BEGIN = '<!-- embedlab commands: generated from src/cli/commands.ts by `npm run readme:commands`; do not edit -->';
export const README_END = '<!-- end of embedlab commands -->';

const cell = (t: string) => t.replace(/[|*_]/g, (c) => `\\${c}`);

/** README's command table: command, what it does, its options. */
export function readmeTable(commands: readonly Command[]): string {
  return [
    README_BEGIN,
    '| Command | What it does | Options |',
    '| --- | --- | --- |',
    ...commands.map((c) => `| \`embedlab ${c.name}\` | ${cell(c.summary)} | ${shownFlags(c).map((f) => `\`${f}\``).join(' ') || '—'} |`),
    README_END,
  ].join('\n');
}

/** README's text with its command table replaced by `table` (undefined when README has no table markers). */
export function replaceReadmeTable(readme: string, table: string): string | undefined {
  const a = readme.indexOf(README_BEGIN);
  const b = readme.indexOf(README_END);
  if (a < 0 || b < a) return undefined;
  return readme.slice(0, a) + table + readme.slice(b + README_END.length);
}
