import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { preloadOrder } from '../../checkers/lockdep/preload.ts';
import { CANONICAL_ORDER } from '../../protocol/lock-classes.ts';
import { jsonSchemaOf } from '../../cli/commands/schema.ts';

const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'iommu-lab-rules-'));
const FIXTURE = new URL('../fixtures/rules-pciehp.json', import.meta.url).pathname;

interface Row { readonly variants: Record<string, string>; readonly matched: boolean; readonly findings: readonly { readonly kind: string; readonly signature: string }[]; readonly rules?: readonly string[] }

/** Issue 14 item 5 (lockdep's preloaded order as data) and issue 15 item 1b (two identical IST chains). */
describe('kernel rules as data: the preloaded order', () => {
  it('dropping a preloaded edge removes the inversion through it; turning the preload off leaves two identical IST chains clean', async () => {
    const r = await cli('compare', FIXTURE, '--schedules', '12', '--out', tmp(), '--json');
    expect(r.code).toBe(0);
    const rows = (r.json as { rows: Row[] }).rows;
    const by = (v: string): Row => rows.find((x) => x.variants.order === v) as Row;
    // the kernel order: reset_lock → pci_rescan_remove_lock → device_lock → reset_lock (edge 5, pciehp_reset_slot), three parties
    expect(by('kernel').findings.map((f) => f.signature)).toEqual(['lock-order-inversion|ctrl->reset_lock,device_lock,pci_rescan_remove_lock|kernel,pci.pciehp_disable_slot']);
    expect(by('kernel').rules).toBeUndefined();
    // without edge 5 nothing goes through device_lock → reset_lock, and the IST's own two-lock cycle is dropped (single-threaded)
    expect(by('no-reset-slot-edge').findings).toEqual([]);
    expect(by('no-reset-slot-edge').rules).toEqual(['lockdep order drops device_lock → ctrl->reset_lock — because a patch that stops pciehp_reset_slot() taking reset_lock under device_lock']);
    // two removals of one slot, both as that controller's IRQ thread: identical chains, no inversion
    expect(by('no-preload').findings).toEqual([]);
  });

  it('the run header prints the rule change and its reason', async () => {
    const r = await cli('run', FIXTURE, '--variant', 'order=no-preload', '--schedules', '2', '--out', tmp());
    expect(r.out).toContain('rules: lockdep preloads no kernel order — because only what runs, as the kernel\'s lockdep sees it\n');
  });

  it('drop, replace and add compose over CANONICAL_ORDER', () => {
    const edge = { outer: 'device_lock', inner: 'group->mutex' } as const;
    expect(preloadOrder([{ drop: [edge] }]).length).toBe(CANONICAL_ORDER.length - 1);
    const by = { outer: 'group->mutex', inner: 'device_lock', via: 'x.c: f' } as const;
    const replaced = preloadOrder([{ replace: [{ edge, by }] }]);
    expect(replaced.length).toBe(CANONICAL_ORDER.length);
    expect(replaced).toContain(by);
    expect(preloadOrder([{ preload: false, add: [by] }])).toEqual([by]);
  });

  it.each([
    ['an edge the kernel order does not have', { lockdep: { drop: [{ outer: 'group->mutex', inner: 'device_lock' }] } }, 'rules[0].lockdep.drop[0]', /has no edge group->mutex → device_lock/],
    ['an unknown lock class', { lockdep: { add: [{ outer: 'device_lock', inner: 'nope', via: 'x.c: f' }] } }, 'rules[0].lockdep.add[0].inner', /unknown lock class "nope"/],
    ['an unknown invariant', { invariants: { 'owner-count': 'off' } }, 'rules[0].invariants.owner-count', /unknown key "owner-count" \(expected one of: empty-group.*did you mean "owner-cnt"/],
    ['a replaced invariant without a judge function (JSON)', { invariants: { 'reset-transition': { name: 'x', rule: 'y', judge: 'f' } } }, 'rules[0].invariants.reset-transition.judge', /expected "off" or a function/],
    ['no reason', { reason: '  ', lockdep: { preload: false } }, 'rules[0].reason', /say why/],
  ])('bad input: %s is exit 2 naming the place', async (_what, rule, where, msg) => {
    const doc = { name: 'bad-rules', topology: { units: [{ name: 'vtd0', kind: 'vtd' }], pci: [{ id: '0000:00:02.0', unit: 'vtd0' }] }, tasks: [], rules: [{ reason: 'because', ...rule }] };
    const file = path.join(tmp(), 'bad.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = await cli('run', file, '--schedules', '1', '--out', tmp());
    expect(r.code).toBe(2);
    expect(r.err).toContain(where);
    expect(r.err).toMatch(msg);
  });
});

/** Issue 14 item 5: the zod schema describes `rules` entries, so `iommu-lab schema scenario` covers them. */
describe('kernel rules in the scenario JSON Schema', () => {
  it('describes each rule entry: when, reason, lockdep edges with lock-class enums, invariants by id', () => {
    const js = jsonSchemaOf('scenario') as { properties: { rules: { items: { $ref: string } } }; $defs: Record<string, Record<string, unknown>> };
    const deref = (x: unknown): Record<string, unknown> => {
      const r = (x as { $ref?: string }).$ref;
      return r === undefined ? x as Record<string, unknown> : (js.$defs[r.replace('#/$defs/', '')] as Record<string, unknown>);
    };
    const rule = deref(js.properties.rules.items) as { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
    expect(Object.keys(rule.properties).sort()).toEqual(['invariants', 'lockdep', 'reason', 'when']);
    expect(rule.required).toEqual(['reason']);
    expect(rule.additionalProperties).toBe(false);
    const lockdep = deref(rule.properties['lockdep']) as { properties: Record<string, { items: unknown }> };
    expect(Object.keys(lockdep.properties).sort()).toEqual(['add', 'drop', 'preload', 'replace']);
    const edge = deref(lockdep.properties['drop']!.items) as { properties: { outer: unknown }; required: string[] };
    expect(edge.required.sort()).toEqual(['inner', 'outer']);
    expect((deref(edge.properties.outer) as { enum: string[] }).enum).toContain('device_lock');
    const added = deref(lockdep.properties['add']!.items) as { required: string[] };
    expect(added.required.sort()).toEqual(['inner', 'outer', 'via']);
    const inv = deref(rule.properties['invariants']) as { properties: Record<string, unknown>; additionalProperties: boolean };
    expect(Object.keys(inv.properties)).toContain('reset-transition');
    expect(inv.additionalProperties).toBe(false);
  });
});
