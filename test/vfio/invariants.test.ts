import { describe, expect, it } from 'vitest';
import { feed } from '../helpers/feed.ts';
import { VFIO_INVARIANT_IDS, VfioInvariantsChecker } from '../../checkers/vfio-invariants/index.ts';
import type { LockRef, TraceEvent } from '../../protocol/events.ts';
import type { Finding } from '../../protocol/findings.ts';
import { actorId, objId, taskId } from '../../protocol/ids.ts';
import { devSetLock, vfioGroupLock } from '../../protocol/lock-classes.ts';

/**
 * The VFIO invariants checker (checkers/vfio-invariants; docs/kernel-facts.md
 * §8.2 items 9–10) over synthetic event feeds: each rule fires on the state
 * it forbids, only once the lock that keeps it is free, and once per object.
 * That the model itself keeps them is what every other test in test/vfio
 * checks (kernelCheckers() includes this checker).
 */

function on(task: string, frame: string) {
  const actor = actorId(frame.slice(0, frame.lastIndexOf(':')));
  const base = { task: taskId(task), actor, stack: [frame] } as const;
  const inLocks = { ...base, stack: [frame, 'locks:mutex_lock'] } as const;
  return {
    alloc: (obj: string, type: string): TraceEvent => ({ ...base, ev: 'alloc', obj: objId(obj), type }),
    free: (obj: string): TraceEvent => ({ ...base, ev: 'free', obj: objId(obj) }),
    write: (obj: string, field: string, value: unknown): TraceEvent => ({ ...base, ev: 'access', obj: objId(obj), field, op: 'write', guard: null, lockless: false, value }),
    lock: (l: LockRef): TraceEvent => ({ ...inLocks, ev: 'lock.acquired', lock: l, mode: 'write', try: false, ok: true }),
    unlock: (l: LockRef): TraceEvent => ({ ...inLocks, ev: 'lock.released', lock: l, mode: 'write' }),
  };
}

const check = (events: readonly TraceEvent[]): Finding[] => feed(new VfioInvariantsChecker(), events).findings;

const VG = 'vfio_group.1';
const VD = 'vfio_device:0000:01:00.0#1';
const SET = 'dev_set:bus:0000:00:1c.0';
const t = on('proc:qemu', 'vfio:VFIO_DEVICE_BIND_IOMMUFD');
const r = on('proc:admin', 'vfio:vfio_unregister_group_dev');

/** A registered device in its group and set, open once through a group fd. */
const OPEN_DEVICE: readonly TraceEvent[] = [
  t.alloc(VG, 'vfio_group'), t.alloc(SET, 'vfio_device_set'), t.alloc(VD, 'vfio_device'),
  t.write(VG, 'iommu_group', 'iommu_group.1'), t.write(VG, 'drivers', 1),
  t.write(VD, 'group', VG), t.write(VD, 'dev_set', SET), t.write(VD, 'refcount', 2), t.write(VD, 'open_count', 1),
  t.alloc('df#1', 'vfio_device_file'), t.write('df#1', 'device', VD),
  t.alloc('file#1', 'file'), t.write('file#1', 'kind', 'vfio-device'), t.write('file#1', 'priv', 'df#1'), t.write('file#1', 'f_count', 1),
];

describe('VFIO invariants (checkers/vfio-invariants)', () => {
  it('names three invariants', () => {
    expect(VFIO_INVARIANT_IDS).toEqual(['group-fd-exclusive', 'open-holds-registration', 'unregister-releases']);
  });

  it('item 9: a group fd open beside cdev users is reported once group_lock is free', () => {
    const GL = vfioGroupLock(VG);
    const f = check([t.alloc(VG, 'vfio_group'), t.lock(GL), t.write(VG, 'opened_file', 'file#2'), t.write(VG, 'cdev_device_open_cnt', 1), t.unlock(GL)]);
    expect(f.map((x) => x.signature)).toEqual(['invariant-violation:vfio-group-fd-exclusive:vfio.VFIO_DEVICE_BIND_IOMMUFD']);
    expect(f[0]?.report).toMatch(/opened_file: file#2/);
  });

  it('item 9: inside the critical section a transient state is not reported', () => {
    const GL = vfioGroupLock(VG);
    expect(check([t.alloc(VG, 'vfio_group'), t.lock(GL), t.write(VG, 'opened_file', 'file#2'), t.write(VG, 'cdev_device_open_cnt', 1), t.write(VG, 'opened_file', null), t.unlock(GL)])).toEqual([]);
  });

  it('item 9: an open device without a registration reference', () => {
    const SL = devSetLock(SET);
    const f = check([...OPEN_DEVICE, t.lock(SL), t.write(VD, 'refcount', 0), t.unlock(SL)]);
    expect(f.map((x) => x.signature)).toEqual(['invariant-violation:vfio-open-holds-registration:vfio.VFIO_DEVICE_BIND_IOMMUFD']);
  });

  it('item 10: unregister returning while a device fd still reaches the device and the group is still owned', () => {
    const f = check([
      ...OPEN_DEVICE, t.alloc('iommu_group.1', 'iommu_group'), t.write('iommu_group.1', 'owner', VG),
      r.write(VG, 'drivers', 0), r.write(VD, 'unregistered', true),
    ]);
    expect(f.map((x) => x.signature)).toEqual(['invariant-violation:vfio-unregister-releases:vfio.vfio_unregister_group_dev']);
    const report = f[0]?.report ?? '';
    expect(report).toMatch(/open_count=1/);
    expect(report).toMatch(/device fds still reach it: file#1/);
    expect(report).toMatch(/iommu_group\.1 is still owned by vfio_group\.1/);
  });

  it('item 10: a clean unregister (fds released, ownership back) is not reported', () => {
    expect(check([
      ...OPEN_DEVICE, t.alloc('iommu_group.1', 'iommu_group'), t.write('iommu_group.1', 'owner', VG),
      t.write(VD, 'open_count', 0), t.write('file#1', 'f_count', 0), t.write(VD, 'refcount', 0), t.free('file#1'),
      r.write('iommu_group.1', 'owner', null), r.write(VG, 'drivers', 0), r.write(VD, 'unregistered', true),
    ])).toEqual([]);
  });
});
