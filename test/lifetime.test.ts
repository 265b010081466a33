import { describe, expect, it } from 'vitest';
import { LifetimeChecker } from '../checkers/lifetime/lifetime-checker.ts';
import type { LifetimeCheckerOptions } from '../checkers/lifetime/lifetime-checker.ts';
import { lockIdFor, objectOfLock } from '../checkers/lifetime/lock-objects.ts';
import { runExecution } from '../runtime/execution.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';
import type { CheckCase, MatrixOptions } from '../scenarios/checks/matrix.ts';
import { golden } from './helpers/golden.ts';
import { caseByName, expectStableSignatures, matrixSuite } from './helpers/matrix.ts';
import { exploreCase, runChecked } from '../scenarios/checks/run.ts';
import type { LockRef, TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { lockId, msgId, objId, taskId } from '../protocol/ids.ts';
import type { ActorId, ObjId } from '../protocol/ids.ts';

const LIFETIME_ACTORS = 'scenarios/checks/lifetime-actors';
const byName = (name: string, opts: MatrixOptions = {}): CheckCase => caseByName(LIFETIME_ACTORS, name, opts);

matrixSuite('lifetime matrix (inline host)', LIFETIME_ACTORS, 6);

describe('lifetime checker on the matrix programs', () => {
  it('the iterator escape needs the remover to run between the walk and the use', async () => {
    const c = byName('uaf-iterator-escape');
    const host = await InlineHost.create(c.program);
    try {
      const x = await exploreCase(host, c, new RandomStrategy(3), { seed: 5, schedules: 60 });
      expect(x.hits).toBeGreaterThan(0);
      expect(x.hits).toBeLessThan(x.runs);
    } finally {
      await host.close();
    }
  });

  it('reports carry the kernel words and the stacks that matter', async () => {
    const run = async (c: CheckCase): Promise<Finding> => {
      const host = await InlineHost.create(c.program);
      try {
        const r = await runChecked(host, c.program, new RandomStrategy(1), 1, 0);
        const f = r.findings.find((x) => x.kind === c.expected);
        expect(f, c.name).toBeDefined();
        return f as Finding;
      } finally {
        await host.close();
      }
    };
    const inFlight = await run(byName('uaf-message-in-flight'));
    expect(inFlight.title).toBe('use-after-free in app.vfio_notify_work');
    expect(inFlight.report).toContain('BUG: KASAN: slab-use-after-free in vfio_notify_work');
    expect(inFlight.report).toContain('Last potentially related work creation:');
    expect(inFlight.report).toContain('still in flight when vfio_device@t1#1 was freed');

    const under = await run(byName('double-put'));
    expect(under.report).toContain('refcount_t: underflow; use-after-free.');
    expect(under.report).toMatch(/put +-> +0 .*\n put +-> -1 /);

    const leak = await run(byName('leak'));
    expect(leak.report).toContain('unreferenced object iommu_domain@t1#1 (iommu_domain)');
    expect(leak.report).toContain('refcount 1 at the end of the execution');
  });

  it('golden KASAN report: device used after bus_for_each_dev() moved on (seed 004)', async () => {
    const c = byName('uaf-iterator-escape');
    const host = await InlineHost.create(c.program);
    try {
      // setup; the walker walks the bus (taking and dropping its reference) and yields;
      // the remover takes the device off the bus and drops the last reference; the walker reads
      const walker = Array<string>(9).fill('t1.2');
      const remover = Array<string>(5).fill('t1.3');
      const replay = new ReplayStrategy(['t1', ...walker, ...remover].map(taskId));
      const r = await runChecked(host, c.program, replay, 1, 0);
      expect(replay.diverged).toBeNull();
      const f = r.findings.find((x) => x.kind === 'use-after-free');
      expect(f).toBeDefined();
      golden('kasan-use-after-free.txt', (f as Finding).report);
    } finally {
      await host.close();
    }
  });

  it('signatures do not change with seed, strategy, task ids or object ids', async () => {
    await expectStableSignatures(LIFETIME_ACTORS, /\bt\d|job|@|#/);
  });
});

describe('DEBUG_KOBJECT_RELEASE (runtime/kobject.ts)', () => {
  it('delays the release by a seeded 1..4 yields and still releases', async () => {
    const c = byName('balanced-refcount', { debugKobjectRelease: true });
    const host = await InlineHost.create(c.program);
    try {
      const delays = new Set<number>();
      for (let seed = 1; seed <= 12; seed++) {
        const yields = async (): Promise<number> => {
          await host.reset();
          const r = await runExecution(host, c.program, new RandomStrategy(seed), { seed, execution: 0, record: true, checkers: [new LifetimeChecker()] });
          expect(r.findings).toEqual([]);
          return (r.trace ?? []).filter((t) => t.kind === 'resume').length;
        };
        const n = await yields();
        expect(n).toBeGreaterThanOrEqual(1);
        expect(n).toBeLessThanOrEqual(4);
        expect(await yields()).toBe(n); // the same seed, the same delay
        delays.add(n);
      }
      expect(delays.size).toBeGreaterThan(1);
    } finally {
      await host.close();
    }
  });

  it('opens a window: the in-flight message may now run before the free', async () => {
    const c = byName('uaf-message-in-flight', { debugKobjectRelease: true });
    expect(c.always).toBe(false);
    const host = await InlineHost.create(c.program);
    try {
      const x = await exploreCase(host, c, new RandomStrategy(7), { seed: 1, schedules: 60 });
      expect(x.hits).toBeGreaterThan(0);
      expect(x.hits).toBeLessThan(x.runs);
    } finally {
      await host.close();
    }
  });
});

// ---- the checker over hand-written event streams (the offline form) -----------------------------

const ACTOR = 'app' as ActorId;
const DEV = objId('device@x#1');

function on(task: string, handler: string) {
  const base = { task: taskId(task), actor: ACTOR, stack: [`app:${handler}`] } as const;
  return {
    start: (parent: string | null = null): TraceEvent => ({ ...base, ev: 'task.start', parent: parent === null ? null : taskId(parent) }),
    end: (): TraceEvent => ({ ...base, ev: 'task.end' }),
    spawn: (child: string): TraceEvent => ({ ...base, ev: 'send', msg: msgId(taskId(child), 0), to: ACTOR, op: 'work', kind: 'event' }),
    alloc: (o: ObjId = DEV, type = 'device'): TraceEvent => ({ ...base, ev: 'alloc', obj: o, type }),
    free: (o: ObjId = DEV): TraceEvent => ({ ...base, ev: 'free', obj: o }),
    use: (o: ObjId = DEV): TraceEvent => ({ ...base, ev: 'use', obj: o, what: 'pointer' }),
    get: (count: number, o: ObjId = DEV): TraceEvent => ({ ...base, ev: 'get', obj: o, count }),
    put: (count: number, o: ObjId = DEV): TraceEvent => ({ ...base, ev: 'put', obj: o, count }),
    lock: (l: LockRef): TraceEvent => ({ ...base, ev: 'lock.request', lock: l, mode: 'write', try: false }),
  };
}

function check(events: readonly TraceEvent[], opts: LifetimeCheckerOptions = {}): Finding[] {
  const c = new LifetimeChecker(opts);
  const out: Finding[] = [];
  events.forEach((e, i) => {
    c.onEvent(e, i);
    out.push(...c.drain());
  });
  c.finish();
  c.finish();
  out.push(...c.drain());
  return out;
}
const kinds = (fs: readonly Finding[]): string[] => fs.map((f) => f.kind).sort();

describe('lifetime checker over event streams', () => {
  const a = on('a', 'probe');
  const b = on('b', 'remove');

  it('a lock embedded in a freed object is a use of freed memory', () => {
    const l: LockRef = { id: lockIdFor(DEV, 'device_lock'), cls: 'device_lock', kind: 'mutex' };
    const fs = check([a.start(), b.start(), a.alloc(), b.free(), a.lock(l), a.end(), b.end()]);
    expect(kinds(fs)).toEqual(['use-after-free']);
    expect(fs[0]?.report).toMatch(/^Write of size 8 at addr ffff8880[0-9a-f]{8} by task a\/\d+$/m);
    expect(fs[0]?.report).toContain(`is ${DEV} (device), lock ${DEV}/device_lock`);
    // a free-standing lock names no object
    const global: LockRef = { id: lockId('iommu_probe_device_lock'), cls: 'iommu_probe_device_lock', kind: 'mutex' };
    expect(kinds(check([a.start(), a.alloc(), a.free(), a.lock(global), a.end()]))).toEqual([]);
  });

  it('the lock-id convention finds the longest known object prefix', () => {
    const known = new Set(['pci/0000:00:01.0', 'pci']);
    expect(objectOfLock(lockId('pci/0000:00:01.0/device_lock'), (o) => known.has(o))).toBe('pci/0000:00:01.0');
    expect(objectOfLock(lockId('nothing/mutex'), (o) => known.has(o))).toBeNull();
  });

  it('double free, get after free, use after free', () => {
    const df = check([a.start(), a.alloc(), a.free(), a.free(), a.end()]);
    expect(kinds(df)).toEqual(['use-after-free']);
    expect(df[0]?.report).toContain('BUG: KASAN: double-free in probe');
    expect(df[0]?.signature).toBe('use-after-free|device|double-free|app.probe');
    expect(kinds(check([a.start(), a.alloc(), a.free(), a.get(1), a.end()]))).toEqual(['use-after-free']);
    expect(kinds(check([a.start(), a.alloc(), a.free(), a.use(), a.end()]))).toEqual(['use-after-free']);
    expect(kinds(check([a.start(), a.alloc(), a.use(), a.free(), a.end()]))).toEqual([]);
  });

  it('a new alloc of a freed id is a new object', () => {
    expect(kinds(check([a.start(), a.alloc(), a.free(), a.alloc(), a.use(), a.free(), a.end()]))).toEqual([]);
  });

  it('an underflow is reported once, not also as a use-after-free; static objects underflow too', () => {
    expect(kinds(check([a.start(), a.alloc(), a.put(0), a.free(), a.put(-1), a.end()]))).toEqual(['refcount-underflow']);
    const stat = check([a.start(), a.put(-1, objId('group0')), a.end()]);
    expect(kinds(stat)).toEqual(['refcount-underflow']);
    expect(stat[0]?.signature).toBe('refcount-underflow|group|app.probe');
  });

  it('leaks are judged at the end, only when every task ended, and respect `keep`', () => {
    const leaky = [a.start(), a.alloc(), a.get(2), a.put(1), a.end()];
    expect(kinds(check(leaky))).toEqual(['refcount-leak']);
    expect(kinds(check(leaky, { keep: ['device'] }))).toEqual([]);
    expect(kinds(check(leaky, { leaks: false }))).toEqual([]);
    // a task still running (blocked, step limit) may hold the reference: not a leak
    expect(kinds(check([a.start(), b.start(), a.alloc(), a.end()]))).toEqual([]);
    // the count reached zero but nobody freed it
    const noFree = check([a.start(), a.alloc(), a.put(0), a.end()]);
    expect(noFree[0]?.report).toContain('the count reached 0 but the object was never freed');
  });

  it('a spawned task that uses an object freed before it ran names the message in flight', () => {
    const w = on('a.1', 'work');
    const fs = check([a.start(), a.alloc(), a.spawn('a.1'), a.free(), w.start('a'), w.use(), w.end(), a.end()]);
    expect(fs[0]?.report).toContain('message work to app, sent by task a at step 2, still in flight');
    // the same task, started before the free: related work, not in flight
    const ran = check([a.start(), a.alloc(), a.spawn('a.1'), w.start('a'), w.use(), a.free(), w.use(), w.end(), a.end()]);
    expect(ran[0]?.report).toContain('Last potentially related work creation:');
    expect(ran[0]?.report).not.toContain('in flight');
  });
});
