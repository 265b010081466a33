import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import type { CommandIo } from '../cli/io.ts';
import { BUILTIN } from '../scenarios/index.ts';
import { REPLAY_FORMAT, REPLAY_VERSION } from '../runtime/replay-file.ts';

/**
 * Malformed input, generated: every key of built-in scenario documents and
 * of a replay file is mutated (wrong type, null, a prototype name added as a
 * key, huge, negative, deep, unicode control characters) and each mutant is
 * run through the CLI's own main() in this process (fast: no process per
 * probe). Every probe must exit 2 with the file and the path in the message,
 * never 3 (an internal error), never a stack trace, never hang. A mutation
 * that is valid input for its field (unicode in a free-text field, a
 * negative seed) is not a probe.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Step = string | number;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-malformed-'));

/** Every path to a value in a document, the root's children first. */
function* paths(v: Json, at: Step[] = []): Generator<Step[]> {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      yield [...at, i];
      yield* paths(v[i]!, [...at, i]);
    }
  } else if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      yield [...at, k];
      yield* paths(v[k]!, [...at, k]);
    }
  }
}

function get(doc: Json, p: readonly Step[]): Json {
  return p.reduce<Json>((v, k) => (v as Record<string, Json>)[k as string]!, doc);
}

function set(doc: Json, p: readonly Step[], value: Json): Json {
  const copy = JSON.parse(JSON.stringify(doc)) as Json;
  const parent = get(copy, p.slice(0, -1)) as Record<string, Json>;
  parent[p[p.length - 1] as string] = value;
  return copy;
}

const DEEP = 2_000;
/** The text of a value nested DEEP objects down (built as text: JSON.stringify would recurse). */
const deepText = '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP);
/** Longer than any string field may be (the longest, a replay's finding title, takes 100000). */
const HUGE = 'x'.repeat(100_001);
const PLACEHOLDER = '"__DEEP_PLACEHOLDER__"';

interface Mutant {
  readonly what: string;
  readonly text: string;
}

/** The mutants of one document; `free(p)` says a string at p takes any text, `signed(p)` a number any sign. */
function mutants(doc: Json, free: (p: readonly Step[]) => boolean, signed: (p: readonly Step[]) => boolean, nullable: (p: readonly Step[]) => boolean): Mutant[] {
  const out: Mutant[] = [];
  const text = (d: Json): string => JSON.stringify(d);
  for (const p of paths(doc)) {
    const v = get(doc, p);
    const name = p.join('.');
    const wrong: Json = typeof v === 'boolean' ? 'yes' : Array.isArray(v) ? { x: 1 } : typeof v === 'object' && v !== null ? [1] : true;
    out.push({ what: `${name}: wrong type`, text: text(set(doc, p, wrong)) });
    if (!nullable(p)) out.push({ what: `${name}: null`, text: text(set(doc, p, null)) });
    out.push({ what: `${name}: deep`, text: text(set(doc, p, '__DEEP_PLACEHOLDER__')).replace(PLACEHOLDER, deepText) });
    if (typeof v === 'string') {
      out.push({ what: `${name}: huge`, text: text(set(doc, p, HUGE)) });
      if (!free(p)) out.push({ what: `${name}: unicode`, text: text(set(doc, p, `dév\u0000\u202e${v}`)) });
    }
    if (typeof v === 'number') {
      out.push({ what: `${name}: huge`, text: text(set(doc, p, 1e300)) });
      if (!signed(p)) out.push({ what: `${name}: negative`, text: text(set(doc, p, -5)) });
    }
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      // a prototype name as an own key (JSON.parse makes "__proto__" one)
      for (const proto of ['__proto__', 'constructor', 'toString']) {
        out.push({ what: `${name}: key ${proto}`, text: text(set(doc, p, { ...v, PROTO_KEY: 'x' })).replace('"PROTO_KEY"', JSON.stringify(proto)) });
      }
    }
  }
  for (const proto of ['__proto__', 'constructor', 'toString']) {
    out.push({ what: `(root): key ${proto}`, text: text({ ...(doc as Record<string, Json>), PROTO_KEY: 'x' }).replace('"PROTO_KEY"', JSON.stringify(proto)) });
  }
  return out;
}

interface Totals {
  probes: number;
  exit2: number;
  exit3: number;
  other: number;
  hangs: number;
  noPath: number;
}

const HANG_MS = 30_000;

async function probe(t: Totals, file: string, argv: readonly string[], what: string, failures: string[]): Promise<void> {
  let err = '';
  const io: CommandIo = { out: () => {}, err: (s) => void (err += s), json: () => {} };
  t.probes++;
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), HANG_MS);
  });
  const code = await Promise.race([main(argv, io), hang]);
  clearTimeout(timer);
  if (code === 'hang') {
    t.hangs++;
    failures.push(`${what}: hung`);
    return;
  }
  if (code === 2) t.exit2++;
  else if (code === 3) t.exit3++;
  else t.other++;
  // "iommu-lab: <file>: <path>: <what>" — or, for a JSON syntax error, "<file>: not valid JSON at line L, column C"
  const named = err.startsWith(`iommu-lab: ${file}: `) && !/\n\s+at /.test(err) && err.length < 2000;
  if (!named) t.noPath++;
  if (code !== 2 || !named) failures.push(`${what}: exit ${code}: ${err.slice(0, 300)}`);
}

