import { isInvariantId } from '../../checkers/invariants/catalog.ts';
import type { InvariantId } from '../../checkers/invariants/catalog.ts';
import type { InvariantReplacement, InvariantsOptions } from '../../checkers/invariants/invariants-checker.ts';
import { hasOrderEdge, preloadOrder } from '../../checkers/lockdep/preload.ts';
import type { OrderChanges, OrderEdge } from '../../checkers/lockdep/preload.ts';
import type { KnownDependency } from '../../protocol/lock-classes.ts';
import { InputError } from '../../runtime/input-error.ts';
import type { VariantAssignment } from '../scenario.ts';
import type { DocumentRule } from './schema.ts';

/** A rule problem the schema cannot state: an InputError naming the file and the path in the document. */
function failAt(file: string, where: string, what: string): never {
  throw new InputError(what, file, where);
}

/** The axes the rules' `when` name (a document may declare them, like a patch's own axes). */
export function ruleAxes(rules: readonly DocumentRule[] | undefined): Set<string> {
  return new Set((rules ?? []).flatMap((r) => Object.keys(r.when ?? {})));
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

function checkEdge(file: string, e: OrderEdge, w: string): OrderEdge {
  if (!hasOrderEdge(e)) failAt(file, w, `the kernel order has no edge ${edgeText(e)} (iommu-lab functions, docs/kernel-facts.md §1.2)`);
  return e;
}

function dependency(d: NonNullable<NonNullable<DocumentRule['lockdep']>['add']>[number], reason: string): KnownDependency {
  return { outer: d.outer, inner: d.inner, ...(d.outer_read !== undefined ? { outerRead: d.outer_read } : {}), via: d.via, source: `the scenario: ${reason}` };
}

/**
 * The document's `rules`, already checked field by field by the schema
 * (schema.ts Rule): here what relates them to the rest — a dropped or
 * replaced edge is one the kernel order has, `when` names this scenario's
 * axes and values, a replacement is not named like an upstream invariant.
 */
export function readRules(file: string, rules: readonly DocumentRule[] | undefined, variants: Readonly<Record<string, readonly string[]>>): RuleSet[] {
  return (rules ?? []).map((o, i) => {
    const w = `rules[${i}]`;
    const when = o.when ?? {};
    for (const [axis, value] of Object.entries(when)) {
      const values = variants[axis];
      if (values === undefined) failAt(file, `${w}.when.${axis}`, `"${axis}" is not an axis of this scenario`);
      if (!values.includes(value)) failAt(file, `${w}.when.${axis}`, `"${value}" is not a value of ${axis} here (${values.join(', ')})`);
    }
    const reason = o.reason;
    const l = o.lockdep ?? {};
    const order: OrderChanges = {
      ...(l.preload !== undefined ? { preload: l.preload } : {}),
      drop: (l.drop ?? []).map((e, j) => checkEdge(file, e, `${w}.lockdep.drop[${j}]`)),
      add: (l.add ?? []).map((d) => dependency(d, reason)),
      replace: (l.replace ?? []).map((x, j) => ({ edge: checkEdge(file, x.edge, `${w}.lockdep.replace[${j}].edge`), by: dependency(x.by, reason) })),
    };
    const off: InvariantId[] = [];
    const replace: Partial<Record<InvariantId, InvariantReplacement>> = {};
    for (const [id, x] of Object.entries(o.invariants ?? {}) as [InvariantId, NonNullable<DocumentRule['invariants']>[InvariantId]][]) {
      if (x === undefined) continue;
      if (x === 'off') {
        off.push(id);
        continue;
      }
      if (isInvariantId(x.name)) failAt(file, `${w}.invariants.${id}.name`, `"${x.name}" is an upstream invariant's id: name the replacement differently`);
      replace[id] = { name: x.name, rule: x.rule, judge: x.judge };
    }
    return { when: when as VariantAssignment, reason, order, off, replace };
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
