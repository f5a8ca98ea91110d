import { fnv1a32 } from './hash';

/** The database name and docroot a restore writes for `to` (the site itself, or a side-by-side copy). */
export function restoreTargetNames(live: { domain: string; database: string; filesPath: string }, to?: string): { database: string; filesPath: string } {
  if (!to || to === live.domain) return { database: live.database, filesPath: live.filesPath };
  const flat = `wp_${to.replace(/[^a-z0-9]/g, '_')}`;
  // Long names are cut and given a hash of the whole name, so two long copies never share a database.
  const database = flat.length <= 48 ? flat : `${flat.slice(0, 39)}_${fnv1a32(to)}`;
  const parent = live.filesPath.slice(0, live.filesPath.lastIndexOf('/'));
  return { database, filesPath: `${parent}/${to}` };
}
