/**
 * A 3-node MariaDB Galera cluster on loopback (Debian mariadb-server + galera-4), run as user `mysql` with
 * rsync SST and distinct mysql/gcomm/IST/SST ports. First start bootstraps node1; later starts rejoin: a node
 * joins any running member, and a fully stopped cluster is re-bootstrapped from the most advanced node.
 * The SQL port also listens on LOCAL_SERVICES_ADDRESS (added to `lo` here when running as root), where the
 * sites on a local cluster's nodes connect; replication (gcomm, IST, SST) stays on loopback. A node running
 * from before that is restarted once, one node at a time, so the cluster stays up.
 */
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { DevLayout, GaleraNodePorts } from './layout';
import type { DevPart, PartStatus } from './part';
import { daemonPid, execFileP, spawnDaemon, stopDaemon, tailFile, tcpOpen, waitFor } from './processes';
import { LOCAL_SERVICES_ADDRESS, LOCAL_SERVICES_LABEL } from '../../lib/local-services';
import { DDL_STALL_SECONDS, STALLED_DDL_SQL, toStalledDdl, type StalledDdl } from '../../lib/clients/galera-client';

export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so';
export const DROVER_DB_USER = 'drover';

interface NodePaths {
  dir: string;
  data: string;
  cnf: string;
  socket: string;
  pidFile: string;
  log: string;
  /**
   * Its own tmpdir: a starting mariadbd deletes every `#sql*` file in its tmpdir, so servers sharing /tmp (the
   * environments, old hosts and restarted nodes on one machine) would delete each other's temporary tables.
   */
  tmp: string;
}

function nodePaths(l: DevLayout, n: GaleraNodePorts): NodePaths {
  const dir = path.join(l.galera.dir, n.name);
  return {
    dir,
    data: path.join(dir, 'data'),
    cnf: path.join(dir, 'my.cnf'),
    socket: path.join(dir, 'mysqld.sock'),
    pidFile: path.join(dir, 'mariadbd.pid'),
    log: path.join(dir, 'error.log'),
    tmp: path.join(dir, 'tmp'),
  };
}

/** Whether LOCAL_SERVICES_ADDRESS is on `lo` (packets the nodes route to it are then delivered here). */
export async function servicesAddressUp(): Promise<boolean> {
  const { stdout } = await execFileP('ip', ['-o', '-4', 'addr', 'show', 'dev', 'lo']);
  return stdout.includes(` ${LOCAL_SERVICES_ADDRESS}/32 `);
}

/**
 * LOCAL_SERVICES_ADDRESS on `lo` (shared by every local environment here; each has its own ports). Without root
 * there are no local nodes either, so Galera stays on loopback only.
 */
export async function ensureServicesAddress(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  if (await servicesAddressUp()) return true;
  // Two environments starting at once: whichever comes first adds it, the other finds it.
  await execFileP('ip', ['addr', 'add', `${LOCAL_SERVICES_ADDRESS}/32`, 'dev', 'lo', 'label', LOCAL_SERVICES_LABEL]).catch(() => undefined);
  return servicesAddressUp();
}

function myCnf(l: DevLayout, n: GaleraNodePorts, p: NodePaths, servicesAddress: boolean): string {
  const members = l.galera.nodes.map((m) => `127.0.0.1:${m.gcomm}`).join(',');
  return `[mysqld]
datadir=${p.data}
socket=${p.socket}
pid-file=${path.join(p.dir, 'mysqld.pid')}
log-error=${p.log}
tmpdir=${p.tmp}
port=${n.mysql}
bind-address=127.0.0.1${servicesAddress ? `,${LOCAL_SERVICES_ADDRESS}` : ''}
user=mysql
skip-name-resolve
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_flush_log_at_trx_commit=2
innodb_buffer_pool_size=96M
innodb_log_file_size=32M
performance_schema=OFF
max_connections=300
max_allowed_packet=256M
wsrep_on=ON
wsrep_provider=${GALERA_PROVIDER}
wsrep_cluster_name=drover-local-${l.portOffset}
wsrep_cluster_address=gcomm://${members}
wsrep_node_name=${n.name}
wsrep_node_address=127.0.0.1:${n.gcomm}
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:${n.gcomm};ist.recv_addr=127.0.0.1:${n.ist};gcache.size=128M"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:${n.sst}
`;
}

function chownMysql(p: string): void {
  const { uid, gid } = mysqlIds();
  chownSync(p, uid, gid);
}

