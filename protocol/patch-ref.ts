/**
 * How a program refers to a scenario's patch (runtime/patch.ts): plain data,
 * so it reaches worker threads, which load the patch from its module.
 */
export interface PatchRef {
  readonly module: string;
  readonly export: string;
  readonly name: string;
}
