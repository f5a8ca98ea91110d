/** Activities that touch the MariaDB Galera cluster. */
import type { RowDataPacket } from 'mysql2/promise';
import { ensureMetaSchema } from '../lib/meta-schema';
import type { ActivityDeps } from '../lib/clients/deps';
import { DDL_STALL_SECONDS, type GaleraNodeStatus, type StalledDdl } from '../lib/clients/galera-client';

export interface GaleraReplicationResult {
  writtenOn: string;
  /** Every node that is Synced, and whether it already reads the marker (causal reads, wsrep_sync_wait). */
  readBack: { node: string; seen: boolean }[];
}

export function createGaleraActivities({ galera }: Pick<ActivityDeps, 'galera'>) {
  return {
    /**
     * Asks every node for its wsrep state and for DDL running or waiting longer than `ddlWaitSeconds` (default a
     * minute): a stalled DDL holds back DDL on the whole cluster while every node still says Synced.
     * Unreachable nodes are reported, not thrown.
     */
    async describeGaleraCluster(input: { ddlWaitSeconds?: number } = {}): Promise<{ nodes: GaleraNodeStatus[]; synced: number; stalledDdl: StalledDdl[]; ddlWaitSeconds: number }> {
      const ddlWaitSeconds = input.ddlWaitSeconds ?? DDL_STALL_SECONDS;
      const [nodes, stalledDdl] = await Promise.all([galera.clusterStatus(), galera.stalledDdl(ddlWaitSeconds)]);
      return { nodes, synced: nodes.filter((n) => n.state === 'Synced').length, stalledDdl, ddlWaitSeconds };
    },

    /**
     * Writes a marker row on one Synced node and reads it back from every Synced node with causal reads: proof
     * that the cluster replicates. Idempotent (the marker is the primary key).
     */
    async checkGaleraReplication(input: { marker: string }): Promise<GaleraReplicationResult> {
      const synced = await galera.syncedNodes();
      const writer = await galera.writerNode();
      await ensureMetaSchema(galera);
      await galera.query(writer, 'INSERT IGNORE INTO drover_meta.smoke (marker) VALUES (?)', [input.marker]);
      const readBack = await Promise.all(
        synced.map((node) =>
          galera.onNode(node, async (conn) => {
            await conn.query('SET SESSION wsrep_sync_wait = 1');
            const [rows] = await conn.query<RowDataPacket[]>('SELECT marker FROM drover_meta.smoke WHERE marker = ?', [input.marker]);
            // Back to the pool as it was taken (a failure's session is discarded by onNode).
            await conn.query('SET SESSION wsrep_sync_wait = DEFAULT');
            return { node: node.name, seen: rows.length === 1 };
          }),
        ),
      );
      return { writtenOn: writer.name, readBack };
    },
  };
}
