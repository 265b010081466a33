import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../actors/functions.ts';
import { declsOf, isKFunc } from '../runtime/kfunc.ts';
import type { ActorDef } from '../runtime/actor.ts';
import { driverCore } from '../actors/driver-core/index.ts';
import { pci } from '../actors/pci/index.ts';
import { iommuCore } from '../actors/iommu-core/index.ts';
import { vfio } from '../actors/vfio/index.ts';
import { userProcess } from '../actors/userspace/process.ts';
import { vtdUnit } from '../hardware/vtd.ts';
import { amdViUnit } from '../hardware/amd-vi.ts';
import { smmuV3Unit } from '../hardware/smmu-v3.ts';
import { mockUnit } from '../hardware/mock.ts';

/**
 * Issue 14 item 1: every function of the model that stands for a kernel
 * function is declared (runtime/kfunc.ts) under its kernel name. Two
 * mechanical checks keep it so:
 * - every message handler of every model actor is a declared function (its
 *   op is a declared name of that actor, or the handler itself is one), or
 *   is listed below with why it stands for no kernel function;
 * - every plain `function f(k, …)` in actors/ and hardware/ (the grep a
 *   reader would do) is listed below as model plumbing, with why.
 * A new kernel function written as a plain function fails here: declare it
 * with kfunc(), or, if it really is plumbing, add it with the reason.
 */

const ROOT = path.resolve(import.meta.dirname, '..');

/** Handlers that stand for no kernel function, by "actor kind:op". */
const HANDLERS_NOT_KERNEL: Readonly<Record<string, string>> = {
  'driver-core:boot': 'the boot sequence the harness runs (initcalls); what it calls (driver_register, acpi_pci_root_add, device_add, deferred_probe_initcall) is declared',
  'driver-core:after_boot': 'harness: scenario calls made once boot completed',
  'driver-core:dev_driver_snapshot': 'another actor\'s READ_ONCE(dev->driver): a field read across actors, not a function',
  'driver-core:device_is_dead': 'another actor\'s read of dev->p->dead under device_lock: a field read across actors',
  'driver-core:bus_dma_configure': 'the indirect call dev->bus->dma_configure(dev); the function it lands in (pci_dma_configure, platform_dma_configure) is declared',
  'driver-core:pci_err_handler_reset': 'the driver\'s own err_handler->reset_prepare/reset_done: scenario driver code (actions)',
  'driver-core:driver_call': 'the driver\'s own work item: scenario driver code (actions)',
  'driver-core:module_call': 'a module\'s own code: scenario actions',
  'driver-core:try_module_get_driver': 'another actor\'s try_module_get(dev->driver->owner): a field read across actors, then try_module_get (declared)',
  'driver-core:module_put_driver': 'another actor\'s module_put() of the driver it pinned: the look-up across actors, then module_put (declared)',
  'pci:pci_scan_root_bus': 'the entry boot sends; it runs acpi_pci_root_add (declared), which scans the root bus',
  'pci:pciehp_enable_slot': 'the hot-add entry; it runs pciehp_configure_device (declared)',
  'driver-core:kernfs_drain_wait': 'the wait of kernfs_drain() asked by another actor (the message; the wait is part of the declared kernfs_drain)',
  'iommu-core:iommu_attach_device_shared': 'seed 002\'s proposed API (variant shared-attach): in no kernel',
  'iommu-core:iommu_detach_device_shared': 'seed 002\'s proposed API (variant shared-attach): in no kernel',
  'vfio:device_dma': 'the device\'s own DMA (hardware), reached through its fd for the scenario',
  'process:main': 'userspace: the process\'s program',
  'process:eventfd_signal': 'userspace: QEMU\'s reaction to the request eventfd (the kernel\'s eventfd_signal is in vfio_pci_core_request)',
  'unit:dma': 'the unit\'s hardware translation of one request: no kernel function',
  'unit:fault_inject': 'test mailbox (the selftest-style fault injection of the unit)',
  'unit:set_translation': 'the hardware\'s translation-enable bit (VT-d GCMD.TE, AMD CONTROL.IommuEn, SMMUv3 CR0.SMMUEN) that iommu-core\'s registration model (register.ts) turns on and off',
  'unit:release_device@mock': 'mock_ops has no release_device: the core calls nothing; the model only forgets the device',
};

