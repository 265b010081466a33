import { lockManagerSpec } from '../actors/lock-manager.ts';
import { UNIT_MODULES } from '../hardware/index.ts';
import type { BurstBody, BurstResult, DmaPattern } from '../hardware/dma-engine.ts';
import { runExecution } from '../runtime/execution.ts';
import type { Host } from '../runtime/hosts/host.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { WorkersHost } from '../runtime/hosts/workers.ts';
import type { Program } from '../runtime/program.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { actorId, taskId } from '../protocol/ids.ts';
import type { UnitConfig } from '../protocol/iommu-unit.ts';
import { unitActor } from '../protocol/topology.ts';
import { MODEL_DEFAULTS } from '../protocol/variants.ts';

/**
 * DMA translations per second through one IOMMU unit (a VT-d model) on its
 * own worker thread: a DMA engine actor issues reads and the unit
 * translates each (one message round trip per request, as every step in
 * the workers host). `hit` repeats one IOVA (IOTLB hits), `miss` cycles over
 * more pages than the IOTLB holds (every request walks the page table).
 * The set-up (probe, domain, mappings) cancels out (dmaPerSec).
 */

const UNIT = 'vtd0';
const DEV = '0000:00:02.0';
/** Four times the VT-d profile's IOTLB: FIFO eviction makes a cyclic walk over them miss every time. */
const MISS_PAGES = 256;

export function hardwareBenchProgram(pattern: DmaPattern, count: number): Program {
  const config: UnitConfig = { topology: { units: [{ name: UNIT, kind: 'vtd' }], pci: [], drivers: [] }, variants: MODEL_DEFAULTS, unit: UNIT };
  const body: BurstBody = { unit: UNIT, dev: DEV, pages: pattern === 'hit' ? 1 : MISS_PAGES, count, pattern };
  return {
    name: `hardware-dma-${pattern}`,
    actors: [
      { id: actorId('dma-engine'), module: 'hardware/dma-engine', export: 'dmaEngine' },
      { id: actorId(unitActor(UNIT)), module: UNIT_MODULES.vtd.module, export: UNIT_MODULES.vtd.export, config },
      lockManagerSpec(),
    ],
    lockManagers: [actorId('locks')],
    tasks: [{ id: taskId('burst'), to: actorId('dma-engine'), op: 'burst', body }],
  };
}

async function timed(host: Host, p: Program): Promise<{ ms: number; result: BurstResult }> {
  await host.reset();
  const t0 = performance.now();
  const r = await runExecution(host, p, new RandomStrategy(1), { seed: 1, maxSteps: Number.MAX_SAFE_INTEGER });
  const ms = performance.now() - t0;
  if (r.outcome !== 'completed') throw new Error(`hardware bench ended ${r.outcome}`);
  return { ms, result: r.results['burst'] as BurstResult };
}

/**
 * Translations per second for DMAs with `pattern`, in the workers host (or
 * inline: the model's own cost, without the thread hop). Two runs, of
 * `count` and of half as many DMAs, after a warm-up; the rate is the
 * difference, so the set-up (and the program's start) cancels out.
 */
export async function dmaPerSec(pattern: DmaPattern, count: number, hostKind: 'workers' | 'inline' = 'workers'): Promise<number> {
  const full = hardwareBenchProgram(pattern, count);
  const half = Math.floor(count / 2);
  const host: Host = hostKind === 'workers' ? await WorkersHost.create(full) : await InlineHost.create(full);
  try {
    await timed(host, hardwareBenchProgram(pattern, Math.min(count, 1000))); // warm-up: the JIT in both threads
    const a = await timed(host, hardwareBenchProgram(pattern, half));
    const b = await timed(host, full);
    if ((b.result.outcomes['translated'] ?? 0) !== count) throw new Error(`hardware bench: ${JSON.stringify(b.result.outcomes)}`);
    return (count - half) / (Math.max(b.ms - a.ms, 1e-3) / 1000);
  } finally {
    await host.close();
  }
}
