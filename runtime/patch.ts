import type { ActorDef, Handler, Kernel } from './actor.ts';
import type { FnPatch } from './kfunc.ts';
import { userFunction } from './user-code.ts';
export type { PatchRef } from '../protocol/patch-ref.ts';

/**
 * A patch: code written against the kernel context `k` that replaces parts
 * of one actor when the scenario's variant assignment matches `when`. This is
 * how a kernel developer models a patch of their own without editing
 * iommu-lab: a scenario module exports `patches`, and its variant axes choose
 * between upstream and patched code.
 *
 * - `functions` replace declared kernel functions (runtime/kfunc.ts) by
 *   their kernel name — handlers and helpers alike, at the granularity the
 *   real patch has. A replacement gets the function's parameters and then
 *   the upstream implementation, so "call upstream, then …" is one line.
 * - `handlers` replace or add message handlers of the actor (ops).
 *
 * A later patch of the same function wins over an earlier one.
 */
export interface Patch {
  /** Unique within its module; a program names a patch by module + name. */
  readonly name: string;
  /** The actor whose code changes: `iommu-core`, `driver-core`, `pci`, `vfio`, `unit:<name>`. */
  readonly actor: string;
  /** The variant assignment that selects it ({} = always). */
  readonly when: Readonly<Record<string, string>>;
  readonly handlers?: Readonly<Record<string, Handler<never, never>>>;
  readonly functions?: Readonly<Record<string, FnPatch>>;
}

/** A replaced function or handler announces itself when it runs: a run reports patches no schedule reached. */
function announced(fn: string, h: Handler<never, never>): Handler<never, never> {
  // the user's code, named for the watchdog (runtime/user-code.ts)
  const user = userFunction(fn, h);
  return (k: Kernel<never>, body: never) => {
    k.emit({ ev: 'fn.patched', fn });
    return user(k, body);
  };
}

/** The actor definition with the patch laid over it. */
export function applyPatch(def: ActorDef, p: Patch): ActorDef {
  const handlers = Object.fromEntries(Object.entries(p.handlers ?? {}).map(([op, h]) => [op, announced(op, h)]));
  const fns = Object.entries(p.functions ?? {}).map(([name, f]) => [name, userFunction(name, f) as FnPatch] as const);
  return {
    ...def,
    handlers: { ...def.handlers, ...(handlers as ActorDef['handlers']) },
    ...(fns.length > 0 || def.functions !== undefined ? { functions: new Map([...(def.functions ?? []), ...fns]) } : {}),
  };
}

/** Whether `v` selects patch `p`. */
export function patchSelected(p: Pick<Patch, 'when'>, v: Readonly<Record<string, string>>): boolean {
  return Object.entries(p.when).every(([axis, value]) => v[axis] === value);
}
