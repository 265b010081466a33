import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';
import { golden } from './helpers/golden.ts';

/**
 * Patches by kernel function (runtime/kfunc.ts, runtime/patch.ts): B10's
 * pre-fix close path (a blocking reset in vfio_pci_core_close_device)
 * written as a patch of that one function deadlocks against a sysfs unbind;
 * upstream does not. Bad patches are exit 2 naming the place; a patch whose
 * function no schedule reaches is reported.
 */

const EXAMPLE = path.resolve('scenarios/examples/patch-close-reset.ts');

interface RunJson {
  readonly matched: boolean;
  readonly findings: readonly { readonly kind: string; readonly replay: string; readonly report: string; readonly signature: string }[];
  readonly unusedPatches?: readonly { readonly patch: string; readonly actor: string; readonly function: string }[];
}

const out = (): string => mkdtempSync(path.join(tmpdir(), 'patch-fn-'));

/** A copy of the example with `edit` applied, in a directory of its own. */
function variantOf(edit: (src: string) => string): string {
  const file = path.join(out(), 'patched.ts');
  writeFileSync(file, edit(readFileSync(EXAMPLE, 'utf8')));
  return file;
}

describe('patches by kernel function', () => {
  for (const host of ['inline', 'workers'] as const) {
    it(`a blocking reset in vfio_pci_core_close_device deadlocks against unbind; upstream is clean; the replay reproduces (${host})`, async () => {
      const schedules = host === 'inline' ? '6' : '1';
      const bad = await cli('run', EXAMPLE, '--variant', 'close-reset=blocking', '--schedules', schedules, '--host', host, '--json', '--out', out());
      expect(bad.code).toBe(0);
      const b = bad.json as RunJson;
      const dl = b.findings.find((f) => f.kind === 'deadlock');
      expect(dl).toBeDefined();
      // the close waits for device_lock inside the patched function, under the remover's wait for the close
      expect(dl?.report).toMatch(/pci_dev_lock\n\s*pci_reset_function\n\s*vfio_pci_core_close_device\n/);
      expect(dl?.report).toContain('vfio_unregister_group_dev');
      expect(b.unusedPatches).toEqual([]);

      const good = await cli('run', EXAMPLE, '--variant', 'close-reset=upstream', '--schedules', schedules, '--host', host, '--json', '--out', out());
      expect(good.code).toBe(0);
      expect((good.json as RunJson).findings).toEqual([]);

      const replay = await cli('replay', dl!.replay, '--host', host, '--json');
      expect(replay.code).toBe(0);
      expect((replay.json as { reproduced: boolean }).reproduced).toBe(true);
    }, 240_000);
  }

  it('golden: the deadlock report prints the chain of kernel functions, innermost first, and who took each lock', async () => {
    const r = await cli('run', EXAMPLE, '--variant', 'close-reset=blocking', '--schedules', '1', '--seed', '1', '--json', '--out', out());
    const dl = (r.json as RunJson).findings.find((f) => f.kind === 'deadlock');
    golden('deadlock-vfio-close-reset.txt', dl?.report ?? '');
  });

  it('a misspelled function name is exit 2 naming the place, with the closest declared names', async () => {
    const file = variantOf((s) => s.replace('async vfio_pci_core_close_device(', 'async vfio_pci_core_close_devic('));
    const r = await cli('run', file, '--schedules', '1', '--json');
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file}: patches[0].functions.vfio_pci_core_close_devic: no kernel function "vfio_pci_core_close_devic"`);
    expect(r.err).toContain('did you mean "vfio_pci_core_close_device"');
  });

  const broken: readonly [string, (s: string) => string, string, string][] = [
    ['a function of another actor', (s) => s.replace("actor: 'vfio',", "actor: 'pci',"), 'patches[0].functions.vfio_pci_core_close_device', 'runs in vfio, not in pci'],
    ['not a function', (s) => s.replace('functions: {', 'functions: { pci_reset_function: 1,').replace("actor: 'vfio',", "actor: 'pci',"), 'patches[0].functions.pci_reset_function', 'expected a function'],
    ['more parameters than the function and upstream', (s) => s.replace('vdev: vfio.VfioDevice): Promise<void> {', 'vdev: vfio.VfioDevice, up: unknown, extra: unknown): Promise<void> {\n        void up; void extra;'), 'patches[0].functions.vfio_pci_core_close_device', 'takes 4 parameters'],
    ['a handler of the wrong arity', (s) => s.replace('functions: {', 'handlers: { fput: (_k: unknown, _b: unknown, _c: unknown) => 0 },\n    functions: {'), 'patches[0].handlers.fput', 'takes (k, body)'],
  ];
  for (const [name, edit, where, what] of broken) {
    it(`rejects ${name}: exit 2 at ${where}`, async () => {
      const file = variantOf(edit);
      const r = await cli('run', file, '--schedules', '1', '--json');
      expect(r.code).toBe(2);
      expect(r.err).toContain(`${file}: ${where}: `);
      expect(r.err).toContain(what);
    });
  }

  it('a patched function no schedule reaches is reported in JSON and in the text', async () => {
    // VFIO_DEVICE_RESET is never issued in this scenario: its patch misses
    const file = variantOf((s) => s.replace('functions: {', 'functions: {\n      vfio_pci_ioctl_reset: (k: vfio.VK, vdev: vfio.VfioDevice, up: (k: vfio.VK, v: vfio.VfioDevice) => Promise<unknown>) => up(k, vdev),'));
    const j = await cli('run', file, '--variant', 'close-reset=blocking', '--schedules', '2', '--json', '--out', out());
    expect((j.json as RunJson).unusedPatches).toEqual([{ patch: 'blocking-reset', actor: 'vfio', function: 'vfio_pci_ioctl_reset' }]);
    const t = await cli('run', file, '--variant', 'close-reset=blocking', '--schedules', '2', '--out', out());
    expect(t.out).toContain('unused patch: blocking-reset replaces vfio_pci_ioctl_reset() in vfio, which no schedule reached');
    expect(t.out).not.toContain('replaces vfio_pci_core_close_device()');
  });
});

describe('iommu-lab functions', () => {
  it('lists every declared kernel function (at least 200), each with its kernel file, locks and calls', async () => {
    const r = await cli('functions', '--json');
    expect(r.code).toBe(0);
    const fns = (r.json as { functions: { name: string; actor: string; file: string; locks: string[]; calls: string[] }[] }).functions;
    expect(fns.length).toBeGreaterThanOrEqual(200);
    for (const f of fns) expect(f.file, f.name).toMatch(/^(drivers|include|fs|kernel|lib|mm|arch|virt)\/.+\.[ch]$/);
    expect(fns.find((f) => f.name === 'vfio_pci_core_close_device')).toMatchObject({
      actor: 'vfio', file: 'drivers/vfio/pci/vfio_pci_core.c', locks: ['vdev->igate'], calls: ['pci:pci_reset_function_locked', 'pci_dev_trylock', 'pci_dev_unlock', 'vfio_pci_dev_set_try_reset', 'vfio_pci_zdev_close_device'],
    });
    const vfioOnly = await cli('functions', '--actor', 'vfio', '--json');
    const vfioFns = (vfioOnly.json as { functions: { actor: string }[] }).functions;
    expect(vfioFns.length).toBeGreaterThan(0);
    expect(vfioFns.every((f) => f.actor === 'vfio')).toBe(true);
    expect((await cli('functions', '--actor', 'vfi')).code).toBe(2);
  });
});