describe('malformed input, generated', () => {
  it('every mutant of three built-in documents and a replay file is exit 2 naming the file and the path; none is 3, none hangs', async () => {
    // machine documents (runtime-abba is a raw program with no topology to mutate)
    const docs = BUILTIN.filter((s) => ((s.document as { topology?: { pci?: unknown[] } } | undefined)?.topology?.pci?.length ?? 0) > 0);
    const distinct = [...new Map(docs.map((s) => [JSON.stringify(s.document), s])).values()];
    expect(distinct.length).toBeGreaterThanOrEqual(3);
    const t: Totals = { probes: 0, exit2: 0, exit3: 0, other: 0, hangs: 0, noPath: 0 };
    const failures: string[] = [];
    const free = (p: readonly Step[]): boolean => p[p.length - 1] === 'title' || p.includes('owner') || p[p.length - 1] === 'as';
    let n = 0;
    for (const s of distinct.slice(0, 3)) {
      for (const m of mutants(s.document as Json, free, () => false, () => false)) {
        const file = path.join(tmp, `doc-${n++}.json`);
        writeFileSync(file, m.text);
        await probe(t, file, ['run', file, '--schedules', '1', '--out', path.join(tmp, 'out')], `${s.name} ${m.what}`, failures);
      }
    }
    const replay: Json = {
      format: REPLAY_FORMAT, version: REPLAY_VERSION, scenario: 'seed-002-shared-attach', variants: { 'shared-attach': 'singleton-only' },
      seed: 1, mode: 'controlled', strategy: 'random', schedule: 3, decisions: ['boot', 'attach'],
      finding: { kind: 'use-after-free', title: 'use-after-free in x', signature: 'use-after-free|x' }, traceHash: 'abc', drop: [{ task: 'attach', index: 0 }],
    };
    const freeReplay = (p: readonly Step[]): boolean => ['strategy', 'title', 'signature', 'traceHash'].includes(String(p[p.length - 1])) || p[0] === 'decisions' || (p[0] === 'drop' && p[p.length - 1] === 'task');
    const signed = (p: readonly Step[]): boolean => p[0] === 'seed' || p[0] === 'schedule';
    const nullable = (p: readonly Step[]): boolean => p[0] === 'finding' && p.length === 1 || p[0] === 'traceHash';
    for (const m of mutants(replay, freeReplay, signed, nullable)) {
      const file = path.join(tmp, `replay-${n++}.json`);
      writeFileSync(file, m.text);
      await probe(t, file, ['replay', file], `replay ${m.what}`, failures);
    }
    // the special cases of the issue
    const seed = distinct[0]!.document as { topology: { pci: { id: string; parent?: string }[] }; expect?: unknown[] };
    const special: [string, string][] = [
      ['expect when constructor', JSON.stringify({ ...seed, expect: [{ when: { constructor: 'x' }, findings: [] }] })],
      ['expect when __proto__', JSON.stringify({ ...seed, expect: [{ when: { PROTO_KEY: 'x' }, findings: [] }] }).replace('"PROTO_KEY"', '"__proto__"')],
      ['device id not a BDF', JSON.stringify(set(seed as unknown as Json, ['topology', 'pci', 0, 'id'], 'not-a-bdf'))],
      ['parent is itself', JSON.stringify(set(seed as unknown as Json, ['topology', 'pci', 0, 'parent'], seed.topology.pci[0]!.id))],
      ['a unit module that does not exist', JSON.stringify({ ...seed, topology: { ...seed.topology, units: [{ name: 'u', kind: 'mock', module: './nowhere.ts' }] } })],
      ['10 MB name', JSON.stringify({ ...seed, name: 'n'.repeat(10_000_000) })],
      ['20000-deep action object', JSON.stringify({ ...seed, tasks: [{ name: 'deep', ops: [{ op: 'module.call', actions: [{ do: 'dma', iova: '__DEEP__' }] }] }] }).replace('"__DEEP__"', '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000))],
      ['JSON syntax', '{\n  "name": "x",\n  "topology": {,\n}'],
    ];
    for (const [what, text] of special) {
      const file = path.join(tmp, `special-${n++}.json`);
      writeFileSync(file, text);
      await probe(t, file, ['run', file, '--schedules', '1', '--host', 'workers', '--out', path.join(tmp, 'out')], what, failures);
    }
    process.stdout.write(`malformed-input probes: ${t.probes}, clean exit 2: ${t.exit2}, exit 3: ${t.exit3}, other exits: ${t.other}, hangs: ${t.hangs}, without file and path: ${t.noPath}\n`);
    expect(failures.slice(0, 20)).toEqual([]);
    expect(t.exit2).toBe(t.probes);
    expect(t.probes).toBeGreaterThan(500);
  }, 600_000);
});
