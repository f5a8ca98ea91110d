/**
 * `drover dev up | status | down` on the real processes: all seven parts healthy (the codec server and the front among them), `up` twice harmless, a killed
 * Galera node named by status and brought back by `up`, and a full stop/start that keeps Temporal history
 * (and a killed Temporal server's: its SQLite file is in WAL mode).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { devLayout } from '../../devkit/dev-env';
import { parseGaleraNodes } from '../../lib/clients/galera-client';
import { isRunning, readPid, sleep } from '../../devkit/dev-env/processes';
import { drover } from '../helpers/cli';
import { TEST_ENV } from '../helpers/paths';
import { testEnv } from '../helpers/temporal';

const layout = devLayout(TEST_ENV.stateDir, TEST_ENV.portOffset);
type Part = { name: string; healthy: boolean; running: boolean; endpoint: string; error?: string; logTail?: string; detail?: { nodes?: { node: string; healthy: boolean; clusterSize: number | null; state: string | null }[] } };

const pidFiles = () => ({
  temporal: path.join(layout.temporal.dir, 'temporal.pid'),
  s3: path.join(layout.s3.dir, 'versitygw.pid'),
  ssh: path.join(layout.ssh.dir, 'sshd.pid.drover'),
  docker: path.join(layout.docker.dir, 'dockerd.pid.drover'),
  codec: path.join(layout.codec.dir, 'codec-server.pid'),
  front: path.join(layout.front.dir, 'varnishd.pid.drover'),
  ...Object.fromEntries(layout.galera.nodes.map((n) => [n.name, path.join(layout.galera.dir, n.name, 'mariadbd.pid')])),
});
const pids = () => Object.fromEntries(Object.entries(pidFiles()).map(([k, f]) => [k, readPid(f)]));
/**
 * Kills a part's process outright and waits until it is gone (a signal is delivered, not yet acted on, when kill
 * returns); fails naming the part if it is still there after 30 s.
 */
async function killOutright(pid: number, expect: string): Promise<void> {
  process.kill(pid, 'SIGKILL');
  for (let waited = 0; isRunning(pid, expect); waited += 100) {
    if (waited >= 30_000) throw new Error(`${expect} (pid ${pid}) still running 30 s after SIGKILL`);
    await sleep(100);
  }
}

