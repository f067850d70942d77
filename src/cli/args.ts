// The CLI's one declaration format. Each command declares its options, positionals and usage once
// (`defineCommand`); the parser, `--help`, `embedlab --help` and README's command table (src/cli/help.ts) all read
// that declaration. Numbers are parsed and range-checked here and nowhere else (`int` and `number` options):
// a malformed or out-of-range value is a BadOptionError naming the option, exit 2. docs/extending.md says how to
// add a command.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BadOptionError, LabError } from '../core/errors';

/** Bad usage of a command (a missing or malformed option): exit 2. */
export class UsageError extends LabError {
  constructor(message: string) { super('bad-usage', message); }
}

interface OptionCommon {
  /** A one-letter alias (`-k`). */
  short?: string;
  /** Left out of `--help`'s option check and README's table (plumbing such as `--backend-path`). */
  hidden?: boolean;
}

/** One option of a command. `int` and `number` options arrive parsed and range-checked. */
export type OptionSpec =
  | (OptionCommon & { type: 'string'; multiple?: boolean })
  | (OptionCommon & { type: 'boolean' })
  | (OptionCommon & { type: 'int'; min: number; max?: number; default?: number })
  | (OptionCommon & { type: 'number'; min?: number; max?: number; exclusiveMin?: boolean; default?: number });

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S> = S extends { type: 'boolean' } ? boolean | undefined
  : S extends { type: 'string'; multiple: true } ? string[] | undefined
    : S extends { type: 'string' } ? string | undefined
      : S extends { default: number } ? number : number | undefined;

/** The parsed values of a command's options, typed from its declaration. */
export type Values<O extends OptionSpecs> = { -readonly [K in keyof O]: ValueOf<O[K]> };

export interface CommandSpec<O extends OptionSpecs> {
  name: string;
  /** One line: `embedlab --help` and README's table. */
  summary: string;
  /** The synopsis: one or more lines starting with `embedlab <name>`. */
  usage: string;
  /** Lines printed after the synopsis by `embedlab <name> --help`. */
  help?: string;
  /** How many positional arguments: [min, max]. */
  positionals: readonly [number, number];
  options: O;
  /** `usage` is the synopsis plus help, for error messages. */
  run(args: { values: Values<O>; positionals: string[]; usage: string }): Promise<number>;
}

/** A declared command, as the command table (src/cli/commands.ts) holds it. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly help?: string;
  readonly positionals: readonly [number, number];
  readonly options: OptionSpecs;
  /** Parses `args` against the declaration and runs the command (prints the help for `--help`). */
  main(args: string[]): Promise<number>;
}

export function defineCommand<const O extends OptionSpecs>(spec: CommandSpec<O>): Command {
  return {
    name: spec.name, summary: spec.summary, usage: spec.usage, help: spec.help, positionals: spec.positionals, options: spec.options,
    async main(args) {
      const text = helpText(spec);
      const r = parseCommandArgs(args, spec.options, spec.positionals, text);
      if (!r) return 0;
      return spec.run({ values: r.values as Values<O>, positionals: r.positionals, usage: text });
    },
  };
}

/** What `embedlab <name> --help` prints: the synopsis, then the help lines. */
export function helpText(c: { usage: string; help?: string }): string {
  return c.help ? `${c.usage}\n${c.help}` : c.usage;
}

/** How an option is written on the command line: `-k` for a one-letter name, else `--name`. */
export function flagOf(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

const INT = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** What a number option accepts, in words ("a positive integer", "an integer from 8 to 4096", "a number in (0, 1]"). */
export function describeRange(s: Extract<OptionSpec, { type: 'int' | 'number' }>): string {
  if (s.type === 'int') {
    if (s.max !== undefined) return `an integer from ${s.min} to ${s.max}`;
    return s.min === 1 ? 'a positive integer' : s.min === 0 ? 'a non-negative integer' : `an integer ≥ ${s.min}`;
  }
  const lo = s.min === undefined ? '' : `${s.exclusiveMin ? '(' : '['}${s.min}`;
  if (s.min !== undefined && s.max !== undefined) return `a number in ${lo}, ${s.max}]`;
  if (s.min !== undefined) return `a number ${s.exclusiveMin ? '>' : '≥'} ${s.min}`;
  if (s.max !== undefined) return `a number ≤ ${s.max}`;
  return 'a number';
}

/** Parses one number option's text; throws a BadOptionError naming the option when it is malformed or out of range. */
export function parseNumberOption(name: string, s: Extract<OptionSpec, { type: 'int' | 'number' }>, text: string): number {
  const x = (s.type === 'int' ? INT : NUMBER).test(text.trim()) ? Number(text) : NaN;
  const ok = Number.isFinite(x)
    && (s.min === undefined || (s.type === 'number' && s.exclusiveMin ? x > s.min : x >= s.min))
    && (s.max === undefined || x <= s.max);
  if (!ok) throw new BadOptionError(flagOf(name), `${flagOf(name)} must be ${describeRange(s)} (got ${text === '' ? 'nothing' : text})`);
  return x;
}

type ParsedValues = Record<string, string | boolean | string[] | number | undefined>;

function parseCommandArgs(args: string[], specs: OptionSpecs, positionals: readonly [number, number], usage: string): { values: ParsedValues; positionals: string[] } | undefined {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, s] of Object.entries(specs)) {
    options[name] = s.type === 'boolean' ? { type: 'boolean', ...(s.short ? { short: s.short } : {}) }
      : { type: 'string', ...(s.short ? { short: s.short } : {}), ...(s.type === 'string' && s.multiple ? { multiple: true } : {}) };
  }
  let r: { values: Record<string, unknown>; positionals: string[] };
  try {
    r = parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nusage: ${usage}`);
  }
  if (r.values.help) {
    process.stdout.write(usage + '\n');
    return undefined;
  }
  const [min, max] = positionals;
  if (r.positionals.length < min || r.positionals.length > max) {
    throw new UsageError(`expected ${min === max ? min : `${min}–${max}`} argument(s), got ${r.positionals.length}\nusage: ${usage}`);
  }
  const values: ParsedValues = {};
  for (const [name, s] of Object.entries(specs)) {
    const raw = r.values[name] as string | boolean | string[] | undefined;
    if (s.type === 'int' || s.type === 'number') {
      try {
        values[name] = raw === undefined ? s.default : parseNumberOption(name, s, raw as string);
      } catch (err) {
        if (err instanceof BadOptionError) err.message += `\nusage: ${usage}`;
        throw err;
      }
    } else values[name] = raw;
  }
  return { values, positionals: r.positionals };
}

/**
 * `-k -5` → `-k=-5`-style: parseArgs calls a value that starts with a dash "ambiguous"; a negative number after a
 * string option is that option's value (so the range check can say what is wrong with it).
 */
function joinNegativeValues(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const takesValue = (a: string): boolean => {
    if (a.startsWith('--')) return options[a.slice(2)]?.type === 'string';
    if (/^-[^-]$/.test(a)) return Object.values(options).some((o) => o.short === a.slice(1) && o.type === 'string');
    return false;
  };
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') { out.push(...args.slice(i)); break; }
    const next = args[i + 1];
    if (next !== undefined && /^-(\d|\.\d|Infinity$)/.test(next) && takesValue(a)) {
      out.push(a.startsWith('--') ? `${a}=${next}` : `${a}${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
