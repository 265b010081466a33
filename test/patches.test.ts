import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';

/**
 * Patches: a scenario module brings its own handlers, written against `k`,
 * and its variant axis selects upstream or patched code — in the inline
 * host and in worker threads, which load the handlers from the module.
 */

const EXAMPLE = path.resolve('scenarios/examples/patch-get-domain.ts');

interface Row { readonly variants: Record<string, string>; readonly matched: boolean; readonly findings: readonly { readonly kind: string }[] }

describe('scenario patches', () => {
  for (const host of ['inline', 'workers'] as const) {
    it(`the patched handler runs and the upstream one does not (${host})`, async () => {
      const r = await cli('compare', EXAMPLE, '--schedules', host === 'inline' ? '40' : '4', '--host', host, '--json', '--out', mkdtempSync(path.join(tmpdir(), 'patch-')));
      expect(r.code).toBe(0);
      const rows = (r.json as { rows: Row[] }).rows;
      const kinds = (value: string): string[] => [...new Set(rows.find((x) => x.variants['get-domain'] === value)?.findings.map((f) => f.kind))];
      expect(kinds('plain-read')).toEqual(['unguarded-access']);
      expect(kinds('upstream')).toEqual([]);
    });
  }

  // A copy of the example with one thing broken; each must be exit 2 naming the place.
  const broken: readonly [string, (src: string) => string, string][] = [
    ['patches is not an array', (s) => s.replace('export const patches: Patch[] = [', 'export const patches = { x: [').replace(/\];\s*$/, ']};\n'), 'patches'],
    ['a patch names no actor of the scenario', (s) => s.replace("actor: 'iommu-core'", "actor: 'iommu-cor'"), 'patches[0].actor'],
    ['a handler is not a function', (s) => s.replace(/async iommu_get_domain_for_dev\([^]*?\n      \},\n/, 'iommu_get_domain_for_dev: 42,\n'), 'patches[0].handlers.iommu_get_domain_for_dev'],
    ['when names a value the axis does not have', (s) => s.replace("    when: { 'get-domain': 'plain-read' },\n", "    when: { 'get-domain': 'plain' },\n"), 'patches[0].when.get-domain'],
    ['an axis no patch selects', (s) => s.replace("variants: { 'get-domain'", "variants: { 'get-domian'"), 'variants.get-domian'],
  ];
  for (const [name, edit, where] of broken) {
    it(`rejects: ${name}`, async () => {
      const src = readFileSync(EXAMPLE, 'utf8').replaceAll("'../../", `'${path.resolve('.')}/`);
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'patch-bad-')), 'bad.ts');
      writeFileSync(file, edit(src));
      const r = await cli('run', file, '--schedules', '1', '--json');
      expect(r.code).toBe(2);
      expect(r.err).toContain(`${file}: ${where}:`);
    });
  }
});
