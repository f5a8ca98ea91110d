/**
 * An "old host" for migration tests and the demo: what a site's previous hosting looks like from Drover's side.
 * Its own OpenSSH server (own port, own host key, key login for the migration worker only) and its own MariaDB
 * server (a separate mariadbd with its own datadir and port: the old host's database, not the farm's Galera
 * cluster), holding WordPress sites under another table prefix with files in a docroot and a wp-config.php.
 *
 * `mysql8: true` makes the old host's `mysqldump` print what MySQL 8 prints (utf8mb4_0900_ai_ci collations, a
 * MySQL header): Debian has no MySQL, so the shim rewrites MariaDB's dump text the way MySQL 8 would write it.
 */
import { chownSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { wordpressSchema, WP_VERSION, WP_DB_VERSION } from '../wordpress-schema';
import { daemonPid, execFileP, spawnDaemon, stopDaemon, tcpOpen, waitFor } from '../dev-env/processes';
import { fingerprint } from '../dev-env/ssh-server';
import { legacyRows, legacyValues, type LegacyValue } from './legacy-site';

export interface OldHostOptions {
  /** Folder holding everything (keys, datadir, docroots, password files). */
  dir: string;
  sshPort: number;
  dbPort: number;
  /** Public key(s) (OpenSSH format) allowed to log in: the migration worker's. */
  authorizedKeys: string;
  /** Dumps look like MySQL 8's (utf8mb4_0900_ai_ci). */
  mysql8?: boolean;
}

export interface LegacySite {
  domain: string;
  /** `root@127.0.0.1:<port>`: the CSV's source_ssh. */
  sourceSsh: string;
  sourcePath: string;
  sourceDb: string;
  sourceDbHost: string;
  sourceDbUser: string;
  sourceDbPasswordFile: string;
  tablePrefix: string;
  fromUrl: string;
  /** The values PHP wrote that a migration must keep unserializable (see legacy-site.ts). */
  values: LegacyValue[];
}

export interface OldHost {
  sshTarget: string;
  hostKeyFingerprint: string;
  dbPort: number;
  /** Root on the old host's MariaDB (over its socket): for tests that read the source. */
  rootPool(): mysql.Pool;
  addSite(o: {
    domain: string; tablePrefix?: string; posts?: number; uploadBytes?: number; password?: string;
    /** WordPress core in the docroot (this machine's Debian `wordpress` package) and a theme that renders the title: a site that serves pages once migrated. */
    wordpressCore?: boolean;
    /** A trigger, a view and a stored function in its database (the site's user may read their definitions). */
    programs?: boolean;
  }): Promise<LegacySite>;
  /** Stops sshd only (a source becoming unreachable); `start` again brings it back. */
  stopSsh(): Promise<void>;
  startSsh(): Promise<void>;
  stop(): Promise<void>;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function mysqlIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((x) => x.startsWith('mysql:'));
  if (!line) throw new Error('user mysql does not exist: install mariadb-server');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** MariaDB's dump text as MySQL 8.0 prints it: its header and its default utf8mb4 collation. */
export function asMysql8Dump(text: string): string {
  return text
    .replace(/^-- MariaDB dump [^\n]*/m, '-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)')
    .replace(/utf8mb4_unicode_520_ci|utf8mb4_general_ci|utf8mb4_unicode_ci/g, 'utf8mb4_0900_ai_ci');
}

export async function startOldHost(o: OldHostOptions): Promise<OldHost> {
  const dir = path.resolve(o.dir);
  const p = {
    ssh: path.join(dir, 'ssh'),
    db: path.join(dir, 'db'),
    data: path.join(dir, 'db', 'data'),
    socket: path.join(dir, 'db', 'mysqld.sock'),
    www: path.join(dir, 'www'),
    secrets: path.join(dir, 'secrets'),
    bin: path.join(dir, 'bin'),
  };
  // mysqld runs as user mysql: it must be able to walk down to its datadir.
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  for (const d of [p.ssh, p.secrets]) mkdirSync(d, { recursive: true, mode: 0o700 });
  for (const d of [p.db, p.www, p.bin]) mkdirSync(d, { recursive: true, mode: 0o755 });

  // --- MariaDB: its own server, not a Galera node ---
  const ids = mysqlIds();
  chownSync(p.db, ids.uid, ids.gid);
  mkdirSync(path.join(p.db, 'tmp'), { recursive: true, mode: 0o700 });
  chownSync(path.join(p.db, 'tmp'), ids.uid, ids.gid);
  const cnf = path.join(p.db, 'my.cnf');
  const dbPid = path.join(p.db, 'mariadbd.pid.drover');
  writeFileSync(
    cnf,
    `[mysqld]\ndatadir=${p.data}\nsocket=${p.socket}\npid-file=${path.join(p.db, 'mysqld.pid')}\nlog-error=${path.join(p.db, 'error.log')}\ntmpdir=${path.join(p.db, 'tmp')}\nport=${o.dbPort}\nbind-address=127.0.0.1\nuser=mysql\nskip-name-resolve\ninnodb_buffer_pool_size=32M\nperformance_schema=OFF\ncharacter-set-server=utf8mb4\ncollation-server=utf8mb4_unicode_520_ci\n`,
  );
  if (!existsSync(path.join(p.data, 'mysql'))) {
    await execFileP('mariadb-install-db', [`--defaults-file=${cnf}`, '--user=mysql', '--auth-root-authentication-method=socket', '--skip-test-db'], { timeout: 120_000 });
  }
  if (!daemonPid(dbPid, 'mariadbd')) spawnDaemon({ command: 'mariadbd', args: [`--defaults-file=${cnf}`], logFile: path.join(p.db, 'stdout.log'), pidFile: dbPid });
  await waitFor('old host mariadbd', async () => existsSync(p.socket) && (await tcpOpen(o.dbPort)), 60_000, () => daemonPid(dbPid, 'mariadbd') !== null);
  const root = mysql.createPool({ socketPath: p.socket, user: 'root', connectionLimit: 4, multipleStatements: false, charset: 'utf8mb4' });

  // --- the old host's mysqldump: MariaDB's, or the MySQL 8 look-alike ---
  writeFileSync(
    path.join(p.bin, 'mysqldump'),
    o.mysql8
      ? `#!/bin/bash\nset -o pipefail\n/usr/bin/mariadb-dump "$@" | sed -e '1s/^-- MariaDB dump.*/-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)/' -e 's/utf8mb4_unicode_520_ci/utf8mb4_0900_ai_ci/g; s/utf8mb4_general_ci/utf8mb4_0900_ai_ci/g'\n`
      : '#!/bin/sh\nexec /usr/bin/mariadb-dump "$@"\n',
    { mode: 0o755 },
  );

  // --- sshd: own host key, key login only ---
  const hostKey = path.join(p.ssh, 'ssh_host_ed25519_key');
  const authorized = path.join(p.ssh, 'authorized_keys');
  const sshdCnf = path.join(p.ssh, 'sshd_config');
  const sshPid = path.join(p.ssh, 'sshd.pid.drover');
  if (!existsSync(hostKey)) await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'drover-old-host', '-f', hostKey]);
  mkdirSync(path.join(p.ssh, 'home'), { recursive: true, mode: 0o700 });
  writeFileSync(authorized, o.authorizedKeys.trim() + '\n', { mode: 0o600 });
  writeFileSync(
    sshdCnf,
    [
      `Port ${o.sshPort}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `AuthorizedKeysFile ${authorized}`, `PidFile ${path.join(p.ssh, 'sshd.pid')}`,
      'PubkeyAuthentication yes', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', 'UsePAM no',
      'StrictModes no', 'X11Forwarding no', 'AllowTcpForwarding no', 'MaxSessions 32', 'MaxStartups 32:30:64',
      // The old host's own tools first (its mysqldump), as on a host where they are installed; an empty home of
      // its own (root's bash reads ~/.bashrc for every command: this machine's, not the old host's).
      `SetEnv PATH=${p.bin}:/usr/local/bin:/usr/bin:/bin HOME=${path.join(p.ssh, 'home')}`, '',
    ].join('\n'),
  );
  await execFileP('/usr/sbin/sshd', ['-t', '-f', sshdCnf]);
  const startSsh = async () => {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    if (!daemonPid(sshPid, 'sshd')) spawnDaemon({ command: '/usr/sbin/sshd', args: ['-D', '-e', '-f', sshdCnf], logFile: path.join(p.ssh, 'sshd.log'), pidFile: sshPid });
    await waitFor('old host sshd', () => tcpOpen(o.sshPort), 20_000, () => daemonPid(sshPid, 'sshd') !== null);
  };
  await startSsh();
  const hostKeyFingerprint = await fingerprint(`${hostKey}.pub`);
  const sshTarget = `root@127.0.0.1:${o.sshPort}`;

  return {
    sshTarget,
    hostKeyFingerprint,
    dbPort: o.dbPort,
    rootPool: () => root,
    startSsh,
    async stopSsh() {
      await stopDaemon(sshPid, 'sshd');
    },
    async stop() {
      await root.end().catch(() => undefined);
      await stopDaemon(sshPid, 'sshd');
      await stopDaemon(dbPid, 'mariadbd', 60_000);
    },
    async addSite(s) {
      const prefix = s.tablePrefix ?? 'wpx7_';
      const label = s.domain.replace(/[^a-z0-9]+/gi, '_').slice(0, 40);
      const database = `old_${label}`;
      const user = `u_${label}`.slice(0, 32);
      const password = s.password ?? `pw "${label}" \\ ü'$x`;
      const url = `https://${s.domain}`;
      await root.query('DROP DATABASE IF EXISTS ??', [database]);
      await root.query('CREATE DATABASE ?? DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci', [database]);
      for (const host of ['localhost', '127.0.0.1']) {
        await root.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [user, host, password]);
        await root.query('ALTER USER ?@? IDENTIFIED BY ?', [user, host, password]);
        // What a hosting panel grants a site's user; the migration only ever reads.
        await root.query('GRANT SELECT, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT ON ??.* TO ?@?', [database, user, host]);
      }
      const conn = await root.getConnection();
      try {
        await conn.query('USE ??', [database]);
        for (const ddl of wordpressSchema(prefix)) await conn.query(ddl);
        const rows = legacyRows(s.domain, database, prefix, s.posts ?? 20);
        for (const [table, list] of Object.entries(rows)) {
          if (!list.length) continue;
          const cols = Object.keys(list[0]);
          await conn.query(`INSERT INTO ?? (${cols.map(() => '??').join(',')}) VALUES ?`, [table, ...cols, list.map((r) => cols.map((c) => r[c]))]);
        }
        if (s.programs) {
          await conn.query(`CREATE TRIGGER \`${prefix}comments_agent\` BEFORE INSERT ON \`${prefix}comments\` FOR EACH ROW SET NEW.comment_agent = LEFT(NEW.comment_agent, 200)`);
          await conn.query(`CREATE VIEW \`${prefix}published_posts\` AS SELECT ID, post_title FROM \`${prefix}posts\` WHERE post_status = 'publish'`);
          await conn.query(`CREATE FUNCTION \`${prefix}post_count\`() RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM \`${prefix}posts\`)`);
          // What mysqldump --routines needs to read a routine's definition on MariaDB 10.x.
          for (const host of ['localhost', '127.0.0.1']) await root.query('GRANT SELECT ON mysql.proc TO ?@?', [user, host]);
        }
        const values = legacyValues(url);
        for (const v of values) {
          if (v.table === 'options') await conn.query('INSERT INTO ?? (option_name, option_value, autoload) VALUES (?, ?, ?)', [`${prefix}options`, v.key, v.value, 'yes']);
          else await conn.query('INSERT INTO ?? (post_id, meta_key, meta_value) VALUES (1, ?, ?)', [`${prefix}postmeta`, v.key, v.value]);
        }
        const pwFile = path.join(p.secrets, `${label}.password`);
        writeFileSync(pwFile, password + '\n', { mode: 0o600 });
        const docroot = path.join(p.www, s.domain, 'public_html');
        const bytes = s.uploadBytes ?? 256 * 1024;
        const config = [
          '<?php',
          '/** The base configuration for WordPress (as the old host left it). */',
          `define( 'DB_NAME', ${q(database)} );`,
          `define( 'DB_USER', ${q(user)} );`,
          `define('DB_PASSWORD', 'not-the-real-one');`,
          `define( 'DB_HOST', '127.0.0.1:${o.dbPort}' );`,
          "define( 'DB_CHARSET', 'utf8mb4' );",
          "/* $table_prefix = 'wp_'; (commented out: the real one is below) */",
          `$table_prefix  =  "${prefix}";`,
          "if ( ! defined( 'ABSPATH' ) ) { define( 'ABSPATH', __DIR__ . '/' ); }",
          "require_once ABSPATH . 'wp-settings.php';",
          '',
        ].join('\n');
        const script = [
          'set -e',
          `rm -rf ${q(docroot)}`,
          `mkdir -p ${q(docroot + '/wp-includes')} ${q(docroot + '/wp-content/themes/twentytwentyfive')} ${q(docroot + '/wp-content/uploads/2024/01')} ${q(docroot + '/wp-content/uploads/2024/02')}`,
          `printf '%s\\n' '<?php' '$wp_version = '"'"'${WP_VERSION}'"'"';' '$wp_db_version = ${WP_DB_VERSION};' > ${q(docroot + '/wp-includes/version.php')}`,
          `printf '%s\\n' '/*' 'Theme Name: Twenty Twenty-Five' '*/' > ${q(docroot + '/wp-content/themes/twentytwentyfive/style.css')}`,
          ...Array.from({ length: 4 }, (_, i) => `head -c ${Math.floor(bytes / 4)} /dev/urandom > ${q(`${docroot}/wp-content/uploads/2024/0${1 + (i % 2)}/photo-${i + 1}.jpg`)}`),
          `printf 'Déjà vu – ünïcödé\\n' > ${q(docroot + '/wp-content/uploads/2024/01/café menu (final).txt')}`,
          ...(s.wordpressCore
            ? [
                // Core as the local WordPress image has it (scripts/build-wordpress-image.sh), under the site's own files.
                `cp -aL /usr/share/wordpress/. ${q(docroot)}/ && rm -f ${q(docroot + '/wp-config.php')} ${q(docroot + '/.htaccess')}`,
                `rm -f ${q(docroot + '/wp-includes/version.php')} && cp /usr/share/wordpress/wp-includes/version.php ${q(docroot + '/wp-includes/version.php')}`,
                `printf '%s\\n' '<?php' '/* Theme Name: Twenty Twenty-Five */' '?><!doctype html><html><head><meta charset="utf-8"><title><?php bloginfo("name"); ?></title><link rel="stylesheet" href="<?php echo esc_url(get_stylesheet_uri()); ?>"></head>' '<body><h1><?php bloginfo("name"); ?></h1><a href="<?php echo esc_url(home_url("/über-uns/")); ?>">Über uns</a><img src="<?php echo esc_url(content_url("/uploads/2024/01/photo-1.jpg")); ?>" alt=""></body></html>' > ${q(docroot + '/wp-content/themes/twentytwentyfive/index.php')}`,
              ]
            : []),
        ].join('\n');
        await execFileP('sh', ['-c', script]);
        writeFileSync(path.join(docroot, 'wp-config.php'), config);
        return { domain: s.domain, sourceSsh: sshTarget, sourcePath: docroot, sourceDb: database, sourceDbHost: `127.0.0.1:${o.dbPort}`, sourceDbUser: user, sourceDbPasswordFile: pwFile, tablePrefix: prefix, fromUrl: url, values };
      } finally {
        conn.release();
      }
    },
  };
}
