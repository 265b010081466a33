import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import type { Checker } from '../../checkers/checker.ts';
import { isErrno } from '../../protocol/errno.ts';
import type { Finding } from '../../protocol/findings.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import { VFIO, processTask } from '../../protocol/vfio.ts';
import type { ProcIoctl, ProcOp, ProcResult, ProcessSpec, VfioPath } from '../../protocol/vfio.ts';
import { runExecution } from '../../runtime/execution.ts';
import type { ExecutionResult } from '../../runtime/execution.ts';
import type { Host } from '../../runtime/hosts/host.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import { WorkersHost } from '../../runtime/hosts/workers.ts';
import type { Program } from '../../runtime/program.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import type { Strategy } from '../../runtime/strategies/strategy.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { kernelProgram } from '../../scenarios/kernel/program.ts';
import type { KernelProgramSpec, KernelTask } from '../../scenarios/kernel/program.ts';
import type { CoreView } from '../helpers/kernel.ts';
import { TOPOLOGY } from './topology.ts';

/** Process ops, written the way a test reads them. */
export const openGroup = (dev: string, as = 'group'): ProcOp => ({ do: 'open', path: { kind: 'group', dev }, as });
export const openContainer = (as = 'container'): ProcOp => ({ do: 'open', path: { kind: 'container' }, as });
export const openIommufd = (as = 'iommufd'): ProcOp => ({ do: 'open', path: { kind: 'iommufd' }, as });
export const openCdev = (dev: string, as = 'device'): ProcOp => ({ do: 'open', path: { kind: 'cdev', dev }, as });
export const open = (path: VfioPath, as: string): ProcOp => ({ do: 'open', path, as });
export const close = (fd: string): ProcOp => ({ do: 'close', fd });
export const ioctl = (fd: string, io: ProcIoctl, as?: string): ProcOp => (as === undefined ? { do: 'ioctl', fd, ioctl: io } : { do: 'ioctl', fd, ioctl: io, as });
export const dma = (fd: string, iova: number, pasid?: number): ProcOp => (pasid === undefined ? { do: 'dma', fd, iova } : { do: 'dma', fd, iova, pasid });
export const exit: ProcOp = { do: 'exit' };
export const post = (event: string): ProcOp => ({ do: 'post', event });
export const wait = (event: string): ProcOp => ({ do: 'wait', event });
export const sysfs = (to: string, op: string, body: unknown): ProcOp => ({ do: 'sysfs', call: { to, op, body } });
export const unbind = (dev: string, driver = 'vfio-pci'): ProcOp => sysfs(DRIVER_CORE, 'unbind_store', { dev, driver });
export const bind = (dev: string, driver: string): ProcOp => sysfs(DRIVER_CORE, 'bind_store', { dev, driver });
export const hotRemove = (dev: string): ProcOp => sysfs(PCI, 'pci_stop_and_remove_bus_device_locked', { dev });

export const setContainer = (group = 'group', container = 'container'): ProcOp => ioctl(group, { cmd: 'VFIO_GROUP_SET_CONTAINER', container });
export const setIommu = (container = 'container'): ProcOp => ioctl(container, { cmd: 'VFIO_SET_IOMMU' });
export const getDeviceFd = (dev: string, group = 'group', as = 'device'): ProcOp => ioctl(group, { cmd: 'VFIO_GROUP_GET_DEVICE_FD', dev }, as);
export const mapDma = (iova: number, vaddr: number, container = 'container'): ProcOp => ioctl(container, { cmd: 'VFIO_IOMMU_MAP_DMA', iova, vaddr });
export const bindIommufd = (device = 'device', iommufd = 'iommufd', as = 'devid'): ProcOp => ioctl(device, { cmd: 'VFIO_DEVICE_BIND_IOMMUFD', iommufd }, as);
export const ioasAlloc = (as = 'ioas', iommufd = 'iommufd'): ProcOp => ioctl(iommufd, { cmd: 'IOMMU_IOAS_ALLOC' }, as);
export const ioasMap = (iova: number, vaddr: number, ioas = 'ioas', iommufd = 'iommufd'): ProcOp => ioctl(iommufd, { cmd: 'IOMMU_IOAS_MAP', ioas, iova, vaddr });
export const attachPt = (pt = 'ioas', device = 'device', pasid?: number, as?: string): ProcOp =>
  ioctl(device, pasid === undefined ? { cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', pt } : { cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', pt, pasid }, as);
