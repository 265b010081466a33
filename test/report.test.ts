import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateChromeTrace } from '../report/chrome-trace.ts';
import type { ChromeTrace, TraceEvent } from '../report/chrome-trace.ts';
import type { TraceDocument } from '../report/trace-doc.ts';
import { cli } from './helpers/cli.ts';

/**
 * `report`: real finding replays of built-in scenarios (the runtime ABBA's
 * lock-order inversion and deadlock, seed-004's use-after-free) rendered in
 * every format, and checked for what a reader relies on.
 */

const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'iommu-lab-report-'));

interface Found {
  readonly kind: string;
  readonly replay: string;
}

async function findings(...argv: string[]): Promise<Found[]> {
  const r = await cli('run', ...argv, '--out', tmp(), '--json');
  return (r.json as { findings: Found[] }).findings;
}

function replayOf(fs: readonly Found[], kind: string): string {
  const f = fs.find((x) => x.kind === kind);
  if (f === undefined) throw new Error(`no ${kind} finding (found ${fs.map((x) => x.kind).join(', ') || 'none'})`);
  return f.replay;
}

let abba: string;
let abbaDeadlock: string;
let uaf: string;

beforeAll(async () => {
  const a = await findings('runtime-abba', '--variant', 'order=abba', '--schedules', '20', '--seed', '1');
  abba = replayOf(a, 'lock-order-inversion');
  abbaDeadlock = replayOf(a, 'deadlock');
  // PoS with this seed reaches the hot-remove-before-use interleaving early.
  const u = await findings('seed-004-domain-alloc-vs-hot-remove', '--variant', 'domain-alloc=v4-escaping-dev', '--strategy', 'pos', '--seed', '2', '--schedules', '150');
  uaf = replayOf(u, 'use-after-free');
});

async function report(file: string, format: string, ...more: string[]): Promise<string> {
  const r = await cli('report', file, '--format', format, ...more);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return r.out;
}

async function traceDoc(file: string): Promise<TraceDocument> {
  return JSON.parse(await report(file, 'trace')) as TraceDocument;
}

const byPh = (t: ChromeTrace, ph: string): TraceEvent[] => t.traceEvents.filter((e) => e.ph === ph);

describe('report --format perfetto', () => {
  it('the use-after-free replay is a valid Chrome trace: actor and task tracks, a slice per step on each, lock holds, flows, the finding', async () => {
    const t = JSON.parse(await report(uaf, 'perfetto')) as ChromeTrace;
    expect(validateChromeTrace(t)).toEqual([]);
    expect(t.displayTimeUnit).toBe('ns');
    const doc = await traceDoc(uaf);
    const names = byPh(t, 'M').filter((e) => e.name === 'thread_name').map((e) => [e.pid, e.args?.name]);
    for (const a of ['driver-core', 'pci', 'iommu-core', 'unit:vtd0', 'locks']) expect(names).toContainEqual([1, a]);
    for (const task of ['boot', 'remove', 'alloc']) expect(names).toContainEqual([2, task]);
    // every step twice: on its actor's track and on its task's
    expect(byPh(t, 'X')).toHaveLength(2 * doc.trace.length);
    expect(byPh(t, 'B').length).toBeGreaterThan(0);
    expect(byPh(t, 's').length).toBe(byPh(t, 'f').length);
    expect(byPh(t, 's').length).toBeGreaterThan(doc.trace.length / 2);
    const found = byPh(t, 'i');
    expect(found).toHaveLength(1);
    expect(found[0]?.args?.kind).toBe('use-after-free');
    expect(String(found[0]?.args?.report)).toContain('BUG: KASAN');
  });

  it('the ABBA replay: valid, and t1 holds A over the step where lockdep reports the inversion', async () => {
    const t = JSON.parse(await report(abba, 'perfetto')) as ChromeTrace;
    expect(validateChromeTrace(t)).toEqual([]);
    const inversion = byPh(t, 'i').find((e) => e.args?.kind === 'lock-order-inversion');
    expect(inversion).toBeDefined();
    const lane = byPh(t, 'M').find((e) => e.name === 'thread_name' && e.pid === 2 && e.args?.name === 't1 locks');
    expect(lane).toBeDefined();
    const on = t.traceEvents.filter((e) => e.pid === 2 && e.tid === lane?.tid && e.name === 'A');
    expect(on.map((e) => e.ph)).toEqual(['B', 'E']);
    const [b, e] = on as [TraceEvent, TraceEvent];
    expect(b.ts).toBeLessThanOrEqual(inversion?.ts as number);
    expect(e.ts).toBeGreaterThan(inversion?.ts as number);
  });

  it('the same replay gives the same export in the inline and the workers host', async () => {
    const inline = await report(abbaDeadlock, 'perfetto');
    const workers = await report(abbaDeadlock, 'perfetto', '--host', 'workers');
    expect(workers).toBe(inline);
    // the deadlock leaves both tasks holding a lock: their holds end with the trace
    const t = JSON.parse(inline) as ChromeTrace;
    expect(byPh(t, 'B').filter((e) => e.args?.unreleased === true).map((e) => e.name).sort()).toEqual(['A', 'B']);
  });
});

