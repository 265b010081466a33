import { declarations } from './functions.ts';
import type { KFuncDecl } from './functions.ts';
import * as lockClasses from '../protocol/lock-classes.ts';

/**
 * The map a patch author needs (`iommu-lab functions`): every declared
 * kernel function with its actor, the kernel source it models, the lock
 * classes it takes and the declared functions it calls.
 *
 * Both lists are collected statically, from the implementation's source
 * text: a lock is a `k.lock / trylock / down_* / wait_for_completion` call on
 * a lock-class constructor of protocol/lock-classes.ts (a lock built into a
 * variable first is missed), a call is a call of another declared function
 * by its TypeScript name, or a `k.call(actor, 'op')` of an op that is a
 * declared function there. What a run really takes is in its lock
 * statistics (`run --json` lockStats) and its reports.
 */

export interface FunctionInfo {
  readonly name: string;
  readonly actor: string;
  readonly unit?: string;
  /** "file: function" of the kernel source it models. */
  readonly source: string;
  readonly file: string;
  /** The TypeScript name of the implementation. */
  readonly ts: string;
  /** Parameters after `k` (a replacement may take upstream after them). */
  readonly params: number;
  readonly locks: readonly string[];
  readonly calls: readonly string[];
}

// An identifier as it reads in the implementation's source: `name`, or, after a
// module transform, `mod.name` / `(0, mod.name)` (vitest's, a bundler's).
const ID = String.raw`(?:\(0,\s*)?(?:[\w$]+\.)*([\w$]+)\)?`;
const ACQUIRE = new RegExp(String.raw`k\.(?:lock|lock_nested|trylock|down_read|down_read_recursive|down_write|down_read_trylock|down_write_trylock|wait_for_completion)\(\s*(?:${ID}\(\s*)?${ID}\(`, 'g');
const CALL = new RegExp(String.raw`\b${ID}\(\s*k\b`, 'g');
const MESSAGE = new RegExp(String.raw`k\.call(?:<[^>]*>)?\(\s*(?:${ID}|'([^']*)'|"([^"]*)")\s*,\s*['"](\w+)['"]`, 'g');

/** The lock class each constructor of protocol/lock-classes.ts builds, found by calling it. */
function lockConstructors(): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const [name, f] of Object.entries(lockClasses)) {
    if (typeof f !== 'function' || name === 'nested' || name === 'classKey' || name === 'classLock') continue;
    try {
      const l = (f as (...a: string[]) => unknown)('x', 'x', 'x') as { cls?: unknown } | null;
      if (l !== null && typeof l === 'object' && typeof l.cls === 'string') out.set(name, l.cls);
    } catch {
      // not a constructor of one lock
    }
  }
  return out;
}

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Every declared function, by kernel name, with what it takes and calls. */
export function functionMap(): FunctionInfo[] {
  const decls = declarations();
  const ctors = lockConstructors();
  const byTs = new Map<string, KFuncDecl[]>();
  for (const d of decls) byTs.set(d.tsName, [...(byTs.get(d.tsName) ?? []), d]);
  const byName = new Set(decls.map((d) => `${d.actor}:${d.name}`));
  return decls.map((d) => {
    const src = String(d.impl);
    // (the first group is a wrapper such as nested(), the second the constructor)
    const locks = [...src.matchAll(ACQUIRE)].map((m) => ctors.get(m[2] as string) ?? ctors.get(m[1] ?? '')).filter((c): c is string => c !== undefined);
    const calls: string[] = [];
    for (const m of src.matchAll(CALL)) {
      const cands = byTs.get(m[1] as string);
      if (cands === undefined || m[1] === d.tsName) continue;
      // a direct call stays in its actor (another actor is reached by a message: MESSAGE below), and a vendor's
      // function calls its own vendor's or the shared ones
      const c = cands.find((x) => x.actor === d.actor && (x.unit === undefined || d.unit === undefined || x.unit === d.unit));
      if (c !== undefined) calls.push(c.name);
    }
    for (const m of src.matchAll(MESSAGE)) {
      const to = (m[1] ?? m[2] ?? m[3]) as string;
      const op = m[4] as string;
      const actor = { PCI: 'pci', DRIVER_CORE: 'driver-core', IOMMU_CORE: 'iommu-core', VFIO: 'vfio' }[to] ?? to;
      if (byName.has(`${actor}:${op}`)) calls.push(`${actor}:${op}`);
    }
    return {
      name: d.name, actor: d.actor, ...(d.unit !== undefined ? { unit: d.unit } : {}), source: d.source, file: d.file, ts: d.tsName,
      params: d.arity, locks: sorted(locks), calls: sorted(calls),
    };
  });
}
