import { describeHeld } from './held-locks.ts';
import type { HeldLocks } from './held-locks.ts';
import { siteOf, whereOf } from './sites.ts';
import { KERNEL_RELEASE, REPORT_LEGEND, backtraceLines, classWithUsage, innermostFunction, synthAddr, taskComm, taskName, taskPid } from './kernel-report.ts';
import { classKey } from '../protocol/lock-classes.ts';
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
 * mode (no enabled step), `hung-task` from the free-mode watchdog, in the
 * kernel's hung-task shape (kernel/hung_task.c): an `INFO: task comm:pid
 * blocked for more than N seconds.` block per task, then `Showing all locks
 * held in the system:`. After it, in `iommu-lab:` lines, what the kernel
 * does not print: what each task waits for and who holds it, and the
 * wait-for cycle when there is one.
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

  // kernel/hung_task.c check_hung_task(): one block per blocked task (sched_show_task()), then
  // debug_show_all_locks(). A controlled-mode deadlock has no clock: it is blocked for good, shown
  // with the default hung_task_timeout_secs (120); the free-mode watchdog's own timeout otherwise.
  const secs = kind === 'deadlock' || hangMs <= 0 ? 120 : Math.max(1, Math.ceil(hangMs / 1000));
  let r = '';
  for (const b of blocked) {
    r += `INFO: task ${taskComm(b.task)}:${taskPid(b.task)} blocked for more than ${secs} seconds.\n`;
    r += `      Not tainted ${KERNEL_RELEASE}\n`;
    r += '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.\n';
    r += `task:${taskComm(b.task).padEnd(15)} state:D stack:0     pid:${String(taskPid(b.task)).padEnd(5)} tgid:${String(taskPid(b.task)).padEnd(5)} ppid:2      flags:0x00004000\n`;
    r += `Call Trace:\n <TASK>\n${backtraceLines(b.stack)} </TASK>\n`;
  }
  r += '\nShowing all locks held in the system:\n';
  const ids: string[] = [];
  for (const t of [...new Set([...blocked.map((b) => b.task), ...held.tasks()])]) {
    const h = held.of(t);
    if (h.length === 0) continue;
    r += `${h.length} lock${h.length === 1 ? '' : 's'} held by ${taskName(t)}:\n`;
    h.forEach((x, i) => {
      ids.push(x.lock.id);
      r += ` #${i}: ${synthAddr(x.lock.id)} ${classWithUsage(classKey(x.lock), x.lock.kind)}, at: ${innermostFunction(x.stack)}\n`;
    });
  }
  r += '\n=============================================\n\n';
  // what the model knows beyond the kernel's dump: what each task waits for, who holds it, the cycle
  r += kind === 'deadlock'
    ? `${REPORT_LEGEND} deadlock: ${blocked.length} task${blocked.length === 1 ? '' : 's'} blocked and none can run\n`
    : `${REPORT_LEGEND} ${blocked.length} task${blocked.length === 1 ? '' : 's'} blocked for more than ${hangMs} ms without progress\n`;
  for (const b of blocked) {
    const holders = b.on === null ? [] : held.holders(b.on.id).filter((t) => t !== b.task);
    const self = b.on !== null && held.holders(b.on.id).includes(b.task);
    r += `${REPORT_LEGEND} ${taskName(b.task)} (task ${b.task}) blocked on ${b.what}`;
    if (self) r += ', which it already holds (recursive locking)';
    else if (holders.length > 0) r += `, held by ${holders.map(taskName).join(', ')}`;
    r += '\n';
  }
  for (const id of new Set(ids)) r += `${REPORT_LEGEND}  ${synthAddr(id)} ${id}\n`;
  if (cycle !== null) {
    const parts: string[] = [];
    for (const t of cycle) {
      const b = blocked.find((x) => x.task === t);
      parts.push(`${t} -> [${b?.on?.id ?? '?'}]`);
    }
    r += `${REPORT_LEGEND} wait-for cycle: ${parts.join(' -> ')} -> ${cycle[0]}\n`;
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
