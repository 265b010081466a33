import type { Kernel } from './actor.ts';

/**
 * Kernel functions as first-class units. Every function of the model that
 * stands for a kernel function — a handler or a helper, in actors/ or
 * hardware/ — is declared once with `kfunc()`, under its kernel name
 * (`vfio_pci_core_close_device`), with the actor that runs it and the kernel
 * source it models (`drivers/vfio/pci/vfio_pci_core.c: vfio_pci_core_close_device`).
 * The TypeScript name stays readable (`vfioPciCoreCloseDevice`); the kernel
 * name is the registered one, the one stacks print and patches name.
 *
 * A call through a declaration is a function call, not a message: the
 * kernel context pushes a frame ("actor:kernel_name") on the task's stack —
 * the stack that k.call carries across actors, so a report prints the chain
 * the way the kernel's backtrace does — and looks up a patch of this actor
 * for the name (runtime/patch.ts). Both hosts load the declarations the same
 * way: they are made when the actor modules are imported.
 */

/** A replacement of a declared function: the declared parameters, then the upstream implementation. */
export type FnPatch = (k: never, ...args: never[]) => unknown;

export interface KFuncMeta {
  /**
   * The actor kind that runs it: `driver-core`, `pci`, `vfio`, `iommu-core`,
   * `process`, or `unit` for every IOMMU unit model (with `unit` naming the
   * vendor when only one runs it).
   */
  readonly actor: string;
  /** The unit kind (`vtd`, `amd-vi`, `smmu-v3`, …) of a vendor's own function. */
  readonly unit?: string;
  /** The kernel source it models: "file: function" (kernel-facts cites them this way). */
  readonly source: string;
}

/** What the registry keeps of one declaration. */
export interface KFuncDecl extends KFuncMeta {
  /** The kernel name: the frame name and the name a patch replaces. */
  readonly name: string;
  /** The kernel file (the part of `source` before ':'). */
  readonly file: string;
  /** The TypeScript name of the implementation (what a reader greps for). */
  readonly tsName: string;
  /** Parameters after `k`: a replacement gets the upstream implementation after them. */
  readonly arity: number;
  readonly impl: (k: Kernel<never>, ...args: never[]) => unknown;
}

/** A declared function: callable like its implementation, and it knows its declaration. */
export type KFunc<F> = F & { readonly decl: KFuncDecl; readonly upstream: F };

/**
 * The door a kernel context opens for declared functions (runtime/context.ts
 * implements it): runs `d` with its frame pushed, through this actor's patch
 * of it when there is one.
 */
export interface FrameHost {
  invoke(d: KFuncDecl, args: readonly unknown[]): unknown;
}

/** Declarations by actor (and unit kind) and kernel name: two actors may model the same kernel function (vfio's copy of pci_dev_trylock). */
const registry = new Map<string, KFuncDecl>();
const keyOf = (d: KFuncMeta & { readonly name: string }): string => `${d.actor}${d.unit === undefined ? '' : `@${d.unit}`}:${d.name}`;

/**
 * Frames on (the default) or the bare call path: the declared function runs
 * its implementation directly, without a frame or a patch look-up. Only the
 * benchmark turns frames off, to measure what they cost (`ratios.framesOverhead`).
 */
let framesOn = true;
export function setFrames(on: boolean): void {
  framesOn = on;
}
export function framesEnabled(): boolean {
  return framesOn;
}

function isFrameHost(k: unknown): k is FrameHost {
  return typeof (k as Partial<FrameHost>).invoke === 'function';
}

/**
 * Declares a kernel function. `impl`'s first parameter is the kernel
 * context; the rest are the function's own. Declaring a name twice is an
 * error (one declaration per kernel function, so a patch means one thing),
 * unless it is the same implementation loaded twice (a module that tsx and
 * the native loader both imported).
 */
export function kfunc<F extends (k: never, ...args: never[]) => unknown>(name: string, meta: KFuncMeta, impl: F): KFunc<F> {
  const colon = meta.source.indexOf(':');
  const decl: KFuncDecl = {
    name, actor: meta.actor, source: meta.source, file: (colon < 0 ? meta.source : meta.source.slice(0, colon)).trim(),
    tsName: impl.name, arity: Math.max(0, impl.length - 1), impl: impl as unknown as KFuncDecl['impl'],
    ...(meta.unit !== undefined ? { unit: meta.unit } : {}),
  };
  const key = keyOf(decl);
  const seen = registry.get(key);
  if (seen !== undefined && seen.source !== decl.source) {
    throw new Error(`kernel function ${name} of ${meta.actor} is declared twice (${seen.source}; ${decl.source})`);
  }
  if (seen === undefined) registry.set(key, decl);
  const run = impl as unknown as (k: unknown, ...args: unknown[]) => unknown;
  const f = function (k: unknown, ...args: unknown[]): unknown {
    return framesOn && isFrameHost(k) ? k.invoke(decl, args) : run(k, ...args);
  };
  Object.defineProperty(f, 'name', { value: impl.name || name });
  return Object.assign(f, { decl, upstream: impl }) as unknown as KFunc<F>;
}

/** The kernel name in a "file: function" source (the part after ':'). */
export function kernelNameOf(source: string): string {
  const colon = source.indexOf(':');
  return (colon < 0 ? source : source.slice(colon + 1)).trim();
}

/** Whether a value is a declared function. */
export function isKFunc(v: unknown): v is KFunc<(...a: never[]) => unknown> {
  return typeof v === 'function' && typeof (v as Partial<KFunc<unknown>>).decl === 'object';
}

/** The declarations of a kernel name (one per actor that models it). */
export function declsOf(name: string): readonly KFuncDecl[] {
  return [...registry.values()].filter((d) => d.name === name);
}

/** Every declaration made so far, by kernel name. Import actors/functions.ts first to have them all. */
export function declarations(): readonly KFuncDecl[] {
  const key = (d: KFuncDecl): string => `${d.name}\0${keyOf(d)}`;
  return [...registry.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * Runs a declaration's implementation, or the patch that replaces it: a
 * replacement gets the declared parameters (missing optional ones as
 * undefined, so the upstream implementation is always at the same place)
 * and then the upstream implementation.
 */
export function runDecl(d: KFuncDecl, k: unknown, args: readonly unknown[], patch: FnPatch | undefined): unknown {
  const impl = d.impl as (k: unknown, ...a: unknown[]) => unknown;
  if (patch === undefined) return impl(k, ...args);
  const padded = args.length >= d.arity ? [...args] : [...args, ...new Array<undefined>(d.arity - args.length)];
  return (patch as unknown as (k: unknown, ...a: unknown[]) => unknown)(k, ...padded, impl);
}
