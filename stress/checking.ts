import type { MessagePort, Worker } from 'node:worker_threads';
import { codeUrl, spawnWorker } from '../runtime/hosts/spawn.ts';
import type { Program } from '../runtime/program.ts';
import type { Outcome } from '../runtime/execution.ts';
import type { Finding } from '../protocol/findings.ts';
import type { ActorId, TaskId } from '../protocol/ids.ts';
import { kernelProgram } from '../scenarios/kernel/program.ts';
import { processNames } from './churn.ts';
import { generateMachine } from './topology.ts';

/**
 * The main thread's side of the stress run's checker thread
 * (stress/check-worker.ts): it starts the thread, which boots the machine
 * and keeps the checkers; then hands it a port per actor (the actors send
 * their logs there themselves), asks for each round's check and gets the
 * round's findings back. Nothing of the checkers, and no log, lives on the
 * main thread.
 */

/** What the checker thread needs to build the same machine and programs as the main thread (all plain data). */
export interface CheckerBoot {
  readonly devices: number;
  readonly units: number;
  readonly seed: number;
  readonly tasks: number;
  readonly variants: Readonly<Record<string, string>>;
  /** Send boot progress lines. */
  readonly progress: boolean;
}

export type ToChecker =
  /** Each actor's log port (WorkersHost.logPorts, transferred): every round's log of that actor comes on it (a RoundLog). */
  | { readonly t: 'ports'; readonly ports: readonly (readonly [ActorId, MessagePort])[] }
  /**
   * Check round `index` from the logs of `actors`, merged in this order (the
   * host's actor order: the merge gives ties to the actor listed first, so
   * the order is part of determinism). The logs may come after this message
   * (their ports are not ordered with this one): the check waits for them.
   */
  | { readonly t: 'check'; readonly index: number; readonly actors: readonly ActorId[]; readonly end: 'done' | 'hung' | 'aborted'; readonly hangMs: number }
  | { readonly t: 'close' };

export type FromChecker =
  | { readonly t: 'progress'; readonly line: string }
  /** The thread has loaded its code and starts the boot. */
  | { readonly t: 'booting' }
  | {
    readonly t: 'booted'; readonly outcome: Outcome; readonly steps: number; readonly decisions: readonly TaskId[];
    readonly findings: readonly Finding[];
    /** Each actor's booted state, serialized (InlineHost.serializedSnapshots), for WorkersHost.adopt; transferred. */
    readonly snapshots: ReadonlyMap<ActorId, Uint8Array<ArrayBuffer>> | null; readonly ms: number;
  }
  | {
    readonly t: 'checked'; readonly index: number; readonly findings: readonly Finding[]; readonly hung: Finding | null;
    /** The round's merged order (task per step), when a finding of it may be new to the run; otherwise null. */
    readonly decisions: readonly TaskId[] | null;
    /** The checker thread's time on this round. */
    readonly ms: number;
  };

export type Booted = Extract<FromChecker, { t: 'booted' }>;
export type Checked = Extract<FromChecker, { t: 'checked' }>;

/**
 * The stress run's two programs, the same in every thread that builds them:
 * the host's (every process a round may use has its actor from the start)
 * and the boot's (no tasks but the boot).
 */
export function stressPrograms(o: Pick<CheckerBoot, 'devices' | 'units' | 'seed' | 'tasks' | 'variants'>): { hostProgram: Program; bootProgram: Program } {
  const topology = generateMachine({ devices: o.devices, units: o.units, seed: o.seed }).topology;
  const procs = processNames(o.tasks);
  return {
    hostProgram: kernelProgram({ name: 'stress', topology, variants: o.variants, tasks: [], processes: procs.map((name) => ({ name, ops: [], stay: true })) }),
    bootProgram: kernelProgram({ name: 'stress', topology, variants: o.variants, tasks: [] }),
  };
}

