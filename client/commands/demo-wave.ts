/**
 * The demo's migration wave (issue 16): a local "old host" (its own sshd and mariadbd, devkit/old-host) with three
 * WordPress sites of another table prefix and PHP-serialized options, migrated into the demo's local cluster as one
 * wave (in-process drover-migrate and drover-infra workers), paused once while its first site is in flight and
 * resumed. The old host stops when the wave ends; the migrated sites stay on the cluster.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { startOldHost } from '../../devkit/old-host';
import { WORDPRESS_IMAGE } from '../../devkit/wordpress-image';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';
import { mergedEnv } from '../../lib/env';
import { formatProblem, MIGRATION_COLUMNS, OPTIONAL_COLUMNS, parseMigrationInput } from '../../lib/migration-input';
import { migrationWaveWorkflow, pauseWaveUpdate, resumeWaveUpdate, waveProgressQuery, type WaveProgress } from '../../workflows/migration-wave';
import { startOrAttach, withTemporal } from '../temporal';
import { waitOnWorker } from '../worker-option';
import { toRef } from './migration-file';

export interface DemoWave {
  wave: string;
  result: WaveProgress;
  /** Sites in flight when the pause was acknowledged (they finished their step and waited). */
  pausedWith: string[];
  domains: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runDemoWave(o: { stateDir: string; portOffset: number; farm: string; log: (m: string) => void }): Promise<DemoWave> {
  const env = mergedEnv(o.stateDir);
  // A fresh old host every run (a demo run again finds its sites migrated: the wave reports them, not redoes them).
  const dir = path.join(o.stateDir, 'demo-old-host');
  rmSync(dir, { recursive: true, force: true });
  const host = await startOldHost({
    dir,
    sshPort: 12242 + o.portOffset,
    dbPort: 13325 + o.portOffset,
    authorizedKeys: readFileSync(`${env.DROVER_MIGRATE_SSH_KEY_FILE ?? env.DROVER_SSH_KEY_FILE}.pub`, 'utf8'),
  });
  try {
    const wave = `demo-wave${o.portOffset || ''}`;
    // The rows an operator's migration file would hold, read by the same parser `drover migrate start` uses.
    const rows: string[] = [];
    for (const [i, name] of ['alpha', 'beta', 'gamma'].entries()) {
      const s = await host.addSite({ domain: `${name}.old-host.test`, tablePrefix: `old${i}_`, posts: 3, wordpressCore: true });
      rows.push([`${name}-${o.farm}.drover.test`, s.sourceSsh, s.sourcePath, s.sourceDb, s.sourceDbHost, s.sourceDbUser, s.sourceDbPasswordFile, s.fromUrl, '', wave].join(','));
    }
    const parsed = parseMigrationInput([[...MIGRATION_COLUMNS, ...OPTIONAL_COLUMNS].join(','), ...rows].join('\n') + '\n', 'demo-wave.csv');
    if (!parsed.ok) throw new Error(`the demo's wave file: ${parsed.problems.map((p) => formatProblem('demo-wave.csv', p)).join('; ')}`);
    const sources = parsed.rows.map(toRef);
    // The in-process migrate worker pins the old host's key, as an operator's DROVER_MIGRATE_HOST_KEYS does.
    process.env.DROVER_MIGRATE_HOST_KEYS = host.hostKeyFingerprint;
    const workflowId = workflowIds.migrationWave(wave);
    o.log(`migrating ${sources.length} sites from the old host into ${o.farm} as wave ${wave} (in-process drover-migrate and drover-infra workers)`);
    return await withTemporal(o.stateDir, (client: Client) =>
      waitOnWorker(client, { stateDir: o.stateDir, queue: 'infra', worker: true, workflowId, quiet: true }, () =>
        waitOnWorker(client, { stateDir: o.stateDir, queue: 'migrate', worker: true, workflowId }, async () => {
          const { handle } = await startOrAttach(client, migrationWaveWorkflow, {
            workflowId,
            taskQueue: TASK_QUEUES.migrate,
            typedSearchAttributes: siteSearchAttributes(null, 'migrate', { wave }),
            args: [{ wave, sources, concurrency: 2, target: { farm: o.farm, provider: 'local', phpVersion: '8.2', image: WORDPRESS_IMAGE }, operator: 'drover demo' }],
          });
          // Pause once a site is in flight (one or both of the first two), then resume once they wait after their step.
          for (let p = await handle.query(waveProgressQuery); !(p.counts.running > 0 || p.state !== 'running'); p = await handle.query(waveProgressQuery)) await sleep(200);
          let pausedWith: string[] = [];
          try {
            const ack = await handle.executeUpdate(pauseWaveUpdate);
            pausedWith = ack.inFlight;
            o.log(`paused ${wave} (${ack.message}); resuming once the sites in flight wait`);
            for (let p = await handle.query(waveProgressQuery); !p.inFlight.every((s) => s.paused); p = await handle.query(waveProgressQuery)) await sleep(300);
            await handle.executeUpdate(resumeWaveUpdate);
          } catch (err) {
            // A demo run again: the wave reports the sites it migrated before and may end before the pause lands.
            if ((await handle.describe()).status.name === 'RUNNING') throw err;
          }
          const result = await handle.result();
          return { wave, result, pausedWith, domains: sources.map((s) => s.domain) };
        }),
      ),
    );
  } finally {
    await host.stop();
  }
}
