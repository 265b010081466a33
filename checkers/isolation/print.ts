import { describe } from '../../hardware/memory.ts';
import { modelStack, printStack, whereOf } from '../sites.ts';
import type { Breach, BreachRule, DmaContext, Stale } from './rules.ts';
import type { Write } from './shadow.ts';

/**
 * The isolation checker's reports, apart from detection. The kernel has no
 * report for a DMA that reached memory it must not — that is what an
 * isolation failure is — so the report reads like KASAN's (a ruled block,
 * what was accessed, by whom, why it is wrong, the backtrace), with one line
 * in the unit driver's own voice (DMAR / arm-smmu-v3 / AMD-Vi) saying what
 * the hardware did with the request.
 */

const RULE = '==================================================================';
const hex = (n: number): string => `0x${n.toString(16)}`;
const shortBdf = (dev: string): string => (/^0000:/.test(dev) ? dev.slice(5) : dev);

const VIA: Readonly<Record<string, string>> = { devtlb: 'from the device-TLB (ATS)', iotlb: 'from the IOTLB', walk: 'by a page-table walk' };

/** What the hardware did, as the unit's driver would word it. */
export function hardwareLine(e: DmaContext['e']): string {
  const kind = (e.profile ?? '').split('@')[0] ?? '';
  const rw = e.write === false ? 'Read' : 'Write';
  const to = e.target === null ? e.outcome : `${e.outcome} to ${e.target}`;
  const via = e.via === undefined ? '' : ` (${e.via})`;
  switch (kind) {
    case 'vtd':
      return `DMAR: [DMA ${rw} ${e.pasid === null ? 'NO_PASID' : `PASID ${hex(e.pasid)}`}] Request device [${shortBdf(e.dev)}] addr ${hex(e.iova)}: ${to}${via}`;
    case 'smmu-v3':
      return `arm-smmu-v3: sid ${e.dev} ssv ${e.pasid === null ? 0 : 1} ssid ${hex(e.pasid ?? 0)} iova ${hex(e.iova)} ${rw === 'Write' ? 'W' : 'R'}: ${to}${via}`;
    case 'amd-vi':
      return `AMD-Vi: device=${e.dev} pasid=${hex(e.pasid ?? 0)} address=${hex(e.iova)} ${rw.toLowerCase()}: ${to}${via}`;
    default:
      return `iommu: ${e.dev} pasid ${e.pasid ?? 'none'} iova ${hex(e.iova)} ${rw.toLowerCase()}: ${to}${via}`;
  }
}

function dmaLine(c: DmaContext): string {
  const e = c.e;
  const what = `DMA ${e.write === false ? 'read' : 'write'} by ${e.dev} at IOVA ${hex(e.iova)} (${e.pasid === null ? 'no PASID' : `PASID ${e.pasid}`})`;
  if (e.target === null) return `${what} was ${e.outcome}${e.domain ? ` by domain ${e.domain}` : ''}\n`;
  const through = e.domain ? ` through domain ${e.domain}` : '';
  return `${what} reached "${e.target}": ${describe(e.target)}\n translated${through} ${VIA[e.via ?? ''] ?? ''}`.trimEnd() + '\n';
}

function causeLine(label: string, w: Write | null): string {
  if (w === null) return '';
  return `${label} at step ${w.step} by task ${w.task} in ${whereOf(w.stack).site}:\n${printStack(modelStack(w.stack), '  ')}`;
}

const WHY: Readonly<Record<BreachRule, (c: DmaContext) => string>> = {
  'user-device-kernel-memory': (c) => `The device's iommu group ${c.group} is owned by userspace (owner "${c.owner}"): a device userspace controls must not reach kernel memory.`,
  'kernel-device-user-memory': (c) => `The device's iommu group ${c.group} belongs to the kernel (no DMA owner): a kernel-owned device must not reach a user process's memory.`,
  'kernel-driver-in-user-group': (c) => `Driver ${c.driver} (no driver_managed_dma) drives DMA of ${c.e.dev} while its iommu group ${c.group} is owned by userspace (owner "${c.owner}"): the group's translation is the user's, not the kernel DMA API's.`,
  'dma-while-resetting': (c) => `${c.e.dev} is being reset (pci_dev_reset_iommu_prepare() must have blocked its translation): DMA during a reset must be blocked.`,
  'dma-while-disconnected': (c) => `${c.e.dev} is disconnected (pci_dev_is_disconnected()): nothing may translate for it.`,
  'freed-domain': (c) => `Domain ${c.e.domain} was freed (iommu_domain_free) while the hardware still translated through it.`,
  'direct-mapping-after-switch': (c) => `${c.e.dev}'s DMA address ${hex(c.e.iova)} was handed out by dma-direct (a physical address) before iommu_setup_dma_ops() switched the device to iommu-dma: it is not an IOVA of the domain the device translates through now.`,
};

const CAUSE_LABEL: Readonly<Record<BreachRule, string>> = {
  'user-device-kernel-memory': 'The group was claimed',
  'kernel-device-user-memory': 'The group\'s owner was last set',
  'kernel-driver-in-user-group': 'The driver was set',
  'dma-while-resetting': 'The reset began',
  'dma-while-disconnected': 'The device was marked disconnected',
  'freed-domain': 'Freed',
  'direct-mapping-after-switch': 'The device was switched to iommu-dma (dev->dma_iommu)',
};

function tail(c: DmaContext, step: number): string {
  const e = c.e;
  return `\n${hardwareLine(e)}\ntask ${e.task} at step ${step} in ${whereOf(e.stack).site}\nCall Trace:\n${printStack(modelStack(e.stack), ' ')}${RULE}\n`;
}

export function printBreach(b: Breach, step: number): string {
  const where = whereOf(b.ctx.e.stack);
  let r = `${RULE}\nBUG: iommu-lab: isolation-breach (${b.rule}) in ${where.site}\n`;
  r += dmaLine(b.ctx);
  r += `\n${WHY[b.rule](b.ctx)}\n`;
  const cause = causeLine(CAUSE_LABEL[b.rule], b.cause);
  if (cause !== '') r += `\n${cause}`;
  return r + tail(b.ctx, step);
}

export function printStale(x: Stale, step: number): string {
  const where = whereOf(x.ctx.e.stack);
  const cache = x.via === 'iotlb' ? 'IOTLB' : 'device-TLB (ATC)';
  let r = `${RULE}\nBUG: iommu-lab: stale-translation in ${where.site}\n`;
  r += dmaLine(x.ctx);
  r += `\nThe ${cache} entry is stale: the page table of domain ${x.domain} now maps IOVA ${hex(x.ctx.e.iova)} to ${x.pte === null ? 'nothing' : `"${x.pte}"`}.\n`;
  if (x.invalidatedAfter === null) {
    r += x.via === 'iotlb'
      ? 'No IOTLB invalidation of the domain has completed since the change: the unmap was not followed by iotlb_sync (or its completion).\n'
      : 'No device-TLB invalidation of the device has completed since the change.\n';
  } else {
    r += `A ${x.via === 'iotlb' ? 'IOTLB' : 'device-TLB'} invalidation completed after the change (step ${x.invalidatedAfter.step}), yet the entry survived: the unit did not invalidate what it cached.\n`;
  }
  const cause = causeLine('The page-table entry was changed', x.change);
  if (cause !== '') r += `\n${cause}`;
  return r + tail(x.ctx, step);
}
