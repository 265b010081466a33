import type { ActorDef, Handler } from './actor.ts';

/**
 * A patch: handler implementations, written against the kernel context `k`,
 * that replace or add handlers of one actor when the scenario's variant
 * assignment matches `when`. This is how a kernel developer models a patch
 * of their own without editing iommu-lab: a scenario module exports
 * `patches`, and its variant axes choose between upstream and patched code.
 */
export interface Patch {
  /** Unique within its module; a program names a patch by module + name. */
  readonly name: string;
  /** The actor whose handlers change: `iommu-core`, `driver-core`, `pci`, `vfio`, `unit:<name>`. */
  readonly actor: string;
  /** The variant assignment that selects it ({} = always). */
  readonly when: Readonly<Record<string, string>>;
  readonly handlers: Readonly<Record<string, Handler<never, never>>>;
}

/** How a program refers to a patch: plain data, so it reaches worker threads. */
export interface PatchRef {
  readonly module: string;
  readonly export: string;
  readonly name: string;
}

/** The actor definition with the patch's handlers laid over its own. */
export function applyPatch(def: ActorDef, p: Patch): ActorDef {
  return { ...def, handlers: { ...def.handlers, ...(p.handlers as ActorDef['handlers']) } };
}

/** Whether `v` selects patch `p`. */
export function patchSelected(p: Pick<Patch, 'when'>, v: Readonly<Record<string, string>>): boolean {
  return Object.entries(p.when).every(([axis, value]) => v[axis] === value);
}
