import { describe, expect, it } from 'vitest';
import type { Checker } from '../../checkers/checker.ts';
import { NO_FINDINGS } from '../../checkers/checker.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import type { ProcOp } from '../../protocol/vfio.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { Recorder } from '../helpers/kernel.ts';
import { cdevPath, detachPt, groupPath, makeHost, post, procResults, runOn, runVfio, setReq, unbind, unexpected, vfioProgram, wait } from './helpers.ts';
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
  private readonly outer: string;
  private readonly inner: string;
  constructor(outer: string, inner: string) {
    this.outer = outer;
    this.inner = inner;
  }
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


const YIELDS: readonly ProcOp[] = Array.from({ length: 12 }, () => ({ do: 'yield' }) as const);

describe('vfio_unregister_group_dev() re-sends ops->request on each timeout (drivers/vfio/vfio_main.c)', () => {
  it('a request eventfd armed after the first request is still signalled: the unbind completes', async () => {
    // p holds the device fd and arms VFIO_PCI_REQ_IRQ_INDEX a little late; q unbinds vfio-pci meanwhile
    const program = vfioProgram({
      processes: [
        { name: 'p', ops: [...groupPath(EP), post('opened'), ...YIELDS, setReq(), wait('unbound')] },
        { name: 'q', ops: [wait('opened'), unbind(EP), post('unbound')] },
      ],
    });
    const host = await makeHost(program);
    let lateAndAnswered = 0;
    try {
      for (let seed = 1; seed <= 30 && lateAndAnswered === 0; seed++) {
        const rec = new Recorder();
        const run = await runOn(host, program, { seed, checkers: [...kernelCheckers(), rec] });
        const firstAsked = rec.events.findIndex((e) => e.ev === 'access' && e.field === 'req_trigger' && e.op === 'read' && e.value === null);
        const armed = rec.events.findIndex((e) => e.ev === 'access' && e.field === 'req_trigger' && e.op === 'write' && e.value !== null);
        const late = firstAsked >= 0 && armed > firstAsked;
        if (late && run.result.outcome === 'completed') {
          expect(unexpected(run.result.findings)).toEqual([]);
          expect(procResults(run, 'q')).toEqual([0, 0, 0]);
          lateAndAnswered++;
        }
      }
    } finally {
      await host.close();
    }
    expect(lateAndAnswered).toBe(1);
  });
});
