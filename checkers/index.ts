import type { Checker } from './checker.ts';
import { LifetimeChecker } from './lifetime/lifetime-checker.ts';
import { Lockdep } from './lockdep/lockdep.ts';
import { RaceChecker } from './races/race-checker.ts';
import { KernelWarnChecker } from './warn.ts';

/** The checkers every run has unless its scenario says otherwise: lockdep, races, lifetime, and WARN sites. */
export function defaultCheckers(): Checker[] {
  return [new Lockdep(), new RaceChecker(), new LifetimeChecker(), new KernelWarnChecker()];
}
