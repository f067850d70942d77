// Argument parsing shared by the CLI commands (node:util parseArgs with usage errors → exit code 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LabError } from '../core/errors';

/** Bad usage of a command (a missing or malformed option): exit 2. */
export class UsageError extends LabError {
  constructor(message: string) { super('bad-usage', message); }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export type ArgValues = Record<string, string | boolean | string[] | undefined>;

export function parse(args: string[], options: Options, positionals: { min: number; max: number; usage: string }): { values: ArgValues; positionals: string[] } | undefined {
  try {
    const r = parseArgs({ args: joinNegativeValues(args, options), options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (r.values.help) {
      process.stdout.write(positionals.usage + '\n');
      return undefined;
    }
    if (r.positionals.length < positionals.min || r.positionals.length > positionals.max) {
      throw new UsageError(`expected ${positionals.min === positionals.max ? positionals.min : `${positionals.min}–${positionals.max}`} argument(s), got ${r.positionals.length}\nusage: ${positionals.usage}`);
    }
    return { values: r.values as ArgValues, positionals: r.positionals };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${(err as Error).message}\nusage: ${positionals.usage}`);
  }
}

/**
 * `-k -5` → `-k=-5`-style: parseArgs calls a value that starts with a dash "ambiguous"; a negative number after a
 * string option is that option's value (so the command's own check can say what is wrong with it).
 */
function joinNegativeValues(args: string[], options: Options): string[] {
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
