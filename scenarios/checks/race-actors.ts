import { completionRef } from '../../protocol/lock-classes.ts';
import { defineActor } from '../../runtime/actor.ts';
import type { Kernel } from '../../runtime/actor.ts';
import type { LockRef } from '../../protocol/events.ts';
import { lockId, objId } from '../../protocol/ids.ts';
import type { ObjId } from '../../protocol/ids.ts';

/**
 * The race checker's test actor: small handlers, each one access pattern
 * from the kernel, over static objects named in the configuration. The
 * matrix (matrix.ts) starts them as concurrent tasks. Scheduling points are
 * only lock calls, spawns and the explicit `k.yield()`s, placed where the
 * kernel code could be preempted between a read and its write.
 */

/** A shared word: a plain counter/pointer field (`value`) and a bitfield word (`bits`). */
export interface Word {
  readonly id: ObjId;
  value: number;
  bits: number;
}

/**
 * struct dev_iommu's flag bits, one u32 (include/linux/iommu.h):
 * attach_deferred:1, pci_32bit_workaround:1, require_direct:1,
 * shadow_on_flush:1. Seed 003 / kernel-facts §1.4: attach_deferred is
 * cleared under group->mutex, pci_32bit_workaround from the DMA fast path
 * without it.
 */
export const ATTACH_DEFERRED = 1 << 0;
export const PCI_32BIT_WORKAROUND = 1 << 1;
export const REQUIRE_DIRECT = 1 << 2;

export interface RaceActorConfig {
  readonly objects: readonly string[];
}

export interface RaceState {
  readonly words: Map<ObjId, Word>;
}

interface ObjBody {
  readonly obj: string;
}
interface LockedBody extends ObjBody {
  readonly lock: string;
  /** Declare the lock as the field's guard (lockset rule) or only take it (happens-before alone). */
  readonly guard: boolean;
}
interface CompletionBody extends ObjBody {
  readonly comp: string;
}

export type RaceMailbox =
  | { readonly op: 'write_locked'; readonly body: LockedBody }
  | { readonly op: 'read_locked'; readonly body: LockedBody }
  | { readonly op: 'write_unlocked'; readonly body: LockedBody }
  | { readonly op: 'rmw_locked'; readonly body: LockedBody }
  | { readonly op: 'write_then_spawn'; readonly body: ObjBody }
  | { readonly op: 'spawn_then_write'; readonly body: ObjBody }
  | { readonly op: 'read_plain'; readonly body: ObjBody }
  | { readonly op: 'write_once'; readonly body: ObjBody }
  | { readonly op: 'read_once'; readonly body: LockedBody }
  | { readonly op: 'spawn_and_wait'; readonly body: CompletionBody }
  | { readonly op: 'write_and_complete'; readonly body: CompletionBody }
  | { readonly op: 'iommu_deferred_attach'; readonly body: LockedBody }
  | { readonly op: 'iommu_dma_alloc_iova'; readonly body: ObjBody };

const mutex = (name: string): LockRef => ({ id: lockId(name), cls: name.includes('/') ? name.slice(name.lastIndexOf('/') + 1) : name, kind: 'mutex' });
// Completions travel as 'mutex' LockRefs until protocol/events.ts has a kind for them (protocol/lock-classes.ts).

function word(k: Kernel<RaceState>, name: string): Word {
  const w = k.state.words.get(objId(name));
  if (w === undefined) return k.bug(`no object ${name}`);
  return w;
}

async function withLock<T>(k: Kernel<RaceState>, l: LockRef, f: () => T | Promise<T>): Promise<T> {
  await k.lock(l);
  const v = await f();
  await k.unlock(l);
  return v;
}

export const raceApp = defineActor<RaceState, RaceMailbox>('check-races', {
  state: (config) => {
    const cfg = config as RaceActorConfig;
    return { words: new Map(cfg.objects.map((o) => [objId(o), { id: objId(o), value: 0, bits: ATTACH_DEFERRED | PCI_32BIT_WORKAROUND | REQUIRE_DIRECT }])) };
  },
  handlers: {
    async write_locked(k, { obj, lock, guard }) {
      const l = mutex(lock);
      await withLock(k, l, () => k.write(word(k, obj), 'value', 1, guard ? { guard: l } : {}));
    },
    async read_locked(k, { obj, lock, guard }) {
      const l = mutex(lock);
      return withLock(k, l, () => k.read(word(k, obj), 'value', guard ? { guard: l } : {}));
    },
    // The bug the lockset rule is for: the field is declared guarded, the lock is not taken.
    write_unlocked(k, { obj, lock }) {
      k.write(word(k, obj), 'value', 2, { guard: mutex(lock) });
    },
    async rmw_locked(k, { obj, lock, guard }) {
      const l = mutex(lock);
      const w = word(k, obj);
      const how = guard ? { guard: l } : {};
      await withLock(k, l, async () => {
        const v = k.read(w, 'value', how);
        await k.yield();
        k.write(w, 'value', v + 1, how);
      });
    },
    // queue_work() after initialising the data: the work sees the store.
    write_then_spawn(k, { obj }) {
      k.write(word(k, obj), 'value', 7);
      k.spawn(k.actor, 'read_plain', { obj });
    },
    // ... and the classic mistake: initialising after queueing. (The yield
    // keeps the write in a later step than the spawn: the runtime reports a
    // step's sends after its other events, see the race checker's notes.)
    async spawn_then_write(k, { obj }) {
      k.spawn(k.actor, 'read_plain', { obj });
      await k.yield();
      k.write(word(k, obj), 'value', 7);
    },
    read_plain(k, { obj }) {
      return k.read(word(k, obj), 'value');
    },
    write_once(k, { obj }) {
      k.write(word(k, obj), 'value', 3, { lockless: true });
    },
    // READ_ONCE(dev->driver) without device_lock (seed 000, kernel-facts §1.4): exempt from the lockset rule, not from races.
    read_once(k, { obj, lock }) {
      return k.read(word(k, obj), 'value', { guard: mutex(lock), lockless: true });
    },
    // wait_for_completion() orders the waiter after complete() (kernel/sched/completion.c).
    async spawn_and_wait(k, { obj, comp }) {
      k.spawn(k.actor, 'write_and_complete', { obj, comp });
      await k.wait_for_completion(completionRef(comp, 'completion'));
      return k.read(word(k, obj), 'value');
    },
    async write_and_complete(k, { obj, comp }) {
      k.write(word(k, obj), 'value', 9);
      await k.complete(completionRef(comp, 'completion'));
    },
    // drivers/iommu/iommu.c __iommu_attach_device(): clears attach_deferred under group->mutex.
    async iommu_deferred_attach(k, { obj, lock }) {
      const l = mutex(lock);
      const w = word(k, obj);
      await withLock(k, l, async () => {
        const bits = k.read(w, 'bits', { guard: l });
        await k.yield();
        k.write(w, 'bits', bits & ~ATTACH_DEFERRED, { guard: l });
      });
    },
    // drivers/iommu/dma-iommu.c iommu_dma_alloc_iova(): "dev->iommu->pci_32bit_workaround = false", no lock.
    async iommu_dma_alloc_iova(k, { obj }) {
      const w = word(k, obj);
      const bits = k.read(w, 'bits');
      await k.yield();
      k.write(w, 'bits', bits & ~PCI_32BIT_WORKAROUND);
    },
  },
  inspect: (s) => ({ words: [...s.words.values()].map((w) => ({ ...w })) }),
});

export default raceApp;