/**
 * The checker thread's young generation (maxYoungGenerationSizeMb: two
 * semi-spaces and the space V8 promotes from), from this many devices up.
 * A round's events and the records the checkers make of them live until
 * the round's check ends: with V8's default, scavenges found most of them
 * alive and promoted them, and the old generation's collections paid for
 * them again. Measured with `stress --fixed --no-verify --time 15` (20 at
 * 1,024), the default against 64 MB alternated on one machine (session 21),
 * the checker thread's time on the rounds: 512 devices 7.9–8.9 s against
 * 6.3–6.7 s (14,787–17,774 against 21,593–24,096 messages/s), 1,024
 * 11.4–12.5 s against 8.4–9.8 s, 4,096 9.4–9.9 s against 7.7–8.8 s, for
 * +15–115 MB of peak RSS. At 256 devices it was slower (8.2–8.8 s against
 * 10.5–10.8 s), so a small machine keeps the default. 32 MB was no better
 * than the default at 1,024, 128 MB no better than 64 and +150 MB.
 */
const CHECKER_YOUNG_GENERATION_MB = 64;
const CHECKER_YOUNG_GENERATION_FROM_DEVICES = 512;

/**
 * One checker thread. `booted` settles once with the boot; `check` posts a
 * round and settles with its findings (rounds are checked in the order they
 * are posted). A thread that fails rejects whatever waits on it.
 */
export class CheckerThread {
  private readonly worker: Worker;
  private readonly waiting: { resolve: (c: Checked) => void; reject: (e: Error) => void }[] = [];
  private bootWait: { resolve: (b: Booted) => void; reject: (e: Error) => void } | null = null;
  private failed: Error | null = null;
  private closed = false;
  private booted: Promise<Booted> | null;
  private bootingWait: (() => void) | null = null;
  /** Settles when the thread has loaded its code and starts the boot (at once if it fails first). */
  readonly booting: Promise<void>;

  constructor(boot: CheckerBoot, progress: ((line: string) => void) | null) {
    this.booted = new Promise<Booted>((resolve, reject) => {
      this.bootWait = { resolve, reject };
    });
    // the boot promise may be left unawaited when something else fails first
    this.booted.catch(() => {});
    this.booting = new Promise<void>((resolve) => {
      this.bootingWait = resolve;
    });
    this.worker = spawnWorker(codeUrl('./check-worker', import.meta.url), 'stress:checker', { ...boot }, [],
      boot.devices >= CHECKER_YOUNG_GENERATION_FROM_DEVICES ? { maxYoungGenerationSizeMb: CHECKER_YOUNG_GENERATION_MB } : undefined);
    this.worker.on('message', (m: FromChecker) => {
      switch (m.t) {
        case 'progress':
          progress?.(m.line);
          return;
        case 'booting':
          this.bootingWait?.();
          return;
        case 'booted':
          this.bootWait?.resolve(m);
          this.bootWait = null;
          return;
        case 'checked':
          this.waiting.shift()?.resolve(m);
          return;
      }
    });
    this.worker.on('error', (e: Error) => this.fail(new Error(`stress: the checker thread failed: ${e.message}`, { cause: e })));
    this.worker.on('exit', (code: number) => {
      if (!this.closed) this.fail(new Error(`stress: the checker thread exited with code ${code}`));
    });
  }

  private fail(e: Error): void {
    this.failed ??= e;
    this.bootingWait?.();
    this.bootWait?.reject(e);
    this.bootWait = null;
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  /** The boot, once: the thread keeps no reference to it (its snapshots are large and only handed on). */
  takeBoot(): Promise<Booted> {
    const b = this.booted;
    if (b === null) throw new Error('stress: the checker thread\'s boot was already taken');
    this.booted = null;
    return b;
  }

  /** Hands the thread the actors' log ports (WorkersHost.logPorts); they move there. */
  listen(ports: readonly (readonly [ActorId, MessagePort])[]): void {
    this.worker.postMessage({ t: 'ports', ports } satisfies ToChecker, ports.map(([, p]) => p));
  }

  /**
   * Asks for round `index`'s check over the logs `actors` sent on their
   * ports (WorkersHost.drainTo); settles with the round's findings. The
   * logs never pass through this thread.
   */
  check(index: number, actors: readonly ActorId[], end: 'done' | 'hung' | 'aborted', hangMs: number): Promise<Checked> {
    if (this.failed !== null) return Promise.reject(this.failed);
    return new Promise<Checked>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.worker.postMessage({ t: 'check', index, actors, end, hangMs } satisfies ToChecker);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
  }
}
