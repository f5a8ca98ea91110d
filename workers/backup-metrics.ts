/**
 * Per-site backup metrics for Prometheus, served by backup workers. Values come from the backup record in
 * drover_meta (not from this process's memory), so every backup worker answers the same and a restart loses
 * nothing. A site that never completed a backup reports 0 as its last success, which the age alert catches.
 */
import http from 'node:http';
import { Gauge, Registry } from 'prom-client';
import type { GaleraClient } from '../activities/lib/galera-client';
import { backupHealth } from '../lib/backup-runs';

export function backupMetricsRegistry(galera: GaleraClient): { registry: Registry; refresh: () => Promise<void> } {
  const registry = new Registry();
  const g = (name: string, help: string) => new Gauge({ name, help, labelNames: ['site'], registers: [registry] });
  const lastSuccess = g('drover_backup_last_success_timestamp_seconds', 'Unix time of the last complete backup of the site (0: never)');
  const lastSize = g('drover_backup_last_size_bytes', 'Stored size of the site\'s last complete restore point');
  const previousSize = g('drover_backup_previous_size_bytes', 'Stored size of the restore point before the last one (0: none)');
  const lastDuration = g('drover_backup_last_duration_seconds', 'Wall time of the site\'s last complete backup');
  const failures = g('drover_backup_failed_runs', 'Failed backup runs of the site, ever recorded');
  const lastFailure = g('drover_backup_last_failure_timestamp_seconds', 'Unix time of the site\'s last failed backup (0: never)');
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
