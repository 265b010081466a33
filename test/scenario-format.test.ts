import { describe, expect, it } from 'vitest';
import { explore } from '../runtime/explore.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { InputError } from '../runtime/input-error.ts';
import { PctStrategy } from '../runtime/strategies/pct.ts';
import { scenarioFromDocument } from '../scenarios/format/document.ts';
import { OPS } from '../scenarios/format/ops.ts';

/**
 * Scenario documents: a valid document compiles to kernel programs that
 * behave as its expectations say; every kind of mistake is an InputError
 * naming the file and the path of the bad field.
 */

const DOC = {
  name: 'doc-domain-alloc',
  title: 'iommu_domain_alloc(bus) while a root port is hot-removed',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [
      { id: '0000:00:1c.0', bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
      { id: '0000:01:00.0', parent: '0000:00:1c.0', unit: 'vtd0', driver: 'nic' },
    ],
    drivers: [{ name: 'pcieport', bus: 'pci' }, { name: 'nic', bus: 'pci' }],
  },
  variants: { 'domain-alloc': ['v4-escaping-dev', 'ops-only'] },
  tasks: [
    { name: 'alloc', ops: [{ op: 'iommu.domain_alloc', bus: 'pci' }] },
    { name: 'remove', ops: [{ op: 'pci.hot_remove', dev: '0000:00:1c.0' }] },
  ],
  expect: [
    { when: { 'domain-alloc': 'v4-escaping-dev' }, findings: ['use-after-free'] },
    { when: { 'domain-alloc': 'ops-only' }, findings: [] },
  ],
};

async function kindsOf(variant: string, schedules: number): Promise<Set<string>> {
  const s = scenarioFromDocument(DOC, 'doc.json');
  const program = s.program({ 'domain-alloc': variant });
  const host = await InlineHost.create(program);
  const kinds = new Set<string>();
  try {
    await explore(host, program, new PctStrategy(1, 3), {
      seed: 1, schedules, checkers: s.checkers!,
      onExecution: (r) => r.findings.forEach((f) => kinds.add(f.kind)),
      until: () => kinds.has('use-after-free'),
    });
  } finally {
    await host.close();
  }
  return kinds;
}

