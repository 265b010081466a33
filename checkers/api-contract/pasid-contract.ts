import { FindingQueue } from '../checker.ts';
import type { Checker } from '../checker.ts';
import { HeldLocks } from '../held-locks.ts';
import { IsolationShadow } from '../isolation/shadow.ts';
import type { Write } from '../isolation/shadow.ts';
import { hardwareLine } from '../isolation/print.ts';
import { modelStack, printStack, whereOf } from '../sites.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import type { Finding } from '../../protocol/findings.ts';
import { actorId } from '../../protocol/ids.ts';
import { groupMutex } from '../../protocol/lock-classes.ts';

type DmaEvent = Extract<TraceEvent, { readonly ev: 'dma' }>;

/**
 * The IOMMU API's PASID contract as the core states it (docs/kernel-facts.md
 * §3.5, §5.3, seed 001): a PASID the core lists in the group's pasid_array
 * translates through the domain attached there until the core detaches it.
 * A RID change (attach, detach, blocking) does not touch it. A unit that
 * resolves such a PASID to another domain, or to nothing, has broken the API
 * without the core knowing: `api-nonconformance`.
 *
 * Judged at each PASID-tagged `dma` event, from the event stream alone:
 * - only when no task holds the group's mutex (an attach, detach or replace
 *   changes the hardware and pasid_array one after the other under it);
 * - not while the group or the device is being reset (prepare blocks every
 *   PASID on purpose until done; kernel-facts §3.6).
 *
 * Not in kernelCheckers(): the conformance suite grades the same property
 * per case (scenarios/conformance: AMD's (b) is a documented deviation
 * there); a scenario that asks the question adds this checker itself.
 */
export class PasidContractChecker implements Checker {
  readonly name = 'pasid-contract';
  private readonly shadow = new IsolationShadow();
  private readonly held = new HeldLocks();
  private readonly pending = new FindingQueue();
  private readonly seen = new Set<string>();

  onEvent(e: TraceEvent, step: number): void {
    this.held.onEvent(e, step);
    if (e.ev !== 'dma') {
      this.shadow.onEvent(e, step);
      return;
    }
    if (e.pasid === null) return;
    const group = this.shadow.groupOf(e.dev);
    if (group === null) return;
    const attached = pasidEntry(this.shadow.get(group, 'pasid_array'), e.pasid);
    if (attached === null || e.domain === attached) return;
    if (this.held.holders(groupMutex(group).id).length > 0) return;
    if (this.shadow.get(group, 'resetting_domain') != null || this.shadow.get(e.dev, 'in_reset') === true) return;
    const where = whereOf(e.stack);
    const issuer = e.stack.length >= 2 ? whereOf(e.stack.slice(0, -1)).site : '?';
    const signature = `api-nonconformance|pasid-not-translated|${where.site}|${issuer}`;
    if (this.seen.has(signature)) return;
    this.seen.add(signature);
    const f: Finding = {
      kind: 'api-nonconformance', title: `api-nonconformance in ${where.site}`, signature,
      actor: actorId(where.actor), handler: where.handler,
      tasks: [{ task: e.task, stack: e.stack, held: this.held.of(e.task).map((h) => h.lock.id as string), waitsFor: null }],
      report: this.print(e, group, attached, step),
    };
    this.pending.push(f);
  }

  drain(): readonly Finding[] {
    return this.pending.drain();
  }

  private print(e: DmaEvent, group: string, attached: string, step: number): string {
    const rule = '==================================================================';
    const hex = (n: number): string => `0x${n.toString(16)}`;
    const got = e.domain === null || e.domain === undefined ? `no domain (${e.outcome})` : `domain ${e.domain} (${e.outcome})`;
    let r = `${rule}\nBUG: iommu-lab: api-nonconformance (PASID not translated) in ${whereOf(e.stack).site}\n`;
    r += `DMA by ${e.dev} at IOVA ${hex(e.iova)} on PASID ${e.pasid}: the unit resolved it to ${got}\n`;
    r += `\nThe core has domain ${attached} attached to PASID ${e.pasid} of ${group} (pasid_array) and has not detached it: `;
    r += 'a PASID keeps translating through its domain until iommu_detach_device_pasid(), whatever happens to the RID.\n';
    r += cause('The PASID was attached', this.shadow.lastWrite(group, 'pasid_array'));
    r += cause('The RID domain last changed', this.shadow.lastWrite(group, 'domain'));
    r += `\n${hardwareLine(e)}\ntask ${e.task} at step ${step} in ${whereOf(e.stack).site}\nCall Trace:\n${printStack(modelStack(e.stack), ' ')}${rule}\n`;
    return r;
  }
}

/** pasid_array[pasid] as iommu-core writes it (state.ts Group.pasid_array: decimal keys → domain ids). */
function pasidEntry(arr: unknown, pasid: number): string | null {
  if (typeof arr !== 'object' || arr === null) return null;
  const v = (arr as Readonly<Record<string, unknown>>)[String(pasid)];
  return typeof v === 'string' ? v : null;
}

function cause(label: string, w: Write | null): string {
  if (w === null) return '';
  return `\n${label} at step ${w.step} by task ${w.task} in ${whereOf(w.stack).site}:\n${printStack(modelStack(w.stack), '  ')}`;
}
