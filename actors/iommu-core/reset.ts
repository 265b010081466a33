import { errno, isErrno } from '../../protocol/errno.ts';
import { devIommuBit, devIommuOf, underGroup } from './state.ts';
import type { DevIommu, Group, IK } from './state.ts';
import { allocBlockingDomain } from './domains.ts';
import { attachDevice, groupOfDevice, withGroupMutex } from './attach.ts';
import type { Ret } from './attach.ts';
import { removeDevPasid, setGroupPasid } from './pasid.ts';
import { RESET_BLOCKING } from './variants/reset-blocking.ts';
import { RESET_NESTING } from './variants/reset-nesting.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * PCI reset integration (docs/kernel-facts.md §3.6, seed 003;
 * drivers/iommu/iommu.c: pci_dev_reset_iommu_prepare/done, 7.0.0). Callers
 * (the reset methods) hold the device's device_lock.
 */

/** pci_ats_supported(pdev) && dev_has_iommu(): prepare/done skip everything else. */
function resetTarget(k: IK, dev: string): { g: Group; di: DevIommu } | null {
  if (k.state.specs[dev]?.ats !== true) return null;
  const di = devIommuOf(k, dev);
  const g = groupOfDevice(k, dev);
  return di === null || g === null ? null : { g, di };
}

/**
 * pci_dev_reset_iommu_prepare(): stage the RID on a blocking domain while
 * group->domain keeps the pre-reset domain, take every PASID away from the
 * device while pasid_array keeps them, and fence the group
 * (resetting_domain). Which domain a require_direct device is staged on is
 * the `reset-blocking` variant; re-entry is the `reset-nesting` variant.
 */
export const pci_dev_reset_iommu_prepare = kfunc('pci_dev_reset_iommu_prepare', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: pci_dev_reset_iommu_prepare' }, async function pci_dev_reset_iommu_prepare(k: IK, { dev }: { dev: string }): Promise<Ret> {
  const t = resetTarget(k, dev);
  if (t === null) return 0;
  const { g, di } = t;
  return withGroupMutex(k, g, async () => {
    const nesting = RESET_NESTING[k.state.variants['reset-nesting']];
    const enter = nesting.enter(k, g, di);
    if (enter !== 'outermost') return enter === 'nested' ? 0 : enter;
    const alloc = await allocBlockingDomain(k, g);
    if (isErrno(alloc)) return nesting.abort(k, di, alloc);
    const cur = k.read(g, 'domain', underGroup(g.id));
    const stage = await RESET_BLOCKING[k.state.variants['reset-blocking']].stagingDomain(k, g, di);
    if (isErrno(stage)) return nesting.abort(k, di, stage);
    if (cur !== stage) {
      // a direct call: __iommu_device_set_domain()'s require_direct refusal does not apply
      const ret = await attachDevice(k, stage, dev, cur, g.id);
      if (isErrno(ret)) return nesting.abort(k, di, ret);
    }
    for (const [pasid, domain] of Object.entries(k.read(g, 'pasid_array', underGroup(g.id)))) {
      if (Number(pasid) >= 1) await removeDevPasid(k, dev, Number(pasid), domain);
    }
    k.write(g, 'resetting_domain', stage, underGroup(g.id));
    return 0;
  });
});

/**
 * pci_dev_reset_iommu_done(): re-attach the RID to group->domain and
 * re-set every PASID (as read: for every PASID-capable member of the group,
 * although prepare removed them only from this device), then lift the
 * fence. No error return: failures are WARNs.
 */
export const pci_dev_reset_iommu_done = kfunc('pci_dev_reset_iommu_done', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: pci_dev_reset_iommu_done' }, async function pci_dev_reset_iommu_done(k: IK, { dev }: { dev: string }): Promise<Ret> {
  const t = resetTarget(k, dev);
  if (t === null) return 0;
  const { g, di } = t;
  await withGroupMutex(k, g, async () => {
    const stage = k.read(g, 'resetting_domain', underGroup(g.id));
    if (stage === null) return;
    if (!RESET_NESTING[k.state.variants['reset-nesting']].leave(k, di)) return;
    if (k.read(g, 'blocking_domain', underGroup(g.id)) === null) {
      k.warn('pci_dev_reset_iommu_done: WARN_ON(!group->blocking_domain)');
      return;
    }
    const domain = k.read(g, 'domain', underGroup(g.id));
    if (domain === null) {
      // d769711fcddd: a group whose default domain never got allocated crashes here in 7.0.0
      k.bug(`pci_dev_reset_iommu_done: NULL pointer dereference: group->domain of ${g.id} is NULL`);
    }
    if (domain !== stage) {
      const ret = await attachDevice(k, domain, dev, stage, g.id);
      if (isErrno(ret)) k.warn(`pci_dev_reset_iommu_done: WARN_ON(__iommu_attach_device: ${ret.errno})`);
    }
    for (const [pasid, pd] of Object.entries(k.read(g, 'pasid_array', underGroup(g.id)))) {
      if (Number(pasid) < 1) continue;
      const ret = await setGroupPasid(k, pd, g, Number(pasid), stage);
      if (isErrno(ret)) k.warn(`pci_dev_reset_iommu_done: WARN_ON(__iommu_set_group_pasid: ${ret.errno})`);
    }
    k.write(g, 'resetting_domain', null, underGroup(g.id));
    await RESET_BLOCKING[k.state.variants['reset-blocking']].afterReset(k, g, stage);
  });
  return 0;
});

/**
 * iommu_deferred_attach(): from the DMA API paths. Lock-free early return
 * when the device is not attach_deferred (the DMA fast path); the rest is
 * the `deferred-attach` variant.
 */
export const iommu_deferred_attach = kfunc('iommu_deferred_attach', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_deferred_attach' }, async function iommu_deferred_attach(k: IK, { domain, dev }: { domain: string; dev: string }): Promise<Ret> {
  const di = devIommuOf(k, dev);
  if (di === null) return 0;
  if (!devIommuBit(k, di, 'attach_deferred')) return 0;
  const g = groupOfDevice(k, dev);
  if (g === null) return errno('ENODEV');
  if (k.state.variants['deferred-attach'] === 'unlocked') {
    // before 5d5388b0e190: no group->mutex and no check for a reset in progress
    return attachDevice(k, domain, dev, null, g.id);
  }
  return withGroupMutex(k, g, async () => {
    if (k.read(g, 'resetting_domain', underGroup(g.id)) !== null) return errno('EBUSY');
    return attachDevice(k, domain, dev, null, g.id);
  });
});

