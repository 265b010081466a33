import { describeHeld } from './held-locks.ts';
import type { HeldLocks } from './held-locks.ts';
import { printStack, siteOf, whereOf } from './sites.ts';
import type { LockRef } from '../protocol/events.ts';
import type { Finding, TaskSnapshot } from '../protocol/findings.ts';
import type { TaskId } from '../protocol/ids.ts';

/** A task that cannot run, as the scheduler (or the free-mode watchdog) sees it. */
export interface BlockedTask {
  readonly task: TaskId;
  readonly stack: readonly string[];
  /** In words: "mutex B (B)", "reply from pci". */
  readonly what: string;
  /** The lock or completion it sleeps on, when it sleeps on one. */
  readonly on: LockRef | null;
}

/** Follows task → lock it waits for → holder until a task repeats; returns the cycle or null. */
function waitForCycle(blocked: readonly BlockedTask[], held: HeldLocks): TaskId[] | null {
  const waiting = new Map(blocked.map((b) => [b.task, b]));
  for (const start of blocked) {
    const path: TaskId[] = [];
    const seen = new Set<TaskId>();
    let cur: TaskId | undefined = start.task;
    while (cur !== undefined && !seen.has(cur)) {
      seen.add(cur);
      path.push(cur);
      const b = waiting.get(cur);
      if (b === undefined || b.on === null) break;
      cur = held.holders(b.on.id)[0];
    }
    if (cur !== undefined && seen.has(cur)) return path.slice(path.indexOf(cur));
  }
  return null;
}

/**
 * The report for tasks that can never run again: `deadlock` in controlled
 * mode (no enabled step), `hung-task` from the free-mode watchdog. It lists
 * every blocked task with its held locks and what it waits for, and the
 * wait-for cycle when there is one (the kernel's hung-task dump plus the
 * cycle lockdep would have predicted).
 */
export function blockedFinding(kind: 'deadlock' | 'hung-task', blocked: readonly BlockedTask[], held: HeldLocks, hangMs = 0): Finding {
  const cycle = waitForCycle(blocked, held);
  const inCycle = cycle === null ? blocked : blocked.filter((b) => cycle.includes(b.task));
  const sites = inCycle.map((b) => `${siteOf(b.stack)}>${b.on?.cls ?? b.what}`).sort();
  const first = inCycle[0] ?? blocked[0];
  const { actor, handler, site } = whereOf(first === undefined ? [] : first.stack);

  const tasks: TaskSnapshot[] = blocked.map((b) => ({
    task: b.task,
    stack: b.stack,
    held: held.of(b.task).map(describeHeld),
    waitsFor: b.what,
  }));

  let r = '';
  r += '======================================================\n';
  r += kind === 'deadlock'
    ? `WARNING: deadlock: ${blocked.length} task${blocked.length === 1 ? '' : 's'} blocked and none can run\n`
    : `INFO: ${blocked.length} task${blocked.length === 1 ? '' : 's'} blocked for more than ${hangMs} ms without progress\n`;
  r += '------------------------------------------------------\n';
  for (const b of blocked) {
    const holders = b.on === null ? [] : held.holders(b.on.id).filter((t) => t !== b.task);
    const self = b.on !== null && held.holders(b.on.id).includes(b.task);
    r += `task:${b.task} state:D blocked on ${b.what}`;
    if (self) r += ', which it already holds (recursive locking)';
    else if (holders.length > 0) r += `, held by ${holders.join(', ')}`;
    r += '\n';
    const h = held.of(b.task);
    r += ` ${h.length} lock${h.length === 1 ? '' : 's'} held by ${b.task}:\n`;
    h.forEach((x, i) => (r += `  ${describeHeld(x, i)}\n`));
    r += ' stack:\n' + printStack(b.stack, '  ');
  }
  if (cycle !== null) {
    const parts: string[] = [];
    for (const t of cycle) {
      const b = blocked.find((x) => x.task === t);
      parts.push(`${t} -> [${b?.on?.id ?? '?'}]`);
    }
    r += `\nwait-for cycle: ${parts.join(' -> ')} -> ${cycle[0]}\n`;
  }
  return {
    kind,
    title: `${kind} in ${site}`,
    signature: `${kind}|${sites.join('|')}`,
    actor: actor as Finding['actor'],
    handler,
    tasks,
    report: r,
  };
}
