import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import type { CommandIo } from '../../cli/io.ts';
import type { ProcOp, ProcIoctl } from '../../protocol/vfio.ts';
import type { Topology } from '../../protocol/topology.ts';
import { IOCTLS, PROCESS_OPS } from '../../scenarios/format/process.ts';
import { close, getDeviceFd, ioctl, open, openCdev, openContainer, openGroup, procResults, runVfio, setContainer, setIommu } from './helpers.ts';
import type { VfioRun } from './helpers.ts';
import { documentProblem } from '../helpers/document.ts';
import { EP, TOPOLOGY, VFIO_PCI } from './topology.ts';

/**
 * KVM and its VFIO pseudo-device (actors/vfio/kvm.ts; virt/kvm/vfio.c,
 * drivers/vfio/group.c, vfio_main.c; bug B13): table cases, one execution
 * each, with every op's result (errnos by name), the state after (the VM's
 * users_count and devices, the KVM VFIO device's files, group->kvm,
 * device->kvm) and exactly the findings; then B13's pre-fix form found and
 * the fix clean, as a variant and as a patch.
 */

const ZDEV = '0000:00:05.0';
/** The VFIO machine plus an s390 zPCI function bound to vfio-pci (its open/close take kvm->lock). */
const KVM_TOPOLOGY: Topology = { ...TOPOLOGY, pci: [...TOPOLOGY.pci, { bdf: ZDEV, unit: 'vtd0', driver: 'vfio-pci', zpci: true }] };

const createVm = (as = 'vm'): ProcOp => open({ kind: 'kvm' }, as);
const createDevice = (type?: 'KVM_DEV_TYPE_VFIO' | 'KVM_DEV_TYPE_ARM_VGIC_V3', vm = 'vm', as = 'kvm-vfio'): ProcOp =>
  ioctl(vm, type === undefined ? { cmd: 'KVM_CREATE_DEVICE' } : { cmd: 'KVM_CREATE_DEVICE', type }, as);
const fileAdd = (file: string, dev = 'kvm-vfio'): ProcOp => ioctl(dev, { cmd: 'KVM_SET_DEVICE_ATTR', attr: 'KVM_DEV_VFIO_FILE_ADD', file });
const fileDel = (file: string, dev = 'kvm-vfio'): ProcOp => ioctl(dev, { cmd: 'KVM_SET_DEVICE_ATTR', attr: 'KVM_DEV_VFIO_FILE_DEL', file });
const vmWithDevice: ProcOp[] = [createVm(), createDevice()];
const groupPath = (dev: string): ProcOp[] => [openGroup(dev), openContainer(), setContainer(), setIommu()];

interface KvmView {
  readonly kvms: readonly { readonly id: string; readonly users_count: number; readonly devices: readonly string[] }[];
  readonly kvmVfios: readonly { readonly id: string; readonly kvm: string; readonly files: readonly string[] }[];
  readonly groups: readonly { readonly id: string; readonly kvm: string | null }[];
  readonly devices: readonly { readonly dev: string; readonly kvm: string | null; readonly open_count: number }[];
  readonly dfs: readonly { readonly id: string; readonly kvm: string | null }[];
  readonly files: readonly { readonly id: string; readonly kind: string; readonly f_count: number; readonly priv: string }[];
}

async function qemu(ops: readonly ProcOp[], opts: { readonly stay?: boolean; readonly variants?: Readonly<Record<string, string>>; readonly topology?: Topology } = {}): Promise<{ readonly run: VfioRun; readonly r: readonly unknown[]; readonly v: KvmView }> {
  const run = await runVfio({
    topology: opts.topology ?? KVM_TOPOLOGY, processes: [{ name: 'qemu', ops, stay: opts.stay ?? true }],
    ...(opts.variants !== undefined ? { variants: opts.variants } : {}),
  });
  return { run, r: procResults(run, 'qemu'), v: run.vfio as unknown as KvmView };
}