let ids: { uid: number; gid: number } | undefined;
function mysqlIds(): { uid: number; gid: number } {
  if (!ids) {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((x) => x.startsWith('mysql:'));
    if (!line) throw new Error('user mysql does not exist: install mariadb-server (scripts/install.sh)');
    const f = line.split(':');
    ids = { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return ids;
}

export function readGrastate(dataDir: string): { seqno: number; safeToBootstrap: boolean } | null {
  const f = path.join(dataDir, 'grastate.dat');
  if (!existsSync(f)) return null;
  const t = readFileSync(f, 'utf8');
  return {
    seqno: Number(/^seqno:\s*(-?\d+)/m.exec(t)?.[1] ?? -1),
    safeToBootstrap: /^safe_to_bootstrap:\s*1/m.test(t),
  };
}

async function localStatus(p: NodePaths, name: string, ddlWaitSeconds: number): Promise<{ state: string | null; size: number | null; primary: boolean; stalledDdl: StalledDdl[] }> {
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({ socketPath: p.socket, user: 'root', connectTimeout: 2_000 });
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_size','wsrep_cluster_status')",
    );
    const v = Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
    const [ddl] = await conn.query<mysql.RowDataPacket[]>(STALLED_DDL_SQL, [ddlWaitSeconds]).catch(() => [[] as mysql.RowDataPacket[]]);
    return { state: v.wsrep_local_state_comment ?? null, size: v.wsrep_cluster_size ? Number(v.wsrep_cluster_size) : null, primary: v.wsrep_cluster_status === 'Primary', stalledDdl: toStalledDdl(name, ddl) };
  } catch {
    return { state: null, size: null, primary: false, stalledDdl: [] };
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

/** The position a stopped node recovered to, via `mariadbd --wsrep-recover` (used when grastate says -1). */
async function recoverSeqno(p: NodePaths): Promise<number> {
  try {
    await execFileP('mariadbd', [`--defaults-file=${p.cnf}`, '--wsrep-recover', `--log-error=${path.join(p.dir, 'recover.log')}`], { timeout: 120_000 });
  } catch {
    /* the position is read from the log below */
  }
  const t = existsSync(path.join(p.dir, 'recover.log')) ? readFileSync(path.join(p.dir, 'recover.log'), 'utf8') : '';
  const matches = [...t.matchAll(/Recovered position:\s*[0-9a-f-]+:(-?\d+)/g)];
  return matches.length ? Number(matches[matches.length - 1][1]) : -1;
}

/**
 * `ddlWaitSeconds`: DDL running or waiting this long on a node makes the part unhealthy (default a minute): on
 * Galera it stalls DDL on every node while each still reports Synced.
 */
export function galeraPart(l: DevLayout, dbPassword: () => string, ddlWaitSeconds = DDL_STALL_SECONDS): DevPart {
  const nodes = l.galera.nodes.map((n) => ({ ports: n, paths: nodePaths(l, n) }));
  const running = (p: NodePaths) => daemonPid(p.pidFile, 'mariadbd') !== null;

  let servicesAddress = false;
  function prepare(n: (typeof nodes)[number]): boolean {
    mkdirSync(n.paths.data, { recursive: true });
    mkdirSync(n.paths.tmp, { recursive: true });
    chownMysql(n.paths.dir);
    chownMysql(n.paths.data);
    chownMysql(n.paths.tmp);
    writeFileSync(n.paths.cnf, myCnf(l, n.ports, n.paths, servicesAddress));
    return existsSync(path.join(n.paths.data, 'mysql'));
  }

  function start(n: (typeof nodes)[number], bootstrap: boolean): void {
    const args = [`--defaults-file=${n.paths.cnf}`];
    if (bootstrap) args.push('--wsrep-new-cluster');
    spawnDaemon({ command: 'mariadbd', args, logFile: path.join(n.paths.dir, 'stdout.log'), pidFile: n.paths.pidFile });
  }

  async function waitSynced(n: (typeof nodes)[number], timeoutMs = 180_000): Promise<void> {
    await waitFor(`galera ${n.ports.name}`, async () => (await localStatus(n.paths, n.ports.name, ddlWaitSeconds)).state === 'Synced', timeoutMs, () => running(n.paths));
  }

  async function ensureDroverUser(n: (typeof nodes)[number]): Promise<void> {
    const conn = await mysql.createConnection({ socketPath: n.paths.socket, user: 'root' });
    try {
      const pw = dbPassword();
      for (const host of ['127.0.0.1', 'localhost']) {
        await conn.query(`CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?`, [DROVER_DB_USER, host, pw]);
        await conn.query(`ALTER USER ?@? IDENTIFIED BY ?`, [DROVER_DB_USER, host, pw]);
        await conn.query(`GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION`, [DROVER_DB_USER, host]);
      }
    } finally {
      await conn.end();
    }
  }

  return {
    name: 'galera',
    async up(log) {
      servicesAddress = await ensureServicesAddress();
      const initialised = nodes.map(prepare);
      if (!initialised[0] && !nodes.some((n) => running(n.paths))) {
        log('galera: initialising node1 (mariadb-install-db)');
        await execFileP('mariadb-install-db', [`--defaults-file=${nodes[0].paths.cnf}`, '--user=mysql', '--auth-root-authentication-method=socket', '--skip-test-db'], { timeout: 120_000 });
      }
      let members = nodes.filter((n) => running(n.paths));
      if (members.length === 0) {
        // Whole cluster down: bootstrap from the node that is safe to, else the one with the highest seqno.
        const states = await Promise.all(
          nodes.map(async (n) => {
            const g = readGrastate(n.paths.data);
            if (!g) return { n, seqno: -2, safe: false };
            const seqno = g.seqno >= 0 ? g.seqno : await recoverSeqno(n.paths);
            return { n, seqno, safe: g.safeToBootstrap };
          }),
        );
        const pick = states.find((s) => s.safe) ?? [...states].sort((a, b) => b.seqno - a.seqno)[0];
        const gf = path.join(pick.n.paths.data, 'grastate.dat');
        if (existsSync(gf)) writeFileSync(gf, readFileSync(gf, 'utf8').replace(/^safe_to_bootstrap:\s*0/m, 'safe_to_bootstrap: 1'));
        log(`galera: bootstrapping the cluster from ${pick.n.ports.name}`);
        start(pick.n, true);
        await waitSynced(pick.n);
        members = [pick.n];
      }
      // Start the rest one at a time: concurrent SSTs from one donor only slow each other down.
      for (const n of nodes) {
        if (running(n.paths)) continue;
        log(`galera: ${n.ports.name} joining`);
        start(n, false);
        await waitSynced(n);
      }
      await Promise.all(nodes.map((n) => waitSynced(n)));
      // Nodes started before they listened for the local cluster: restarted one at a time (each rejoins by IST).
      if (servicesAddress) {
        for (const n of nodes) {
          if (await tcpOpen(n.ports.mysql, LOCAL_SERVICES_ADDRESS)) continue;
          log(`galera: restarting ${n.ports.name} to listen on ${LOCAL_SERVICES_ADDRESS}`);
          await stopDaemon(n.paths.pidFile, 'mariadbd', 60_000);
          start(n, false);
          await waitSynced(n);
        }
      }
      await ensureDroverUser(members[0]);
    },
    async down() {
      // Stop joiners first and the first member last, so the last node out is marked safe to bootstrap.
      for (const n of [...nodes].reverse()) await stopDaemon(n.paths.pidFile, 'mariadbd', 60_000);
    },
    async status(): Promise<PartStatus> {
      const sitesAddress = await servicesAddressUp();
      const per = await Promise.all(
        nodes.map(async (n) => {
          const alive = running(n.paths);
          const s = alive ? await localStatus(n.paths, n.ports.name, ddlWaitSeconds) : { state: null, size: null, primary: false, stalledDdl: [] };
          return {
            node: n.ports.name,
            endpoint: `127.0.0.1:${n.ports.mysql}`,
            sitesEndpoint: sitesAddress ? `${LOCAL_SERVICES_ADDRESS}:${n.ports.mysql}` : null,
            running: alive,
            state: s.state,
            clusterSize: s.size,
            primary: s.primary,
            stalledDdl: s.stalledDdl,
            healthy: alive && s.state === 'Synced' && s.primary && s.stalledDdl.length === 0,
            ...(alive && s.state === 'Synced' ? {} : { logTail: tailFile(n.paths.log, 10) }),
          };
        }),
      );
      const healthy = per.every((p) => p.healthy && p.clusterSize === nodes.length);
      const stalled = per.flatMap((p) => p.stalledDdl);
      const down = per.filter((p) => !p.healthy && !p.stalledDdl.length).map((p) => p.node);
      return {
        name: 'galera',
        running: per.some((p) => p.running),
        healthy,
        endpoint: per.map((p) => p.endpoint).join(','),
        detail: { nodes: per },
        ...(healthy
          ? {}
          : {
              error: [
                ...(down.length ? [`not healthy: ${down.join(', ')}`] : []),
                ...stalled.map((d) => `DDL waiting ${d.seconds} s on ${d.node} (id ${d.id}, ${d.state || 'running'}): ${d.statement}`),
              ].join('; ') || 'cluster size below 3',
            }),
      };
    },
  };
}
