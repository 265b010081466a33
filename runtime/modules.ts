import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import type { ActorDef } from './actor.ts';
import { applyPatch } from './patch.ts';
import type { Patch } from './patch.ts';
import type { PatchRef } from '../protocol/patch-ref.ts';

/**
 * Where iommu-lab's own modules live. Programs name actor modules by their
 * path inside the package ("actors/lock-manager"), so a program (and a replay
 * file) means the same thing in a source checkout under tsx or vitest, in the
 * compiled `dist/`, and on another machine.
 */
const here = import.meta.url;
export const sourceMode = here.endsWith('.ts');
/** The extension our own modules have as they run now. */
export const codeExt = sourceMode ? '.ts' : '.js';
/** The directory that holds actors/, runtime/, ... as they run now (the repo, or dist/). */
export const codeRoot = path.resolve(path.dirname(fileURLToPath(here)), '..');
export const packageRoot = sourceMode ? codeRoot : path.resolve(codeRoot, '..');

/** Resolves a package-relative module name, a relative or absolute path, or a file URL. */
export function resolveModule(name: string, base?: string): string {
  if (name.startsWith('file:')) return name;
  if (path.isAbsolute(name)) return pathToFileURL(name).href;
  if (name.startsWith('./') || name.startsWith('../')) {
    return pathToFileURL(path.resolve(base ?? process.cwd(), name)).href;
  }
  const bare = name.replace(/\.(ts|js)$/, '');
  return pathToFileURL(path.join(codeRoot, bare + codeExt)).href;
}

const loaded = new Map<string, Promise<Record<string, unknown>>>();

export function importModule(url: string): Promise<Record<string, unknown>> {
  let p = loaded.get(url);
  if (p === undefined) {
    // A user's TS module (a scenario's patches) from the compiled CLI: tsx loads it, here or in a worker.
    // From the sources too when it lies outside them (a worker of a guarded actor, runtime/hosts/guarded.ts):
    // the shim's global tsx hook would take a .ts file without a package.json for CommonJS.
    p = (/\.m?ts$/.test(url) && (!sourceMode || !url.startsWith(pathToFileURL(codeRoot).href + '/'))
      ? import('tsx/esm/api').then((t) => t.tsImport(url, import.meta.url))
      : import(url)) as Promise<Record<string, unknown>>;
    loaded.set(url, p);
  }
  return p;
}

export function isActorDef(v: unknown): v is ActorDef {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Partial<ActorDef>;
  return typeof d.kind === 'string' && typeof d.init === 'function' && typeof d.handlers === 'object' && d.handlers !== null;
}

export async function loadActorDef(module: string, exportName: string, patches: readonly PatchRef[] = []): Promise<ActorDef> {
  const mod = await importModule(resolveModule(module));
  const base = mod[exportName];
  if (!isActorDef(base)) {
    throw new Error(`module ${module} has no actor definition exported as "${exportName}"`);
  }
  let def: ActorDef = base;
  for (const ref of patches) {
    const list = (await importModule(resolveModule(ref.module)))[ref.export];
    const p = Array.isArray(list) ? (list as Patch[]).find((x) => x.name === ref.name) : undefined;
    if (p === undefined) throw new Error(`module ${ref.module} exports no patch "${ref.name}" in "${ref.export}"`);
    def = applyPatch(def, p);
  }
  return def;
}