const vm = (v: KvmView) => v.kvms[0];
const groupKvm = (v: KvmView, dev: string, run: VfioRun): string | null => {
  const gid = run.vfio.devices.find((d) => d.dev === dev)?.id;
  const grp = run.vfio.groups.find((g) => g.device_list.includes(gid ?? ''));
  return v.groups.find((g) => g.id === grp?.id)?.kvm ?? null;
};
const isFile = (x: unknown): boolean => typeof x === 'string' && x.startsWith('file');
/**
 * The findings of a run whose process stays (a VM that never stops): what it
 * still holds at the end is reported as refcount-leak by the lifetime
 * checker, which these cases set aside; everything else must be absent. The
 * exit case below has no findings at all.
 */
const live = (run: VfioRun): string[] => run.result.findings.filter((f) => f.kind !== 'refcount-leak').map((f) => `${f.kind}: ${f.title}`);

describe('KVM VFIO device table (one execution each)', () => {
  it('KVM_CREATE_VM and KVM_CREATE_DEVICE(VFIO): a VM with two references (VM fd, device) and one KVM VFIO device', async () => {
    const { run, r, v } = await qemu(vmWithDevice);
    expect(r.every(isFile)).toBe(true);
    expect(vm(v)).toMatchObject({ users_count: 2 });
    expect(vm(v)?.devices).toHaveLength(1);
    expect(v.kvmVfios).toEqual([expect.objectContaining({ kvm: vm(v)?.id, files: [] })]);
    expect(live(run)).toEqual([]);
  });

  it('a second KVM VFIO device on the VM: -EBUSY (kvm_vfio_create: one per VM)', async () => {
    const { run, r, v } = await qemu([...vmWithDevice, createDevice(undefined, 'vm', 'second')]);
    expect(r[2]).toBe('EBUSY');
    expect(vm(v)).toMatchObject({ users_count: 2 });
    expect(live(run)).toEqual([]);
  });

  it('another device type: -ENODEV (no ops registered for it in the model)', async () => {
    const { run, r, v } = await qemu([createVm(), createDevice('KVM_DEV_TYPE_ARM_VGIC_V3')]);
    expect(r[1]).toBe('ENODEV');
    expect(vm(v)).toMatchObject({ users_count: 1, devices: [] });
    expect(live(run)).toEqual([]);
  });

  it('FILE_ADD of a group fd: group->kvm is the VM, the device holds a reference on the group file', async () => {
    const { run, r, v } = await qemu([...vmWithDevice, ...groupPath(EP), fileAdd('group')]);
    expect(r.slice(-1)).toEqual([0]);
    expect(groupKvm(v, EP, run)).toBe(vm(v)?.id);
    const kv = v.kvmVfios[0];
    expect(kv?.files).toHaveLength(1);
    expect(v.files.find((f) => f.id === kv?.files[0])).toMatchObject({ kind: 'vfio-group', f_count: 2 });
    expect(live(run)).toEqual([]);
  });

  it('FILE_ADD twice: -EEXIST', async () => {
    const { run, r } = await qemu([...vmWithDevice, ...groupPath(EP), fileAdd('group'), fileAdd('group')]);
    expect(r.slice(-2)).toEqual([0, 'EEXIST']);
    expect(live(run)).toEqual([]);
  });

  it('FILE_ADD of a container fd: -EINVAL (not a VFIO group or device file)', async () => {
    const { run, r, v } = await qemu([...vmWithDevice, openContainer(), fileAdd('container')]);
    expect(r.slice(-1)).toEqual(['EINVAL']);
    expect(v.kvmVfios[0]?.files).toEqual([]);
    expect(live(run)).toEqual([]);
  });

  it('FILE_ADD of a closed fd: -EBADF', async () => {
    const { run, r } = await qemu([...vmWithDevice, openGroup(EP), close('group'), fileAdd('group')]);
    expect(r.slice(-1)).toEqual(['EBADF']);
    expect(live(run)).toEqual([]);
  });

  it('FILE_DEL of a file never added: -ENOENT', async () => {
    const { run, r } = await qemu([...vmWithDevice, openGroup(EP), fileDel('group')]);
    expect(r.slice(-1)).toEqual(['ENOENT']);
    expect(live(run)).toEqual([]);
  });

  it('FILE_ADD then FILE_DEL: group->kvm cleared, the file reference dropped', async () => {
    const { run, r, v } = await qemu([...vmWithDevice, ...groupPath(EP), fileAdd('group'), fileDel('group')]);
    expect(r.slice(-2)).toEqual([0, 0]);
    expect(groupKvm(v, EP, run)).toBeNull();
    expect(v.kvmVfios[0]?.files).toEqual([]);
    expect(v.files.find((f) => f.kind === 'vfio-group')).toMatchObject({ f_count: 1 });
    expect(live(run)).toEqual([]);
  });

  it('the first device open takes a VM reference into device->kvm (vfio_device_get_kvm_safe); the last close drops it', async () => {
    const open1 = await qemu([...vmWithDevice, ...groupPath(EP), fileAdd('group'), getDeviceFd(EP)]);
    expect(isFile(open1.r.slice(-1)[0])).toBe(true);
    expect(open1.v.devices.find((d) => d.dev === EP)).toMatchObject({ kvm: vm(open1.v)?.id, open_count: 1 });
    expect(vm(open1.v)).toMatchObject({ users_count: 3 });
    expect(live(open1.run)).toEqual([]);
    const closed = await qemu([...vmWithDevice, ...groupPath(EP), fileAdd('group'), getDeviceFd(EP), close('device')]);
    expect(closed.v.devices.find((d) => d.dev === EP)).toMatchObject({ kvm: null, open_count: 0 });
    expect(vm(closed.v)).toMatchObject({ users_count: 2 });
    expect(live(closed.run)).toEqual([]);
  });

  it('a device opened before FILE_ADD has no VM (device->kvm is taken at first open only)', async () => {
    const { run, v } = await qemu([...vmWithDevice, ...groupPath(EP), getDeviceFd(EP), fileAdd('group')]);
    expect(v.devices.find((d) => d.dev === EP)).toMatchObject({ kvm: null });
    expect(vm(v)).toMatchObject({ users_count: 2 });
    expect(live(run)).toEqual([]);
  });

  it('a zPCI function registers the VM at open (kvm->lock, its own reference) and unregisters at close', async () => {
    const opened = await qemu([...vmWithDevice, ...groupPath(ZDEV), fileAdd('group'), getDeviceFd(ZDEV)]);
    expect(vm(opened.v)).toMatchObject({ users_count: 4 });
    const edges = opened.run.lockdep.dependencies().map((e) => `${e.from} -> ${e.to}`);
    expect(edges).toContain('dev_set->lock -> kvm->lock');
    expect(live(opened.run)).toEqual([]);
    const closed = await qemu([...vmWithDevice, ...groupPath(ZDEV), fileAdd('group'), getDeviceFd(ZDEV), close('device')]);
    expect(vm(closed.v)).toMatchObject({ users_count: 2 });
    expect(live(closed.run)).toEqual([]);
  });

  it('closing the KVM VFIO device: kvm_device_release under kvm->lock clears group->kvm and drops the group file', async () => {
    const { run, r, v } = await qemu([...vmWithDevice, ...groupPath(EP), fileAdd('group'), close('kvm-vfio')]);
    expect(r.slice(-1)).toEqual([0]);
    expect(groupKvm(v, EP, run)).toBeNull();
    expect(v.kvmVfios).toEqual([]);
    expect(vm(v)).toMatchObject({ users_count: 1, devices: [] });
    expect(v.files.find((f) => f.kind === 'vfio-group')).toMatchObject({ f_count: 1 });
    const edges = run.lockdep.dependencies().map((e) => `${e.from} -> ${e.to}`);
    expect(edges).toContain('kvm->lock -> vfio_group->kvm_ref_lock');
    expect(edges).toContain('kv->lock -> vfio_group->kvm_ref_lock');
    expect(live(run)).toEqual([]);
  });

  it('KVM_SET_DEVICE_ATTR on the VM fd: -ENOTTY; KVM_CREATE_DEVICE on a group fd: -ENOTTY', async () => {
    const { run, r } = await qemu([createVm(), openGroup(EP), ioctl('vm', { cmd: 'KVM_SET_DEVICE_ATTR', attr: 'KVM_DEV_VFIO_FILE_ADD', file: 'group' }), ioctl('group', { cmd: 'KVM_CREATE_DEVICE' } as ProcIoctl)]);
    expect(r.slice(-2)).toEqual(['ENOTTY', 'ENOTTY']);
    expect(live(run)).toEqual([]);
  });

  it('FILE_ADD of a cdev device fd: df->kvm under df->kvm_ref_lock', async () => {
    const { run, r, v } = await qemu([...vmWithDevice, openCdev(EP), fileAdd('device')]);
    expect(r.slice(-1)).toEqual([0]);
    expect(v.dfs.map((d) => d.kvm)).toEqual([vm(v)?.id]);
    expect(live(run)).toEqual([]);
  });

  it('exit with everything open: the releases free the KVM VFIO device and then the VM, no leak and no use after free', async () => {
    const { run, v } = await qemu([...vmWithDevice, ...groupPath(ZDEV), fileAdd('group'), getDeviceFd(ZDEV)], { stay: false });
    expect(v.kvms).toEqual([]);
    expect(v.kvmVfios).toEqual([]);
    expect(v.files).toEqual([]);
    expect(run.result.findings).toEqual([]);
  });

  it('the pre-fix form (kvm-ref=group-lock), sequentially: the open\'s group_lock → kvm->lock and the release\'s kvm->lock → group_lock: lockdep reports the cycle', async () => {
    const { run } = await qemu([...vmWithDevice, ...groupPath(ZDEV), fileAdd('group'), getDeviceFd(ZDEV), close('kvm-vfio')], { variants: { 'kvm-ref': 'group-lock' } });
    const inversions = run.result.findings.filter((f) => f.kind !== 'refcount-leak');
    expect(inversions.map((f) => f.kind)).toEqual(['lock-order-inversion']);
    expect(inversions[0]?.report).toMatch(/kvm->lock|&kvm->lock/);
    expect(inversions[0]?.report).toMatch(/vfio_group_set_kvm/);
  });
});

