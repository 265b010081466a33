import { FindingQueue } from './checker.ts';
import type { Checker } from './checker.ts';
import { HeldLocks } from './held-locks.ts';
import { modelStack, printStack, whereOf } from './sites.ts';
import type { TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { actorId } from '../protocol/ids.ts';

/**
 * WARN_ON()/WARN() sites of the kernel model (`k.warn`) as `kernel-warn`
 * findings, printed the way the kernel's __warn() prints them: the "cut
 * here" line, the WARNING with where it fired, the locks held and the call
 * trace. Execution goes on after a WARN, as in the kernel.
 *
 * The signature is the site plus the message up to its first ':' — the
 * model's messages start with the kernel function and the condition
 * ("iommu_detach_device: WARN_ON(...)") and put object names after it, so
 * the same WARN in another group or device is the same finding.
 */
export class KernelWarnChecker implements Checker {
  readonly name = 'warn';
  private readonly held = new HeldLocks();
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
    let r = '------------[ cut here ]------------\n';
    r += `WARNING: task ${e.task} at ${where.site} (step ${step})\n`;
    r += `${e.message}\n`;
    r += held.length === 0 ? 'no locks held\n' : `${held.length} lock${held.length === 1 ? '' : 's'} held by ${e.task}:\n${held.map((l, i) => ` #${i}: ${l}\n`).join('')}`;
    r += `Call Trace:\n${printStack(modelStack(e.stack), ' ')}`;
    r += '---[ end trace ]---\n';
    this.pending.push({
      kind: 'kernel-warn', title: `kernel-warn in ${where.site}`, signature, actor: actorId(where.actor), handler: where.handler,
      tasks: [{ task: e.task, stack: e.stack, held, waitsFor: null }], report: r,
    });
  }

  drain(): readonly Finding[] {
    return this.pending.drain();
  }
}
