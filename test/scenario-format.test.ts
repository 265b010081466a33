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

  it('every op has a summary and typed fields', () => {
    expect(OPS.length).toBeGreaterThanOrEqual(15);
    for (const o of OPS) expect(o.summary.length, o.name).toBeGreaterThan(10);
  });

  const bad: readonly [string, (d: typeof DOC) => unknown, string, RegExp][] = [
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
