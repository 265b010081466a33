import { CANONICAL_ORDER } from '../../protocol/lock-classes.ts';
import type { KnownDependency } from '../../protocol/lock-classes.ts';

/**
 * The kernel order lockdep preloads (docs/kernel-facts.md §1.2,
 * protocol/lock-classes.ts CANONICAL_ORDER) as a scenario changes it: a
 * patch that removes a nesting drops the edge, one that adds a nesting adds
 * it, one that changes it replaces it, and a scenario can turn the preload
 * off. The result is plain data handed to `new Lockdep({ known })`.
 */

/** One edge of the order, as a scenario names it (the outer and inner class). */
export interface OrderEdge {
  readonly outer: string;
  readonly inner: string;
}

export interface OrderChanges {
  /** false: preload nothing (only what runs is seen, like the kernel's own lockdep). Default true. */
  readonly preload?: boolean;
  readonly drop?: readonly OrderEdge[];
  readonly add?: readonly KnownDependency[];
  readonly replace?: readonly { readonly edge: OrderEdge; readonly by: KnownDependency }[];
}

const same = (d: OrderEdge, e: OrderEdge): boolean => d.outer === e.outer && d.inner === e.inner;

/** Whether the preloaded order has this edge. */
export function hasOrderEdge(e: OrderEdge, base: readonly KnownDependency[] = CANONICAL_ORDER): boolean {
  return base.some((d) => same(d, e));
}

/** The order after the changes, in order: drops, replacements (in place), then additions. */
export function preloadOrder(changes: readonly OrderChanges[], base: readonly KnownDependency[] = CANONICAL_ORDER): KnownDependency[] {
  if (changes.some((c) => c.preload === false)) base = [];
  let out = [...base];
  for (const c of changes) {
    for (const e of c.drop ?? []) out = out.filter((d) => !same(d, e));
    for (const r of c.replace ?? []) out = out.map((d) => (same(d, r.edge) ? r.by : d));
    for (const a of c.add ?? []) if (!out.some((d) => same(d, a))) out.push(a);
  }
  return out;
}

