import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { writeAtomic } from '../cli/output.ts';
import { InputError } from '../runtime/input-error.ts';
import { documentHash } from './document.ts';
import type { FuzzDocument } from './document.ts';

/**
 * The corpus directory: the documents that added coverage (one JSON file
 * each, named by content hash, so two shards' corpora merge by copying),
 * the coverage they added together (`coverage.json`), and where the
 * campaign's program counter stood (`state.json`). A later campaign with
 * the same `--corpus` resumes from it. Every file is written atomically; a
 * killed campaign leaves at worst a slightly stale coverage.json or
 * state.json, which only means some work is done twice.
 */

const COVERAGE = 'coverage.json';
const STATE = 'state.json';

export interface CorpusState {
  /** The next program counter of each shard ("I/N" → k). */
  readonly next: Readonly<Record<string, number>>;
  /** Executions over every campaign that used this corpus. */
  readonly executions: number;
}

export class Corpus {
  readonly dir: string;
  private readonly docs: FuzzDocument[] = [];
  private readonly hashes = new Set<string>();
  readonly coverage = new Set<string>();
  state: CorpusState = { next: {}, executions: 0 };

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens (creating if needed) a corpus directory and loads what it holds. */
  static open(dir: string): Corpus {
    const c = new Corpus(dir);
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir).sort()) {
      if (!/^[0-9a-f]{16}\.json$/.test(name)) continue;
      const doc = readJson(path.join(dir, name)) as FuzzDocument;
      c.docs.push(doc);
      c.hashes.add(name.slice(0, 16));
    }
    const cov = path.join(dir, COVERAGE);
    if (existsSync(cov)) for (const k of readJson(cov) as string[]) c.coverage.add(k);
    const st = path.join(dir, STATE);
    if (existsSync(st)) c.state = readJson(st) as CorpusState;
    return c;
  }

  get size(): number {
    return this.docs.length;
  }

  entries(): readonly FuzzDocument[] {
    return this.docs;
  }

  has(doc: FuzzDocument): boolean {
    return this.hashes.has(documentHash(doc));
  }

  /** Adds a document (once per content hash), written at once. Returns false if it was there. */
  add(doc: FuzzDocument): boolean {
    const h = documentHash(doc);
    if (this.hashes.has(h)) return false;
    writeAtomic(path.join(this.dir, `${h}.json`), JSON.stringify(doc, null, 1) + '\n');
    this.hashes.add(h);
    this.docs.push(doc);
    return true;
  }

  /** Writes coverage.json and state.json. */
  save(): void {
    writeAtomic(path.join(this.dir, COVERAGE), JSON.stringify([...this.coverage].sort()) + '\n');
    writeAtomic(path.join(this.dir, STATE), JSON.stringify(this.state) + '\n');
  }
}

export function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, file);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new InputError(`not valid JSON: ${(e as Error).message}`, file);
  }
}
