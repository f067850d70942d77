// The CLI's one parser (src/cli/args.ts): every number option is parsed and range-checked in one place, and a bad
// value is a BadOptionError (a LabError, exit 2) that names the option.
import test from 'node:test';
import assert from 'node:assert/strict';
import { BadOptionError, exitCodeOf, LabError } from '../../src/core/errors';
import { defineCommand, describeRange, parseNumberOption, UsageError } from '../../src/cli/args';

const int = { type: 'int', min: 1, max: 20 } as const;

test('int options take plain decimal integers only, inside their range', () => {
  assert.equal(parseNumberOption('classes', int, '12'), 12);
  assert.equal(parseNumberOption('classes', int, '+3'), 3);
  assert.equal(parseNumberOption('classes', int, '20'), 20);
  for (const bad of ['abc', '', ' ', '1.5', '1e1', '0x10', '12abc', 'Infinity', 'NaN', '0', '21', '-3']) {
    assert.throws(() => parseNumberOption('classes', int, bad), (err: unknown) => {
      assert.ok(err instanceof BadOptionError && err instanceof LabError, bad);
      assert.equal(err.option, '--classes');
      assert.equal(err.code, 'bad-usage');
      assert.equal(exitCodeOf(err), 2);
      assert.equal(err.message, `--classes must be an integer from 1 to 20 (got ${bad === '' ? 'nothing' : bad})`);
      return true;
    }, bad);
  }
});

test('number options take decimals and exponents; an exclusive minimum is exclusive', () => {
  const p = { type: 'number', min: 0, exclusiveMin: true, max: 1 } as const;
  assert.equal(parseNumberOption('precision', p, '0.95'), 0.95);
  assert.equal(parseNumberOption('precision', p, '.5'), 0.5);
  assert.equal(parseNumberOption('precision', p, '5e-1'), 0.5);
  assert.equal(parseNumberOption('precision', p, '1'), 1);
  for (const bad of ['0', '1.0001', '-0.5', 'abc', '0.5.1', 'Infinity', '']) {
    assert.throws(() => parseNumberOption('precision', p, bad), /^BadOptionError: --precision must be a number in \(0, 1\]/, bad);
  }
  assert.equal(parseNumberOption('x', { type: 'number', min: 0 }, '0'), 0);
});

test('the range in words; a one-letter option is written -k', () => {
  assert.equal(describeRange({ type: 'int', min: 1 }), 'a positive integer');
  assert.equal(describeRange({ type: 'int', min: 0 }), 'a non-negative integer');
  assert.equal(describeRange({ type: 'int', min: 8, max: 4096 }), 'an integer from 8 to 4096');
  assert.equal(describeRange({ type: 'number', min: 0, exclusiveMin: true }), 'a number > 0');
  assert.equal(describeRange({ type: 'number', min: 0, max: 2 }), 'a number in [0, 2]');
  assert.throws(() => parseNumberOption('k', { type: 'int', min: 1 }, '0'), /^BadOptionError: -k must be a positive integer \(got 0\)$/);
});

// A command declared as the real ones are, run through its parser.
function probe() {
  const seen: Array<{ values: Record<string, unknown>; positionals: string[] }> = [];
  const c = defineCommand({
    name: 'probe', summary: 'a test command', usage: 'embedlab probe <x> [-k 10] [--rate 0.5] [--name <n>] [--dry]', help: '  more help',
    positionals: [1, 1],
    options: { k: { type: 'int', short: 'k', min: 1, default: 10 }, rate: { type: 'number', min: 0 }, name: { type: 'string' }, dry: { type: 'boolean' }, path: { type: 'string', multiple: true } },
    async run({ values, positionals }) {
      // Typed from the declaration: k has a default, so it is a number; rate has none.
      const k: number = values.k;
      const rate: number | undefined = values.rate;
      seen.push({ values: { k, rate, name: values.name, dry: values.dry, path: values.path }, positionals });
      return 0;
    },
  });
  return { c, seen };
}

test('a declared command gets its numbers parsed, defaults filled in, negative values passed to the range check', async () => {
  const { c, seen } = probe();
  assert.equal(await c.main(['a', '--rate', '0.25', '--name', 'n', '--path', 'p', '--path', 'q']), 0);
  assert.deepEqual(seen[0], { values: { k: 10, rate: 0.25, name: 'n', dry: undefined, path: ['p', 'q'] }, positionals: ['a'] });
  assert.equal(await c.main(['a', '-k', '3', '--dry']), 0);
  assert.equal(seen[1].values.k, 3);
  assert.equal(seen[1].values.dry, true);
  await assert.rejects(c.main(['a', '-k', '-5']), (err: unknown) => err instanceof BadOptionError && /^-k must be a positive integer \(got -5\)\nusage: embedlab probe <x>/.test(err.message));
  await assert.rejects(c.main(['a', '--rate', '-1']), /--rate must be a number ≥ 0 \(got -1\)/);
  await assert.rejects(c.main(['a', '--nope']), (err: unknown) => err instanceof UsageError && /Unknown option '--nope'/.test(err.message) && /usage: embedlab probe/.test(err.message));
  await assert.rejects(c.main([]), /expected 1 argument\(s\), got 0\nusage: embedlab probe/);
  assert.equal(seen.length, 2);
});

test('--help prints the synopsis and the help lines, and runs nothing', async () => {
  const { c, seen } = probe();
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => { chunks.push(s); return true; }) as typeof process.stdout.write;
  try {
    assert.equal(await c.main(['--help']), 0);
  } finally {
    process.stdout.write = write;
  }
  assert.equal(chunks.join(''), 'embedlab probe <x> [-k 10] [--rate 0.5] [--name <n>] [--dry]\n  more help\n');
  assert.equal(seen.length, 0);
});
