/**
 * Every module of the kernel model, imported for the declarations of its
 * kernel functions (runtime/kfunc.ts): after this import the registry holds
 * every patchable function — what `iommu-lab functions` lists and what a
 * scenario's patches are checked against. The hosts do not need it: each
 * loads the actor modules of its program, which declare their own.
 */
import './driver-core/index.ts';
import './pci/index.ts';
import './iommu-core/index.ts';
import './vfio/index.ts';
import './userspace/process.ts';
import '../hardware/vtd.ts';
import '../hardware/amd-vi.ts';
import '../hardware/smmu-v3.ts';
import '../hardware/mock.ts';
import '../hardware/basic-unit.ts';

export { declarations, declsOf } from '../runtime/kfunc.ts';
export type { KFuncDecl } from '../runtime/kfunc.ts';
