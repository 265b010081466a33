// Branded ids. Every id on the wire is a plain string; the brand keeps an
// actor name from being passed where a task id is expected.

export type ActorId = string & { readonly __brand: 'ActorId' };
export type TaskId = string & { readonly __brand: 'TaskId' };
export type MsgId = string & { readonly __brand: 'MsgId' };
export type LockId = string & { readonly __brand: 'LockId' };
export type ObjId = string & { readonly __brand: 'ObjId' };

export const actorId = (s: string): ActorId => s as ActorId;
export const taskId = (s: string): TaskId => s as TaskId;
export const lockId = (s: string): LockId => s as LockId;
export const objId = (s: string): ObjId => s as ObjId;

/** Message ids are derived, never random: the task plus its own sequence number. */
export const msgId = (task: TaskId, seq: number): MsgId => `${task}#${seq}` as MsgId;

/** A task spawned by another is named after its parent and the parent's sequence number. */
export const childTaskId = (parent: TaskId, seq: number): TaskId => `${parent}.${seq}` as TaskId;

/**
 * The pseudo-actor that stands for "whoever started the task" (a scenario,
 * a userspace process, the CLI). A reply addressed to it ends the task.
 */
export const ROOT: ActorId = actorId('@root');