describe('the Chrome trace validator rejects broken traces', () => {
  const ok = (): TraceEvent[] => [
    { name: 'thread_name', ph: 'M', ts: 0, pid: 1, tid: 1, args: { name: 'a' } },
    { name: 'outer', ph: 'B', ts: 0, pid: 1, tid: 1 },
    { name: 'step', ph: 'X', ts: 1, dur: 2, pid: 1, tid: 1 },
    { name: 'outer', ph: 'E', ts: 5, pid: 1, tid: 1 },
    { name: 'm', ph: 's', ts: 1, pid: 1, tid: 1, id: 1 },
    { name: 'm', ph: 'f', bp: 'e', ts: 2, pid: 1, tid: 2, id: 1 },
    { name: 'bug', ph: 'i', s: 'g', ts: 3, pid: 1, tid: 0 },
  ];
  const check = (events: unknown[]): string[] => validateChromeTrace({ traceEvents: events, displayTimeUnit: 'ns' });

  it('accepts the well-formed base', () => {
    expect(check(ok())).toEqual([]);
  });

  it('unbalanced B/E', () => {
    expect(check(ok().filter((e) => e.ph !== 'E')).join('\n')).toMatch(/B "outer" on track 1\/1 is never closed/);
    expect(check([...ok(), { name: 'x', ph: 'E', ts: 9, pid: 1, tid: 1 }]).join('\n')).toMatch(/E on track 1\/1 with no open B/);
  });

  it('B/E or X slices that overlap without nesting', () => {
    const crossed = [...ok(), { name: 'inner', ph: 'B', ts: 4, pid: 1, tid: 1 }, { name: 'inner', ph: 'E', ts: 7, pid: 1, tid: 1 }];
    expect(check(crossed).join('\n')).toMatch(/E "outer" closes B "inner"/);
    const x = [...ok(), { name: 'late', ph: 'X', ts: 2, dur: 9, pid: 1, tid: 1 }];
    expect(check(x).join('\n')).toMatch(/overlaps .* without nesting/);
  });

  it('missing or negative ts, bad ph, non-integer ids, X without dur', () => {
    const { ts: _ts, ...noTs } = ok()[2] as TraceEvent;
    expect(check([noTs]).join('\n')).toMatch(/traceEvents\[0\]: ts: expected a number >= 0/);
    expect(check([{ ...ok()[2], ts: -1 }]).join('\n')).toMatch(/ts: expected a number >= 0/);
    expect(check([{ ...ok()[2], ph: 'Q' }]).join('\n')).toMatch(/ph: expected one of/);
    expect(check([{ ...ok()[2], pid: '1' }]).join('\n')).toMatch(/pid: expected an integer/);
    const { dur: _dur, ...noDur } = ok()[2] as TraceEvent;
    expect(check([noDur]).join('\n')).toMatch(/dur: expected a number >= 0/);
  });

  it('unpaired flows, instants without scope, metadata without a name', () => {
    expect(check(ok().filter((e) => e.ph !== 'f')).join('\n')).toMatch(/flow id 1 .*expected one "s" and one "f", got 1 and 0/);
    expect(check(ok().map((e) => (e.ph === 'i' ? { ...e, s: undefined } : e))).join('\n')).toMatch(/s: expected an instant scope/);
    expect(check(ok().map((e) => (e.ph === 'M' ? { ...e, args: {} } : e))).join('\n')).toMatch(/args.name: expected a string/);
    expect(validateChromeTrace([])).toEqual(['(document): expected a JSON object']);
    expect(validateChromeTrace({ events: [] })).toEqual(['traceEvents: expected an array']);
  });
});

