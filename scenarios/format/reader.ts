import type { Call } from '../../protocol/kernel.ts';
import type { Topology } from '../../protocol/topology.ts';
import { InputError } from '../../runtime/input-error.ts';
import { findOp, OPS } from './ops.ts';
import type { FieldType } from './ops.ts';

/**
 * Reading a scenario document: typed accessors that fail with an
 * InputError naming the file and the path inside the document, and the
 * check of one task op (shared by tasks and by processes, whose sysfs
 * writes are task ops).
 */

export type Obj = Readonly<Record<string, unknown>>;

export class Reader {
  private readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  fail(where: string, what: string): never {
    throw new InputError(what, this.file, where);
  }

  obj(v: unknown, where: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(where, `expected an object, got ${describe(v)}`);
    return v as Obj;
  }

  arr(v: unknown, where: string): readonly unknown[] {
    if (!Array.isArray(v)) this.fail(where, `expected an array, got ${describe(v)}`);
    return v;
  }

  str(v: unknown, where: string): string {
    if (typeof v !== 'string' || v === '') this.fail(where, `expected a non-empty string, got ${describe(v)}`);
    return v;
  }

  num(v: unknown, where: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(where, `expected a number, got ${describe(v)}`);
    return v;
  }

  bool(v: unknown, where: string): boolean {
    if (typeof v !== 'boolean') this.fail(where, `expected true or false, got ${describe(v)}`);
    return v;
  }

  /** One of a fixed set of strings. */
  oneOf<T extends string>(v: unknown, where: string, values: readonly T[]): T {
    const s = this.str(v, where);
    if (!(values as readonly string[]).includes(s)) this.fail(where, `unknown value "${s}" (one of: ${values.join(', ')})`);
    return s as T;
  }

  /** Only the listed keys may appear (a misspelt key is an error, not silently ignored). */
  keys(o: Obj, where: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(where === '' ? k : `${where}.${k}`, `unknown key "${k}" (expected one of: ${allowed.join(', ')})`);
    }
  }
}

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `"${v}"` : typeof v === 'object' ? 'an object' : String(v);
}

export function readActions(r: Reader, v: unknown, where: string): void {
  r.arr(v, where).forEach((a, i) => {
    const o = r.obj(a, `${where}[${i}]`);
    r.str(o.do, `${where}[${i}].do`);
  });
}

export function checkField(r: Reader, t: Topology, type: FieldType, v: unknown, where: string): void {
  switch (type) {
    case 'dev': {
      const id = r.str(v, where);
      if (!t.pci.some((d) => d.bdf === id) && !(t.platform ?? []).some((d) => d.name === id)) r.fail(where, `unknown device "${id}"`);
      return;
    }
    case 'driver': {
      const d = r.str(v, where);
      if (!t.drivers.some((x) => x.name === d)) r.fail(where, `unknown driver "${d}"`);
      return;
    }
    case 'slot': {
      const s = r.str(v, where);
      if (!t.pci.some((d) => d.slot === s)) r.fail(where, `no device sits in slot "${s}"`);
      return;
    }
    case 'string': r.str(v, where); return;
    case 'number': r.num(v, where); return;
    case 'bool': r.bool(v, where); return;
    case 'actions': readActions(r, v, where); return;
  }
}

/** Checks the fields of an object against a field spec (`?` marks an optional field); `extra` keys are allowed besides. */
export function checkFields(r: Reader, t: Topology, o: Obj, where: string, what: string, fields: Readonly<Record<string, FieldType>>, extra: readonly string[]): void {
  r.keys(o, where, [...extra, ...Object.keys(fields).map((f) => f.replace(/\?$/, ''))]);
  for (const [field, type] of Object.entries(fields)) {
    const optional = field.endsWith('?');
    const key = field.replace(/\?$/, '');
    if (o[key] === undefined) {
      if (!optional) r.fail(`${where}.${key}`, `${what} needs "${key}"`);
      continue;
    }
    checkField(r, t, type, o[key], `${where}.${key}`);
  }
}

/** A task op (`{ "op": "pci.hot_remove", "dev": ... }`), checked and compiled to its kernel call. */
export function readTaskOp(r: Reader, t: Topology, o: Obj, where: string): Call {
  const opName = r.str(o.op, `${where}.op`);
  const spec = findOp(opName);
  if (spec === undefined) r.fail(`${where}.op`, `unknown op "${opName}" (see \`iommu-lab ops\`; known: ${OPS.map((x) => x.name).join(', ')})`);
  checkFields(r, t, o, where, `op ${opName}`, spec.fields, ['op']);
  return spec.compile(o);
}
