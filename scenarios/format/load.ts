import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../../runtime/input-error.ts';
import { probeModule } from '../../runtime/module-probe.ts';
import type { Scenario } from '../scenario.ts';
import { scenarioFromDocument } from './document.ts';
import { cut, parseJson } from './issues.ts';
import type { DocumentPatch } from './document.ts';
import { declarations, declsOf } from '../../actors/functions.ts';
import type { KFuncDecl } from '../../actors/functions.ts';
import { closestNames } from '../../runtime/closest.ts';

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
    // a loop or a never-settling await at its top level would stop this thread for good: try it on a worker first
    await probeModule(abs, file);
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
    if (typeof p !== 'object' || p === null) fail(w, 'expected a patch object { name, actor, when, functions, handlers }');
    const o = p as Record<string, unknown>;
    if (typeof o.name !== 'string' || o.name === '') fail(`${w}.name`, 'expected a non-empty string');
    if (names.has(o.name as string)) fail(`${w}.name`, `duplicate patch name "${String(o.name)}"`);
    names.add(o.name as string);
    if (typeof o.actor !== 'string' || o.actor === '') fail(`${w}.actor`, 'expected an actor id (iommu-core, driver-core, pci, vfio, unit:<name>)');
    if (typeof o.when !== 'object' || o.when === null || Array.isArray(o.when)) fail(`${w}.when`, 'expected an object of axis: value');
    for (const [axis, value] of Object.entries(o.when as object)) if (typeof value !== 'string') fail(`${w}.when.${axis}`, 'expected a string');
    const actor = o.actor as string;
    if (o.handlers === undefined && o.functions === undefined) fail(w, 'expected "functions" (kernel functions by name) or "handlers" (ops), or both');
    if (o.handlers !== undefined) {
      if (typeof o.handlers !== 'object' || o.handlers === null || Array.isArray(o.handlers)) fail(`${w}.handlers`, 'expected an object of op: handler function');
      for (const [op, h] of Object.entries(o.handlers as object)) {
        if (typeof h !== 'function') fail(`${w}.handlers.${op}`, 'expected a function (k, body) => …');
        if ((h as Fn).length > 2) fail(`${w}.handlers.${op}`, `a handler takes (k, body); this one takes ${(h as Fn).length} parameters`);
      }
    }
    const functions: DocumentPatch['functions'][number][] = [];
    if (o.functions !== undefined) {
      if (typeof o.functions !== 'object' || o.functions === null || Array.isArray(o.functions)) fail(`${w}.functions`, 'expected an object of kernel function name: replacement');
      for (const [name, fn] of Object.entries(o.functions as object)) functions.push(checkFunction(`${w}.functions.${name}`, actor, name, fn, fail));
    }
    return { module, name: o.name as string, actor, when: o.when as Record<string, string>, functions };
  });
}

type Fn = (...a: never[]) => unknown;

/** The kind of actor an actor id names (`unit:vtd0` → unit, `proc:qemu` → process). */
function actorKindOf(id: string): string {
  if (id.startsWith('unit:')) return 'unit';
  if (id.startsWith('proc:')) return 'process';
  return id;
}

/**
 * One replacement of a declared kernel function: the name must be declared
 * (else the closest declared names), in the patch's actor, and the
 * replacement must take no more than the function's parameters and upstream.
 */
function checkFunction(where: string, actor: string, name: string, fn: unknown, fail: (where: string, what: string) => never): DocumentPatch['functions'][number] {
  if (typeof fn !== 'function') fail(where, 'expected a function (k, …the function\'s parameters, upstream) => …');
  const decls = declsOf(name);
  if (decls.length === 0) {
    const near = closestNames(name, declarations().map((d) => d.name));
    fail(where, `no kernel function "${name}" is declared in the model; did you mean ${near.map((n) => `"${n}"`).join(', ')}? (iommu-lab functions lists them all)`);
  }
  const kind = actorKindOf(actor);
  const d = decls.find((x) => x.actor === kind);
  if (d === undefined) fail(where, `${name}() runs in ${[...new Set(decls.map((x) => x.actor))].join(', ')}, not in ${actor} (patches[].actor)`);
  const decl = d as KFuncDecl;
  if ((fn as Fn).length > decl.arity + 2) {
    fail(where, `takes ${(fn as Fn).length} parameters; ${name}() has ${decl.arity + 1} (k and ${decl.arity} more), and a replacement may take upstream after them`);
  }
  return { name, unit: decls.filter((x) => x.actor === kind).some((x) => x.unit === undefined) ? null : (decl.unit ?? null) };
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