/** Plain functions of actors/ and hardware/ taking the kernel context, by "file:name", grouped by why they are not kernel functions. */
const PLUMBING: Readonly<Record<string, readonly string[]>> = {
  'look-ups of the model\'s own records (what the kernel does with a pointer or container_of)': [
    'actors/driver-core/deferred.ts:deferredTriggerCount', 'actors/driver-core/state.ts:deviceOf', 'actors/driver-core/state.ts:driverOf',
    'actors/driver-core/state.ts:overrideDriver', 'actors/driver-core/index.ts:withDevice', 'actors/iommu-core/domains.ts:useDomain',
    'actors/iommu-core/domains.ts:groupUnit', 'actors/iommu-core/domains.ts:supportsSetDevPasid', 'actors/iommu-core/owner.ts:useGroup',
    'actors/iommu-core/pasid.ts:pasidMembers', 'actors/iommu-core/pasid.ts:pasidFits', 'actors/iommu-core/probe.ts:linkOf',
    'actors/iommu-core/reset.ts:resetTarget', 'actors/iommu-core/state.ts:groupById', 'actors/pci/reset.ts:lookup', 'actors/pci/state.ts:devOf',
    'actors/pci/state.ts:busOf', 'actors/pci/state.ts:onBusLocked', 'actors/pci/state.ts:presentOf', 'actors/vfio/container.ts:containerOfFile',
    'actors/vfio/container.ts:backendOf', 'actors/vfio/device.ts:deviceOfFile', 'actors/vfio/group.ts:groupOfFile', 'actors/vfio/iommufd.ts:ictxOfFile',
    'actors/vfio/iommufd.ts:devHasPasid', 'actors/vfio/registration.ts:devSetKey', 'actors/vfio/state.ts:unitOf', 'hardware/common/unit.ts:live',
    'actors/driver-core/kernfs.ts:kernfsNode', 'actors/driver-core/state.ts:registeredDriver', 'actors/driver-core/sysfs.ts:deviceSysfsLive',
    'actors/driver-core/sysfs.ts:driverName', 'actors/driver-core/sysfs.ts:bootOverride', 'actors/pci/iov.ts:virtfns',
  ],
  'object bookkeeping of the model (allocation ids, field instrumentation, bit-field access)': [
    'actors/vfio/state.ts:freshName', 'actors/vfio/state.ts:allocObj', 'actors/vfio/state.ts:initFields', 'actors/vfio/files.ts:allocFile',
    'actors/vfio/files.ts:discardFile', 'actors/vfio/device.ts:freeDeviceFile', 'actors/iommu-core/state.ts:devIommuBit',
    'actors/iommu-core/state.ts:setDevIommuBit', 'actors/iommu-core/handle.ts:setSlot', 'hardware/common/unit.ts:dropFreed',
    'hardware/common/page-table.ts:emitPte', 'actors/driver-core/kernfs.ts:openFileMutex', 'actors/driver-core/kernfs.ts:seqFileLock',
  ],
  'a part of a declared function, split out for reading (its frame is the declared caller\'s)': [
    'actors/iommu-core/attach.ts:withGroupMutex', 'actors/iommu-core/pasid.ts:checkPasidDomain', 'actors/pci/bus-reset.ts:resetWindow',
    'actors/iommu-core/probe.ts:removeUnderGroupMutex', 'actors/pci/dma.ts:driverManagedDmaCheck', 'actors/driver-core/kernfs.ts:kernfsDrainWait',
    'actors/pci/reset.ts:resetWindow', 'actors/pci/reset.ts:resetMethod', 'actors/vfio/index.ts:unknownIoctl', 'actors/vfio/index.ts:deviceIoctl',
    'actors/vfio/container.ts:vfioIommuMapDma', 'actors/vfio/container.ts:vfioIommuUnmapDma', 'hardware/common/page-table.ts:ptMap',
    'hardware/common/page-table.ts:ptUnmap', 'hardware/common/invalidation.ts:flushDeviceEntry', 'actors/pci/hotplug.ts:istEnter',
  ],
  'dispatch to the declared function of the unit\'s vendor (common/invalidation.ts declareInvalidation), and the plain steps of a vendor without one': [
    'hardware/common/invalidation.ts:queueIotlb', 'hardware/common/invalidation.ts:queueDevtlb', 'hardware/common/invalidation.ts:syncQueue',
    'hardware/common/invalidation.ts:queueIotlbCmd', 'hardware/common/invalidation.ts:queueDevtlbCmd', 'hardware/common/invalidation.ts:syncQueueCmd',
  ],
  'the boot sequence (a module in memory at boot)': ['actors/driver-core/module.ts:bootModule'],
  'the message plumbing between actors, and the syscall boundary (task_work at return to userspace)': [
    'actors/iommu-core/domains.ts:unitCall', 'actors/vfio/files.ts:syscall', 'actors/vfio/files.ts:ioctl',
    // the message to iommu-core, which declares pci_dev_reset_iommu_prepare/done (one frame per kernel function)
    'actors/pci/reset.ts:iommuPrepare', 'actors/pci/reset.ts:iommuDone',
  ],
  'scenario driver code (the actions a scenario\'s driver or module runs)': [
    'actors/driver-core/driver-ops.ts:deviceScope', 'actors/driver-core/driver-ops.ts:moduleScope', 'actors/driver-core/driver-ops.ts:runProbeActions',
    'actors/driver-core/driver-ops.ts:runActionList', 'actors/driver-core/driver-ops.ts:runAction', 'actors/driver-core/driver-ops.ts:callFor',
    'actors/driver-core/driver-ops.ts:deviceDma',
  ],
  'designs of a seed discussion that no kernel has (variant axes)': [
    'actors/iommu-core/variants/dma-owner.ts:scanSiblings', 'actors/iommu-core/variants/dma-owner.ts:claimByScan',
  ],
  'userspace (the process actor\'s program)': [
    'actors/userspace/process.ts:resolve', 'actors/userspace/process.ts:ioctlCall', 'actors/userspace/process.ts:runOp',
  ],
  'hardware and test machinery (translation, the fault log, fault injection, the device\'s DMA)': [
    'hardware/common/translate.ts:translate', 'hardware/common/faults.ts:recordFault', 'hardware/common/inject.ts:addInjection',
    'hardware/common/inject.ts:shouldFail', 'actors/vfio/pci-core.ts:vfioDeviceDma',
  ],
};