/** Statements of a DOT digraph as we write them: node and edge lines with bracketed attributes. */
function dotStatements(dot: string): string[] {
  const m = /^digraph (\w+) \{\n([\s\S]*)\}\n$/.exec(dot);
  expect(m).not.toBeNull();
  const body = (m?.[2] ?? '').split('\n').filter((l) => l.trim() !== '');
  const q = '"(?:[^"\\\\]|\\\\.)*"';
  const stmt = new RegExp(`^  (?:\\w+=(?:\\w+|${q})|(?:node|edge) \\[.*\\]|${q}(?: -> ${q})?(?: \\[.*\\])?);$`);
  for (const l of body) expect(l).toMatch(stmt);
  return body;
}

describe('report --format dot', () => {
  it('the ABBA cycle: both classes, both edges red, with the site and step of each', async () => {
    const lines = dotStatements(await report(abba, 'dot'));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}"A" \[color=red, fontcolor=red\];$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}"B" \[color=red, fontcolor=red\];$/));
    const edges = lines.filter((l) => l.includes(' -> '));
    expect(edges).toHaveLength(2);
    expect(edges.find((l) => l.startsWith('  "A" -> "B"'))).toMatch(/label="EN app:take_two\\nt1 step \d+", color=red/);
    expect(edges.find((l) => l.startsWith('  "B" -> "A"'))).toMatch(/label="EN app:take_two\\nt2 step \d+", color=red/);
  });

  it('a run without an inversion has its classes and edges but nothing red', async () => {
    const lines = dotStatements(await report(uaf, 'dot'));
    expect(lines.join('\n')).not.toMatch(/color=red/);
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}"pci_rescan_remove_lock" -> "device_lock" \[label=".*\(kernel order\)"\];$/));
    // completions are boxes
    expect(lines).toContainEqual('  "kernel_init->booted" [shape=box];');
  });
});

describe('report --format md', () => {
  it('the use-after-free: title, the KASAN report, a mermaid sequence diagram whose steps and gaps add up to the trace', async () => {
    const md = await report(uaf, 'md');
    const doc = await traceDoc(uaf);
    expect(md.startsWith('# use-after-free in iommu-core.iommu_domain_alloc\n')).toBe(true);
    expect(md).toContain('```text\n==================================================================\nBUG: KASAN: slab-use-after-free');
    const diagram = /```mermaid\n([\s\S]*?)```/.exec(md)?.[1] ?? '';
    expect(diagram.startsWith('sequenceDiagram\n')).toBe(true);
    for (const p of ['participant driver_core as driver-core', 'participant iommu_core as iommu-core', 'participant unit_vtd0 as unit:vtd0', 'participant locks']) {
      expect(diagram).toContain(`  ${p}\n`);
    }
    // truthful shortening: every step is either shown (once) or counted in a gap
    const shown = new Set([...diagram.matchAll(/^ {2}(?:\w+-?-[>)]>?\w+|Note over \w+): (\d+): /gm)].map((m) => Number(m[1])));
    const elided = [...diagram.matchAll(/… (\d+) steps? elided \(([^)]*)\)/g)];
    expect(elided.length).toBeGreaterThan(0);
    expect(shown.size + elided.reduce((n, m) => n + Number(m[1]), 0)).toBe(doc.trace.length);
    const f = doc.findings[0];
    expect(diagram).toContain(`  Note over iommu_core: ⚠ ${f?.title} (tasks alloc, remove, boot)`);
    expect(shown.has(f?.step as number)).toBe(true);
    // the free that makes it a use-after-free is shown
    expect(diagram).toMatch(/Note over driver_core: remove free 0000:00:1c\.0/);
  });

  it('the ABBA deadlock: both findings, lock grants and the blocked requests as notes, the whole short trace', async () => {
    const md = await report(abbaDeadlock, 'md');
    expect(md.startsWith('# deadlock in app.take_two\n')).toBe(true);
    expect(md).toContain('## lock-order-inversion in app.take_two');
    expect(md).toContain('```mermaid\nsequenceDiagram\n  participant scenario as (scenario)\n  participant app\n  participant locks\n');
    expect(md).toMatch(/Note over locks: t1 acquires A/);
    expect(md).toMatch(/Note over locks: t1 waits for B/);
    expect(md).toMatch(/Note over locks: t2 waits for A/);
    expect(md).not.toContain('elided');
  });
});

