import { parentPort, workerData } from 'node:worker_threads';
import type { Checker } from '../checkers/checker.ts';
import { runExecution } from '../runtime/execution.ts';
import { mergeFreeLogs } from '../runtime/free-order.ts';
import { checkOffline, hungFinding, unfinished } from '../runtime/free-run.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { collectIfGrown } from '../runtime/gc.ts';
import { restoreCopy } from '../runtime/snapshot.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';
import type { Strategy } from '../runtime/strategies/strategy.ts';
import type { ActorId, TaskId } from '../protocol/ids.ts';
import type { RoundLog } from '../runtime/hosts/free-driver.ts';
import type { FreeLog } from '../protocol/wire.ts';
import { kernelCheckers } from '../scenarios/kernel/checkers.ts';
import { stressPrograms } from './checking.ts';
import type { CheckerBoot, FromChecker, ToChecker } from './checking.ts';

/**
 * The stress run's checker thread (issue 19 item 3). It boots the machine
 * inline with every checker watching — while the main thread starts the
 * actors' workers — hands the booted actor states back, and keeps the
 * booted checkers as the template every round is checked from. After that
 * it only checks: a round's logs arrive — each actor's straight from its
 * worker, on a port of its own — merge into the order that really
 * happened, and a fresh copy of the template runs over them.
 *
 * Why a thread of its own: the checkers' heap (the race shadow, lockdep's
 * graph, the invariants' objects, all sized by the machine) and the work
 * over it were on the main thread, which also routes and drains the
 * rounds; a check slice plus a major collection of that heap blocked it
 * for 222–311 ms at 2,048–4,096 devices. Here neither touches it: the main
 * thread posts logs and reads findings.
 */

const boot = workerData as CheckerBoot;
const port = parentPort;
if (port === null) throw new Error('stress check worker: no parent port');
const post = (m: FromChecker, transfer: readonly ArrayBuffer[] = []): void => port.postMessage(m, transfer);

/**
 * This thread's heap may grow this much over the least it was after a
 * forced collection before it is collected again, between checks. Each
 * check leaves ~25 MB of garbage at 4,096 devices (a restore's copies, the
 * round's log and what the checkers made of it) over a live heap of ~260 MB
 * (the post-boot template and its copy plan), and V8 let the heap grow to
 * 500-800 MB before collecting it on its own: the largest share of the
 * run's peak RSS (issue 19). A full collection of that heap takes a few
 * hundred ms, so not after every check: about every fifth.
 */
const CHECK_GC_GROWTH = 1.5;

/** The boot's strategy, saying every couple of seconds how far the boot is (a 4,096-device boot takes a while). */
function bootProgress(inner: ReplayStrategy, t0: number): Strategy {
  let last = performance.now();
  return {
    name: inner.name,
    begin: () => inner.begin(),
    pick: (enabled, step) => {
      if (boot.progress && step % 256 === 0 && performance.now() - last > 2000) {
        last = performance.now();
        post({ t: 'progress', line: `stress: booting: ${step} steps, ${((last - t0) / 1000).toFixed(1)} s` });
      }
      return inner.pick(enabled, step);
    },
  };
}

/**
 * Boots the machine and posts the booted state; returns the post-boot
 * checkers (the template) and the boot's step count. Everything else of the
 * boot — the inline host's actors, the snapshots, the trace — is left to
 * the collector when it returns: the workers hold the actors from here on.
 */
async function bootMachine(): Promise<{ template: readonly Checker[]; steps: number }> {
  const t0 = performance.now();
  const { hostProgram, bootProgram } = stressPrograms(boot);
  const checkers = kernelCheckers();
  const bootHost = await InlineHost.create(hostProgram);
  const booted = await runExecution(bootHost, bootProgram, bootProgress(new ReplayStrategy([]), t0), { seed: boot.seed, checkers: checkers.map(unfinished), maxSteps: Number.MAX_SAFE_INTEGER });
  const ok = booted.outcome === 'completed';
  // the actors' state serialized as it is (the boot host is dropped next, so nothing is copied first); the
  // buffers move to the main thread and on to the workers without being copied or read on the way
  const snapshots = ok ? bootHost.serializedSnapshots() : null;
  const m: FromChecker = {
    t: 'booted', outcome: booted.outcome, steps: booted.steps, decisions: booted.decisions, findings: booted.findings,
    snapshots, ms: performance.now() - t0,
  };
  post(m, snapshots === null ? [] : [...snapshots.values()].map((b) => b.buffer));
  await bootHost.close();
  // the boot's checkers become the template as they are: nothing feeds them any more, and every round restores from them
  return { template: ok ? checkers : [], steps: booted.steps };
}

