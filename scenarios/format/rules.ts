import { INVARIANTS, INVARIANT_IDS, isInvariantId } from '../../checkers/invariants/catalog.ts';
import type { InvariantId } from '../../checkers/invariants/catalog.ts';
import type { GroupRule, InvariantReplacement, InvariantsOptions, WriteRule } from '../../checkers/invariants/invariants-checker.ts';
import { hasOrderEdge, preloadOrder } from '../../checkers/lockdep/preload.ts';
import type { OrderChanges, OrderEdge } from '../../checkers/lockdep/preload.ts';
import { LOCK_CLASSES, isLockClassName } from '../../protocol/lock-classes.ts';
import type { KnownDependency, LockClassName } from '../../protocol/lock-classes.ts';
import { InputError } from '../../runtime/input-error.ts';
import type { VariantAssignment } from '../scenario.ts';

type Obj = Record<string, unknown>;

/**
 * The checks of a `rules` entry, each failure an InputError naming the file
 * and the path in the document (schema.ts leaves the entries to this file:
 * a replaced invariant's judge is a function).
 */
class Reader {
  private readonly file: string;
  constructor(file: string) {
    this.file = file;
  }
  fail(where: string, what: string): never {
    throw new InputError(what, this.file, where);
  }
  obj(v: unknown, where: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(where, 'expected an object');
    return v as Obj;
  }
  arr(v: unknown, where: string): readonly unknown[] {
    if (!Array.isArray(v)) this.fail(where, 'expected an array');
    return v as unknown[];
  }
  str(v: unknown, where: string): string {
    if (typeof v !== 'string' || v === '') this.fail(where, 'expected a non-empty string');
    return v as string;
  }
  bool(v: unknown, where: string): boolean {
    if (typeof v !== 'boolean') this.fail(where, 'expected true or false');
    return v as boolean;
  }
  keys(o: Obj, where: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.fail(where === '' ? k : `${where}.${k}`, `unknown key (expected one of: ${allowed.join(', ')})`);
  }
}

/** The axes the rules' `when` name (a document may declare them, like a patch's own axes). */
export function ruleAxes(v: unknown): Set<string> {
  if (!Array.isArray(v)) return new Set();
  return new Set(v.flatMap((x: unknown) => {
    const when = typeof x === 'object' && x !== null ? (x as { when?: unknown }).when : undefined;
    return typeof when === 'object' && when !== null ? Object.keys(when) : [];
  }));
}

/**
 * Kernel rules as data (docs/scenarios.md "Kernel rules as data"): a
 * document's `rules` change what the checkers take for the kernel's rules,
 * per variant assignment, each change with the reason the run header prints.
 *
 *   rules: [{ when?: { "<axis>": "<value>" }, reason: "…",
 *             lockdep?: { preload?: false,
 *                         drop?: [{ outer, inner }],
 *                         add?: [{ outer, inner, outer_read?, via }],
 *                         replace?: [{ edge: { outer, inner }, by: { outer, inner, outer_read?, via } }] },
 *             invariants?: { "<invariant id>": "off" | { name, rule, judge } } }]
 *
 * `judge` is a function, so a replaced invariant needs a TS/JS scenario
 * module; "off" works in JSON too.
 */
export interface RuleSet {
  readonly when: VariantAssignment;
  readonly reason: string;
  readonly order: OrderChanges;
  readonly off: readonly InvariantId[];
  readonly replace: Readonly<Partial<Record<InvariantId, InvariantReplacement>>>;
}

const edgeText = (e: OrderEdge): string => `${e.outer} → ${e.inner}`;

function readClass(r: Reader, v: unknown, w: string): LockClassName {
  const s = r.str(v, w);
  if (!isLockClassName(s)) r.fail(w, `unknown lock class "${s}" (one of: ${Object.keys(LOCK_CLASSES).join(', ')})`);
  return s;
}

function readEdge(r: Reader, v: unknown, w: string): OrderEdge {
  const o = r.obj(v, w);
  r.keys(o, w, ['outer', 'inner']);
  const e = { outer: readClass(r, o.outer, `${w}.outer`), inner: readClass(r, o.inner, `${w}.inner`) };
  if (!hasOrderEdge(e)) r.fail(w, `the kernel order has no edge ${edgeText(e)} (iommu-lab functions, docs/kernel-facts.md §1.2)`);
  return e;
}

function readDependency(r: Reader, v: unknown, w: string, reason: string): KnownDependency {
  const o = r.obj(v, w);
  r.keys(o, w, ['outer', 'inner', 'outer_read', 'via']);
  return {
    outer: readClass(r, o.outer, `${w}.outer`), inner: readClass(r, o.inner, `${w}.inner`),
    ...(o.outer_read !== undefined ? { outerRead: r.bool(o.outer_read, `${w}.outer_read`) } : {}),
    via: r.str(o.via, `${w}.via`), source: `the scenario: ${reason}`,
  };
}