describe('drover dev', () => {
  it('status --json reports all six parts healthy with endpoints, and the Web UI answers', async () => {
    const r = await drover(['dev', 'status', '--json']);
    expect(r.code).toBe(0);
    const doc = r.json() as { ok: boolean; parts: Part[]; webUi: string };
    expect(doc.ok).toBe(true);
    expect(doc.parts.map((p) => p.name).sort()).toEqual(['codec', 'docker', 'front', 'galera', 's3', 'ssh', 'temporal']);
    for (const p of doc.parts) {
      expect(p.healthy, `${p.name}: ${p.error}`).toBe(true);
      expect(p.endpoint).toMatch(/127\.0\.0\.1|unix:\/\//);
    }
    expect(doc.webUi).toBe(`http://127.0.0.1:${layout.temporal.ui}`);
    const ui = await fetch(doc.webUi);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/<html/i);
  });

  it('up on a running environment changes nothing, its dedup key included (0600, named by path, never printed)', async () => {
    const before = pids();
    const keyFile = () => /^DROVER_BACKUP_DEDUP_KEY_FILE=(.+)$/m.exec(readFileSync(layout.envFile, 'utf8'))?.[1] ?? '';
    const key = readFileSync(keyFile());
    const r = await drover(['dev', 'up', '--json']);
    expect(r.code).toBe(0);
    expect((r.json() as { ok: boolean }).ok).toBe(true);
    expect(pids()).toEqual(before);
    // The workers started on this environment store files deduplicated: the env file names a key made once.
    expect(keyFile()).toBe(path.join(layout.secretsDir, 'backup-dedup-key'));
    expect(statSync(keyFile()).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile())).toEqual(key);
    expect(key.length).toBe(32);
    for (const form of [key.toString('hex'), key.toString('base64')]) {
      expect(r.stdout + r.stderr).not.toContain(form);
      expect(readFileSync(layout.envFile, 'utf8')).not.toContain(form);
    }
  });

  it('names a killed Galera node, and up brings it back into the cluster; its start leaves the other nodes\' temporary tables alone', async () => {
    // A temporary table on node1 has its files in node1's tmpdir. A starting mariadbd deletes every #sql* file in
    // its own tmpdir: with one shared /tmp, node2's restart below took node1's table files away mid-session (the
    // migration benchmark lost two sites to it when another environment's server started).
    const env = testEnv();
    const [n1] = parseGaleraNodes(env.DROVER_GALERA_NODES);
    const session = await mysql.createConnection({ host: n1.host, port: n1.port, user: env.DROVER_GALERA_USER, password: env.DROVER_GALERA_PASSWORD });
    await session.query('CREATE DATABASE IF NOT EXISTS dev_env_tmp');
    await session.query('CREATE TEMPORARY TABLE dev_env_tmp.kept (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=Aria');
    await session.query("INSERT INTO dev_env_tmp.kept VALUES (1, 'before the restart')");
    const victim = layout.galera.nodes[1].name;
    const pid = pids()[victim] as number;
    await killOutright(pid, 'mariadbd');

    const down = await drover(['dev', 'status', '--json', '--only', 'galera']);
    expect(down.code).toBe(1);
    const galera = (down.json() as { parts: Part[] }).parts[0];
    expect(galera.healthy).toBe(false);
    expect(galera.error).toContain(victim);
    const nodes = galera.detail!.nodes!;
    expect(nodes.find((n) => n.node === victim)!.healthy).toBe(false);
    expect(nodes.filter((n) => n.healthy).map((n) => n.node)).toEqual(['node1', 'node3']);

    const text = await drover(['dev', 'status', '--only', 'galera']);
    expect(text.stdout).toMatch(new RegExp(`DOWN ${victim}`));

    const up = await drover(['dev', 'up', '--json', '--only', 'galera']);
    expect(up.code).toBe(0);
    const back = (up.json() as { parts: Part[] }).parts[0];
    expect(back.detail!.nodes!.every((n) => n.healthy && n.state === 'Synced' && n.clusterSize === 3)).toBe(true);
    expect(pids()[victim]).not.toBe(pid);
    try {
      await session.query("INSERT INTO dev_env_tmp.kept VALUES (2, 'after')");
      const [rows] = await session.query('SELECT v FROM dev_env_tmp.kept ORDER BY id');
      expect(rows).toEqual([{ v: 'before the restart' }, { v: 'after' }]);
      // Its files were still open; closing it is where a deleted file shows ("Error on delete of '…#sql-temptable…'").
      await session.query('DROP TEMPORARY TABLE dev_env_tmp.kept');
    } finally {
      await session.query('DROP DATABASE dev_env_tmp').catch(() => undefined);
      await session.end();
    }
  });

  it('down stops every part; up restarts them with Temporal history and Galera data kept', async () => {
    const smoke = await drover(['smoke', '--worker', '--json', '--label', `restart-${process.pid}`]);
    expect(smoke.code, smoke.stderr).toBe(0);
    const workflowId = (smoke.json() as { workflowId: string }).workflowId;

    // A local farm's node whose sshd runs (a process standing in for it, by its pid file): not the environment's, so
    // down leaves it and names it.
    const farm = `left-${process.pid}`;
    const nodeDir = path.join(testEnv().DROVER_LOCAL_NODES_DIR, farm, `${farm}-1`);
    mkdirSync(nodeDir, { recursive: true });
    const standIn = spawn('sleep', ['300'], { stdio: 'ignore' });
    writeFileSync(path.join(nodeDir, 'sshd.pid'), String(standIn.pid));
    let down;
    try {
      down = await drover(['dev', 'down', '--json']);
    } finally {
      standIn.kill('SIGKILL');
      rmSync(path.dirname(nodeDir), { recursive: true, force: true });
    }
    expect(down.code).toBe(0);
    const stopped = (down.json() as { parts: Part[] }).parts;
    expect(stopped.every((p) => !p.running && !p.healthy)).toBe(true);
    expect(Object.values(pids()).every((p) => p === null)).toBe(true);
    expect((down.json() as { localFarms: unknown[] }).localFarms).toContainEqual({ farm, nodes: [`${farm}-1`] });
    expect(down.stderr).toContain(`local farm ${farm} still runs (${farm}-1): dev down leaves it`);

    const up = await drover(['dev', 'up', '--json']);
    expect(up.code, up.stdout).toBe(0);

    // The workflow run from before the restart is still in Temporal's SQLite history, and the marker row the
    // smoke run replicated is still in Galera: the smoke run of the same label is a no-op insert and sees it.
    const { Connection, Client } = await import('@temporalio/client');
    const described = async (id: string) => {
      const conn = await Connection.connect({ address: `127.0.0.1:${layout.temporal.grpc}` });
      try {
        return (await new Client({ connection: conn }).workflow.getHandle(id).describe()).status.name;
      } finally {
        await conn.close();
      }
    };
    expect(await described(workflowId)).toBe('COMPLETED');
    // The server's SQLite file is in WAL mode (the header's read and write versions are 2), and a server killed
    // outright keeps the history of a run completed just before: the log is replayed when up opens the file again.
    const header = readFileSync(path.join(layout.temporal.dir, 'temporal.db')).subarray(18, 20);
    expect([...header]).toEqual([2, 2]);
    const late = await drover(['smoke', '--worker', '--json', '--label', `killed-${process.pid}`]);
    expect(late.code, late.stderr).toBe(0);
    const lateId = (late.json() as { workflowId: string }).workflowId;
    await killOutright(pids().temporal!, 'temporal');
    const again = await drover(['dev', 'up', '--json']);
    expect(again.code, again.stdout).toBe(0);
    expect(await described(lateId)).toBe('COMPLETED');
    const env = readFileSync(layout.envFile, 'utf8');
    expect(env).toMatch(/^DROVER_GALERA_NODES=/m);
    // Where local clusters' sites reach Galera, and the front that serves them.
    expect(env).toMatch(new RegExp(`^DROVER_SITE_DB_HOST=10\\.254\\.254\\.1:${layout.galera.nodes[0].mysql}$`, 'm'));
    expect(env).toMatch(new RegExp(`^DROVER_FRONT_URL=http://127\\.0\\.0\\.1:${layout.front.port}$`, 'm'));
  });
});
