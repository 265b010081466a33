import type { PciDevSpec, PciResetMethod, Topology } from '../../protocol/topology.ts';

/**
 * The static PCI hierarchy the pci actor works on, and the iommu group
 * partition it implies. Pure functions of the topology: no kernel context,
 * no state, so they are tested directly.
 */
export interface PciTopology {
  /** Every PCI device in topology order. */
  readonly order: readonly string[];
  readonly spec: ReadonlyMap<string, PciDevSpec>;
  /** Each device's position in topology order. */
  readonly index: ReadonlyMap<string, number>;
  /** The devices directly below each bridge (its secondary bus), in topology order. */
  readonly children: ReadonlyMap<string, readonly string[]>;
}

/** A BDF split into its parts: "0000:00:1c.4" → segment 0000, bus 00, device 1c, function 4. */
export interface Bdf {
  readonly segment: string;
  readonly bus: string;
  readonly device: string;
  readonly fn: string;
}

export function parseBdf(bdf: string): Bdf {
  const m = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(bdf);
  if (m === null) throw new Error(`pci: "${bdf}" is not a BDF (dddd:bb:dd.f)`);
  return { segment: m[1] as string, bus: m[2] as string, device: m[3] as string, fn: m[4] as string };
}

/** The bus and device number without the function: functions that share it are one physical device (PCI_SLOT(devfn)). */
export function slotKey(bdf: string): string {
  const b = parseBdf(bdf);
  return `${b.segment}:${b.bus}:${b.device}`;
}

/** Indexes the PCI part of a topology. Throws on a duplicate BDF or a parent that is not a bridge of the topology. */
export function pciTopology(t: Topology): PciTopology {
  const spec = new Map<string, PciDevSpec>();
  const index = new Map<string, number>();
  const children = new Map<string, string[]>();
  t.pci.forEach((d, i) => {
    parseBdf(d.bdf);
    if (spec.has(d.bdf)) throw new Error(`pci: ${d.bdf} appears twice in the topology`);
    spec.set(d.bdf, d);
    index.set(d.bdf, i);
    children.set(d.bdf, []);
  });
  for (const d of t.pci) {
    if (d.parent === undefined) continue;
    const p = spec.get(d.parent);
    if (p === undefined) throw new Error(`pci: ${d.bdf}'s parent ${d.parent} is not in the topology`);
    if (p.bridge !== true) throw new Error(`pci: ${d.bdf}'s parent ${d.parent} is not a bridge`);
    (children.get(d.parent) as string[]).push(d.bdf);
  }
  // a parent cycle would make every walk below loop
  for (const d of t.pci) {
    const seen = new Set<string>();
    for (let cur: string | undefined = d.bdf; cur !== undefined; cur = spec.get(cur)?.parent) {
      if (seen.has(cur)) throw new Error(`pci: the parent chain of ${d.bdf} loops`);
      seen.add(cur);
    }
  }
  return { order: t.pci.map((d) => d.bdf), spec, index, children };
}

export function specOf(pt: PciTopology, bdf: string): PciDevSpec | undefined {
  return pt.spec.get(bdf);
}

/** pci_upstream_bridge(): the bridge above the device, or null on a root bus. */
export function upstreamBridge(pt: PciTopology, bdf: string): string | null {
  return pt.spec.get(bdf)?.parent ?? null;
}

/** The bridges above `bdf`, nearest first. */
export function ancestors(pt: PciTopology, bdf: string): string[] {
  const out: string[] = [];
  for (let p = upstreamBridge(pt, bdf); p !== null; p = upstreamBridge(pt, p)) out.push(p);
  return out;
}

/** `bdf` and everything below it, in pre-order (a device before its children, children in topology order). */
export function subtree(pt: PciTopology, bdf: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    out.push(d);
    for (const c of pt.children.get(d) ?? []) walk(c);
  };
  walk(bdf);
  return out;
}

/**
 * drivers/pci/remove.c pci_stop_bus_device(): a bridge's secondary bus is
 * stopped first, its devices in reverse order ("remove the VFs first, then
 * the PF"), then the device itself.
 */
export function stopOrder(pt: PciTopology, bdf: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const c of [...(pt.children.get(d) ?? [])].reverse()) walk(c);
    out.push(d);
  };
  walk(bdf);
  return out;
}

