import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../../runtime/input-error.ts';
import type { Scenario } from '../scenario.ts';
import { scenarioFromDocument } from './document.ts';
import { cut, parseJson } from './issues.ts';
import type { DocumentPatch } from './document.ts';

/** A scenario argument that names a file rather than a built-in scenario. */
export function isScenarioFile(ref: string): boolean {
  return /\.(json|ts|mts|js|mjs)$/.test(ref) || ref.includes('/') || ref.includes(path.sep);
}

/**
 * Loads a scenario document: JSON, or a TS/JS module whose default export is
 * the document (TS through tsx, so it works from the compiled CLI too).
 * Unreadable files and JSON syntax errors are InputErrors naming the file.
 */
export async function loadScenarioFile(file: string): Promise<Scenario> {
  const abs = path.resolve(file);
  let doc: unknown;
  if (file.endsWith('.json')) {
    let text: string;
    try {
      text = readFileSync(abs, 'utf8');
    } catch (e) {
      throw new InputError(`cannot read the scenario file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, file);
    }
    doc = parseJson(text, file);
  } else {
    let mod: Record<string, unknown>;
    try {
      mod = /\.m?ts$/.test(file)
        ? ((await (await import('tsx/esm/api')).tsImport(pathToFileURL(abs).href, import.meta.url)) as Record<string, unknown>)
        : ((await import(pathToFileURL(abs).href)) as Record<string, unknown>);
    } catch (e) {
      throw new InputError(`cannot load the scenario module: ${thrown(e)}`, file);
    }
    // Reading the exports runs the module's code too (a getter may throw anything): that is the module's mistake, exit 2.
    try {
      // A .ts file outside an ESM package loads as CommonJS: its exports arrive wrapped in `default`.
      const inner = mod.default;
      if (typeof inner === 'object' && inner !== null && 'default' in inner && !('name' in inner)) mod = inner as Record<string, unknown>;
      doc = mod.default;
      return { ...scenarioFromDocument(doc, file, readPatches(mod.patches, file, pathToFileURL(abs).href), path.dirname(abs)), source: file };
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(`reading the module's exports: ${thrown(e)}`, file);
    }
  }
  return { ...scenarioFromDocument(doc, file, [], path.dirname(abs)), source: file };
}

/** A module's `patches` export (runtime/patch.ts), checked the way documents are: file, path, what was expected. */
function readPatches(v: unknown, file: string, module: string): DocumentPatch[] {
  if (v === undefined) return [];
  const fail = (where: string, what: string): never => {
    throw new InputError(what, file, where);
  };
  if (!Array.isArray(v)) fail('patches', 'expected an array of patches');
  const names = new Set<string>();
  return (v as unknown[]).map((p, i) => {
    const w = `patches[${i}]`;
    if (typeof p !== 'object' || p === null) fail(w, 'expected a patch object { name, actor, when, handlers }');
    const o = p as Record<string, unknown>;
    if (typeof o.name !== 'string' || o.name === '') fail(`${w}.name`, 'expected a non-empty string');
    if (names.has(o.name as string)) fail(`${w}.name`, `duplicate patch name "${String(o.name)}"`);
    names.add(o.name as string);
    if (typeof o.actor !== 'string' || o.actor === '') fail(`${w}.actor`, 'expected an actor id (iommu-core, driver-core, pci, vfio, unit:<name>)');
    if (typeof o.when !== 'object' || o.when === null || Array.isArray(o.when)) fail(`${w}.when`, 'expected an object of axis: value');
    for (const [axis, value] of Object.entries(o.when as object)) if (typeof value !== 'string') fail(`${w}.when.${axis}`, 'expected a string');
    if (typeof o.handlers !== 'object' || o.handlers === null || Array.isArray(o.handlers)) fail(`${w}.handlers`, 'expected an object of op: handler function');
    for (const [op, h] of Object.entries(o.handlers as object)) if (typeof h !== 'function') fail(`${w}.handlers.${op}`, 'expected a function (k, body) => …');
    return { module, name: o.name as string, actor: o.actor as string, when: o.when as Record<string, string> };
  });
}

/**
 * What a module threw, for the exit-2 message: an Error's message with the
 * lines that locate it (a TS syntax error's file:line:column and source line
 * come after esbuild's "Transform failed with 1 error:"), or any other value
 * (`throw 42`, `throw null`) as it is.
 */
export function thrown(e: unknown): string {
  if (e instanceof Error) {
    const lines = e.message.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
    return lines.slice(0, 6).map((l) => cut(l)).join('\n  ');
  }
  let s: string;
  try {
    s = typeof e === 'string' ? JSON.stringify(e) : e === undefined ? 'undefined' : (JSON.stringify(e) ?? String(e));
  } catch {
    s = String(e);
  }
  return `it threw ${cut(s)} (not an Error)`;
}
