/**
 * Drover's custom search attributes, defined once: every workflow that concerns a site, farm or wave carries them
 * from its START (client start options, child-workflow options, schedule actions), so the Web UI filters an
 * object's whole story, e.g. `DroverSite="example.com"`. Never set from workflow code with upsertSearchAttributes:
 * that adds commands to recorded histories. The one exception is DROVER_STEP, which moves with a migration's step
 * and a wave's state (upserted behind a patch, docs/migration-waves.md). Keyword type (exact match); nothing secret
 * goes in them.
 * The dev server registers them at start (devkit/dev-env/temporal-server.ts), docker-compose.temporal.yml with
 * `temporal operator search-attribute create` in its temporal-search-attributes container.
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const DROVER_SITE = defineSearchAttributeKey('DroverSite', SearchAttributeType.KEYWORD);
export const DROVER_FARM = defineSearchAttributeKey('DroverFarm', SearchAttributeType.KEYWORD);
export const DROVER_OPERATION = defineSearchAttributeKey('DroverOperation', SearchAttributeType.KEYWORD);
export const DROVER_WAVE = defineSearchAttributeKey('DroverWave', SearchAttributeType.KEYWORD);
export const DROVER_STEP = defineSearchAttributeKey('DroverStep', SearchAttributeType.KEYWORD);

/** Every attribute a Temporal server must know before Drover's workflows start (all Keyword). */
export const DROVER_SEARCH_ATTRIBUTES = [DROVER_SITE, DROVER_FARM, DROVER_OPERATION, DROVER_WAVE, DROVER_STEP] as const;

/** What a workflow does to its site or farm: the DroverOperation value. */
export type DroverOperation =
  | 'backup' | 'prune' | 'restore' | 'restore-drill' | 'restore-farm' | 'register' | 'create' | 'delete' | 'site' | 'migrate' | 'migrate-check'
  | 'bring-up' | 'scale' | 'teardown' | 'health' | 'provision' | 'access';

/**
 * The typed search attributes of a workflow about one site (`site` set) or about many (`site` null): pass the
 * result as `typedSearchAttributes` in its start or child options. `farm`/`wave` when the workflow belongs to one.
 */
export function siteSearchAttributes(site: string | null, operation: DroverOperation, extra: { farm?: string; wave?: string } = {}): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [{ key: DROVER_OPERATION, value: operation }];
  if (site) pairs.push({ key: DROVER_SITE, value: site });
  if (extra.farm) pairs.push({ key: DROVER_FARM, value: extra.farm });
  if (extra.wave) pairs.push({ key: DROVER_WAVE, value: extra.wave });
  return pairs;
}

/** The typed search attributes of a workflow about a whole farm (bring-up, scale, teardown, health, provisioning). */
export function farmSearchAttributes(farm: string, operation: DroverOperation): SearchAttributePair[] {
  return siteSearchAttributes(null, operation, { farm });
}