/** Files whose functions are no model of kernel code: the lock primitives' manager, and the generic stand-in unit no driver corresponds to. */
const NOT_MODEL_FILES: Readonly<Record<string, string>> = {
  'actors/lock-manager.ts': 'the runtime\'s lock primitives (mutex_lock, down_read, wait_for_completion are k.lock & co.)',
  'hardware/basic-unit.ts': 'a generic stand-in unit that no kernel driver corresponds to (patch a vendor model instead)',
};

describe('every modelled kernel function is declared (issue 14 item 1)', () => {
  const actors: readonly (readonly [string, ActorDef<never>, string | null])[] = [
    ['driver-core', driverCore as unknown as ActorDef<never>, null], ['pci', pci as unknown as ActorDef<never>, null], ['iommu-core', iommuCore as unknown as ActorDef<never>, null],
    ['vfio', vfio as unknown as ActorDef<never>, null], ['process', userProcess as unknown as ActorDef<never>, null],
    ['unit', vtdUnit as unknown as ActorDef<never>, 'vtd'], ['unit', amdViUnit as unknown as ActorDef<never>, 'amd-vi'], ['unit', smmuV3Unit as unknown as ActorDef<never>, 'smmu-v3'],
    ['unit', mockUnit as unknown as ActorDef<never>, 'mock'],
  ];

  it('every handler of every model actor is a declared kernel function, or says why it is none', () => {
    const undeclared: string[] = [];
    for (const [kind, def, unit] of actors) {
      for (const [op, h] of Object.entries(def.handlers)) {
        if (isKFunc(h) || declsOf(op).some((d) => d.actor === kind && (unit === null || d.unit === undefined || d.unit === unit))) continue;
        if (HANDLERS_NOT_KERNEL[`${kind}:${op}`] !== undefined || (unit !== null && HANDLERS_NOT_KERNEL[`${kind}:${op}@${unit}`] !== undefined)) continue;
        undeclared.push(`${kind}${unit === null ? '' : `@${unit}`}:${op}`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it('a unit handler runs under its vendor\'s kernel name', () => {
    const name = (def: ActorDef<never>, op: string): string | undefined => {
      const h = def.handlers[op];
      return isKFunc(h) ? h.decl.name : undefined;
    };
    expect(name(vtdUnit as unknown as ActorDef<never>, 'attach_dev')).toBe('intel_iommu_attach_device');
    expect(name(amdViUnit as unknown as ActorDef<never>, 'attach_dev')).toBe('amd_iommu_attach_device');
    expect(name(smmuV3Unit as unknown as ActorDef<never>, 'attach_dev')).toBe('arm_smmu_attach_dev');
    expect(name(mockUnit as unknown as ActorDef<never>, 'attach_dev')).toBe('mock_domain_nop_attach');
    expect(declsOf('arm_smmu_cmdq_issue_cmdlist').map((d) => `${d.actor}@${d.unit}`)).toEqual(['unit@smmu-v3']);
    expect(declsOf('qi_submit_sync').map((d) => d.file)).toEqual(['drivers/iommu/intel/dmar.c']);
    expect(declsOf('device_block_translation').map((d) => d.unit)).toEqual(['vtd']);
  });

  it('every plain function of actors/ and hardware/ that takes the kernel context is listed as plumbing (the grep finds no undeclared kernel function)', () => {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d).sort()) {
        const p = path.join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(path.join(ROOT, 'actors'));
    walk(path.join(ROOT, 'hardware'));
    const FN = /(?:^|[\s(])(?:export\s+)?(?:async\s+)?function\s+(\w+)\s*(?:<[^>]*>)?\(\s*k\s*[:,)]/;
    const found: string[] = [];
    for (const f of files) {
      const rel = path.relative(ROOT, f).split(path.sep).join('/');
      if (NOT_MODEL_FILES[rel] !== undefined) continue;
      for (const line of readFileSync(f, 'utf8').split('\n')) {
        const m = FN.exec(line);
        if (m !== null && !line.includes('kfunc(')) found.push(`${rel}:${m[1] as string}`);
      }
    }
    const listed = Object.values(PLUMBING).flat();
    expect(found.filter((x) => !listed.includes(x)), 'plain functions taking k: declare each with kfunc(), or list it in PLUMBING with why').toEqual([]);
    expect(listed.filter((x) => !found.includes(x)), 'listed plumbing that no longer exists').toEqual([]);
  });
});

describe('layers (issue 14 item 9)', () => {
  const importsOf = (dir: string): { file: string; from: string }[] => {
    const out: { file: string; from: string }[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d)) {
        const p = path.join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) {
          for (const m of readFileSync(p, 'utf8').matchAll(/^(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
            out.push({ file: path.relative(ROOT, p), from: path.relative(ROOT, path.resolve(path.dirname(p), m[1] as string)) });
          }
        }
      }
    };
    walk(path.join(ROOT, dir));
    return out;
  };

  it('the model (actors/, hardware/) never imports its judges (checkers/)', () => {
    const bad = [...importsOf('actors'), ...importsOf('hardware')].filter((i) => i.from.startsWith('checkers'));
    expect(bad).toEqual([]);
  });

  it('the wire (protocol/) knows no host and no checker', () => {
    const bad = importsOf('protocol').filter((i) => i.from.startsWith('runtime') || i.from.startsWith('checkers'));
    expect(bad).toEqual([]);
  });
});
