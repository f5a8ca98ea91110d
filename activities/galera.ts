/** Activities that touch the MariaDB Galera cluster. */
import type { RowDataPacket } from 'mysql2/promise';
import type { ActivityDeps } from './deps';
import type { GaleraNodeStatus } from './lib/galera-client';

export interface GaleraReplicationResult {
  writtenOn: string;
  /** Every node that is Synced, and whether it already reads the marker (causal reads, wsrep_sync_wait). */
  readBack: { node: string; seen: boolean }[];
}

export function createGaleraActivities({ galera }: Pick<ActivityDeps, 'galera'>) {
  return {
    /** Asks every node for its wsrep state; unreachable nodes are reported, not thrown. */
    async describeGaleraCluster(): Promise<{ nodes: GaleraNodeStatus[]; synced: number }> {
      const nodes = await galera.clusterStatus();
      return { nodes, synced: nodes.filter((n) => n.state === 'Synced').length };
    },

    /**
     * Writes a marker row on one Synced node and reads it back from every Synced node with causal reads: proof
     * that the cluster replicates. Idempotent (the marker is the primary key).
     */
    async checkGaleraReplication(input: { marker: string }): Promise<GaleraReplicationResult> {
      const synced = await galera.syncedNodes();
      const writer = await galera.writerNode();
      await galera.query(writer, 'CREATE DATABASE IF NOT EXISTS drover_meta');
      await galera.query(writer, 'CREATE TABLE IF NOT EXISTS drover_meta.smoke (marker VARCHAR(191) PRIMARY KEY, written_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB');
      await galera.query(writer, 'INSERT IGNORE INTO drover_meta.smoke (marker) VALUES (?)', [input.marker]);
      const readBack = await Promise.all(
        synced.map(async (node) => {
          const conn = await galera.pool(node).getConnection();
          try {
            await conn.query('SET SESSION wsrep_sync_wait = 1');
            const [rows] = await conn.query<RowDataPacket[]>('SELECT marker FROM drover_meta.smoke WHERE marker = ?', [input.marker]);
            return { node: node.name, seen: rows.length === 1 };
          } finally {
            conn.release();
          }
        }),
      );
      return { writtenOn: writer.name, readBack };
    },
  };
}
