import { FindingQueue } from './checker.ts';
import type { Checker } from './checker.ts';
import { HeldLocks, withoutTableEvents } from './held-locks.ts';
import { modelStack, whereOf } from './sites.ts';
import { REPORT_LEGEND, dumpStack, innermostFunction, kernelLocation, taskCpu, taskName, taskPid } from './kernel-report.ts';
import type { EventName, TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { actorId } from '../protocol/ids.ts';

const WARN_EVENTS: readonly EventName[] = Object.freeze(['warn', 'lock.acquired', 'lock.released']);
/** With a shared held-lock table (Checker.heldLocks): the feed keeps it, the WARNs are all that is left. */
const WARN_EVENTS_SHARED = withoutTableEvents(WARN_EVENTS);

/**
 * WARN_ON()/WARN() sites of the kernel model (`k.warn`) as `kernel-warn`
 * findings, printed the way the kernel's __warn() prints them: the "cut
 * here" line, the message, `WARNING: CPU: n PID: p at drivers/…/file.c:function`,
 * `Modules linked in:`, the call trace, the end marker; the locks held (which the kernel does
 * not print) follow in `iommu-lab:` lines. Execution goes on after a WARN,
 * as in the kernel.
 *
 * The signature is the site plus the message up to its first ':' — the
 * model's messages start with the kernel function and the condition
 * ("iommu_detach_device: WARN_ON(...)") and put object names after it, so
 * the same WARN in another group or device is the same finding.
 */
export class KernelWarnChecker implements Checker {
  readonly name = 'warn';
  /** Its findings come from events: drained only after a step that handed it one (Checker.drainsOnlyAfterEvents). */
  readonly drainsOnlyAfterEvents = true;
  /** What `onEvent` acts on (Checker.eventKinds): WARNs, and the lock events of the held locks a report prints. */
  readonly eventKinds: readonly EventName[];
  readonly heldLocks?: HeldLocks;
  private readonly held: HeldLocks;

  /** `held`: the held-lock table, when several checkers of one run share one (kernelCheckers). */
  constructor(opts: { readonly held?: HeldLocks } = {}) {
    this.held = opts.held ?? new HeldLocks();
    if (this.held.shared) this.heldLocks = this.held;
    this.eventKinds = this.held.shared ? WARN_EVENTS_SHARED : WARN_EVENTS;
  }
  private readonly pending = new FindingQueue();
  private readonly seen = new Set<string>();

  onEvent(e: TraceEvent, step: number): void {
    this.held.onEvent(e, step);
    if (e.ev !== 'warn') return;
    const where = whereOf(e.stack);
    const head = e.message.split(':')[0] ?? e.message;
    const signature = `kernel-warn|${where.site}|${head}`;
    if (this.seen.has(signature)) return;
    this.seen.add(signature);
    const held = this.held.of(e.task).map((h) => h.lock.id as string);
    // kernel/panic.c __warn(): WARN()'s message, then "WARNING: CPU: n PID: p at <where>", dump_stack(), the end marker.
    // The function is the one the message names (the model's messages start with it), else the innermost frame;
    // its kernel file where the model knows it (no line numbers).
    const named = /^(\w+): /.exec(e.message);
    const fn = named !== null ? (named[1] as string) : innermostFunction(e.stack);
    let r = '------------[ cut here ]------------\n';
    r += `${e.message}\n`;
    r += `WARNING: CPU: ${taskCpu(e.task)} PID: ${taskPid(e.task)} at ${kernelLocation(fn)}\n`;
    // print_modules(): the model's drivers are built in, so the list is empty, as in syzbot's kernels
    r += 'Modules linked in:\n';
    r += dumpStack(e.task, modelStack(e.stack));
    r += '---[ end trace 0000000000000000 ]---\n';
    r += `${REPORT_LEGEND} task ${taskName(e.task)} is ${e.task}, step ${step}\n`;
    if (held.length > 0) r += `${REPORT_LEGEND} ${held.length} lock${held.length === 1 ? '' : 's'} held: ${held.join(', ')}\n`;
    this.pending.push({
      kind: 'kernel-warn', title: `kernel-warn in ${where.site}`, signature, actor: actorId(where.actor), handler: where.handler,
      tasks: [{ task: e.task, stack: e.stack, held, waitsFor: null }], report: r,
    });
  }

  drain(): readonly Finding[] {
    return this.pending.drain();
  }
}
