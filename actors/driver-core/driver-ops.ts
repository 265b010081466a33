import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { actorId, objId } from '../../protocol/ids.ts';
import type { ActionResult, DriverAction } from '../../protocol/driver-actions.ts';
import { IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import { unitActor } from '../../protocol/topology.ts';
import { VFIO } from '../../protocol/vfio.ts';
import { LOCKLESS, unitOfDevice } from './state.ts';
import type { DK, Device } from './state.ts';

/**
 * The interpreter of client code as data (protocol/driver-actions.ts): a
 * driver's probe/remove, a driver work item, a module's init. Each action
 * is the kernel call it names, made from the calling task, so it runs with
 * whatever that task holds (a probe holds device_lock) and its stack reads
 * like the kernel's.
 *
 * Names: `as` keeps a result under a name in the scope's variables (the
 * device's drvdata, or the module's globals); a field that names an object
 * (domain, group, handle, owner, an IOVA) is looked up there and, if no
 * result has that name, passed as it is (so a scenario may also name an
 * object by its id).
 */

/** Where action results are kept and which device `dev` defaults to. */
export interface ActionScope {
  /** The driver's own device; null for a module. */
  readonly dev: string | null;
  readonly vars: () => Readonly<Record<string, unknown>>;
  readonly setVars: (vars: Readonly<Record<string, unknown>>) => void;
}

/** The scope of a driver bound to `dev`: names live in its drvdata (dev_set_drvdata). */
export function deviceScope(k: DK, dev: Device): ActionScope {
  return {
    dev: dev.name,
    vars: () => k.read(dev, 'drvdata', LOCKLESS),
    setVars: (v) => k.write(dev, 'drvdata', v, LOCKLESS),
  };
}

/** The scope of a module: its globals. */
export function moduleScope(k: DK, module: string): ActionScope {
  let m = k.state.modules[module];
  // the module's globals come into being at its first call, from any task
  k.touches(`modules:${module}`);
  if (m === undefined) {
    m = { id: objId(`module:${module}`), vars: {} };
    k.state.modules[module] = m;
  }
  const mod = m;
  return {
    dev: null,
    vars: () => k.read(mod, 'vars', LOCKLESS),
    setVars: (v) => k.write(mod, 'vars', v, LOCKLESS),
  };
}

/**
 * Runs a probe or remove: stops at the first errno of an action without
 * `ignore` and returns it; 0 when every action succeeded.
 */
export async function runProbeActions(k: DK, scope: ActionScope, actions: readonly DriverAction[]): Promise<0 | Errno> {
  for (const a of actions) {
    const ret = await runAction(k, scope, a);
    if (isErrno(ret) && a.ignore !== true) return ret;
  }
  return 0;
}

/** Runs every action (a work item, a module init) and reports each result, errnos by name. */
export async function runActionList(k: DK, scope: ActionScope, actions: readonly DriverAction[]): Promise<ActionResult[]> {
  const out: ActionResult[] = [];
  for (const a of actions) {
    const ret = await runAction(k, scope, a);
    out.push({ do: a.do, ret: isErrno(ret) ? ret.errno : ret });
  }
  return out;
}

/** The result every action gives when the calling driver is not bound (driver_call on an unbound device). */
export function unboundResults(actions: readonly DriverAction[]): ActionResult[] {
  return actions.map((a) => ({ do: a.do, ret: 'ENODEV' }));
}

/** One action: the call it names, its result stored under `as` when it is not an errno (or NULL). */
async function runAction(k: DK, scope: ActionScope, a: DriverAction): Promise<unknown> {
  // a void kernel function reports 0; NULL (no group, no domain) stays null
  const got = await callFor(k, scope, a);
  const ret = got === undefined ? 0 : got;
  if ('as' in a && a.as !== undefined && !isErrno(ret) && ret !== null) scope.setVars({ ...scope.vars(), [a.as]: ret });
  return ret;
}

/** A name from the scope, or the name itself when no result has it. */
function resolve(scope: ActionScope, name: string): unknown {
  const vars = scope.vars();
  return Object.hasOwn(vars, name) ? vars[name] : name;
}

/** Object ids travel as strings: a stored result that is not one (a number, an outcome) is passed as stored. */
const ref = (scope: ActionScope, name: string): string => {
  const v = resolve(scope, name);
  return typeof v === 'string' ? v : String(v);
};

async function callFor(k: DK, scope: ActionScope, a: DriverAction): Promise<unknown> {
  const dev = a.dev ?? scope.dev;
  // Actions about a device, from a module that named none: nothing to call with.
  const needDev = (f: (d: string) => Promise<unknown>): Promise<unknown> => (dev === null ? Promise.resolve(errno('ENODEV')) : f(dev));
  const iommu = (op: string, body: object): Promise<unknown> => k.call(IOMMU_CORE, op, body);
  switch (a.do) {
    case 'iommu_paging_domain_alloc':
      return needDev((d) => iommu(a.do, a.flags === undefined ? { dev: d } : { dev: d, flags: a.flags }));
    case 'iommu_domain_alloc':
      return iommu(a.do, { bus: a.bus });
    case 'iommu_domain_free':
      return iommu(a.do, { domain: ref(scope, a.domain) });
    case 'iommu_attach_device':
    case 'iommu_detach_device':
    case 'iommu_attach_device_shared':
    case 'iommu_detach_device_shared':
      return needDev((d) => iommu(a.do, { domain: ref(scope, a.domain), dev: d }));
    case 'iommu_group_get':
      return needDev((d) => iommu(a.do, { dev: d }));
    case 'iommu_group_put':
      return iommu(a.do, { group: ref(scope, a.group) });
    case 'iommu_attach_group':
    case 'iommu_detach_group':
      return iommu(a.do, { domain: ref(scope, a.domain), group: ref(scope, a.group) });
    case 'iommu_group_claim_dma_owner':
      return iommu(a.do, { group: ref(scope, a.group), owner: ref(scope, a.owner) });
    case 'iommu_group_release_dma_owner':
      return iommu(a.do, { group: ref(scope, a.group) });
    case 'iommu_device_claim_dma_owner':
      return needDev((d) => iommu(a.do, { dev: d, owner: ref(scope, a.owner) }));
    case 'iommu_device_release_dma_owner':
      return needDev((d) => iommu(a.do, { dev: d }));
    case 'iommu_attach_device_pasid':
    case 'iommu_replace_device_pasid':
      return needDev((d) => iommu(a.do, { domain: ref(scope, a.domain), dev: d, pasid: a.pasid, ...(a.handle !== undefined ? { handle: a.handle } : {}) }));
    case 'iommu_detach_device_pasid':
      return needDev((d) => iommu(a.do, { domain: ref(scope, a.domain), dev: d, pasid: a.pasid }));
    case 'iommu_sva_bind_device':
      return needDev((d) => iommu(a.do, { dev: d, mm: a.mm }));
    case 'iommu_sva_unbind_device':
      return iommu(a.do, { handle: ref(scope, a.handle) });
    case 'iommu_get_domain_for_dev':
      return needDev((d) => iommu(a.do, { dev: d }));
    case 'iommu_map':
      return needDev((d) => iommu(a.do, { domain: ref(scope, a.domain), iova: a.iova, page: a.page ?? `${d}-buf` }));
    case 'iommu_unmap':
      return iommu(a.do, { domain: ref(scope, a.domain), iova: a.iova });
    case 'dma_map':
      return needDev((d) => iommu('dma_map_page_attrs', { dev: d, page: a.page ?? `${d}-buf` }));
    case 'dma_unmap':
      return needDev((d) => {
        const iova = resolve(scope, a.iova);
        return typeof iova === 'number' ? iommu('dma_unmap_page_attrs', { dev: d, iova }) : Promise.resolve(errno('EINVAL'));
      });
    case 'dma':
      return needDev((d) => deviceDma(k, scope, d, a.iova, a.pasid ?? null, a.write ?? true));
    case 'pci_reset_function':
    case 'pci_try_reset_function':
    case 'pci_reset_function_locked':
      return needDev((d) => k.call(PCI, a.do, { dev: d }));
    case 'vfio_register_group_dev':
    case 'vfio_unregister_group_dev':
      return needDev((d) => k.call(VFIO, a.do, { dev: d }));
    case 'yield':
      await k.yield();
      return 0;
    default:
      return unreachable(a);
  }
}

/**
 * The device itself performs DMA: through its IOMMU unit, which translates
 * and reports the outcome; a device without an IOMMU reaches the bus
 * address directly.
 */
async function deviceDma(k: DK, scope: ActionScope, dev: string, at: number | string, pasid: number | null, write: boolean): Promise<unknown> {
  const iova = typeof at === 'number' ? at : resolve(scope, at);
  if (typeof iova !== 'number') return errno('EINVAL');
  const unit = unitOfDevice(k.state.topology, dev);
  if (unit === null) {
    k.emit({ ev: 'dma', dev, iova, pasid, outcome: 'direct', target: null });
    return { outcome: 'direct', target: null, domain: null };
  }
  return k.call(actorId(unitActor(unit)), 'dma', { dev, iova, pasid, write });
}

function unreachable(a: never): never {
  throw new Error(`driver-ops: unknown action ${JSON.stringify(a)}`);
}
