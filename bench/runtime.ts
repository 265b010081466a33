import { MessageChannel } from 'node:worker_threads';
import type { TransferListItem, Worker } from 'node:worker_threads';
import { once } from 'node:events';
import type { Checker } from '../checkers/checker.ts';
import { runExecution } from '../runtime/execution.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { codeUrl, spawnWorker } from '../runtime/hosts/spawn.ts';
import { WorkersHost } from '../runtime/hosts/workers.ts';
import { ExplorationPool } from '../runtime/pool.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { bareRing, ringProgram } from './ring.ts';

/** Median of a few repetitions: these machines are shared and noisy. */
export async function median(reps: number, f: () => Promise<number>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < reps; i++) xs.push(await f());
  return medianOf(xs);
}

/** The median of measurements already taken (of an even count, the mean of the middle two). */
export function medianOf(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Controlled steps/s in the inline host on a ring (one long execution, random strategy), optionally with checkers on. */
export async function inlineStepsPerSec(actors: number, tasks: number, laps: number, checkers: () => readonly Checker[] = () => []): Promise<number> {
  const p = ringProgram(actors, tasks, laps);
  const host = await InlineHost.create(p);
  const t0 = performance.now();
  const r = await runExecution(host, p, new RandomStrategy(1), { seed: 1, maxSteps: Number.MAX_SAFE_INTEGER, checkers: checkers() });
  const dt = performance.now() - t0;
  if (r.outcome !== 'completed') throw new Error(`ring run ended ${r.outcome}`);
  return r.steps / (dt / 1000);
}

/** The same hops as bare async calls in one thread, per second. */
export async function bareStepsPerSec(actors: number, tasks: number, laps: number): Promise<number> {
  const t0 = performance.now();
  const n = await bareRing(actors, tasks, laps);
  return n / ((performance.now() - t0) / 1000);
}

/**
 * Controlled steps/s in the workers host (one worker per ring actor; every
 * step a handshake): `cold` times the second execution on new workers, as
 * this figure was taken until session 19; `warm` the median of three after
 * `warmups` more. Each of the 16 actor threads compiles its own copy of the
 * step path and sees a sixteenth of the steps, so the rate climbs for about
 * ten executions of the 100-lap ring (measured, quiet machine: 9–10k steps/s
 * on the first, 17k from the tenth on); the raw round trips it is set
 * against run trivial code warmed by 200 round trips. A user's exploration
 * of thousands of schedules runs at the warm rate.
 */
export async function workersStepsPerSec(actors: number, tasks: number, laps: number, warmups: number): Promise<{ readonly cold: number; readonly warm: number }> {
  const p = ringProgram(actors, tasks, laps);
  const host = await WorkersHost.create(p);
  const timed = async (seed: number): Promise<number> => {
    await host.reset();
    const t0 = performance.now();
    const r = await runExecution(host, p, new RandomStrategy(seed), { seed: 1 });
    return r.steps / ((performance.now() - t0) / 1000);
  };
  try {
    await runExecution(host, p, new RandomStrategy(1), { seed: 1 });
    const cold = await timed(2);
    for (let i = 0; i < warmups; i++) await timed(3 + i);
    const warm = [await timed(2), await timed(2), await timed(2)];
    return { cold, warm: medianOf(warm) };
  } finally {
    await host.close();
  }
}

async function rawWorker(data: Record<string, unknown>, transfer: readonly TransferListItem[]): Promise<Worker> {
  const w = spawnWorker(codeUrl('./raw-worker', import.meta.url), 'raw', data, transfer);
  await once(w, 'message');
  return w;
}

/** Sequential postMessage round trips main ↔ worker per second. */
export function rawRoundTripsPerSec(n: number): Promise<number> {
  return echoRoundTripsPerSec(1, { t: 'step', seq: 0 }, n);
}

/** A step's frame: a `deliver` command and its envelope, as the workers host sends one (rawRotationRoundTripsPerSec). */
const STEP_FRAME = {
  t: 'step',
  cmd: { kind: 'deliver', msg: { id: 1234, from: 'ring3', to: 'ring4', task: 't1', kind: 'call', op: 'hop', body: { lap: 12 }, stack: 'ring0:laps\nring1:hop\nring2:hop', cause: 1233, seq: 57, step: 112, rng: 123456789 } },
};

/**
 * The same round trips, but to `workers` echo workers in turn, with a
 * step's frame both ways: the floor of the workers host's controlled step,
 * which goes to the thread of the actor the step runs on. One echo worker
 * (`rawRoundTripsPerSec`) is the same thread every time, still warm; here
 * each thread has slept through the other workers' turns and is woken
 * cold, as an actor's is. Measured on the 2-core machine (issue 19, session
 * 19): 16 workers in turn run at 0.59–0.74 of one worker's rate, with as
 * much CPU per round trip as the host's own steps.
 */
export function rawRotationRoundTripsPerSec(workers: number, n: number): Promise<number> {
  return echoRoundTripsPerSec(workers, STEP_FRAME, n);
}

/** `msg` to `workers` echo workers in turn, each round trip awaited: round trips per second, after 200 per worker untimed. */
async function echoRoundTripsPerSec(workers: number, msg: unknown, n: number): Promise<number> {
  const chans = Array.from({ length: workers }, () => new MessageChannel());
  const ws = await Promise.all(chans.map((ch) => rawWorker({ mode: 'echo', port: ch.port2 }, [ch.port2])));
  try {
    let next = 0;
    const one = (): Promise<void> => new Promise((resolve) => {
      const port = (chans[next++ % workers] as MessageChannel).port1;
      port.once('message', () => resolve());
      port.postMessage(msg);
    });
    for (let i = 0; i < 200 * workers; i++) await one();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await one();
    return n / ((performance.now() - t0) / 1000);
  } finally {
    for (const ch of chans) ch.port1.close();
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

/** Raw one-way postMessage hops/s around a ring of `actors` workers with `tokens` in flight. */
export async function rawOneWayPerSec(actors: number, tokens: number, hopsPerToken: number): Promise<number> {
  const chans = Array.from({ length: actors }, () => new MessageChannel());
  const counter = new SharedArrayBuffer(4);
  const c = new Int32Array(counter);
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < actors; i++) {
      const inPort = (chans[i] as MessageChannel).port2;
      const outPort = (chans[(i + 1) % actors] as MessageChannel).port1;
      workers.push(await rawWorker({ mode: 'relay', port: inPort, next: outPort, counter }, [inPort, outPort]));
    }
    const total = tokens * hopsPerToken;
    const t0 = performance.now();
    (workers[0] as Worker).postMessage({ tokens, hops: hopsPerToken - 1 });
    while (Atomics.load(c, 0) < total) await new Promise((r) => setTimeout(r, 1));
    return total / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * Executions/s of the pool with `threads` threads on a fixed exploration.
 * Pool start-up and JIT warm-up are excluded: a first exploration of the
 * same size runs untimed, or the second thread is still compiling while the
 * first is measured.
 */
export async function poolExecutionsPerSec(threads: number, schedules: number): Promise<number> {
  const pool = new ExplorationPool(threads);
  try {
    const base = { loader: { module: 'scenarios/index', export: 'loadBuiltin' }, key: { scenario: 'runtime-abba', variants: { order: 'ordered' } }, strategy: 'random' as const, seed: 1 };
    await pool.explore(base, 0, schedules);
    const r = await pool.explore(base, 0, schedules);
    return r.executions / (r.elapsedMs / 1000);
  } finally {
    await pool.close();
  }
}