describe('B13 (kernel-facts §6) built in and as a patch', () => {
  async function runScenario(args: readonly string[]): Promise<{ code: number; json: { findings?: { kind: string; firstSchedule: number }[]; rows?: { variants: Record<string, string>; matched: boolean; findings: { kind: string; firstSchedule: number }[] }[] } }> {
    let json: unknown;
    const io: CommandIo = { out: () => {}, err: () => {}, json: (d) => void (json = JSON.parse(JSON.stringify(d))) };
    const code = await main([...args, '--json'], io);
    return { code, json: json as never };
  }

  it('pre-fix (kvm-ref=group-lock): the kvm->lock / group_lock inversion within 200 schedules, median over three seeds; the fix clean', async () => {
    const firsts: number[] = [];
    for (const seed of [1, 2, 3]) {
      const bug = await runScenario(['run', 'b13-kvm-vfio-group-lock', '--variant', 'kvm-ref=group-lock', '--schedules', '200', '--seed', String(seed)]);
      const f = bug.json.findings?.find((x) => x.kind === 'lock-order-inversion');
      expect(f, `seed ${seed}`).toBeDefined();
      firsts.push(f?.firstSchedule ?? Infinity);
    }
    firsts.sort((a, b) => a - b);
    expect(firsts[1]).toBeLessThan(200);
    const fix = await runScenario(['run', 'b13-kvm-vfio-group-lock', '--variant', 'kvm-ref=kvm-ref-lock', '--schedules', '60', '--seed', '1']);
    expect(fix.json.findings).toEqual([]);
    expect(fix.code).toBe(0);
  }, 300_000);

  it('as a patch of vfio_group_set_kvm (scenarios/examples/patch-kvm-group-lock.ts): found; upstream clean', async () => {
    const r = await runScenario(['compare', 'scenarios/examples/patch-kvm-group-lock.ts', '--schedules', '30']);
    const rows = r.json.rows ?? [];
    expect(rows.map((x) => [x.variants['set-kvm'], x.matched])).toEqual([['upstream', true], ['group-lock', true]]);
    expect(rows[1]?.findings.map((f) => f.kind)).toContain('lock-order-inversion');
    expect(rows[0]?.findings).toEqual([]);
  }, 300_000);
});

