import { describe, expect, it } from 'vitest';
import { feed } from './helpers/feed.ts';
import { RaceChecker } from '../checkers/races/race-checker.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';
import type { CheckCase } from '../scenarios/checks/matrix.ts';
import { golden } from './helpers/golden.ts';
import { caseByName, expectStableSignatures, matrixSuite } from './helpers/matrix.ts';
import { runChecked } from '../scenarios/checks/run.ts';
import type { LockMode, LockRef, TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { lockId, msgId, objId, taskId } from '../protocol/ids.ts';
import type { ActorId, ObjId } from '../protocol/ids.ts';

const RACE_ACTORS = 'scenarios/checks/race-actors';
const byName = (name: string, tag?: string): CheckCase => caseByName(RACE_ACTORS, name, tag === undefined ? {} : { tag });

matrixSuite('race matrix (inline host)', RACE_ACTORS, 9);

describe('race checker on the matrix programs', () => {
  it('finds the lost update on the dev_iommu bitfield word and says which update was lost', async () => {
    const c = byName('lost-update-bitfield');
    const host = await InlineHost.create(c.program);
    try {
      let lost: Finding | undefined;
      for (let i = 0; i < 200 && lost === undefined; i++) {
        const run = await runChecked(host, c.program, new RandomStrategy(7), 1, i);
        lost = run.findings.find((f) => f.signature.includes('|lost-update|'));
      }
      expect(lost).toBeDefined();
      const f = lost as Finding;
      expect(f.kind).toBe('data-race');
      expect(f.title).toBe('data-race in app.iommu_deferred_attach / app.iommu_dma_alloc_iova');
      expect(f.report).toContain('BUG: KCSAN: data-race in app.iommu_deferred_attach / app.iommu_dma_alloc_iova');
      expect(f.report).toMatch(/lost update: task t\d read 0x00000007/);
      expect(f.tasks).toHaveLength(3);
    } finally {
      await host.close();
    }
  });

  it('signatures do not change with seed, strategy, task ids or object ids', async () => {
    await expectStableSignatures(RACE_ACTORS, /\bt\d|job|word@|dev_iommu@|#/);
  });

  it('golden KCSAN report: plain write vs READ_ONCE without the lock', async () => {
    const c = byName('marked-read-vs-plain-write');
    const host = await InlineHost.create(c.program);
    try {
      // t2's READ_ONCE first, then t1 takes the lock and writes
      const replay = new ReplayStrategy(['t2', 't1', 't1', 't1', 't1', 't1', 't1'].map(taskId));
      const run = await runChecked(host, c.program, replay, 1, 0);
      expect(replay.diverged).toBeNull();
      const f = run.findings.find((x) => x.kind === 'data-race');
      expect(f).toBeDefined();
      golden('kcsan-data-race.txt', (f as Finding).report);
    } finally {
      await host.close();
    }
  });

  it('golden KCSAN report: lost update', async () => {
    const c = byName('lost-update-bitfield');
    const host = await InlineHost.create(c.program);
    try {
      // t2 reads the word and is preempted; t1 does its whole locked read-modify-write; t2 writes
      const replay = new ReplayStrategy(['t2', 't1', 't1', 't1', 't1', 't1', 't1', 't2'].map(taskId));
      const run = await runChecked(host, c.program, replay, 1, 0);
      expect(replay.diverged).toBeNull();
      const f = run.findings.find((x) => x.signature.includes('|lost-update|'));
      expect(f).toBeDefined();
      golden('kcsan-lost-update.txt', (f as Finding).report);
    } finally {
      await host.close();
    }
  });
});

// ---- the checker over hand-written event streams (the offline form) -----------------------------

const ACTOR = 'app' as ActorId;
const OBJ = objId('word@x');
const L: LockRef = { id: lockId('word@x/mutex'), cls: 'mutex', kind: 'mutex' };
const RW: LockRef = { id: lockId('sem'), cls: 'sem', kind: 'rwsem' };
const COMP: LockRef = { id: lockId('done'), cls: 'completion', kind: 'mutex' };
const OBJ2 = objId('page@y');

/** Builds events of one task with a one-frame stack "app:<handler>". */
function on(task: string, handler: string) {
  const base = { task: taskId(task), actor: ACTOR, stack: [`app:${handler}`] } as const;
  return {
    start: (parent: string | null = null): TraceEvent => ({ ...base, ev: 'task.start', parent: parent === null ? null : taskId(parent) }),
    spawn: (child: string): TraceEvent => ({ ...base, ev: 'send', msg: msgId(taskId(child), 0), to: ACTOR, op: 'child', kind: 'event' }),
    read: (o: ObjId = OBJ, how: { guard?: LockRef; lockless?: boolean } = {}): TraceEvent =>
      ({ ...base, ev: 'access', obj: o, field: 'value', op: 'read', guard: how.guard?.id ?? null, lockless: how.lockless ?? false, value: 0 }),
    write: (o: ObjId = OBJ, how: { guard?: LockRef; lockless?: boolean } = {}): TraceEvent =>
      ({ ...base, ev: 'access', obj: o, field: 'value', op: 'write', guard: how.guard?.id ?? null, lockless: how.lockless ?? false, value: 1, old: 0 }),
    acquire: (l: LockRef = L, mode: LockMode = 'write'): TraceEvent => ({ ...base, ev: 'lock.acquired', lock: l, mode, try: false, ok: true }),
    release: (l: LockRef = L, mode: LockMode = 'write'): TraceEvent => ({ ...base, ev: 'lock.released', lock: l, mode }),
    complete: (): TraceEvent => ({ ...base, ev: 'complete', completion: COMP, all: false }),
    waitDone: (): TraceEvent => ({ ...base, ev: 'wait.done', completion: COMP }),
  };
}

const check = (events: readonly TraceEvent[]): Finding[] => feed(new RaceChecker(), events).findings;
const kinds = (fs: readonly Finding[]): string[] => fs.map((f) => f.kind).sort();

describe('race checker over event streams', () => {
  const p = on('p', 'parent');
  const ch = on('p.1', 'child');
  const a = on('a', 'writer');
  const b = on('b', 'reader');

  it('a spawn orders what the parent did before it, not what it does after', () => {
    expect(kinds(check([p.start(), p.write(), p.spawn('p.1'), ch.start('p'), ch.read()]))).toEqual([]);
    // the same step, with the write after the send: the child does not see it
    expect(kinds(check([p.start(), p.spawn('p.1'), p.write(), ch.start('p'), ch.read()]))).toEqual(['data-race']);
  });

  it('a lock release orders the next acquirer; without the lock the same accesses race', () => {
    const locked = [a.start(), b.start(), a.acquire(), a.write(), a.release(), b.acquire(), b.read(), b.release()];
    expect(kinds(check(locked))).toEqual([]);
    expect(kinds(check([a.start(), b.start(), a.write(), b.read()]))).toEqual(['data-race']);
    // a failed trylock orders nothing
    const failed: TraceEvent = { ...b.acquire(), ok: false } as TraceEvent;
    expect(kinds(check([a.start(), b.start(), a.acquire(), a.write(), a.release(), failed, b.read()]))).toEqual(['data-race']);
  });

  it('complete() orders the task whose wait returns after it', () => {
    expect(kinds(check([a.start(), b.start(), a.write(), a.complete(), b.waitDone(), b.read()]))).toEqual([]);
    expect(kinds(check([a.start(), b.start(), b.waitDone(), a.write(), a.complete(), b.read()]))).toEqual(['data-race']);
  });

  it('readers of an rwsem do not order each other; a writer is ordered after readers', () => {
    const readers = [a.start(), b.start(), a.acquire(RW, 'read'), a.write(), a.release(RW, 'read'), b.acquire(RW, 'read'), b.read(), b.release(RW, 'read')];
    expect(kinds(check(readers))).toEqual(['data-race']);
    const writer = [a.start(), b.start(), a.acquire(RW, 'read'), a.read(), a.release(RW, 'read'), b.acquire(RW, 'write'), b.write(), b.release(RW, 'write')];
    expect(kinds(check(writer))).toEqual([]);
  });

  it('marked accesses race only with plain ones (KCSAN)', () => {
    expect(kinds(check([a.start(), b.start(), a.write(OBJ, { lockless: true }), b.read(OBJ, { lockless: true })]))).toEqual([]);
    expect(kinds(check([a.start(), b.start(), a.write(), b.read(OBJ, { lockless: true })]))).toEqual(['data-race']);
    const r = check([a.start(), b.start(), a.write(OBJ, { lockless: true }), b.read()]);
    expect(r[0]?.report).toMatch(/^write \(marked\) to 0xffff8880[0-9a-f]{8} of 8 bytes by task \d+ on cpu \d:$/m);
    expect(r[0]?.report).toMatch(/iommu-lab: 0xffff8880[0-9a-f]{8} is word@x\.value/);
  });

  it('lockset: a guard must be held, for write when the access writes', () => {
    expect(kinds(check([a.start(), a.write(OBJ, { guard: L })]))).toEqual(['unguarded-access']);
    expect(kinds(check([a.start(), a.acquire(), a.write(OBJ, { guard: L }), a.release()]))).toEqual([]);
    // READ_ONCE of a guarded field is exempt from the lockset rule
    expect(kinds(check([a.start(), a.read(OBJ, { guard: L, lockless: true })]))).toEqual([]);
    // a shared hold covers reads, not writes
    expect(kinds(check([a.start(), a.acquire(RW, 'read'), a.read(OBJ, { guard: RW }), a.release(RW, 'read')]))).toEqual([]);
    const w = check([a.start(), a.acquire(RW, 'read'), a.write(OBJ, { guard: RW }), a.release(RW, 'read')]);
    expect(kinds(w)).toEqual(['unguarded-access']);
    expect(w[0]?.report).toContain('held for read only');
  });

  it('a freed object (or a reused id) forgets its access history', () => {
    const free: TraceEvent = { task: taskId('a'), actor: ACTOR, stack: ['app:writer'], ev: 'free', obj: OBJ };
    expect(kinds(check([a.start(), b.start(), a.write(), free, b.read()]))).toEqual([]);
  });

  it('one finding per signature, however often the race repeats', () => {
    expect(check([a.start(), b.start(), a.write(), b.read(), a.write(), b.read(), b.read()])).toHaveLength(1);
  });

  it('two races of one function with different partners differ in title and signature (KCSAN "a / b")', () => {
    // the shape of seed 003's dev_iommu.bits: iommu_dma_map races both prepare and done
    const map = on('m', 'iommu_dma_map');
    const prep = on('p', 'pci_dev_reset_iommu_prepare');
    const done = on('d', 'pci_dev_reset_iommu_done');
    const fs = check([map.start(), prep.start(), done.start(), prep.write(), map.read(), done.write()]).filter((f) => f.title.includes('iommu_dma_map'));
    expect(fs.map((f) => f.title).sort()).toEqual([
      'data-race in app.iommu_dma_map / app.pci_dev_reset_iommu_done',
      'data-race in app.iommu_dma_map / app.pci_dev_reset_iommu_prepare',
    ]);
    expect(new Set(fs.map((f) => f.signature)).size).toBe(2);
  });

  it('signatures carry types, fields and sites, never task or object ids', () => {
    const [f] = check([a.start(), b.start(), a.write(), b.read()]);
    expect(f?.signature).toBe('data-race|word.value|app.reader|app.writer');
    expect(f?.title).toBe('data-race in app.reader / app.writer');
  });

  it('after a set-up (every task ended, setupEnded), the next tasks find the same races: against the set-up\'s reads, and lost updates of their own', () => {
    const boot = on('boot', 'boot');
    const setup = [boot.start(), boot.read(), boot.write(OBJ2), boot.read(OBJ2), { ...boot.start(), ev: 'task.end' } as TraceEvent];
    const after = [a.start(), b.start(), a.write(), b.read(OBJ2), a.write(OBJ2), b.write(OBJ2)];
    const run = (compact: boolean): string[] => {
      const c = new RaceChecker();
      const found: Finding[] = [];
      setup.forEach((e, i) => c.onEvent(e, i));
      if (compact) c.setupEnded();
      after.forEach((e, i) => {
        c.onEvent(e, setup.length + i);
        found.push(...c.drain());
      });
      return found.map((f) => f.signature).sort();
    };
    const plain = run(false);
    // the boot's read of OBJ races with a's write; b's read and a's write of OBJ2 make b's write a lost update
    expect(plain.some((sig) => sig.includes('|lost-update|'))).toBe(true);
    expect(plain.length).toBeGreaterThan(1);
    expect(run(true)).toEqual(plain);
  });
});
