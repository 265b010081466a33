import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../../runtime/input-error.ts';
import type { Scenario } from '../scenario.ts';
import { scenarioFromDocument } from './document.ts';

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
    try {
      doc = JSON.parse(text) as unknown;
    } catch (e) {
      throw new InputError(`not valid JSON: ${(e as Error).message}`, file);
    }
  } else {
    let mod: Record<string, unknown>;
    try {
      mod = /\.m?ts$/.test(file)
        ? ((await (await import('tsx/esm/api')).tsImport(pathToFileURL(abs).href, import.meta.url)) as Record<string, unknown>)
        : ((await import(pathToFileURL(abs).href)) as Record<string, unknown>);
    } catch (e) {
      throw new InputError(`cannot load the scenario module: ${(e as Error).message.split('\n')[0]}`, file);
    }
    doc = mod.default;
  }
  return { ...scenarioFromDocument(doc, file), source: file };
}