/** drivers/pci/remove.c pci_remove_bus_device(): children first (in list order), then the device. */
export function removeOrder(pt: PciTopology, bdf: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const c of pt.children.get(d) ?? []) walk(c);
    out.push(d);
  };
  walk(bdf);
  return out;
}

/**
 * The devices present after boot enumeration: not `hotplug` and not below a
 * hotplug device (a bridge that is not there has no bus to scan), parents
 * before children, otherwise in topology order.
 */
export function bootDevices(pt: PciTopology): string[] {
  // a VF is added by its PF's sriov_enable() only (drivers/pci/iov.c pci_iov_add_virtfn)
  const absent = (d: string): boolean => isVirtfn(pt, d) || [d, ...ancestors(pt, d)].some((x) => pt.spec.get(x)?.hotplug === true);
  return parentsFirst(pt, pt.order.filter((d) => !absent(d)));
}

/** Orders a set of devices so that a device comes after its ancestors in the set; otherwise topology order. */
export function parentsFirst(pt: PciTopology, devs: readonly string[]): string[] {
  const want = new Set(devs);
  const out: string[] = [];
  const done = new Set<string>();
  const visit = (d: string): void => {
    if (done.has(d)) return;
    const p = upstreamBridge(pt, d);
    if (p !== null && want.has(p)) visit(p);
    done.add(d);
    out.push(d);
  };
  for (const d of pt.order) if (want.has(d)) visit(d);
  return out;
}

/** pdev->is_virtfn: a VF (derived from its PF's SR-IOV capability, protocol/topology.ts withVirtfns). */
export function isVirtfn(pt: PciTopology, bdf: string): boolean {
  return pt.spec.get(bdf)?.physfn !== undefined;
}

/**
 * pdev->multifunction: another function of the same bus:device exists. A VF
 * never is one (pci_iov_add_virtfn: virtfn->multifunction = 0), and VFs are
 * not functions of another device's slot.
 */
export function isMultifunction(pt: PciTopology, bdf: string): boolean {
  if (isVirtfn(pt, bdf)) return false;
  const key = slotKey(bdf);
  return pt.order.some((d) => d !== bdf && !isVirtfn(pt, d) && slotKey(d) === key);
}

/** The devices on the same bus as `bdf` (same upstream bridge, or both on the root bus of the same segment:bus), excluding it. */
export function busPeers(pt: PciTopology, bdf: string): string[] {
  const p = upstreamBridge(pt, bdf);
  if (p !== null) return (pt.children.get(p) ?? []).filter((d) => d !== bdf);
  const b = parseBdf(bdf);
  return pt.order.filter((d) => d !== bdf && upstreamBridge(pt, d) === null && parseBdf(d).bus === b.bus && parseBdf(d).segment === b.segment);
}

/** dev->reset_methods[]: the topology's list, default ["flr"]. */
export function resetMethods(pt: PciTopology, bdf: string): readonly PciResetMethod[] {
  return pt.spec.get(bdf)?.reset_methods ?? ['flr'];
}

/**
 * drivers/pci/pci.c pci_acs_path_enabled(start, NULL, REQ_ACS_FLAGS): ACS is
 * enabled on `start` and on every bridge above it up to the root bus.
 */
export function acsPathEnabled(pt: PciTopology, start: string): boolean {
  return [start, ...ancestors(pt, start)].every((d) => pt.spec.get(d)?.acs === true);
}

// ---- pciehp slots ------------------------------------------------------------------------------

/** The devices that sit in slot `slot` (the slot controller's secondary bus), in topology order. */
export function slotDevices(pt: PciTopology, slot: string): string[] {
  return pt.order.filter((d) => pt.spec.get(d)?.slot === slot);
}

/**
 * The devices on the slot's bus (`parent->devices` in
 * pciehp_unconfigure_device): slot members whose bridge is not itself in the
 * slot. Each is removed together with what is below it.
 */
export function slotBusDevices(pt: PciTopology, slot: string): string[] {
  return slotDevices(pt, slot).filter((d) => {
    const p = upstreamBridge(pt, d);
    return p === null || pt.spec.get(p)?.slot !== slot;
  });
}

/** The hotplug port that controls a slot: the bridge above its devices (null if none, or the slot is unknown). */
export function slotPort(pt: PciTopology, slot: string): string | null {
  const first = slotBusDevices(pt, slot)[0];
  return first === undefined ? null : upstreamBridge(pt, first);
}