describe('scenario documents', () => {
  it('a valid document compiles to kernel programs that meet its expectations', async () => {
    expect([...(await kindsOf('v4-escaping-dev', 400))]).toContain('use-after-free');
    expect([...(await kindsOf('ops-only', 60))]).toEqual([]);
  });

  it('a process compiles to the ProcessSpec the kernel program runs, and its sysfs writes to task calls', () => {
    const s = scenarioFromDocument({
      ...DOC,
      processes: [{
        name: 'qemu', onRequest: 'ignore', ops: [
          { op: 'vfio.group.open', dev: '0000:01:00.0', as: 'group' },
          { op: 'vfio.container.open', as: 'container' },
          { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'container' },
          { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_GET_DEVICE_FD', dev: '0000:01:00.0', as: 'device' },
          { op: 'vfio.dma', fd: 'device', iova: 4096, pasid: 1 },
          { op: 'driver.unbind', dev: '0000:01:00.0', driver: 'nic' },
          { op: 'proc.exit' },
        ],
      }],
    }, 'doc.json');
    const p = s.program({ 'domain-alloc': 'ops-only' });
    expect(p.actors.map((a) => a.id)).toEqual(expect.arrayContaining(['vfio', 'proc:qemu']));
    const main = p.tasks.find((t) => t.id === 'proc:qemu');
    expect(main?.body).toEqual({
      onRequest: 'ignore',
      ops: [
        { do: 'open', path: { kind: 'group', dev: '0000:01:00.0' }, as: 'group' },
        { do: 'open', path: { kind: 'container' }, as: 'container' },
        { do: 'ioctl', fd: 'group', ioctl: { cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'container' } },
        { do: 'ioctl', fd: 'group', ioctl: { cmd: 'VFIO_GROUP_GET_DEVICE_FD', dev: '0000:01:00.0' }, as: 'device' },
        { do: 'dma', fd: 'device', iova: 4096, pasid: 1 },
        // driver.unbind is a write of the device name to the driver's unbind file, through kernfs
        { do: 'sysfs', call: { to: 'driver-core', op: 'kernfs_fop_write_iter', body: { path: '/sys/bus/pci/drivers/nic/unbind', value: '0000:01:00.0' } } },
        { do: 'exit' },
      ],
    });
  });

  it('the unit axis replaces the kind and version of the only unit; the model axes pass through', () => {
    const s = scenarioFromDocument({ ...DOC, variants: { ...DOC.variants, unit: ['smmu-v3@5.10', 'mock'] } }, 'doc.json');
    const unitOf = (v: Record<string, string>) => s.program(v).actors.find((a) => a.id === 'unit:vtd0')?.config as { topology: { units: unknown[] }; variants: Record<string, string> };
    const c = unitOf({ 'domain-alloc': 'ops-only', unit: 'smmu-v3@5.10' });
    expect(c.topology.units).toEqual([{ name: 'vtd0', kind: 'smmu-v3', version: '5.10' }]);
    expect(c.variants['domain-alloc']).toBe('ops-only');
    expect(c.variants).not.toHaveProperty('unit');
    expect(unitOf({ 'domain-alloc': 'ops-only', unit: 'mock' }).topology.units).toEqual([{ name: 'vtd0', kind: 'mock' }]);
  });

  it('every op has a summary and typed fields', () => {
    expect(OPS.length).toBeGreaterThanOrEqual(15);
    for (const o of OPS) expect(o.summary.length, o.name).toBeGreaterThan(10);
  });

  const bad: [string, (d: typeof DOC) => unknown, string, RegExp][] = [
    ['not an object', () => [], '(document)', /expected an object/],
    ['missing name', (d) => ({ ...d, name: undefined }), 'name', /non-empty string/],
    ['misspelt top-level key', (d) => ({ ...d, taks: [] }), 'taks', /unknown key "taks"/],
    ['unknown unit kind', (d) => ({ ...d, topology: { ...d.topology, units: [{ name: 'x', kind: 'intel' }] } }), 'topology.units[0].kind', /unknown unit kind "intel"/],
    ['unknown unit version', (d) => ({ ...d, topology: { ...d.topology, units: [{ name: 'vtd0', kind: 'vtd', version: '2.6' }] } }), 'topology.units[0].version', /no hardware profile "vtd@2.6"/],
    ['device on an unknown unit', (d) => ({ ...d, topology: { ...d.topology, pci: [{ id: 'a', unit: 'nope' }] } }), 'topology.pci[0].unit', /unknown unit "nope"/],
    ['child before its parent', (d) => ({ ...d, topology: { ...d.topology, pci: [...d.topology.pci].reverse() } }), 'topology.pci[0].parent', /unknown parent/],
    ['unknown driver on a device', (d) => ({ ...d, topology: { ...d.topology, pci: [{ id: 'a', driver: 'e1000' }] } }), 'topology.pci[0].driver', /unknown driver "e1000"/],
    ['unknown variant axis', (d) => ({ ...d, variants: { 'domain-alloc': ['ops-only'], colour: ['red'] } }), 'variants.colour', /unknown variant axis/],
    ['unknown variant value', (d) => ({ ...d, variants: { 'domain-alloc': ['ops-only', 'v5'] } }), 'variants.domain-alloc[1]', /unknown value "v5"/],
    ['unknown op', (d) => ({ ...d, tasks: [{ name: 't', ops: [{ op: 'pci.explode', dev: '0000:01:00.0' }] }] }), 'tasks[0].ops[0].op', /unknown op "pci.explode"/],
    ['unknown device in an op', (d) => ({ ...d, tasks: [{ name: 't', ops: [{ op: 'pci.hot_remove', dev: '0000:09:00.0' }] }] }), 'tasks[0].ops[0].dev', /unknown device/],
    ['missing op field', (d) => ({ ...d, tasks: [{ name: 't', ops: [{ op: 'driver.bind', dev: '0000:01:00.0' }] }] }), 'tasks[0].ops[0].driver', /needs "driver"/],
    ['extra op field', (d) => ({ ...d, tasks: [{ name: 't', ops: [{ op: 'pci.hot_remove', dev: '0000:01:00.0', force: true }] }] }), 'tasks[0].ops[0].force', /unknown key "force"/],
    ['task named boot', (d) => ({ ...d, tasks: [{ name: 'boot', ops: [] }] }), 'tasks[0].name', /reserved/],
    ['expectation on an axis the scenario lacks', (d) => ({ ...d, expect: [{ when: { 'reset-nesting': 'warn-ebusy' }, findings: [] }] }), 'expect[0].when.reset-nesting', /not an axis/],
    ['unknown finding kind', (d) => ({ ...d, expect: [{ when: {}, findings: ['oops'] }] }), 'expect[0].findings[0]', /unknown finding kind "oops"/],
  ];
  // processes: VFIO users (docs/scenarios.md "Userspace processes")
  const proc = (ops: readonly unknown[], extra: Record<string, unknown> = {}) => (d: typeof DOC) => ({ ...d, processes: [{ name: 'qemu', ops, ...extra }] });
  const OPEN = { op: 'vfio.group.open', dev: '0000:01:00.0', as: 'group' };
  bad.push(
    ['processes not an array', (d) => ({ ...d, processes: { name: 'qemu' } }), 'processes', /expected an array/],
    ['process without a name', (d) => ({ ...d, processes: [{ ops: [] }] }), 'processes[0].name', /non-empty string/],
    ['misspelt process key', proc([], { stays: true }), 'processes[0].stays', /unknown key "stays"/],
    ['process name used twice', (d) => ({ ...d, processes: [{ name: 'qemu', ops: [] }, { name: 'qemu', ops: [] }] }), 'processes[1].name', /used twice/],
    ['unknown onRequest policy', proc([], { onRequest: 'kill' }), 'processes[0].onRequest', /unknown value "kill" \(one of: close, ignore\)/],
    ['stay not a boolean', proc([], { stay: 'yes' }), 'processes[0].stay', /true or false/],
    ['unknown process op', proc([{ op: 'vfio.group.explode' }]), 'processes[0].ops[0].op', /unknown process op "vfio.group.explode"/],
    ['open of an unknown device', proc([{ ...OPEN, dev: '0000:09:00.0' }]), 'processes[0].ops[0].dev', /unknown device "0000:09:00.0"/],
    ['open without a name for the fd', proc([{ op: 'vfio.container.open' }]), 'processes[0].ops[0].as', /needs "as"/],
    ['an fd no earlier op opened', proc([OPEN, { op: 'ioctl', fd: 'container', cmd: 'VFIO_SET_IOMMU' }]), 'processes[0].ops[1].fd', /fd "container" is not opened by an earlier op of this process \(fds so far: group\)/],
    ['an fd used before it is opened', proc([{ op: 'fd.close', fd: 'group' }, OPEN]), 'processes[0].ops[0].fd', /not opened by an earlier op/],
    ['unknown ioctl', proc([OPEN, { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_EXPLODE' }]), 'processes[0].ops[1].cmd', /unknown ioctl "VFIO_GROUP_EXPLODE"/],
    ['ioctl missing its field', proc([OPEN, { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_SET_CONTAINER' }]), 'processes[0].ops[1].container', /ioctl VFIO_GROUP_SET_CONTAINER needs "container"/],
    ['ioctl with another ioctl\'s field', proc([OPEN, { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_GET_STATUS', iova: 4096 }]), 'processes[0].ops[1].iova', /unknown key "iova"/],
    ['ioctl field of the wrong type', proc([OPEN, { op: 'ioctl', fd: 'group', cmd: 'VFIO_IOMMU_MAP_DMA', iova: '0x1000', vaddr: 1 }]), 'processes[0].ops[1].iova', /expected a number/],
    ['unknown VFIO_SET_IOMMU type', proc([OPEN, { op: 'ioctl', fd: 'group', cmd: 'VFIO_SET_IOMMU', type: 'VFIO_TYPE3' }]), 'processes[0].ops[1].type', /unknown value "VFIO_TYPE3"/],
    ['a sysfs write with an unknown driver', proc([{ op: 'driver.bind', dev: '0000:01:00.0', driver: 'e1000' }]), 'processes[0].ops[0].driver', /unknown driver "e1000"/],
    ['vfio.dma without an iova', proc([OPEN, { op: 'vfio.dma', fd: 'group' }]), 'processes[0].ops[1].iova', /needs "iova"/],
    ['process whose task collides with a task', (d) => ({ ...d, tasks: [...d.tasks, { name: 'proc:qemu', ops: [] }], processes: [{ name: 'qemu', ops: [] }] }), 'processes[0].name', /which a task already is/],
    // checkers and the unit axis
    ['unknown invariant to skip', (d) => ({ ...d, checkers: { skip_invariants: ['owner-count'] } }), 'checkers.skip_invariants[0]', /unknown invariant "owner-count"/],
    ['unknown checkers key', (d) => ({ ...d, checkers: { lockdep: false } }), 'checkers.lockdep', /unknown key "lockdep"/],
    ['unknown unit profile', (d) => ({ ...d, variants: { unit: ['vtd@7.0', 'vtd@9.9'] } }), 'variants.unit[1]', /unknown value "vtd@9.9"/],
    ['unit axis with two units', (d) => ({ ...d, topology: { ...d.topology, units: [{ name: 'vtd0', kind: 'vtd' }, { name: 'vtd1', kind: 'vtd' }] }, variants: { unit: ['vtd@7.0'] } }), 'variants.unit', /only unit; this topology has 2/],
  );
  for (const [name, edit, where, message] of bad) {
    it(`rejects: ${name} (${where})`, () => {
      let err: unknown;
      try {
        scenarioFromDocument(edit(DOC), 'bad.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).file).toBe('bad.json');
      expect((err as InputError).where).toBe(where);
      expect((err as InputError).message).toMatch(message);
    });
  }
});