function readOrder(r: Reader, v: unknown, w: string, reason: string): OrderChanges {
  const o = r.obj(v ?? {}, w);
  r.keys(o, w, ['preload', 'drop', 'add', 'replace']);
  return {
    ...(o.preload !== undefined ? { preload: r.bool(o.preload, `${w}.preload`) } : {}),
    drop: r.arr(o.drop ?? [], `${w}.drop`).map((e, i) => readEdge(r, e, `${w}.drop[${i}]`)),
    add: r.arr(o.add ?? [], `${w}.add`).map((e, i) => readDependency(r, e, `${w}.add[${i}]`, reason)),
    replace: r.arr(o.replace ?? [], `${w}.replace`).map((x, i) => {
      const q = r.obj(x, `${w}.replace[${i}]`);
      r.keys(q, `${w}.replace[${i}]`, ['edge', 'by']);
      return { edge: readEdge(r, q.edge, `${w}.replace[${i}].edge`), by: readDependency(r, q.by, `${w}.replace[${i}].by`, reason) };
    }),
  };
}

function readInvariants(r: Reader, v: unknown, w: string): { off: InvariantId[]; replace: Partial<Record<InvariantId, InvariantReplacement>> } {
  const o = r.obj(v ?? {}, w);
  const off: InvariantId[] = [];
  const replace: Partial<Record<InvariantId, InvariantReplacement>> = {};
  for (const [id, x] of Object.entries(o)) {
    const wi = `${w}.${id}`;
    if (!isInvariantId(id)) r.fail(wi, `unknown invariant "${id}" (one of: ${INVARIANT_IDS.join(', ')})`);
    if (x === 'off') {
      off.push(id);
      continue;
    }
    const q = r.obj(x, wi);
    r.keys(q, wi, ['name', 'rule', 'judge']);
    const name = r.str(q.name, `${wi}.name`);
    if (isInvariantId(name)) r.fail(`${wi}.name`, `"${name}" is an upstream invariant's id: name the replacement differently`);
    if (typeof q.judge !== 'function') {
      r.fail(`${wi}.judge`, `expected "off" or a function ${INVARIANTS[id].when === 'write' ? '(shadow, change, old) => Violation | null' : '({ s, group, step }) => Violation | null'} (a TS/JS scenario module)`);
    }
    replace[id] = { name, rule: r.str(q.rule, `${wi}.rule`), judge: q.judge as GroupRule | WriteRule };
  }
  return { off, replace };
}

export function readRules(file: string, v: unknown, variants: Readonly<Record<string, readonly string[]>>): RuleSet[] {
  const r = new Reader(file);
  return r.arr(v ?? [], 'rules').map((x, i) => {
    const w = `rules[${i}]`;
    const o = r.obj(x, w);
    r.keys(o, w, ['when', 'reason', 'lockdep', 'invariants']);
    const when = r.obj(o.when ?? {}, `${w}.when`);
    for (const [axis, value] of Object.entries(when)) {
      const values = variants[axis];
      if (values === undefined) return r.fail(`${w}.when.${axis}`, `"${axis}" is not an axis of this scenario`);
      if (!values.includes(r.str(value, `${w}.when.${axis}`))) r.fail(`${w}.when.${axis}`, `"${String(value)}" is not a value of ${axis} here (${values.join(', ')})`);
    }
    const reason = r.str(o.reason, `${w}.reason`);
    if (reason.trim() === '') r.fail(`${w}.reason`, 'say why the rule changes (the run header prints it)');
    const inv = readInvariants(r, o.invariants, `${w}.invariants`);
    return { when: when as VariantAssignment, reason, order: readOrder(r, o.lockdep, `${w}.lockdep`, reason), ...inv };
  });
}

const selected = (s: RuleSet, v: VariantAssignment): boolean => Object.entries(s.when).every(([axis, value]) => v[axis] === value);

/** What the checkers take for the kernel's rules under assignment `v`. */
export function rulesFor(sets: readonly RuleSet[], v: VariantAssignment, skip: readonly string[]): { readonly known: KnownDependency[]; readonly invariants: InvariantsOptions } {
  const active = sets.filter((s) => selected(s, v));
  const replace: Partial<Record<InvariantId, InvariantReplacement>> = {};
  for (const s of active) Object.assign(replace, s.replace);
  return {
    known: preloadOrder(active.map((s) => s.order)),
    invariants: { skip: [...skip, ...active.flatMap((s) => s.off)], replace },
  };
}

/** The run header's lines for the rule changes in force under `v`: what changed and why. */
export function describeRules(sets: readonly RuleSet[], v: VariantAssignment): string[] {
  const out: string[] = [];
  for (const s of sets.filter((x) => selected(x, v))) {
    const what: string[] = [];
    if (s.order.preload === false) what.push('lockdep preloads no kernel order');
    for (const e of s.order.drop ?? []) what.push(`lockdep order drops ${edgeText(e)}`);
    for (const x of s.order.replace ?? []) what.push(`lockdep order replaces ${edgeText(x.edge)} by ${edgeText(x.by)}`);
    for (const e of s.order.add ?? []) what.push(`lockdep order adds ${edgeText(e)} (${e.via})`);
    for (const id of s.off) what.push(`invariant ${id} off`);
    for (const [id, x] of Object.entries(s.replace)) what.push(`invariant ${id} replaced by ${x.name}: ${x.rule}`);
    out.push(`${what.join('; ')} — because ${s.reason}`);
  }
  return out;
}