describe('report --format text', () => {
  it('the ABBA inversion: the lockdep splat, then every step with the report marked where it was made', async () => {
    const text = await report(abba, 'text');
    expect(text).toContain('WARNING: possible circular locking dependency detected');
    expect(text).toContain(' *** DEADLOCK ***');
    expect(text).toMatch(/recorded finding: lock-order-inversion in app\.take_two — reproduced/);
    const doc = await traceDoc(abba);
    expect(text).toContain(`steps (${doc.trace.length} of ${doc.trace.length} shown):`);
    const step = doc.findings[0]?.step as number;
    expect(text).toMatch(new RegExp(`\\n +${step} +t1 +locks +mutex_lock +return +acquires B; << lock-order-inversion\\n`));
  });

  it('the use-after-free: the KASAN report, the free and the use in the listing', async () => {
    const text = await report(uaf, 'text');
    expect(text).toContain('BUG: KASAN: slab-use-after-free in iommu_domain_alloc');
    expect(text).toMatch(/remove +driver-core +put_device +return +put 0000:00:1c\.0 \(0\); free 0000:00:1c\.0\n/);
    expect(text).toMatch(/alloc +iommu-core +.*use 0000:00:1c\.0: .*<< use-after-free\n/);
    expect(text).toMatch(/… \d+ steps elided \(/);
  });
});

describe('report --format trace', () => {
  it('a saved trace renders every format exactly as the replay does, without re-running', async () => {
    const dir = tmp();
    const file = path.join(dir, 'uaf.trace.json');
    const w = await cli('report', uaf, '--format', 'trace', '--out', file);
    expect(w.code).toBe(0);
    expect(w.out).toBe('');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as TraceDocument;
    expect([doc.format, doc.version, doc.scenario, doc.reproduced]).toEqual(['iommu-lab-trace', 1, 'seed-004-domain-alloc-vs-hot-remove', true]);
    expect(doc.trace.length).toBe(doc.steps);
    for (const format of ['text', 'perfetto', 'dot', 'md']) expect(await report(file, format)).toBe(await report(uaf, format));
  });
});

describe('report: bad input exits 2 naming what is wrong', () => {
  it('a missing file, a JSON that is neither a replay nor a trace, broken JSON, an unknown format', async () => {
    const dir = tmp();
    const missing = await cli('report', path.join(dir, 'nope.json'), '--format', 'text');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope\.json: cannot read/);

    const other = path.join(dir, 'other.json');
    writeFileSync(other, '{"hello": 1}');
    const r1 = await cli('report', other, '--format', 'md');
    expect(r1.code).toBe(2);
    expect(r1.err).toMatch(/other\.json: format: expected "iommu-lab-replay" \(a replay file from run\/compare\) or "iommu-lab-trace"/);

    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{"format": ');
    const r2 = await cli('report', broken);
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/broken\.json: \(document\): not valid JSON/);

    const r3 = await cli('report', abba, '--format', 'svg');
    expect(r3.code).toBe(2);
    expect(r3.err).toMatch(/--format must be one of text\|perfetto\|dot\|md\|trace\|html \(got "svg"\)/);

    const r4 = await cli('report', '--format', 'text');
    expect(r4.code).toBe(2);
    expect(r4.err).toMatch(/"report" takes exactly one replay or trace file/);
  });

  it('a trace document with a bad field names its path', async () => {
    const doc = await traceDoc(abba);
    const file = path.join(tmp(), 'bad.trace.json');
    writeFileSync(file, JSON.stringify({ ...doc, trace: doc.trace.map((t, i) => (i === 3 ? { ...t, point: 'nowhere' } : t)) }));
    const r = await cli('report', file, '--format', 'md');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.trace\.json: trace\[3\]\.point: expected one of "call", "sleep"/);
  });

  it('a replay that no longer hits its recorded finding still renders, with a warning and exit 1', async () => {
    const rf = JSON.parse(readFileSync(abba, 'utf8')) as { finding: { signature: string } };
    const file = path.join(tmp(), 'stale.json');
    writeFileSync(file, JSON.stringify({ ...rf, finding: { ...rf.finding, signature: 'lock-order-inversion|X,Y|app.elsewhere' } }));
    const r = await cli('report', file, '--format', 'text');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/warning: the replay did not reproduce/);
    expect(r.out).toContain('NOT reproduced');
    expect(r.out).toContain('WARNING: possible circular locking dependency detected');
  });
});