export const detachPt = (device = 'device', pasid?: number): ProcOp => ioctl(device, pasid === undefined ? { cmd: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' } : { cmd: 'VFIO_DEVICE_DETACH_IOMMUFD_PT', pasid });
export const setReq = (device = 'device'): ProcOp => ioctl(device, { cmd: 'VFIO_DEVICE_SET_IRQS', index: 'REQ' });

/** The legacy group + type1 container path up to a device fd for `dev`. */
export const groupPath = (dev: string): ProcOp[] => [openGroup(dev), openContainer(), setContainer(), setIommu(), getDeviceFd(dev)];
/** The cdev + iommufd path up to an attached device (auto domain on a fresh IOAS). */
export const cdevPath = (dev: string): ProcOp[] => [openIommufd(), openCdev(dev), bindIommufd(), ioasAlloc(), attachPt()];

/** The vfio actor's inspect view (the parts tests read). */
export interface VfioView {
  readonly groups: readonly { readonly id: string; readonly iommu_group: string | null; readonly opened_file: string | null; readonly container: string | null; readonly cdev_device_open_cnt: number; readonly device_list: readonly string[] }[];
  readonly devices: readonly { readonly id: string; readonly dev: string; readonly open_count: number; readonly refcount: number; readonly idev: string | null }[];
  readonly files: readonly { readonly id: string; readonly kind: string }[];
  readonly containers: readonly unknown[];
  readonly hwpts: readonly { readonly id: string; readonly domain: string; readonly users: number }[];
  readonly idevs: readonly unknown[];
  readonly cdevs: Readonly<Record<string, string>>;
}

export interface VfioRun {
  readonly result: ExecutionResult;
  readonly vfio: VfioView;
  readonly core: CoreView;
  readonly lockdep: Lockdep;
}

export interface VfioSpec {
  readonly name?: string;
  readonly processes?: readonly ProcessSpec[];
  readonly tasks?: readonly KernelTask[];
  readonly topology?: KernelProgramSpec['topology'];
  readonly variants?: Readonly<Record<string, string>>;
}

export function vfioProgram(spec: VfioSpec): Program {
  return kernelProgram({
    name: spec.name ?? 'vfio', topology: spec.topology ?? TOPOLOGY, tasks: spec.tasks ?? [], processes: spec.processes ?? [],
    ...(spec.variants !== undefined ? { variants: spec.variants } : {}),
  });
}

export interface RunOpts {
  readonly seed?: number;
  readonly strategy?: Strategy;
  readonly checkers?: readonly Checker[];
  readonly maxSteps?: number;
}

/** One execution on a host that already holds the program's actors (fresh state first). */
export async function runOn(host: Host, program: Program, opts: RunOpts = {}): Promise<VfioRun> {
  await host.reset();
  const checkers = opts.checkers ?? kernelCheckers();
  const seed = opts.seed ?? 1;
  const result = await runExecution(host, program, opts.strategy ?? new RandomStrategy(seed), {
    seed, checkers, ...(opts.maxSteps !== undefined ? { maxSteps: opts.maxSteps } : {}),
  });
  const vfio = (await host.inspect(VFIO)) as VfioView;
  const core = (await host.inspect(IOMMU_CORE)) as CoreView;
  const lockdep = checkers.find((c): c is Lockdep => c instanceof Lockdep) ?? new Lockdep();
  return { result, vfio, core, lockdep };
}

export async function makeHost(program: Program, kind: 'inline' | 'workers' = 'inline'): Promise<Host> {
  return kind === 'workers' ? WorkersHost.create(program) : InlineHost.create(program);
}

/** One execution from a fresh host. */
export async function runVfio(spec: VfioSpec, opts: RunOpts & { readonly host?: 'inline' | 'workers' } = {}): Promise<VfioRun> {
  const program = vfioProgram(spec);
  const host = await makeHost(program, opts.host);
  try {
    return await runOn(host, program, opts);
  } finally {
    await host.close();
  }
}

/** A process's op results (errno names or values). */
export function procResults(run: VfioRun, name: string): readonly unknown[] {
  const r = run.result.results[processTask(name)] as readonly ProcResult[] | undefined;
  if (r === undefined) throw new Error(`process ${name} did not finish (outcome ${run.result.outcome})`);
  return r.map((x) => (isErrno(x.ret) ? x.ret.errno : x.ret));
}

/** Findings other than the listed kinds, printed for a readable failure. */
export function unexpected(findings: readonly Finding[], allowed: readonly string[] = []): string[] {
  return findings.filter((f) => !allowed.includes(f.kind)).map((f) => `${f.kind}: ${f.title}\n${f.report}`);
}

export const isErrName = (v: unknown): boolean => typeof v === 'string' && /^E[A-Z_0-9]+$/.test(v);
