import { checkDocument } from '../../scenarios/format/document.ts';
import { InputError } from '../../runtime/input-error.ts';

/** What the document reader says about `doc`: "accepted", or the refusal as "<where>: <message>" (exit 2's text). */
export function documentProblem(doc: unknown): string {
  try {
    checkDocument(doc, 'x.json');
  } catch (e) {
    if (e instanceof InputError) return `${e.where ?? ''}: ${e.message}`;
    throw e;
  }
  return 'accepted';
}
