import { FindingQueue } from '../checker.ts';
import type { Checker } from '../checker.ts';
import { HeldLocks, withoutTableEvents } from '../held-locks.ts';
import { whereOf } from '../sites.ts';
import type { EventName, TraceEvent, WalkEvent } from '../../protocol/events.ts';
import type { Finding, FindingKind } from '../../protocol/findings.ts';
import { actorId } from '../../protocol/ids.ts';
import { printBreach, printStale } from './print.ts';
import { breaches, contextOf, staleHit } from './rules.ts';
import type { DmaContext } from './rules.ts';
import { IsolationShadow } from './shadow.ts';
import type { ObjectTypes } from '../lifetime/object-types.ts';

/**
 * The isolation checker (DESIGN.md §5): judges every `dma` event a unit
 * model emits against the state the event stream has shown so far
 * (rules.ts). Findings:
 *
 * - `isolation-breach`: a user-owned device reached kernel memory, a
 *   kernel-owned device reached user memory, a kernel driver drove DMA in a
 *   user-owned group, DMA translated during a reset or from a disconnected
 *   device, or through a freed domain;
 * - `stale-translation`: a translation came from an IOTLB / device-TLB
 *   entry the page table no longer backs (unmapped, and not invalidated —
 *   the report says whether an invalidation had completed since).
 *
 * Signatures are stable: the kind, the rule (or cache and whether an
 * invalidation had completed), the unit's dma site, and the site that
 * issued the DMA (or changed the PTE). Each signature is reported once per
 * execution.
 */
export class IsolationChecker implements Checker {
  readonly name = 'isolation';
  /** Its findings come from events: drained only after a step that handed it one (Checker.drainsOnlyAfterEvents). */
  readonly drainsOnlyAfterEvents = true;
  /** What `onEvent` acts on (Checker.eventKinds): DMA, the object state its rules read (shadow.ts), the held locks a report prints. */
  readonly eventKinds: readonly EventName[];
  readonly heldLocks?: HeldLocks;
  private readonly shadow: IsolationShadow;
  private readonly held: HeldLocks;
  private readonly pending = new FindingQueue();
  private readonly seen = new Set<string>();

  /** `held`, `types`: the held-lock and object-type tables, when several checkers of one run share them (kernelCheckers). */
  constructor(opts: { readonly held?: HeldLocks; readonly types?: ObjectTypes } = {}) {
    this.held = opts.held ?? new HeldLocks();
    if (this.held.shared) this.heldLocks = this.held;
    this.eventKinds = this.held.shared ? ISOLATION_EVENTS_SHARED : ISOLATION_EVENTS;
    this.shadow = new IsolationShadow(opts.types);
  }

  onEvent(e: TraceEvent, step: number): void {
    this.held.onEvent(e, step);
    if (e.ev !== 'dma') {
      this.shadow.onEvent(e, step);
      return;
    }
    const c = contextOf(this.shadow, e);
    for (const b of breaches(this.shadow, c)) {
      this.report('isolation-breach', `isolation-breach|${b.rule}|${sites(c)}`, c, () => printBreach(b, step));
    }
    const st = staleHit(this.shadow, c);
    if (st !== null) {
      const changed = st.change === null ? '?' : whereOf(st.change.stack).site;
      this.report('stale-translation', `stale-translation|${st.via}|${st.invalidatedAfter === null ? 'not-invalidated' : 'survived-invalidation'}|${sites(c)}|${changed}`, c, () => printStale(st, step));
    }
  }

  /** A walk's reads (Checker.onWalk): the object state its rules read, without an event per object. */
  onWalk(e: WalkEvent, step: number): void {
    this.shadow.onWalk(e, step);
  }

  /** The set-up has ended (Checker.setupEnded): the shadow's tables need no more freezing. */
  setupEnded(): void {
    this.shadow.setupEnded();
  }

  drain(): readonly Finding[] {
    return this.pending.drain();
  }

  private report(kind: FindingKind, signature: string, c: DmaContext, print: () => string): void {
    if (this.seen.has(signature)) return;
    this.seen.add(signature);
    const e = c.e;
    const where = whereOf(e.stack);
    const held = this.held.of(e.task).map((h) => h.lock.id as string);
    this.pending.push({
      kind, title: `${kind} in ${where.site}`, signature, actor: actorId(where.actor), handler: where.handler,
      tasks: [{ task: e.task, stack: e.stack, held, waitsFor: null }], report: print(),
    });
  }
}

const ISOLATION_EVENTS: readonly EventName[] = Object.freeze(['dma', 'alloc', 'free', 'access', 'lock.acquired', 'lock.released']);
/** With a shared held-lock table (Checker.heldLocks): the lock events only kept that table. */
const ISOLATION_EVENTS_SHARED = withoutTableEvents(ISOLATION_EVENTS);

/** The unit's dma site and the site that issued the DMA (the frame below it). */
function sites(c: DmaContext): string {
  const stack = c.e.stack;
  const issuer = stack.length >= 2 ? whereOf(stack.slice(0, -1)).site : '?';
  return `${whereOf(stack).site}|${issuer}`;
}
