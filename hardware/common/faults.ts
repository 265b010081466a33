import type { UnitKind } from '../../protocol/topology.ts';
import { hex } from './state.ts';
import type { UK } from './state.ts';

/**
 * DMA faults: what a unit records when it does not translate a request
 * (the VT-d fault recording registers, the SMMUv3 event queue, the AMD-Vi
 * event log), printed the way each driver's fault handler prints it. A
 * blocked request is recorded too: the blocking domain is a non-present or
 * aborting entry to the hardware. The log keeps the newest FAULT_LOG_SIZE
 * records.
 */

export type FaultReason =
  /** No device entry: context entry / DTE / STE not valid (device never probed, or released). */
  | 'no-device-entry'
  /** A PASID-tagged request with no PASID table behind the device entry. */
  | 'no-pasid-table'
  /** The PASID's entry (PASID table entry / GCR3 slot / CD) is not present. */
  | 'no-pasid-entry'
  /** The entry blocks DMA (the blocked domain, an abort STE, S1DSS=TERMINATE). */
  | 'blocked'
  | 'pte-not-present'
  | 'write-protect';

export interface FaultRecord {
  readonly dev: string;
  readonly iova: number;
  readonly pasid: number | null;
  readonly write: boolean;
  readonly reason: FaultReason;
  readonly domain: string | null;
}

export const FAULT_LOG_SIZE = 64;

export function recordFault<V>(k: UK<V>, f: FaultRecord): void {
  const log = k.state.faults;
  log.push(f);
  if (log.length > FAULT_LOG_SIZE) log.shift();
  k.state.stats.faults++;
}

/** "01:00.0" for "0000:01:00.0", the way DMAR and AMD-Vi print a requester. */
const shortBdf = (dev: string): string => (/^0000:/.test(dev) ? dev.slice(5) : dev);

const VTD_REASON: Readonly<Record<FaultReason, string>> = {
  'no-device-entry': '[fault reason 0x02] Present bit in context entry is clear',
  'no-pasid-table': '[fault reason 0x51] SM: Present bit in Directory Entry is clear',
  'no-pasid-entry': '[fault reason 0x59] SM: Present bit in PASID table entry is clear',
  blocked: '[fault reason 0x59] SM: Present bit in PASID table entry is clear',
  'pte-not-present': '[fault reason 0x06] PTE Read access is not set',
  'write-protect': '[fault reason 0x05] PTE Write access is not set',
};

const SMMU_EVENT: Readonly<Record<FaultReason, string>> = {
  'no-device-entry': '0x02 (C_BAD_STREAMID)',
  'no-pasid-table': '0x08 (C_BAD_SUBSTREAMID)',
  'no-pasid-entry': '0x0a (C_BAD_CD)',
  blocked: '0x00 (abort: STE.Config=abort or S1DSS=TERMINATE, no event recorded)',
  'pte-not-present': '0x10 (F_TRANSLATION)',
  'write-protect': '0x13 (F_PERMISSION)',
};

const AMD_EVENT: Readonly<Record<FaultReason, string>> = {
  'no-device-entry': 'ILLEGAL_DEV_TABLE_ENTRY',
  'no-pasid-table': 'INVALID_DEVICE_REQUEST',
  'no-pasid-entry': 'IO_PAGE_FAULT',
  blocked: 'IO_PAGE_FAULT',
  'pte-not-present': 'IO_PAGE_FAULT',
  'write-protect': 'IO_PAGE_FAULT',
};

/** One fault as the driver's handler logs it (dmar_fault / arm_smmu_evtq_thread / amd_iommu_print_event / the mock's IOPF). */
export function formatFault(kind: UnitKind, unit: string, f: FaultRecord): string {
  const rw = f.write ? 'Write' : 'Read';
  switch (kind) {
    case 'vtd':
      return `DMAR: [DMA ${rw} ${f.pasid === null ? 'NO_PASID' : `PASID ${hex(f.pasid)}`}] Request device [${shortBdf(f.dev)}] fault addr ${hex(f.iova)} ${VTD_REASON[f.reason]}`;
    case 'smmu-v3':
      return `arm-smmu-v3 ${unit}: event ${SMMU_EVENT[f.reason]} received: sid ${f.dev} ssv ${f.pasid === null ? 0 : 1} ssid ${hex(f.pasid ?? 0)} iova ${hex(f.iova)} ${f.write ? 'W' : 'R'}`;
    case 'amd-vi':
      return `AMD-Vi: Event logged [${AMD_EVENT[f.reason]} device=${f.dev} pasid=${hex(f.pasid ?? 0)} address=${hex(f.iova)} flags=${f.write ? '0x0020' : '0x0000'}]`;
    case 'mock':
      return `iommufd_mock ${unit}: ${f.reason} dev ${f.dev} pasid ${f.pasid ?? 'none'} iova ${hex(f.iova)} ${rw.toLowerCase()}`;
  }
}
