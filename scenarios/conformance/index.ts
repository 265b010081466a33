export { CASES } from './cases.ts';
export type { ConformanceCase } from './case.ts';
export { allUnits, builtinUnit, exitCodeOf, isPluginArg, pluginUnit, runCase, runConformance, runUnit } from './runner.ts';
export type { CaseResult, CaseStatus, ConformanceReport, UnitReport } from './runner.ts';
export { printReport, printUnit } from './print.ts';
export type { UnitUnderTest } from './machine.ts';
