/**
 * A contractor's FileBrowser and Adminer access (`drover access grant --files`, issue 17), written as the contractor
 * stack's configuration: pure, so the same grant always yields the same three files.
 *
 * - An Authentik blueprint (`version: 1`): the group `site:<domain>` and a per-grant Authentik user named after the
 *   grant's login, member of that group. Authentik's worker discovers and applies blueprint files in its blueprints
 *   directory by itself. Revoking rewrites the file with the user `state: absent` (Authentik deletes the user, and
 *   with it the membership and its sessions); removing a blueprint file would leave its objects in place.
 * - FileBrowser's users file as `filebrowser users import` reads it (a JSON array of users): the login, scoped to
 *   the site's directory under FileBrowser's root (`/<domain>/htdocs`), no admin, no command execution, no shares.
 *   The user logs in through Authentik's forward auth (FileBrowser `--auth.method=proxy`, header
 *   `X-authentik-username`), so its password is an unusable placeholder.
 * - Adminer's allowed database: a PHP file returning the login's database user and database, read by the stack's
 *   plugin (configs/contractor/adminer/drover-grants.php) for the Authentik user of the request. Only when the
 *   grant includes the database (`--db`): Adminer logs in as the grant's database user.
 */
import { ACCESS_LOGIN } from './access-grants';
import { domainProblem } from './site-names';

/** Where the contractor stack reads the grants, under the farm's contractor configuration directory. */
export const PORTAL_SUBDIRS = { blueprints: 'authentik-blueprints', filebrowser: 'filebrowser-users', adminer: 'adminer-grants' } as const;

/** Authentik's group for one site's contractors. */
export const siteGroup = (site: string): string => `site:${site}`;

export interface PortalGrant {
  site: string;
  /** The contractor (ACCESS_USER) and the grant's login (accessLogin): the Authentik and FileBrowser user name. */
  user: string;
  login: string;
  /** The site's database when the grant includes it (Adminer), else null. */
  database: string | null;
}

export interface PortalFiles {
  /** Paths relative to the contractor configuration directory, and their contents (null: the file must not exist). */
  blueprint: { path: string; content: string };
  filebrowser: { path: string; content: string | null };
  adminer: { path: string; content: string | null };
}

const DATABASE = /^[a-z0-9_]{1,64}$/;

function check(g: PortalGrant): void {
  if (domainProblem(g.site) !== null) throw new Error(`site: ${JSON.stringify(g.site)} is not a site domain`);
  if (!/^[a-z][a-z0-9]{0,15}$/.test(g.user)) throw new Error(`user: ${JSON.stringify(g.user)} is not a contractor name`);
  if (!ACCESS_LOGIN.test(g.login)) throw new Error(`login: ${JSON.stringify(g.login)} is not a contractor login`);
  if (g.database !== null && !DATABASE.test(g.database)) throw new Error(`database: ${JSON.stringify(g.database)} is not a site database name`);
}

/** A YAML double-quoted scalar (JSON's string syntax is one). */
const y = (s: string) => JSON.stringify(s);

/** The Authentik blueprint of a grant: the site's group present, the grant's user present (granted) or absent (revoked). */
export function authentikBlueprint(g: PortalGrant, state: 'present' | 'absent'): string {
  check(g);
  const group = siteGroup(g.site);
  return [
    '# Written by Drover (drover access grant --files); Authentik applies it. Do not edit: the grant rewrites it.',
    'version: 1',
    'metadata:',
    `  name: ${y(`drover-grant-${g.login}`)}`,
    '  labels:',
    `    blueprints.goauthentik.io/description: ${y(`contractor ${g.user} on ${g.site} (access/${g.site}/${g.user}): ${state === 'present' ? 'granted' : 'revoked'}`)}`,
    'entries:',
    '  - model: authentik_core.group',
    '    state: present',
    '    identifiers:',
    `      name: ${y(group)}`,
    '    attrs:',
    '      is_superuser: false',
    '      attributes:',
    `        drover_site: ${y(g.site)}`,
    '  - model: authentik_core.user',
    `    state: ${state}`,
    '    identifiers:',
    `      username: ${y(g.login)}`,
    ...(state === 'present'
      ? [
          '    attrs:',
          `      name: ${y(`${g.user} (contractor, ${g.site})`)}`,
          '      path: "drover/contractors"',
          '      type: "external"',
          '      is_active: true',
          '      groups:',
          `        - !Find [authentik_core.group, [name, ${y(group)}]]`,
          '      attributes:',
          `        drover_grant: ${y(`access/${g.site}/${g.user}`)}`,
        ]
      : []),
    '',
  ].join('\n');
}

/** FileBrowser's users file for the grant (`filebrowser users import` reads a JSON array of users). */
export function filebrowserUsers(g: PortalGrant): string {
  check(g);
  const users = [
    {
      id: 0, // 0: a new user (the import gives it an ID)
      username: g.login,
      // Login is by Authentik's header (auth.method=proxy); FileBrowser wants a password, this one matches none.
      password: '!',
      scope: `/${g.site}/htdocs`,
      locale: 'en',
      lockPassword: true,
      viewMode: 'list',
      singleClick: false,
      perm: { admin: false, execute: false, create: true, rename: true, modify: true, delete: true, share: false, download: true },
      commands: [],
      sorting: { by: 'name', asc: true },
      rules: [],
      hideDotfiles: false,
      dateFormat: false,
    },
  ];
  return JSON.stringify(users, null, 2) + '\n';
}

/** Adminer's entry for the grant: the database user it may log in as and the one database it lists. */
export function adminerGrant(g: PortalGrant & { database: string }): string {
  check(g);
  // Every value is checked against a pattern without quotes or backslashes: a PHP single-quoted string holds it as is.
  return [
    '<?php',
    '// Written by Drover (drover access grant --files --db); read by configs/contractor/adminer/drover-grants.php.',
    `return ['site' => '${g.site}', 'login' => '${g.login}', 'database' => '${g.database}'];`,
    '',
  ].join('\n');
}

/** The three files of a grant, as written when it is granted or revoked. */
export function contractorPortalFiles(g: PortalGrant, state: 'present' | 'absent'): PortalFiles {
  check(g);
  return {
    blueprint: { path: `${PORTAL_SUBDIRS.blueprints}/drover-grant-${g.login}.yaml`, content: authentikBlueprint(g, state) },
    filebrowser: { path: `${PORTAL_SUBDIRS.filebrowser}/${g.login}.json`, content: state === 'present' ? filebrowserUsers(g) : null },
    adminer: { path: `${PORTAL_SUBDIRS.adminer}/${g.login}.php`, content: state === 'present' && g.database !== null ? adminerGrant({ ...g, database: g.database }) : null },
  };
}