describe('KVM ops and load-time validation', () => {
  it('the process ops and ioctls are listed with their fields', () => {
    expect(PROCESS_OPS.find((p) => p.name === 'kvm.create_vm')?.fields).toEqual({ as: 'string' });
    expect(IOCTLS.KVM_CREATE_DEVICE.fields).toEqual({ 'type?': 'kvm-device-type' });
    expect(IOCTLS.KVM_SET_DEVICE_ATTR.fields).toEqual({ attr: 'kvm-vfio-attr', file: 'fd' });
  });

  const doc = (ops: readonly object[]) => ({
    name: 'x',
    topology: { units: [{ name: 'vtd0', kind: 'vtd' }], pci: [{ id: EP, unit: 'vtd0', driver: 'vfio-pci', zpci: true }], drivers: [VFIO_PCI] },
    tasks: [], processes: [{ name: 'qemu', ops }],
  });
  const problem = documentProblem;

  it('accepts a VM with the KVM VFIO device and a group added to it', () => {
    expect(problem(doc([{ op: 'kvm.create_vm', as: 'vm' }, { op: 'ioctl', fd: 'vm', cmd: 'KVM_CREATE_DEVICE', as: 'kv' }, { op: 'vfio.group.open', dev: EP, as: 'g' },
      { op: 'ioctl', fd: 'kv', cmd: 'KVM_SET_DEVICE_ATTR', attr: 'KVM_DEV_VFIO_FILE_ADD', file: 'g' }]))).toBe('accepted');
  });

  it('an unknown attribute, an unknown device type, a file no op opened: refused naming the field', () => {
    const base = [{ op: 'kvm.create_vm', as: 'vm' }, { op: 'ioctl', fd: 'vm', cmd: 'KVM_CREATE_DEVICE', as: 'kv' }];
    expect(problem(doc([...base, { op: 'ioctl', fd: 'kv', cmd: 'KVM_SET_DEVICE_ATTR', attr: 'KVM_DEV_VFIO_GROUP_ADD', file: 'vm' }]))).toMatch(/ops\[2\]\.attr.*KVM_DEV_VFIO_FILE attribute/s);
    expect(problem(doc([{ op: 'kvm.create_vm', as: 'vm' }, { op: 'ioctl', fd: 'vm', cmd: 'KVM_CREATE_DEVICE', type: 'KVM_DEV_TYPE_XICS' }]))).toMatch(/ops\[1\]\.type.*KVM device type/s);
    expect(problem(doc([...base, { op: 'ioctl', fd: 'kv', cmd: 'KVM_SET_DEVICE_ATTR', attr: 'KVM_DEV_VFIO_FILE_ADD', file: 'nope' }]))).toMatch(/ops\[2\]\.file.*not opened/s);
  });
});
