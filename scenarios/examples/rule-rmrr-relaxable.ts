/**
 * An invariant replaced by a scenario module (docs/scenarios.md "Kernel
 * rules as data"). Upstream's rule (§2.2, `require-direct-blocked`): a
 * device with IOMMU_RESV_DIRECT regions is never translated through a
 * blocked domain. VT-d knows RMRRs that may be relaxed — USB and graphics
 * devices (drivers/iommu/intel/iommu.c: device_rmrr_is_relaxable(), which
 * reports IOMMU_RESV_DIRECT_RELAXABLE for them) — and a patch that lets a
 * reset block such a device on purpose wants the rule to say so, not to
 * turn it off for every device.
 *
 * Two integrated RMRR devices, a USB controller (relaxable) and a storage
 * controller (not), are each reset while the reset blocks every device
 * (`reset-blocking=bypass-require-direct`, the seed 003 design that ignores
 * require_direct). Under `rmrr-policy=relaxable` the rule is replaced by one
 * that exempts the relaxable device: the old rule's violation is gone, and
 * the new rule still reports the storage controller.
 *
 *   iommu-lab compare scenarios/examples/rule-rmrr-relaxable.ts
 */
import { invariants } from 'iommu-lab/patch';
import type { GroupRule } from 'iommu-lab/patch';

const USB = '0000:00:14.0';
const SATA = '0000:00:17.0';

/** The devices whose RMRR device_rmrr_is_relaxable() would report relaxable. */
const RELAXABLE: ReadonlySet<string> = new Set([USB]);

/** require-direct-blocked, except for a group whose require_direct members are all relaxable. */
const unlessRelaxable: GroupRule = (b) => {
  const strict = invariants.dumpGroup(b.s, b.group).members.some((m) => m.require_direct === true && !RELAXABLE.has(m.dev));
  return strict ? invariants.requireDirectBlocked(b) : null;
};

export default {
  name: 'example-rule-rmrr-relaxable',
  title: 'a replaced invariant: a relaxable RMRR device may be blocked across its reset, another may not',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd', max_pasids: 1 << 20, attach_deferred: true }],
    pci: [
      { id: USB, unit: 'vtd0', ats: true, require_direct: true, driver: 'xhci' },
      { id: SATA, unit: 'vtd0', ats: true, require_direct: true, driver: 'ahci' },
    ],
    drivers: [{ name: 'xhci', bus: 'pci' }, { name: 'ahci', bus: 'pci' }],
  },
  variants: { 'reset-blocking': ['bypass-require-direct'], 'rmrr-policy': ['upstream', 'relaxable'] },
  tasks: [
    { name: 'reset-usb', ops: [{ op: 'pci.reset_function', dev: USB }] },
    { name: 'reset-sata', ops: [{ op: 'pci.reset_function', dev: SATA }] },
  ],
  rules: [
    {
      when: { 'rmrr-policy': 'relaxable' },
      reason: 'device_rmrr_is_relaxable(): a USB controller\'s RMRR may be blocked across its reset',
      invariants: {
        'require-direct-blocked': {
          name: 'require-direct-blocked-unless-relaxable',
          rule: 'a require_direct device whose RMRR is not relaxable is never translated through a blocked domain',
          judge: unlessRelaxable,
        },
      },
    },
  ],
  expect: [
    { when: { 'rmrr-policy': 'upstream' }, findings: ['invariant-violation'] },
    { when: { 'rmrr-policy': 'relaxable' }, findings: ['invariant-violation'] },
  ],
};
