/**
 * Authentik's blueprint file structure (https://docs.goauthentik.io/docs/customize/blueprints/v1/structure), as far
 * as Drover writes it: parsed with Authentik's `!Find` tag and checked field by field, since Authentik cannot run
 * here. `!Find [model, [field, value]]` becomes `{ find: [model, [field, value]] }`.
 */
import { parse, type Tags } from 'yaml';

export interface BlueprintEntry {
  model: string;
  state?: 'present' | 'created' | 'must_created' | 'absent';
  identifiers: Record<string, unknown>;
  attrs?: Record<string, unknown>;
  id?: string;
}

const customTags: Tags = [{ tag: '!Find', collection: 'seq', resolve: (seq) => ({ find: (seq as unknown as { toJSON(): unknown }).toJSON() }) }];

export function parseAuthentikBlueprint(text: string): { version: 1; metadata: { name: string; labels?: Record<string, string> }; entries: BlueprintEntry[] } {
  const doc = parse(text, { customTags }) as Record<string, unknown>;
  const problems: string[] = [];
  if (doc.version !== 1) problems.push('version: must be 1');
  const metadata = doc.metadata as { name?: unknown } | undefined;
  if (typeof metadata?.name !== 'string' || !metadata.name) problems.push('metadata.name: required');
  if (!Array.isArray(doc.entries) || doc.entries.length === 0) problems.push('entries: a non-empty list');
  for (const [i, e] of ((doc.entries as Record<string, unknown>[]) ?? []).entries()) {
    if (typeof e.model !== 'string' || !/^[a-z_]+\.[a-z_]+$/.test(e.model)) problems.push(`entries[${i}].model: app_label.model`);
    if (e.state !== undefined && !['present', 'created', 'must_created', 'absent'].includes(e.state as string)) problems.push(`entries[${i}].state: ${String(e.state)}`);
    if (typeof e.identifiers !== 'object' || e.identifiers === null || !Object.keys(e.identifiers).length) problems.push(`entries[${i}].identifiers: required`);
    if (e.attrs !== undefined && (typeof e.attrs !== 'object' || e.attrs === null)) problems.push(`entries[${i}].attrs: a mapping`);
    for (const k of Object.keys(e)) if (!['model', 'state', 'identifiers', 'attrs', 'id', 'conditions', 'permissions'].includes(k)) problems.push(`entries[${i}].${k}: not a blueprint entry field`);
  }
  for (const k of Object.keys(doc)) if (!['version', 'metadata', 'context', 'entries'].includes(k)) problems.push(`${k}: not a blueprint field`);
  if (problems.length) throw new Error(`not an Authentik blueprint: ${problems.join('; ')}`);
  return doc as ReturnType<typeof parseAuthentikBlueprint>;
}
