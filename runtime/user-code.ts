import type { Program } from './program.ts';
import type { ActorId } from '../protocol/ids.ts';

/**
 * Watchdog support for a user's code (issue 17, Build 4): the patch
 * functions a scenario module brings run where the main thread can stop
 * them, on a worker thread of their actor (runtime/hosts/guarded.ts,
 * runtime/hosts/workers.ts). A synchronous loop there never returns to the
 * worker's event loop, so the worker cannot say what it is doing; instead,
 * every user function records its name in a shared slot while its
 * synchronous part runs, and the main thread reads the slot when the step
 * overruns `--hang` and reports an `actor-stuck` finding naming it.
 *
 * Slot layout (Int32): [0] the name's length in UTF-16 units, then the
 * units, two per Int32 word. Writes happen only when user code is entered
 * or left, so built-in code pays nothing.
 */
export const SLOT_WORDS = 1 + 64;
const MAX_NAME = (SLOT_WORDS - 1) * 2;

let slot: Int32Array | null = null;
let current: string | null = null;

/** This thread's slot (a worker of a guarded actor); the inline host has none and only keeps `current`. */
export function setUserSlot(sab: SharedArrayBuffer): void {
  slot = new Int32Array(sab);
}

export function newUserSlot(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOT_WORDS * 4);
}

function publish(name: string | null): void {
  current = name;
  const s = slot;
  if (s === null) return;
  const n = name === null ? 0 : Math.min(name.length, MAX_NAME);
  for (let i = 0; i < n; i += 2) {
    const lo = (name as string).charCodeAt(i);
    const hi = i + 1 < n ? (name as string).charCodeAt(i + 1) : 0;
    Atomics.store(s, 1 + i / 2, lo | (hi << 16));
  }
  Atomics.store(s, 0, n);
}

/** The user function whose synchronous part runs now, as the slot says (main thread, reading a worker's slot). */
export function readUserSlot(sab: SharedArrayBuffer): string | null {
  const s = new Int32Array(sab);
  const n = Atomics.load(s, 0);
  if (n === 0) return null;
  let out = '';
  for (let i = 0; i < n; i += 2) {
    const w = Atomics.load(s, 1 + i / 2);
    out += String.fromCharCode(w & 0xffff);
    if (i + 1 < n) out += String.fromCharCode((w >>> 16) & 0xffff);
  }
  return out;
}

/** The user function running now in this thread, if any. */
export function currentUserFunction(): string | null {
  return current;
}

/**
 * `fn` marked as user code named `name`: the slot names it while its
 * synchronous part runs (an async function's part up to its first await),
 * and names the caller again when it returns or throws.
 */
export function userFunction<A extends unknown[], R>(name: string, fn: (...a: A) => R): (...a: A) => R {
  return function (this: unknown, ...a: A): R {
    const before = current;
    publish(name);
    try {
      return fn.apply(this, a);
    } finally {
      publish(before);
    }
  };
}

/**
 * The actors of `program` whose definitions carry patches: they run guarded.
 * Patches only ever come from a scenario module the user names (no built-in
 * scenario has any), so every patch is a user's code.
 */
export function userActors(program: Program): ReadonlySet<ActorId> {
  return new Set(program.actors.filter((a) => (a.patches ?? []).length > 0).map((a) => a.id));
}

/**
 * How long one controlled step of a guarded actor may run before the
 * watchdog calls it stuck (`--hang`; docs/runtime.md "Watchdogs"). A step
 * takes microseconds: seconds mean a loop, not a slow machine.
 */
export const DEFAULT_STEP_HANG_MS = 5000;
let hangMs = DEFAULT_STEP_HANG_MS;

/** `--hang` of this command, or the default (a command sets it every time: the CLI may run in-process again). */
export function setStepHang(ms: number | undefined): void {
  hangMs = ms ?? DEFAULT_STEP_HANG_MS;
  givenHangMs = ms ?? null;
}

/**
 * The import watchdog's limit: `--hang` when given, else 30 s. Loading a
 * TypeScript module that imports iommu-lab's sources blocks the loading
 * thread while tsx's loader compiles them, heartbeat and all: seconds on a
 * loaded machine (measured: over 5 s at load 20).
 */
export const DEFAULT_IMPORT_STALL_MS = 30_000;
let givenHangMs: number | null = null;

export function importStallMs(): number {
  return givenHangMs ?? DEFAULT_IMPORT_STALL_MS;
}

export function stepHangMs(): number {
  return hangMs;
}
