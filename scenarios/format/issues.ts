import type { z } from 'zod';
import { InputError } from '../../runtime/input-error.ts';

/**
 * Turning what a schema (zod) found wrong into the one message the CLI
 * prints with exit 2: the file, the path inside the document
 * (`tasks[0].ops[2].dev`), what was expected and what was there, a "did you
 * mean" for a misspelt name. Echoed values are cut to ECHO_MAX characters so
 * a 10 MB string is not written back to the terminal.
 */

export const ECHO_MAX = 80;

/** A value as a message shows it, cut to ECHO_MAX characters. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'object') return 'an object';
  return cut(String(v));
}

/** A string cut to ECHO_MAX characters, its control and format characters escaped (\u0000, \u202e: never raw to a terminal). */
export function cut(s: string): string {
  const short = s.length <= ECHO_MAX ? s : `${s.slice(0, ECHO_MAX)}… (${s.length} characters)`;
  return short.replace(/[\p{Cc}\p{Cf}]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A name in a message: quoted and cut. */
export function quote(s: string): string {
  return `"${cut(s)}"`;
}

/** A list of names in a message, cut after 40 (a generated machine has hundreds of devices). */
export function names(list: readonly string[]): string {
  return list.length <= 40 ? list.join(', ') : `${list.slice(0, 40).join(', ')}, … (${list.length} in all)`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** `; did you mean "x"?` for the closest candidate within a few edits, or nothing. */
export function didYouMean(s: string, candidates: Iterable<string>): string {
  if (s.length > 64) return '';
  let best: string | null = null;
  let bestD = Math.max(2, Math.floor(s.length / 3)) + 1;
  for (const c of candidates) {
    const d = distance(s.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best === null ? '' : `; did you mean "${best}"?`;
}

/** `a.b[0].c` from a zod path. */
export function pathString(p: readonly PropertyKey[]): string {
  let s = '';
  for (const k of p) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += (s === '' ? '' : '.') + cut(String(k));
  }
  return s;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a non-empty string', number: 'a number', int: 'a number (an integer >= 0)', boolean: 'true or false',
  object: 'an object', array: 'an array', null: 'null', record: 'an object',
};

function at(root: unknown, p: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of p) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** What the object holding a missing field is, for "op driver.bind needs "driver"". */
function ownerName(o: unknown): string {
  if (typeof o !== 'object' || o === null) return 'this object';
  const r = o as Record<string, unknown>;
  if (r.op === 'ioctl' && typeof r.cmd === 'string') return `ioctl ${cut(r.cmd)}`;
  if (typeof r.op === 'string') return `op ${cut(r.op)}`;
  if (typeof r.do === 'string') return `action ${cut(r.do)}`;
  return 'this object';
}

/**
 * The issues of a discriminated union whose discriminator the input lacks
 * say nothing useful; of a plain union's branches, the one whose
 * discriminator the input has explains the mistake.
 */
function pickBranch(errors: readonly (readonly z.core.$ZodIssue[])[], input: unknown): readonly z.core.$ZodIssue[] | undefined {
  const has = (k: PropertyKey | undefined): boolean => typeof input === 'object' && input !== null && k !== undefined && Object.hasOwn(input, k);
  const useful = errors.filter((b) => !(b.length === 1 && b[0]!.code === 'invalid_union' && (b[0] as { discriminator?: string }).discriminator !== undefined
    && !has((b[0] as { discriminator?: string }).discriminator)));
  return useful[0] ?? errors[0];
}

/** One issue, as "path: what was wrong". */
export function issueMessage(issue: z.core.$ZodIssue, root: unknown, base: readonly PropertyKey[] = []): { where: string; what: string } {
  const p = [...base, ...issue.path];
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_union': {
      const d = (issue as { discriminator?: string }).discriminator;
      if (d !== undefined) {
        // the path already ends at the discriminator; the input is the object that holds it
        const v = at(root, p);
        if (typeof v !== 'string' || v === '') return { where: pathString(p), what: `${issue.message === '' ? '' : ''}expected ${EXPECTED.string}, got ${describe(v)}` };
        const options = ((issue as { options?: unknown[] }).options ?? []).map(String);
        // a union with a label ("unknown op %s (see …)"; schema.ts) says what the value names
        const custom = issue.message.includes('%s') ? issue.message.replace('%s', quote(v)) : `unknown value ${quote(v)} (one of: ${names(options)})`;
        return { where: pathString(p), what: custom + didYouMean(v, options) };
      }
      const branch = pickBranch(issue.errors, at(root, p));
      if (branch !== undefined && branch[0] !== undefined) return issueMessage(branch[0], root, p);
      return { where: pathString(p), what: `does not match any allowed form, got ${describe(at(root, p))}` };
    }
    case 'unrecognized_keys': {
      const k = issue.keys[0] ?? '';
      const allowed = issue.message.startsWith('expected one of: ') ? issue.message.slice('expected one of: '.length).split(', ') : [];
      return { where: pathString([...p, k]), what: `unknown key ${quote(k)}${allowed.length > 0 ? ` (expected one of: ${allowed.join(', ')})` : ''}${didYouMean(k, allowed)}` };
    }
    case 'invalid_type': {
      const v = at(root, p);
      if (v === undefined && p.length > 0) {
        const key = p[p.length - 1]!;
        return { where: pathString(p), what: `${ownerName(at(root, p.slice(0, -1)))} needs "${String(key)}" (${EXPECTED[issue.expected] ?? issue.expected})` };
      }
      // a schema's own wording ("expected a task id") says more than the type's
      const expected = issue.message.startsWith('expected ') ? issue.message : `expected ${EXPECTED[issue.expected] ?? issue.expected}`;
      return { where: pathString(p), what: `${expected}, got ${describe(v)}` };
    }
    case 'invalid_value': {
      const v = at(root, p) ?? input;
      if (issue.values.length === 1) return { where: pathString(p), what: `expected ${JSON.stringify(issue.values[0])}, got ${describe(v)}` };
      const vals = issue.values.map(String);
      // an enum with a label ("unknown unit kind"; schema.ts oneOf) says what the value names
      if (!issue.message.startsWith('unknown ')) return { where: pathString(p), what: `expected one of ${names(vals.map((x) => JSON.stringify(x)))}, got ${describe(v)}` };
      const label = issue.message;
      return { where: pathString(p), what: `${label} ${describe(v)} (one of: ${names(vals)})${typeof v === 'string' ? didYouMean(v, vals) : ''}` };
    }
    case 'too_small':
    case 'too_big': {
      const v = at(root, p) ?? input;
      const small = issue.code === 'too_small';
      const limit = `${small ? (issue.inclusive === false ? 'more than' : 'at least') : (issue.inclusive === false ? 'less than' : 'at most')} ${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)}`;
      if (issue.message.startsWith('expected ')) return { where: pathString(p), what: `${issue.message}, got ${describe(v)}` };
      if (issue.origin === 'string') {
        if (small && v === '') return { where: pathString(p), what: `expected ${EXPECTED.string}, got ""` };
        return { where: pathString(p), what: `expected a string of ${limit} characters, got ${describe(v)}` };
      }
      if (issue.origin === 'array' || issue.origin === 'set') return { where: pathString(p), what: `expected ${limit} entries (the documented limit), got ${Array.isArray(v) ? v.length : describe(v)}` };
      return { where: pathString(p), what: `expected a number ${limit}, got ${describe(v)}` };
    }
    case 'invalid_key':
      return issueMessage(issue.issues[0] ?? { ...issue, code: 'custom' } as z.core.$ZodIssue, root, p);
    case 'invalid_format':
      return { where: pathString(p), what: `${issue.message}, got ${describe(at(root, p) ?? input)}` };
    default:
      return { where: pathString(p), what: issue.message };
  }
}

/** An InputError for the first issue (the one a user fixes first). */
export function inputErrorOf(error: z.core.$ZodError, root: unknown, file: string): InputError {
  const first = error.issues[0];
  if (first === undefined) return new InputError('invalid', file, '(document)');
  const { where, what } = issueMessage(first, root);
  return new InputError(what, file, where === '' ? '(document)' : where);
}

/**
 * JSON.parse with a syntax error as "line L, column C" (V8 says "position N")
 * and a file named in the InputError.
 */
export function parseJson(text: string, file: string, where: string | null = null): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const m = /position (\d+)/.exec(msg);
    const pos = m !== null ? Number(m[1]) : /end of JSON input/.test(msg) ? text.length : null;
    const line = pos === null ? '' : ` at line ${lineCol(text, pos)}`;
    throw new InputError(`not valid JSON${line}: ${cut(msg.replace(/ in JSON at position \d+.*$/, '').replace(/, ".*" is not valid JSON$/s, ''))}`, file, where);
  }
}

function lineCol(text: string, pos: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  return `${line}, column ${col}`;
}
