/**
 * A site's domain checked, and every name Drover derives from it: database, database user, Docker secret,
 * stack, files. Pure and deterministic (no Node built-ins), so the site workflow derives the same names the CLI
 * shows; the IDNA step (Unicode → ASCII) happens before, in `lib/domain-input.ts`.
 *
 * Names are never built from raw input: only from the checked ASCII domain, reduced to [a-z0-9_] and cut, with a
 * 64-bit FNV-1a hash of the whole domain appended. Two domains that reduce to the same text (`a-b.com`,
 * `a.b.com`) or share a long head still get different names unless their hashes collide too; site creation also
 * refuses a database or user already owned by another registered site, so a collision is an error, never a share.
 *
 * Limits: MariaDB database names ≤ 64 (kept ≤ 48, so a restore's scratch names never need to cut the live name's
 * hash); user names ≤ 80 in MariaDB 10.11 but ≤ 32 here, for MySQL-compatible clients and ProxySQL; Docker object
 * names ≤ 63 (a stack's services are `<stack>_<service>`, so the stack is kept ≤ 40).
 */
import { fnv1a64 } from './hash';

export const MAX_DOMAIN = 253;
export const MAX_LABEL = 63;
export const MAX_DATABASE = 48;
export const MAX_DB_USER = 32;
export const MAX_STACK = 40;
/**
 * The WordPress image a local cluster's sites run (devkit/wordpress-image.ts builds and imports it under this
 * name, taken from here: workflows and production commands cannot import the dev kit): `site create`, a migration
 * and a restore that recreates a local site's service name it.
 */
export const LOCAL_WORDPRESS_IMAGE = 'drover/wordpress:6.1-php8.2-apache';
/** Where every site's files live on the storage tier (the GlusterFS volume, mounted on every worker). */
export const SITES_ROOT = '/srv/drover/sites';

/**
 * Reserved names refused for a site: special-use names that never resolve publicly (RFC 6761, 6762, 7686, 9476,
 * ICANN's .internal). `.test` is allowed on purpose: it is reserved for testing, never delegated, and the local
 * farm's demo sites use it (demo.drover.test), so nothing public can be shadowed by it.
 */
export const RESERVED_SUFFIXES = ['localhost', 'local', 'invalid', 'example', 'onion', 'internal', 'arpa', 'alt', 'home.arpa'] as const;

const LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** Why an ASCII (already IDNA-converted, lower-case) domain cannot be a site, or null when it can. */
export function domainProblem(domain: string): string | null {
  if (!domain) return 'empty';
  if (domain.length > MAX_DOMAIN) return `${domain.length} characters; a domain has at most ${MAX_DOMAIN}`;
  const labels = domain.split('.');
  if (labels.length < 2) return 'a site needs a registrable name with a dot, such as shop.example.com';
  for (const l of labels) {
    if (!l) return 'an empty label (two dots in a row, or a dot at an end)';
    if (l.length > MAX_LABEL) return `label "${l.slice(0, 20)}…" has ${l.length} characters; a label has at most ${MAX_LABEL}`;
    if (!LABEL.test(l)) return `label "${l}" must be letters, digits and hyphens (not at either end)`;
  }
  const tld = labels[labels.length - 1];
  if (/^[0-9]+$/.test(tld)) return 'an IP address or numeric top-level label is not a site name';
  if (/^xn--/.test(tld) === false && !/^[a-z]{2,63}$/.test(tld)) return `top-level label "${tld}" must be letters (or an xn-- IDNA label)`;
  for (const r of RESERVED_SUFFIXES) {
    if (domain === r || domain.endsWith(`.${r}`)) return `.${r} is a reserved name that never resolves publicly`;
  }
  return null;
}

export interface SiteNames {
  domain: string;
  /** [a-z0-9-] id of the site: its stack, Traefik router and Varnish backend names. */
  id: string;
  /** The Swarm stack (`docker stack deploy … <stack>`); its services are `<stack>_wordpress`, `<stack>_cron`. */
  stack: string;
  database: string;
  dbUser: string;
  /** Docker secret holding the database user's password (read by the service at /run/secrets/…). */
  dbSecret: string;
  /** Root-owned per-site directory on the storage tier (a future SFTP chroot)… */
  siteRoot: string;
  /** …holding the docroot, owned and moded for the PHP user. */
  docroot: string;
}

function flat(domain: string, sep: string): string {
  return domain.replace(/[^a-z0-9]+/g, sep);
}

/** Every derived name of a checked domain. Throws on a domain `domainProblem` refuses (callers check first). */
export function siteNames(domain: string): SiteNames {
  const problem = domainProblem(domain);
  if (problem) throw new Error(`domain ${JSON.stringify(domain)}: ${problem}`);
  const hash = fnv1a64(domain);
  const h8 = hash.slice(0, 8);
  // "drover" spelled short: a database name holding `_drover_` is refused as a restore's scratch name.
  const underscore = flat(domain, '_').replace(/drover/g, 'drovr');
  const hyphen = flat(domain, '-');
  // Prefix, head, `_`/`-`, the hash: each name at its limit at most, whatever the domain's length.
  const database = `wp_${underscore.slice(0, MAX_DATABASE - 3 - 1 - 16)}_${hash}`;
  const dbUser = `wp_${underscore.slice(0, MAX_DB_USER - 3 - 1 - 8)}_${h8}`;
  const id = `${hyphen.slice(0, MAX_STACK - 5 - 1 - 8).replace(/-+$/, '')}-${h8}`;
  const stack = `site-${id}`;
  const siteRoot = `${SITES_ROOT}/${domain}`;
  return { domain, id, stack, database, dbUser, dbSecret: `${stack}-db-password`, siteRoot, docroot: `${siteRoot}/htdocs` };
}
