/**
 * `drover dev up | status | down` on the real processes: all five parts healthy, `up` twice harmless, a killed
 * Galera node named by status and brought back by `up`, and a full stop/start that keeps Temporal history.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { devLayout } from '../../lib/dev-env';
import { readPid } from '../../lib/dev-env/processes';
import { drover } from '../helpers/cli';
import { TEST_ENV } from '../helpers/paths';

const layout = devLayout(TEST_ENV.stateDir, TEST_ENV.portOffset);
type Part = { name: string; healthy: boolean; running: boolean; endpoint: string; error?: string; logTail?: string; detail?: { nodes?: { node: string; healthy: boolean; clusterSize: number | null; state: string | null }[] } };

const pidFiles = () => ({
  temporal: path.join(layout.temporal.dir, 'temporal.pid'),
  s3: path.join(layout.s3.dir, 'versitygw.pid'),
  ssh: path.join(layout.ssh.dir, 'sshd.pid.drover'),
  docker: path.join(layout.docker.dir, 'dockerd.pid.drover'),
  ...Object.fromEntries(layout.galera.nodes.map((n) => [n.name, path.join(layout.galera.dir, n.name, 'mariadbd.pid')])),
});
const pids = () => Object.fromEntries(Object.entries(pidFiles()).map(([k, f]) => [k, readPid(f)]));

describe('drover dev', () => {
  it('status --json reports all five parts healthy with endpoints, and the Web UI answers', async () => {
    const r = await drover(['dev', 'status', '--json']);
    expect(r.code).toBe(0);
    const doc = r.json() as { ok: boolean; parts: Part[]; webUi: string };
    expect(doc.ok).toBe(true);
    expect(doc.parts.map((p) => p.name).sort()).toEqual(['docker', 'galera', 's3', 'ssh', 'temporal']);
    for (const p of doc.parts) {
      expect(p.healthy, `${p.name}: ${p.error}`).toBe(true);
      expect(p.endpoint).toMatch(/127\.0\.0\.1|unix:\/\//);
    }
    expect(doc.webUi).toBe(`http://127.0.0.1:${layout.temporal.ui}`);
    const ui = await fetch(doc.webUi);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/<html/i);
  });

  it('up on a running environment changes nothing', async () => {
    const before = pids();
    const r = await drover(['dev', 'up', '--json']);
    expect(r.code).toBe(0);
    expect((r.json() as { ok: boolean }).ok).toBe(true);
    expect(pids()).toEqual(before);
  });

  it('names a killed Galera node, and up brings it back into the cluster', async () => {
    const victim = layout.galera.nodes[1].name;
    const pid = pids()[victim] as number;
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));

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
  });

  it('down stops every part; up restarts them with Temporal history and Galera data kept', async () => {
    const smoke = await drover(['smoke', '--worker', '--json', '--label', `restart-${process.pid}`]);
    expect(smoke.code, smoke.stderr).toBe(0);
    const workflowId = (smoke.json() as { workflowId: string }).workflowId;

    const down = await drover(['dev', 'down', '--json']);
    expect(down.code).toBe(0);
    const stopped = (down.json() as { parts: Part[] }).parts;
    expect(stopped.every((p) => !p.running && !p.healthy)).toBe(true);
    expect(Object.values(pids()).every((p) => p === null)).toBe(true);

    const up = await drover(['dev', 'up', '--json']);
    expect(up.code, up.stdout).toBe(0);

    // The workflow run from before the restart is still in Temporal's SQLite history, and the marker row the
    // smoke run replicated is still in Galera: the smoke run of the same label is a no-op insert and sees it.
    const { Connection, Client } = await import('@temporalio/client');
    const conn = await Connection.connect({ address: `127.0.0.1:${layout.temporal.grpc}` });
    try {
      const desc = await new Client({ connection: conn }).workflow.getHandle(workflowId).describe();
      expect(desc.status.name).toBe('COMPLETED');
    } finally {
      await conn.close();
    }
    const env = readFileSync(layout.envFile, 'utf8');
    expect(env).toMatch(/^DROVER_GALERA_NODES=/m);
  });
});
