export { Lockdep, toFinding } from './lockdep.ts';
export type { LockdepOptions } from './lockdep.ts';
export { DependencyGraph, depType } from './graph.ts';
export type { DepType, Edge, EdgeTrace, EdgeVia } from './graph.ts';
export type { LockdepBug, CircularBug, RecursiveBug, UnlockBug, MisuseBug, HeldAtExitBug, HeldLockFreedBug, AssertBug, LockSide } from './bugs.ts';
export { printLockdepBug, printHeldLocks, dependencyDot, frameOf } from './print.ts';
