export { lockingSelftestCases, selftestProgram, SELFTEST_ACTOR, SELFTEST_LOCKS } from './cases.ts';
export type { SelftestCase } from './cases.ts';
export { runLockingSelftest, runSelftestCase, observedKind, printSelftestReport } from './run.ts';
export type { HostFactory, SelftestCaseResult, SelftestReport, SelftestOptions } from './run.ts';
export type { Script, ScriptStep, SelftestMailbox } from './actor.ts';
