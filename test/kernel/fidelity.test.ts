import { describe, expect, it } from 'vitest';
import type { Checker } from '../../checkers/checker.ts';
import { NO_FINDINGS } from '../../checkers/checker.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { RMR_IOVA } from '../../actors/iommu-core/variants/reset-blocking.ts';
import { groupOf, runKernel, unexpected } from '../helpers/kernel.ts';
import { RMRR, TOPOLOGY } from './topology.ts';

/**
 * Fidelity fixes of issue 16 item 8: each case fails on the model as it was
 * before the fix and cites the kernel function it now follows.
 */

/** Keeps every event of an execution, in order. */
class Recorder implements Checker {
  readonly name = 'recorder';
  readonly events: TraceEvent[] = [];
  onEvent(e: TraceEvent): void {
    this.events.push(e);
  }
  drain() {
    return NO_FINDINGS;
  }
}

function recorded(): { rec: Recorder; checkers: Checker[] } {
  const rec = new Recorder();
  return { rec, checkers: [...kernelCheckers(), rec] };
}

describe('IOMMU_RESV_DIRECT mappings before the default-domain attach (drivers/iommu/iommu.c: iommu_setup_default_domain, __iommu_probe_device)', () => {
  it('the RMR page is in the default domain before the device translates through it', async () => {
    const { rec, checkers } = recorded();
    const run = await runKernel({ name: 'rmr-order', topology: TOPOLOGY, variants: {}, tasks: [] }, { seed: 3, checkers });
    expect(unexpected(run.result.findings)).toEqual([]);
    const def = groupOf(run, RMRR).default_domain;
    const seqOf = (pred: (e: TraceEvent) => boolean): number => rec.events.findIndex(pred);
    const mapped = seqOf((e) => e.ev === 'access' && e.op === 'write' && e.obj === def && e.field === 'mappings'
      && typeof e.value === 'object' && e.value !== null && String(RMR_IOVA) in e.value);
    const attached = seqOf((e) => e.ev === 'access' && e.op === 'write' && e.obj === `${RMRR}.iommu` && e.field === 'hw_domain' && e.value === def);
    expect(mapped).toBeGreaterThanOrEqual(0);
    expect(attached).toBeGreaterThanOrEqual(0);
    expect(mapped).toBeLessThan(attached);
  });
});
