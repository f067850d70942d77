// Runs the test suites with node's own test runner (TypeScript through tsx).
// Usage: node scripts/test.mjs [unit|integration|all] [extra node --test args]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const which = process.argv[2] && !process.argv[2].startsWith('-') ? process.argv[2] : 'all';
const extra = process.argv.slice(which === process.argv[2] ? 3 : 2);
const suites = which === 'all' ? ['unit', 'integration', 'browser'] : [which];
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
};
for (const s of suites) walk(join('test', s));
if (files.length === 0) { console.error('no test files found'); process.exit(1); }
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...extra, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
