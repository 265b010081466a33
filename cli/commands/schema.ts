import { z } from 'zod';
import { InputError } from '../../runtime/input-error.ts';
import { ReplayFileSchema } from '../../runtime/replay-file.ts';
import { ScenarioDocumentSchema } from '../../scenarios/format/schema.ts';
import { TraceDocumentSchema } from '../../report/trace-doc.ts';
import { parseArgs } from '../args.ts';
import type { CommandIo } from '../io.ts';

const SCHEMAS = {
  scenario: { schema: ScenarioDocumentSchema, title: 'iommu-lab scenario document' },
  replay: { schema: ReplayFileSchema, title: 'iommu-lab replay file' },
  trace: { schema: TraceDocumentSchema, title: 'iommu-lab trace document' },
} as const;

/** The JSON Schema of one document kind, generated from the zod schema the loader checks with. */
export function jsonSchemaOf(kind: keyof typeof SCHEMAS): Record<string, unknown> {
  const { schema, title } = SCHEMAS[kind];
  // io "input": what a file may contain (before transforms); refinements (cross-references) have no JSON Schema form and are left to the loader
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12', reused: 'ref' }) as Record<string, unknown>;
  return { ...js, title, description: `${title}; cross-references (devices, drivers, variant values, fds) are checked by iommu-lab itself (docs/scenarios.md)` };
}

/** `iommu-lab schema [scenario|replay|trace]`: a JSON Schema for editors (docs/scenarios.md "Editor support"). */
export async function schema(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('schema', argv, {});
  if (p.positional.length > 1) throw new InputError(`"schema" takes at most one document kind (got ${p.positional.join(' ')})`);
  const kind = p.positional[0] ?? 'scenario';
  if (!Object.hasOwn(SCHEMAS, kind)) throw new InputError(`unknown document kind "${kind.slice(0, 80)}" (one of: ${Object.keys(SCHEMAS).join(', ')})`);
  io.json(jsonSchemaOf(kind as keyof typeof SCHEMAS));
  return 0;
}
