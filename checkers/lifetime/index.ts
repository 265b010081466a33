// The lifetime checker's public surface. (kobjectPut, the DEBUG_KOBJECT_RELEASE
// simulation actor code uses, is the runtime's: runtime/kobject.ts — the model
// does not import its judges.)
export { LifetimeChecker } from './lifetime-checker.ts';
export type { LifetimeCheckerOptions } from './lifetime-checker.ts';
export { lockIdFor, objectOfLock } from './lock-objects.ts';
