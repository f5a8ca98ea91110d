/**
 * Per-site backup metrics and the last restore drill's results for Prometheus, served by backup workers. Values come from the backup record in
 * drover_meta (not from this process's memory), so every backup worker answers the same and a restart loses
 * nothing. A site that never completed a backup reports 0 as its last success, which the age alert catches.
 */
import http from 'node:http';
import { Gauge, Registry } from 'prom-client';
import type { GaleraClient } from '../lib/clients/galera-client';
import { backupHealth } from '../lib/backup-runs';
import { lastDrill } from '../lib/restore-drills';

export function backupMetricsRegistry(galera: GaleraClient): { registry: Registry; refresh: () => Promise<void> } {
  const registry = new Registry();
  const g = (name: string, help: string) => new Gauge({ name, help, labelNames: ['site'], registers: [registry] });
  const lastSuccess = g('drover_backup_last_success_timestamp_seconds', 'Unix time of the last complete backup of the site (0: never)');
  const lastSize = g('drover_backup_last_size_bytes', 'Stored size of the site\'s last complete restore point');
  const previousSize = g('drover_backup_previous_size_bytes', 'Stored size of the restore point before the last one (0: none)');
  const lastDuration = g('drover_backup_last_duration_seconds', 'Wall time of the site\'s last complete backup');
  const failures = g('drover_backup_failed_runs', 'Failed backup runs of the site, ever recorded');
  const lastFailure = g('drover_backup_last_failure_timestamp_seconds', 'Unix time of the site\'s last failed backup (0: never)');
  const plain = (name: string, help: string) => new Gauge({ name, help, registers: [registry] });
  const drillAt = plain('drover_restore_drill_last_timestamp_seconds', 'Unix time the last restore drill was recorded (0: never)');
  const drillPassed = plain('drover_restore_drill_last_passed', '1 when every site of the last restore drill restored and verified, else 0');
  const drillFailedSites = plain('drover_restore_drill_last_failed_sites', 'Sites that failed in the last restore drill');
  const drillMaxRto = plain('drover_restore_drill_last_max_rto_seconds', 'Slowest restore (RTO) of the last drill');
  const drillRto = g('drover_restore_drill_last_rto_seconds', 'RTO of each site restored by the last drill');
  const up = new Gauge({ name: 'drover_backup_metrics_up', help: '1 when the backup record could be read', registers: [registry] });

  // One read of the record per scrape, shared by every gauge.
  let pending: Promise<void> | null = null;
  const refresh = () =>
    (pending ??= (async () => {
      try {
        const rows = await backupHealth(galera);
        for (const m of [lastSuccess, lastSize, previousSize, lastDuration, failures, lastFailure]) m.reset();
        for (const r of rows) {
          const site = { site: r.site };
          lastSuccess.set(site, r.lastCompleteAt ? r.lastCompleteAt.getTime() / 1000 : 0);
          lastSize.set(site, r.lastBytes ?? 0);
          previousSize.set(site, r.previousBytes ?? 0);
          lastDuration.set(site, (r.lastDurationMs ?? 0) / 1000);
          failures.set(site, r.failures);
          lastFailure.set(site, r.lastFailedAt ? r.lastFailedAt.getTime() / 1000 : 0);
        }
        const drill = await lastDrill(galera);
        drillRto.reset();
        drillAt.set(drill ? drill.at.getTime() / 1000 : 0);
        // Before the first drill there is nothing to pass: the staleness alert, not this one, speaks then.
        drillPassed.set(drill ? Number(drill.sites.every((x) => x.passed)) : 1);
        drillFailedSites.set(drill ? drill.sites.filter((x) => !x.passed).length : 0);
        drillMaxRto.set(drill ? Math.max(0, ...drill.sites.map((x) => x.rtoMs)) / 1000 : 0);
        for (const x of drill?.sites ?? []) drillRto.set({ site: x.site }, x.rtoMs / 1000);
        up.set(1);
      } catch {
        up.set(0);
      } finally {
        pending = null;
      }
    })());
  return { registry, refresh };
}

/** Serves GET /metrics; returns the server (close it on shutdown). */
export function serveBackupMetrics(galera: GaleraClient, host: string, port: number): Promise<http.Server> {
  const { registry, refresh } = backupMetricsRegistry(galera);
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    refresh()
      .then(() => registry.metrics())
      .then(
        (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
