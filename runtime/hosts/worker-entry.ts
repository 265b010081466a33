import { deserialize } from 'node:v8';
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { Cell } from '../cell.ts';
import type { CellConfig, CellSnapshot } from '../cell.ts';
import { loadActorDef } from '../modules.ts';
import { nodeEndpoint } from './endpoint.ts';
import { FreeDriver } from './free-driver.ts';
import { collectIfGrown } from '../gc.ts';
import { setUserSlot } from '../user-code.ts';
import type { FreeCounts, FreeDrain, FreeOptions, RoundLog } from './free-driver.ts';
import type { ActorId } from '../../protocol/ids.ts';
import { crashResult } from '../../protocol/step.ts';
import type { StepCommand } from '../../protocol/step.ts';
import type { FreeLog, FromWorker, ToWorker, WorkerBoot } from '../../protocol/wire.ts';
import { isToWorker } from '../../protocol/guards.ts';

/**
 * One actor in its own worker thread. The data plane (steps and their
 * results, free-mode injections) is a raw MessagePort to the main thread;
 * the control plane (snapshot, inspect, free-mode set-up, logs) is
 * comlink; the per-schedule restore or reset rides the data port like a step.
 */

const { boot, data, control } = workerData as { boot: WorkerBoot; data: MessagePort; control: MessagePort };
if (boot.userSlot !== undefined) setUserSlot(boot.userSlot);
const def = await loadActorDef(boot.module, boot.export, boot.patches);
const cfg: CellConfig = { self: boot.actor, config: boot.config, actors: boot.actors, lockManagers: boot.lockManagers };
let cell = new Cell(def, cfg);
let free: FreeDriver | null = null;
let saved: CellSnapshot | null = null;
/** Free mode: where `drainTo` posts the drained log (stress: a port to the checker thread; see `logTo`). */
let logPort: MessagePort | null = null;
let steps = 0;
/** Why the last `restore`/`reset` failed: every step until the next one ends as an actor crash instead of running on the wrong state. */
let broken: string | null = null;

const post = (m: FromWorker): void => data.postMessage(m);

/** The stall check of a step still open when its message's macrotask ends (see `step`). */
function checkStall(mine: number): void {
  if (steps === mine && cell.stepping !== null) {
    cell.abort(cell.stepping, 'actor-crash', '?', `task ${cell.stepping} in ${boot.actor} is waiting on something that is not a kernel primitive (a timer, I/O or a foreign promise)`, null, []);
  }
}

function step(cmd: StepCommand): void {
  if (broken !== null) {
    post({ t: 'result', r: crashResult(boot.actor, cmd, broken, null) });
    return;
  }
  const mine = ++steps;
  cell.executeThen(cmd, (r) => post({ t: 'result', r }));
  // A step runs in microtasks; if a macrotask finds it still open, the task
  // waits on something that is not a kernel primitive and would hang the run.
  // Most steps have ended by now (a call delivered to a handler that reaches
  // its next kernel call at once): those need no check, and no macrotask.
  if (cell.stepping !== null) setImmediate(checkStall, mine);
}

/** `restore` and `reset` frames: the state for the next schedule; answered in free mode, or when it could not be made. */
function renew(f: () => void): void {
  try {
    f();
    broken = null;
    if (free !== null) post({ t: 'renewed', error: null });
  } catch (e) {
    broken = `worker ${boot.actor}: ${e instanceof Error ? e.message : String(e)}`;
    post({ t: 'renewed', error: broken });
  }
}

data.on('message', (m: unknown) => {
  if (!isToWorker(m)) {
    throw new Error(`worker ${boot.actor}: malformed frame on the data port`);
  }
  const frame: ToWorker = m;
  switch (frame.t) {
    case 'step':
      step(frame.cmd);
      return;
    case 'inject':
      if (free === null) throw new Error(`worker ${boot.actor}: injection outside free mode`);
      free.receive(frame.msg);
      return;
    case 'restore':
      renew(() => {
        if (saved === null) throw new Error('restore without a snapshot');
        cell.restore(saved);
      });
      return;
    case 'reset':
      renew(() => {
        cell = new Cell(def, cfg);
      });
      return;
    case 'fence':
      post({ t: 'fenced' });
      return;
  }
});

const emptyDrain = (): FreeDrain => ({ log: { actor: boot.actor, tasks: [], ns: [], details: null, last: [] }, opMs: [], ops: 0, messages: 0 });

