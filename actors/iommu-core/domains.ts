import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { actorId } from '../../protocol/ids.ts';
import type { DomainType } from '../../protocol/iommu-core.ts';
import { blockedDomainOf, identityDomainOf } from '../../protocol/iommu-unit.ts';
import { unitActor } from '../../protocol/topology.ts';
import { G, asObj, hasIdentityDomain, underGroup } from './state.ts';
import type { Domain, Group, IK } from './state.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Domain allocation and freeing (drivers/iommu/iommu.c: __iommu_domain_alloc,
 * iommu_paging_domain_alloc_flags, __iommu_group_alloc_default_domain,
 * __iommu_group_alloc_blocking_domain, iommu_domain_free).
 */

/** A call into the driver of `unit` (its iommu_ops / domain ops). */
export function unitCall<R = unknown>(k: IK, unit: string, op: string, body: unknown): Promise<R> {
  return k.call<R>(actorId(unitActor(unit)), op, body);
}

/**
 * Allocates a domain object and asks the unit to build it. `dev` is the
 * device the driver sizes it for (null: the bus API's dev == NULL).
 * Returns the domain id or the driver's errno.
 */
export async function allocDomain(
  k: IK, unit: string, type: DomainType, dev: string | null, opts: { readonly pasid?: boolean; readonly mm?: string } = {},
): Promise<string | Errno> {
  const id = k.alloc('iommu_domain');
  const d: Domain = { id, type, unit, static: false, pasid: opts.pasid ?? false, users: 0, mm: opts.mm ?? null, mappings: {}, next_iova: 0x1000 };
  k.state.domains[id] = d;
  const ret = await unitCall(k, unit, 'domain_alloc', { domain: id, type, dev, pasid: d.pasid, ...(opts.mm !== undefined ? { mm: opts.mm } : {}) });
  if (isErrno(ret)) {
    delete k.state.domains[id];
    k.free(id);
    return ret;
  }
  return id;
}

/**
 * iommu_domain_free(): the caller guarantees nothing is attached. Static
 * domains are never freed. The record goes; the object's id stays known to
 * the lifetime checker, so a later use is a use-after-free.
 */
export const freeDomain = kfunc('iommu_domain_free', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_domain_free_locked' }, async function freeDomain(k: IK, domain: string): Promise<void> {
  const d = k.state.domains[domain];
  if (d === undefined || d.static) return;
  await unitCall(k, d.unit, 'domain_free', { domain });
  delete k.state.domains[domain];
  k.free(asObj(domain));
});

/**
 * Looks a domain up by the id a caller handed in, first as a dereference of
 * the pointer (a freed domain is a use-after-free for the lifetime checker).
 */
export function useDomain(k: IK, domain: string, what: string): Domain | null {
  k.use(asObj(domain), what);
  return k.state.domains[domain] ?? null;
}

/** iommu_group_first_dev(): asserts group->mutex, as the kernel's lockdep_assert_held does. */
export const groupFirstDev = kfunc('iommu_group_first_dev', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_first_dev' }, async function groupFirstDev(k: IK, g: Group): Promise<string | null> {
  await k.assertHeld(G(g.id));
  return k.read(g, 'devices', underGroup(g.id))[0] ?? null;
});

/** The unit (iommu_ops) of the group's devices. */
export function groupUnit(k: IK, g: Group): string | null {
  const first = g.devices[0];
  if (first === undefined) return null;
  const di = k.state.devIommu[`${first}.iommu`];
  return di?.unit ?? null;
}

/**
 * __iommu_group_alloc_blocking_domain(): the driver's static blocked domain
 * if it has one (all real drivers and the mock do), else an empty paging
 * domain. Caller holds group->mutex.
 */
export const allocBlockingDomain = kfunc('__iommu_group_alloc_blocking_domain', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_group_alloc_blocking_domain' }, async function allocBlockingDomain(k: IK, g: Group): Promise<0 | Errno> {
  if (k.read(g, 'blocking_domain', underGroup(g.id)) !== null) return 0;
  const unit = groupUnit(k, g);
  if (unit === null) return errno('ENODEV');
  const blocked = blockedDomainOf(unit);
  if (k.state.domains[blocked] !== undefined) {
    k.write(g, 'blocking_domain', blocked, underGroup(g.id));
    return 0;
  }
  const d = await allocDomain(k, unit, 'paging', await groupFirstDev(k, g));
  if (isErrno(d)) return d;
  k.write(g, 'blocking_domain', d, underGroup(g.id));
  return 0;
});

/**
 * __iommu_group_alloc_default_domain(): identity (static) or a DMA domain
 * built for the group's first device. The kernel's selftest mock has no
 * identity or DMA domain: its default is the static blocked domain
 * (docs/kernel-facts.md §7.1). Caller holds group->mutex.
 */
export const allocDefaultDomain = kfunc('__iommu_group_alloc_default_domain', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_group_alloc_default_domain' }, async function allocDefaultDomain(k: IK, g: Group, type: 'identity' | 'dma' | 'dma-fq'): Promise<string | Errno> {
  const unit = groupUnit(k, g);
  if (unit === null) return errno('ENODEV');
  const spec = k.state.units[unit];
  if (spec !== undefined && spec.kind === 'mock') return blockedDomainOf(unit);
  if (type === 'identity' && spec !== undefined && hasIdentityDomain(spec)) return identityDomainOf(unit);
  const dev = await groupFirstDev(k, g);
  // paging types first try a PASID-capable domain when the device has PASIDs
  const di = dev === null ? undefined : k.state.devIommu[`${dev}.iommu`];
  return allocDomain(k, unit, type === 'identity' ? 'dma' : type, dev, { pasid: (di?.max_pasids ?? 0) > 0 });
});

/** domain_iommu_ops_compatible(): a domain from another driver cannot be attached, except the static ones. */
export function opsCompatible(unit: string, d: Domain): boolean {
  return d.unit === unit;
}

/**
 * Does the domain (and the unit's static blocked domain) have a
 * set_dev_pasid? SVA always; AMD-Vi has none for paging domains
 * (docs/kernel-facts.md §5.1).
 */
export function supportsSetDevPasid(k: IK, d: Domain): boolean {
  const kind = k.state.units[d.unit]?.kind;
  if (d.type === 'sva' || d.type === 'blocked') return true;
  return kind !== 'amd-vi';
}
