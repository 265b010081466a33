import { defineActor } from '../runtime/actor.ts';
import { actorId, objId } from '../protocol/ids.ts';
import type { DmaOutcome } from '../protocol/iommu-unit.ts';
import { unitActor } from '../protocol/topology.ts';

/**
 * A device's DMA engine driving one unit directly: it plays the IOMMU
 * core's part only as far as a burst needs (probe the device, allocate a
 * paging domain, attach it, map `pages` pages at 4 KiB steps from 0x1000),
 * then issues `count` DMA reads. Access patterns:
 *
 * - `hit`: the same IOVA every time (after the first walk, an IOTLB or
 *   device-TLB hit);
 * - `miss`: cycling over all mapped pages; with more pages than the IOTLB
 *   holds, first-in-first-out eviction makes every access a miss and a
 *   page-table walk.
 *
 * The benchmark (bench/hardware.ts) runs it in the workers host, where the
 * unit is its own worker thread and every DMA a message round trip.
 */

export type DmaPattern = 'hit' | 'miss';

export interface BurstBody {
  readonly unit: string;
  readonly dev: string;
  readonly pages: number;
  readonly count: number;
  readonly pattern: DmaPattern;
}

export interface BurstResult {
  readonly translations: number;
  readonly outcomes: Readonly<Record<string, number>>;
}

type EngineMailbox = { readonly op: 'burst'; readonly body: BurstBody };

const PAGE = 0x1000;

export const dmaEngine = defineActor<null, EngineMailbox>('dma-engine', {
  state: () => null,
  handlers: {
    async burst(k, { unit, dev, pages, count, pattern }): Promise<BurstResult> {
      const u = actorId(unitActor(unit));
      await k.call(u, 'probe_device', { dev, pasid_bits: 0 });
      const domain = objId(`${dev}.bench_domain`);
      await k.call(u, 'domain_alloc', { domain, type: 'dma', dev, pasid: false });
      await k.call(u, 'attach_dev', { domain, type: 'dma', dev, old: null });
      for (let i = 0; i < pages; i++) await k.call(u, 'map', { domain, iova: PAGE * (i + 1), page: `${dev}-buf${i}` });
      const outcomes: Record<string, number> = {};
      for (let i = 0; i < count; i++) {
        const iova = pattern === 'hit' ? PAGE : PAGE * ((i % pages) + 1);
        const r = await k.call<DmaOutcome>(u, 'dma', { dev, iova, pasid: null, write: false });
        outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      }
      return { translations: count, outcomes };
    },
  },
});

export default dmaEngine;
