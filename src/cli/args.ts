// Argument parsing shared by the CLI commands (node:util parseArgs with usage errors → exit code 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  readonly exitCode = 2;
}

type Options = NonNullable<ParseArgsConfig['options']>;

export type ArgValues = Record<string, string | boolean | string[] | undefined>;

export function parse(args: string[], options: Options, positionals: { min: number; max: number; usage: string }): { values: ArgValues; positionals: string[] } | undefined {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
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

