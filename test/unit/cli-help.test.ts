// `embedlab --help`, each command's --help and README's command table come from the declarations in
// src/cli/commands.ts; this fails when README's table differs from them (fix: `npm run readme:commands`), or when a
// synopsis names an option that is not declared, or a declared option is said nowhere in its command's help.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMANDS } from '../../src/cli/commands';
import { defineCommand, flagOf, helpText } from '../../src/cli/args';
import { mainUsage, README_BEGIN, README_END, readmeTable, replaceReadmeTable, shownFlags } from '../../src/cli/help';

const README = path.join(__dirname, '..', '..', 'README.md');

test("README's command table is the one the declarations give (npm run readme:commands rewrites it)", () => {
  const readme = fs.readFileSync(README, 'utf8');
  const a = readme.indexOf(README_BEGIN);
  const b = readme.indexOf(README_END);
  assert.ok(a >= 0 && b > a, 'README.md has the command table markers');
  assert.equal(readme.slice(a, b + README_END.length), readmeTable(COMMANDS), 'README.md\'s command table is stale: run `npm run readme:commands`');
  assert.equal(replaceReadmeTable(readme, readmeTable(COMMANDS)), readme);
  for (const c of COMMANDS) assert.match(readme, new RegExp(`\\| \`embedlab ${c.name}\` \\|`), c.name);
});

test('one declaration per command, each synopsis starting with its own name', () => {
  const names = COMMANDS.map((c) => c.name);
  assert.equal(new Set(names).size, names.length, `duplicate command names: ${names}`);
  for (const c of COMMANDS) {
    for (const line of c.usage.split('\n')) assert.match(line.trim(), new RegExp(`^embedlab ${c.name}( |$)`), `${c.name}: ${line}`);
    assert.ok(c.summary && !c.summary.includes('\n'), `${c.name}: a one-line summary`);
    assert.ok(c.positionals[0] <= c.positionals[1], c.name);
  }
});

test("a synopsis names only declared options, and every shown option is in the command's --help", () => {
  for (const c of COMMANDS) {
    const declared = new Set(Object.keys(c.options).map(flagOf));
    const inSynopsis = [...c.usage.matchAll(/(?<![\w-])(--?[a-z][\w-]*)/g)].map((m) => m[1]);
    for (const f of inSynopsis) assert.ok(declared.has(f), `embedlab ${c.name}: the synopsis names ${f}, which is not declared`);
    const help = helpText(c);
    for (const f of shownFlags(c)) assert.match(help, new RegExp(`(?<![\\w-])${f}(?![\\w-])`), `embedlab ${c.name}: ${f} is declared but its --help never says it`);
  }
});

test('numbers with a default show that default in the synopsis', () => {
  for (const c of COMMANDS) {
    for (const [name, s] of Object.entries(c.options)) {
      if ((s.type === 'int' || s.type === 'number') && s.default !== undefined && c.usage.includes(flagOf(name))) {
        assert.ok(c.usage.includes(`${flagOf(name)} ${s.default}`), `embedlab ${c.name}: ${flagOf(name)} defaults to ${s.default}; the synopsis says otherwise`);
      }
    }
  }
});

test('embedlab --help lists every command with its summary', () => {
  const text = mainUsage(COMMANDS);
  for (const c of COMMANDS) assert.match(text, new RegExp(`^  ${c.name} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), c.name);
  assert.match(text, /Run `embedlab <command> --help`/);
});

test('a new command is one declaration: the top-level help and README table take it from the list', () => {
  const extra = defineCommand({
    name: 'zz-new', summary: 'a command added by one entry', usage: 'embedlab zz-new <x> [--count 3]', positionals: [1, 1],
    options: { count: { type: 'int', min: 1, default: 3 }, plumbing: { type: 'string', hidden: true } }, run: async () => 0,
  });
  const list = [...COMMANDS, extra];
  assert.match(mainUsage(list), /^ {2}zz-new +a command added by one entry$/m);
  assert.ok(readmeTable(list).includes('| `embedlab zz-new` | a command added by one entry | `--count` |'), readmeTable(list));
  assert.doesNotMatch(readmeTable(list), /plumbing/);
});