// the main thread starts the actors' workers now: loading their code beside this thread's (two dozen threads
// compiling the same modules on two cores) held the boot back by ~3 s at 4,096 devices (issue 19: boot time)
post({ t: 'booting' });
const { template, steps: bootSteps } = await bootMachine();
// the boot's garbage (the inline actors, their trace, the snapshots' bytes) is most of this heap: give it back before the
// rounds (the first collectIfGrown always collects, and the heap after it is the floor later ones compare with)
collectIfGrown(CHECK_GC_GROWTH);

/** Signatures this thread has reported: the first report of one carries the round's order (its replay), later ones need not. */
const reported = new Set<string>();

/** This thread's forced collections since the last check's report (counted in the next one's time). */
let gcMs = 0;

/** Each actor's logs that have come on its port and are not checked yet, oldest first. */
const inbox = new Map<ActorId, RoundLog[]>();
/** Checks asked for whose logs may not all be here yet, in the order asked (rounds in order). */
const asked: Extract<ToChecker, { t: 'check' }>[] = [];

/**
 * Runs every asked check whose logs are all here, in order. The main thread
 * asks after the actors' drains have returned, and each actor posted its
 * log before its drain returned, but on another port: the ask can overtake
 * the logs, never the other way round for one actor.
 */
function checkReady(): void {
  for (;;) {
    const m = asked[0];
    if (m === undefined || !m.actors.every((a) => (inbox.get(a)?.length ?? 0) > 0)) return;
    asked.shift();
    const logs = m.actors.map((a) => {
      const l = (inbox.get(a) as RoundLog[]).shift() as RoundLog;
      if (l.round !== m.index) throw new Error(`stress check worker: ${a} sent its log of round ${l.round} where round ${m.index} was due`);
      return l.log;
    });
    post(check(m, logs));
    // nothing else waiting: give back what the checks left, if it is much (see CHECK_GC_GROWTH); its time
    // is this thread's, so the next check's reported time carries it
    if (asked.length === 0) {
      const t = performance.now();
      if (collectIfGrown(CHECK_GC_GROWTH)) gcMs += performance.now() - t;
    }
  }
}

function check(m: Extract<ToChecker, { t: 'check' }>, logs: readonly FreeLog[]): FromChecker {
  const start = performance.now();
  // an aborted round was still moving when its logs were read: keep the consistent prefix
  const ordered = mergeFreeLogs(logs, m.end === 'aborted');
  const checkers = restoreCopy(template);
  // a round cut short by a hang or a crash is not over: leak checks would be wrong
  const findings = checkOffline(logs, ordered, checkers, bootSteps, m.end === 'done');
  const hung = m.end === 'hung' ? hungFinding(logs, ordered, m.hangMs) : null;
  // the round's order goes back only when the main thread may write a replay with it
  const fresh = findings.some((f) => !reported.has(f.signature)) || m.end !== 'done';
  for (const f of findings) reported.add(f.signature);
  const decisions = fresh ? ordered.map((s) => (logs[s.log] as FreeLog).tasks[s.at] as TaskId) : null;
  const ms = performance.now() - start + gcMs;
  gcMs = 0;
  return { t: 'checked', index: m.index, findings, hung, decisions, ms };
}

port.on('message', (m: ToChecker) => {
  switch (m.t) {
    case 'ports':
      for (const [actor, p] of m.ports) {
        inbox.set(actor, []);
        p.on('message', (l: RoundLog) => {
          (inbox.get(actor) as RoundLog[]).push(l);
          checkReady();
        });
      }
      return;
    case 'check':
      asked.push(m);
      checkReady();
      return;
    case 'close':
      port.close();
      return;
  }
});
