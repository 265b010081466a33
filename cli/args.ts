import { InputError } from '../runtime/input-error.ts';

/** A flag a command accepts: boolean, a single value, or repeatable. */
export interface FlagSpec {
  readonly kind: 'bool' | 'value' | 'multi';
  /** Allowed values, when the set is closed. */
  readonly values?: readonly string[];
}

export interface Parsed {
  readonly positional: readonly string[];
  readonly flags: ReadonlyMap<string, readonly string[]>;
}

/** Parses `--flag`, `--flag value` and `--flag=value`; anything undeclared is bad input (exit 2). */
export function parseArgs(command: string, argv: readonly string[], spec: Readonly<Record<string, FlagSpec>>): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (s === undefined) {
      const known = Object.keys(spec).map((f) => `--${f}`).join(' ');
      throw new InputError(`unknown flag --${name} for "${command}" (accepted: ${known === '' ? 'none' : known})`);
    }
    let value: string;
    if (s.kind === 'bool') {
      if (eq >= 0) throw new InputError(`--${name} takes no value`);
      value = 'true';
    } else if (eq >= 0) {
      value = a.slice(eq + 1);
    } else {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new InputError(`--${name} needs a value`);
      value = v;
      i++;
    }
    if (s.values !== undefined && !s.values.includes(value)) {
      throw new InputError(`--${name} must be one of ${s.values.join('|')} (got "${value}")`);
    }
    const list = flags.get(name) ?? [];
    if (s.kind !== 'multi' && list.length > 0) throw new InputError(`--${name} given twice`);
    list.push(value);
    flags.set(name, list);
  }
  return { positional, flags };
}

export const has = (p: Parsed, name: string): boolean => p.flags.has(name);

export function str(p: Parsed, name: string): string | undefined {
  return p.flags.get(name)?.[0];
}

export function int(p: Parsed, name: string, min: number, dflt: number): number {
  const v = str(p, name);
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v) || Number(v) < min) throw new InputError(`--${name} must be an integer >= ${min} (got "${v}")`);
  return Number(v);
}

export function num(p: Parsed, name: string, min: number): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new InputError(`--${name} must be a number >= ${min} (got "${v}")`);
  return n;
}

export function exactlyOne(command: string, p: Parsed, what: string): string {
  if (p.positional.length !== 1) {
    throw new InputError(`"${command}" takes exactly one ${what} (got ${p.positional.length === 0 ? 'none' : p.positional.join(' ')})`);
  }
  return p.positional[0] as string;
}