/** What a stress round's drain returns to the main thread: the counts, and how long putting the actor back took (ms). */
export interface DrainedRound extends FreeCounts {
  readonly restoreMs: number;
}

export interface WorkerControl {
  ready(): true;
  snapshot(): void;
  /** Takes `s` (booted elsewhere, e.g. inline: Cell.serializedSnapshot) as this actor's snapshot and restores it. */
  adopt(s: Uint8Array): void;
  inspect(): unknown;
  startFree(opts: FreeOptions, peers: readonly (readonly [ActorId, MessagePort])[], counters: SharedArrayBuffer): void;
  /** Free mode again on the same ports: the actor fresh or back at its snapshot, and new options (runtime/free-run.ts: FreeRunner). */
  rearmFree(opts: FreeOptions, from: 'fresh' | 'snapshot'): void;
  log(): FreeLog;
  /**
   * Free mode: where `drainTo` sends the logs from now on — a port whose
   * other end is in the thread that checks them (stress/check-worker.ts).
   */
  logTo(port: MessagePort): void;
  /**
   * Free mode: the log since the last drain (then forgotten here) goes out on the `logTo` port,
   * tagged with `round`, before this returns; the caller gets the counts
   * only. A stress round's logs are megabytes at 4,096 devices: through
   * the main thread they cost it a structured-clone read and a write per
   * round (issue 19 item 3: the main thread only routes). With `restore`,
   * the actor is then put back to its snapshot for the next round, in the
   * same call: no `restore` frame and answer per actor per round.
   */
  drainTo(round: number, restore: boolean): DrainedRound;
  /**
   * A full garbage collection of this worker's heap (between stress rounds)
   * when the heap V8 has committed grew past `growth` × the least it was
   * right after one (always, the first time); says whether it collected.
   */
  collectGarbage(growth: number): boolean;
}

const api: WorkerControl = {
  ready: () => true,
  snapshot() {
    saved = cell.snapshot();
  },
  adopt(s) {
    // two deserializations (native, and this thread's JIT is cold) rather than one and a copy: the copy's
    // plan is made at the first restore, in the rounds, not in the boot's hand-over (issue 19: boot time)
    saved = deserialize(s) as CellSnapshot;
    cell.restoreOwned(deserialize(s) as CellSnapshot);
  },
  inspect: () => cell.inspect(),
  startFree(opts, peers, counters) {
    free = new FreeDriver(cell, new Map(peers), post, opts, new Int32Array(counters));
  },
  rearmFree(opts, from) {
    if (free === null) throw new Error(`worker ${boot.actor}: rearmFree() before startFree()`);
    if (from === 'fresh') cell = new Cell(def, cfg);
    else if (saved === null) throw new Error(`worker ${boot.actor}: rearmFree() from a snapshot without one`);
    else cell.restore(saved);
    free.rearm(cell, opts);
  },
  log: () => free?.record() ?? { actor: boot.actor, tasks: [], ns: [], details: null, last: [] },
  logTo(port) {
    logPort = port;
  },
  drainTo(round, restore) {
    if (logPort === null) throw new Error(`worker ${boot.actor}: drainTo() before logTo()`);
    const { log, ...counts } = free?.drain() ?? emptyDrain();
    logPort.postMessage({ round, log } satisfies RoundLog);
    const t0 = performance.now();
    if (restore) {
      if (saved === null) throw new Error(`worker ${boot.actor}: drainTo() with restore without a snapshot`);
      cell.restore(saved);
    }
    return { ...counts, restoreMs: performance.now() - t0 };
  },
  collectGarbage(growth) {
    // each of a stress run's dozens of threads grows its own heap; a thread whose heap stayed put (most do,
    // round after round) is not stopped for a full mark-compact it does not need (runtime/gc.ts).
    // Measured at 1,024 devices for 10 minutes under load 20-30 (issue 19): RSS between minute 2 and 10 grew
    // 7-29 % collecting every worker every time, 13-19 % with 25 % over the last size, 19-23 % with this bound
    // (noisy: where the boot ends matters); the collections took 17.7 %, 1.3 % and 6.7 % of the churn phase.
    // GC_GROWTH = 0 (stress/engine.ts) collects every worker every time.
    return collectIfGrown(growth);
  },
};

Comlink.expose(api, nodeEndpoint(control));
