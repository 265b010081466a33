/**
 * SIGINT / SIGTERM: long commands (run, compare, fuzz, stress) stop at the
 * next point they can, terminate their workers, still print their summary
 * (and `--json` document, with `"interrupted": true`) and write their files
 * (fuzz: campaign.json), then exit 130 / 143 (CLI.md "Exit codes"). The CLI
 * entry installs the handlers; a second signal exits at once.
 */

type Sig = 'SIGINT' | 'SIGTERM';

let received: Sig | null = null;
const listeners = new Set<() => void>();
/**
 * The stop as a shared word, for worker threads that run part of the
 * command (compare's rows on the pool): a signal reaches the main thread
 * only, and a row that ran to its budget would hold the exit for as long.
 */
let shared: Int32Array | null = null;

/** Whether a stop was asked for (here, or in the main thread when this is a worker that adopted its flag). */
export function interrupted(): boolean {
  return received !== null || (shared !== null && Atomics.load(shared, 0) !== 0);
}

/** The main thread's stop flag, to hand to workers (`adoptInterruptFlag`). */
export function interruptFlag(): SharedArrayBuffer {
  if (shared === null) {
    shared = new Int32Array(new SharedArrayBuffer(4));
    if (received !== null) Atomics.store(shared, 0, 1);
  }
  return shared.buffer as SharedArrayBuffer;
}

/** A worker follows the main thread's stop flag. */
export function adoptInterruptFlag(sab: SharedArrayBuffer): void {
  shared = new Int32Array(sab);
}

/** The exit code a stopped command returns (130 SIGINT, 143 SIGTERM), or null. */
export function interruptCode(): number | null {
  return received === null ? null : received === 'SIGINT' ? 130 : 143;
}

/** A promise that settles when a stop is asked for (for racing a wait); `off` drops the listener. */
export function whenInterrupted(): { readonly promise: Promise<void>; readonly off: () => void } {
  let off = (): void => {};
  const promise = new Promise<void>((resolve) => {
    if (received !== null) {
      resolve();
      return;
    }
    const fn = (): void => resolve();
    listeners.add(fn);
    off = () => void listeners.delete(fn);
  });
  return { promise, off };
}

/** Asks every running loop to stop, as the signal would (tests, and the handlers below). */
export function requestInterrupt(sig: Sig): void {
  if (received !== null) return;
  received = sig;
  if (shared !== null) Atomics.store(shared, 0, 1);
  for (const fn of [...listeners]) fn();
  listeners.clear();
}

/** Forgets a stop (tests run many commands in one process). */
export function resetInterrupt(): void {
  received = null;
  if (shared !== null) Atomics.store(shared, 0, 0);
}

/** Installs the handlers (the CLI's entry only). */
export function installSignalHandlers(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (received !== null) process.exit(sig === 'SIGINT' ? 130 : 143);
      process.stderr.write(`iommu-lab: ${sig}: stopping (again to exit at once)\n`);
      requestInterrupt(sig);
    });
  }
}
