import { describe, expect, it } from 'vitest';
import type { Checker } from '../../checkers/checker.ts';
import { NO_FINDINGS } from '../../checkers/checker.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { cdevPath, detachPt, procResults, runVfio, unexpected } from './helpers.ts';
import { EP } from './topology.ts';

/**
 * Fidelity fixes of issue 16 item 8 on the VFIO/iommufd side: each case
 * fails on the model as it was before the fix.
 */

/** Counts acquisitions of `inner` while the same task holds a lock of class `outer`. */
class NestCounter implements Checker {
  readonly name = 'nest-counter';
  count = 0;
  private readonly held = new Map<string, string[]>();
  constructor(private readonly outer: string, private readonly inner: string) {}
  onEvent(e: TraceEvent): void {
    if (e.ev === 'lock.acquired' && e.ok) {
      const h = this.held.get(e.task) ?? [];
      if (e.lock.cls === this.inner && h.includes(this.outer)) this.count++;
      this.held.set(e.task, [...h, e.lock.cls]);
    } else if (e.ev === 'lock.released') {
      const h = [...(this.held.get(e.task) ?? [])];
      const i = h.lastIndexOf(e.lock.cls);
      if (i >= 0) h.splice(i, 1);
      this.held.set(e.task, h);
    }
  }
  drain() {
    return NO_FINDINGS;
  }
}

describe('iommufd detach removes the reserved IOVAs under igroup->lock (drivers/iommu/iommufd/device.c: iommufd_hw_pagetable_detach → iommufd_device_remove_rr → iopt_remove_reserved_iova)', () => {
  it('attach and detach each nest iova_rwsem inside igroup->lock', async () => {
    const nest = new NestCounter('igroup->lock', 'iopt->iova_rwsem');
    const run = await runVfio({ processes: [{ name: 'p', ops: [...cdevPath(EP), detachPt()] }] }, { seed: 5, checkers: [...kernelCheckers(), nest] });
    expect(unexpected(run.result.findings)).toEqual([]);
    expect(procResults(run, 'p').at(-1)).toBe(0);
    expect(nest.count).toBe(2);
  });
});
