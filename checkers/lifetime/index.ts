// The lifetime checker's public surface, and the helpers actor code uses.
export { LifetimeChecker } from './lifetime-checker.ts';
export type { LifetimeCheckerOptions } from './lifetime-checker.ts';
export { lockIdFor, objectOfLock } from './lock-objects.ts';
export { delayedRelease, kobjectPut } from './debug-kobject-release.ts';
export type { DebugRelease, Release } from './debug-kobject-release.ts';