/** A bridge with a pciehp slot below it (dev->is_hotplug_bridge). */
function isHotplugBridge(pt: PciTopology, bdf: string): boolean {
  return (pt.children.get(bdf) ?? []).some((c) => pt.spec.get(c)?.slot !== undefined);
}

/**
 * ctrl->depth (drivers/pci/hotplug/pciehp_hpc.c pcie_hotplug_depth): the
 * number of hotplug bridges above the slot's port. It is the lockdep
 * subclass of the controller's reset_lock, so nested slots' reset_locks are
 * distinct classes.
 */
export function slotDepth(pt: PciTopology, slot: string): number {
  const port = slotPort(pt, slot);
  if (port === null) return 0;
  return ancestors(pt, port).filter((a) => isHotplugBridge(pt, a)).length;
}

// ---- iommu groups (drivers/iommu/iommu.c pci_device_group) -----------------------------------------

/**
 * The partition of PCI devices into iommu groups that pci_device_group()
 * builds one device at a time, computed at once with a union-find over the
 * static topology:
 *
 * 1. DMA aliases share a group, in both directions (pci_for_each_dma_alias /
 *    get_pci_alias_group: "we alias them or they alias us").
 * 2. Walking upstream from the device, every bridge whose path to the root is
 *    not fully ACS-isolated (pci_acs_path_enabled fails) becomes the point the
 *    device is grouped at; the walk stops at the first bridge that is
 *    isolated all the way up. So the whole subtree below the topmost
 *    non-isolated bridge, the bridge included, is one group. (A device on a
 *    root bus has no upstream walk.)
 * 3. Functions of one multi-function device share when neither has ACS
 *    (get_pci_function_alias_group).
 *
 * Devices join groups in topology order; each group lists its members in
 * topology order. Every device is in the partition, with or without an IOMMU
 * unit: iommu-core only ever asks about devices it probes.
 */
export function pciGroupPartition(pt: PciTopology): ReadonlyMap<string, readonly string[]> {
  const parent = new Map<string, string>(pt.order.map((d) => [d, d]));
  const find = (d: string): string => {
    let r = d;
    while (parent.get(r) !== r) r = parent.get(r) as string;
    // path compression
    for (let c = d; c !== r; ) {
      const next = parent.get(c) as string;
      parent.set(c, r);
      c = next;
    }
    return r;
  };
  const union = (a: string, b: string): void => {
    if (!parent.has(a) || !parent.has(b)) return;
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) return;
    // the representative is the earlier device in topology order: deterministic
    if ((pt.index.get(ra) as number) < (pt.index.get(rb) as number)) parent.set(rb, ra);
    else parent.set(ra, rb);
  };

  // the functions of each multi-function device without ACS, by slot: one pass, not a scan of every device per device
  const noAcsBySlot = new Map<string, string[]>();
  for (const d of pt.order) {
    if (pt.spec.get(d)?.acs === true || pt.spec.get(d)?.physfn !== undefined) continue;
    const key = slotKey(d);
    const fns = noAcsBySlot.get(key);
    if (fns === undefined) noAcsBySlot.set(key, [d]);
    else fns.push(d);
  }

  for (const d of pt.order) {
    const s = pt.spec.get(d) as PciDevSpec;
    // 1. DMA aliases
    if (s.alias !== undefined) union(d, s.alias);
    // 2. upstream to the point where peer-to-peer is isolated by ACS
    let point = d;
    for (const bridge of ancestors(pt, d)) {
      if (acsPathEnabled(pt, bridge)) break;
      point = bridge;
    }
    union(d, point);
    // 3. non-isolated functions of a multi-function device (a VF is never multi-function: it is grouped by
    // its aliases and the ACS path above it only, so VFs below an ACS-isolated path get their own groups)
    if (s.acs !== true && s.physfn === undefined) for (const f of noAcsBySlot.get(slotKey(d)) ?? []) if (f !== d) union(d, f);
  }

  const members = new Map<string, string[]>();
  for (const d of pt.order) {
    const r = find(d);
    const m = members.get(r);
    if (m === undefined) members.set(r, [d]);
    else m.push(d);
  }
  const out = new Map<string, readonly string[]>();
  for (const d of pt.order) out.set(d, members.get(find(d)) as string[]);
  return out;
}
