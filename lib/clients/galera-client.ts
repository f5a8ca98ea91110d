/**
 * Galera access over mysql2: one small pool per node, and a view of the cluster that knows which nodes are
 * `Synced` (only those may serve consistent reads or dumps).
 */
import mysql, { type Connection, type Pool, type PoolConnection, type RowDataPacket } from 'mysql2/promise';
import { classifyDatabaseError, failure, NETWORK_CODES } from './errors';
import { settledWithin } from '../settled-within';

export interface GaleraNode {
  name: string;
  host: string;
  port: number;
}

export interface GaleraCredentials {
  user: string;
  password: string;
}

export interface GaleraNodeStatus {
  node: string;
  reachable: boolean;
  /** wsrep_local_state_comment: Synced, Donor/Desynced, Joining, Joined, ... */
  state: string | null;
  clusterSize: number | null;
  clusterStatus: string | null;
  ready: boolean;
  error?: string;
}

/** Parses "name=host:port,..." or "host:port,..." (names default to node1..N). */
export function parseGaleraNodes(spec: string): GaleraNode[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const [maybeName, addr] = entry.includes('=') ? entry.split('=', 2) : [`node${i + 1}`, entry];
      const m = /^([^:]+):(\d+)$/.exec(addr);
      if (!m) throw failure('InvalidInput', `galera node "${entry}" is not host:port`);
      return { name: maybeName, host: m[1], port: Number(m[2]) };
    });
}

/** A DDL statement running or waiting on a node for at least the threshold: on Galera it stalls every node's DDL. */
export interface StalledDdl {
  node: string;
  id: number;
  seconds: number;
  state: string;
  statement: string;
}

/** The default threshold (seconds) past which a DDL counts as stalled; a parameter so tests can use a short one. */
export const DDL_STALL_SECONDS = 60;

/**
 * DDL on a node for at least `?` seconds, from its processlist. Galera runs DDL in total order (TOI): one that
 * waits (a DROP DATABASE behind a running load, an ALTER behind a metadata lock) holds back DDL on every node
 * while each node still reports itself Synced, so health has to look for it.
 */
export const STALLED_DDL_SQL = `SELECT ID, TIME, STATE, INFO FROM information_schema.PROCESSLIST
  WHERE COMMAND <> 'Sleep' AND TIME >= ? AND INFO REGEXP '^[[:space:]]*(CREATE|DROP|ALTER|RENAME|TRUNCATE|OPTIMIZE)[[:space:]]'
  ORDER BY TIME DESC`;

export function toStalledDdl(node: string, rows: RowDataPacket[]): StalledDdl[] {
  return rows.map((r) => ({ node, id: Number(r.ID), seconds: Number(r.TIME), state: String(r.STATE ?? ''), statement: String(r.INFO).replace(/\s+/g, ' ').slice(0, 200) }));
}

/** How long a node's status (or its stalled-DDL list) may take before the node counts as unreachable. */
export const STATUS_QUERY_TIMEOUT_MS = 5_000;

/**
 * How long the retry of work on a node given up waits (GaleraClient.watched). A node cut off from this worker but not
 * from its cluster stays Synced and still runs the statements its end of the work's connection had received (a
 * load's next INSERTs, a DROP TABLE), which no retry can kill from here: they run within seconds, and the retry's
 * first DDL on staging comes after them.
 */
export const LOST_NODE_RETRY_MS = 60_000;

/** Errors of a status ask that got no answer (the node silent or gone), as opposed to a refusal it answered with. */
const SILENT_CODES = new Set([...NETWORK_CODES, 'EHOSTDOWN', 'PROTOCOL_SEQUENCE_TIMEOUT', 'PROTOCOL_CONNECTION_LOST']);

export class GaleraClient {
  private readonly pools = new Map<string, Pool>();

  /** `statusTimeoutMs`: the status queries' bound (STATUS_QUERY_TIMEOUT_MS; tests shorten it). */
  constructor(readonly nodes: GaleraNode[], private readonly creds: GaleraCredentials, private readonly opts: { statusTimeoutMs?: number } = {}) {}

  /** For tools that connect on their own (mariadb-dump); never logged, never returned from an activity. */
  get credentials(): GaleraCredentials {
    return this.creds;
  }

  /** The node writes go to: the first Synced node in configured order (as ProxySQL's writer hostgroup). */
  async writerNode(): Promise<GaleraNode> {
    const synced = await this.syncedNodes();
    if (synced.length === 0) throw failure('NoSyncedGaleraNode', 'no Galera node is Synced');
    return synced[0];
  }

  /**
   * A Synced node to read from, preferring one that is not the writer (ProxySQL sends writes to the first
   * Synced node), so dumps do not load the node taking the farm's writes. Nodes in `avoid` are skipped.
   */
  async readerNode(avoid: string[] = []): Promise<GaleraNode> {
    const synced = (await this.syncedNodes()).filter((n) => !avoid.includes(n.name));
    if (synced.length === 0) throw failure('NoSyncedGaleraNode', 'no Galera node is Synced');
    return synced.length > 1 ? synced[synced.length - 1] : synced[0];
  }

  pool(node: GaleraNode): Pool {
    let p = this.pools.get(node.name);
    if (!p) {
      p = mysql.createPool({
        host: node.host,
        port: node.port,
        user: this.creds.user,
        password: this.creds.password,
        connectionLimit: 4,
        connectTimeout: 5_000,
        multipleStatements: false,
      });
      this.pools.set(node.name, p);
    }
    return p;
  }

  private readonly statusConns = new Map<string, Promise<Connection>>();

  /**
   * A status query on one node, bounded by STATUS_QUERY_TIMEOUT_MS. A node that accepts connections but does not
   * answer (stopped, partitioned without a reset) would otherwise hold every caller of writerNode() for as long as TCP
   * waits. Each node has one connection for these, apart from the pool the work uses (a pool's connections may all be
   * busy with a long DDL or load): on any failure, a timeout included, it is destroyed and the next query opens
   * another, so a frozen node costs each status query its bound and nothing more, however many ask at once (mysql2
   * itself only fails a timed-out query and keeps its connection waiting).
   */
  private async statusQuery(node: GaleraNode, sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
    const timeout = this.opts.statusTimeoutMs ?? STATUS_QUERY_TIMEOUT_MS;
    let conn = this.statusConns.get(node.name);
    if (!conn) {
      conn = mysql.createConnection({ host: node.host, port: node.port, user: this.creds.user, password: this.creds.password, connectTimeout: timeout });
      this.statusConns.set(node.name, conn);
      conn.then((c) => c.on('error', () => this.dropStatusConn(node.name, conn!)), () => this.dropStatusConn(node.name, conn!));
    }
    // The bound runs from the call, not from when the connection gets to the query: a query queued behind one the
    // node never answers would otherwise wait for good (mysql2 starts a query's timer when it runs it).
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeout} ms`), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' })), timeout);
    });
    try {
      const c = await Promise.race([conn, bound]);
      const [rows] = await Promise.race([c.query<RowDataPacket[]>({ sql, values, timeout }), bound]);
      return rows;
    } catch (err) {
      this.dropStatusConn(node.name, conn);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private dropStatusConn(name: string, conn: Promise<Connection>): void {
    if (this.statusConns.get(name) === conn) this.statusConns.delete(name);
    conn.then((c) => c.destroy(), () => undefined);
  }

  async nodeStatus(node: GaleraNode): Promise<GaleraNodeStatus> {
    try {
      const rows = await this.statusQuery(node, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_size','wsrep_cluster_status','wsrep_ready')");
      const v = Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
      return {
        node: node.name,
        reachable: true,
        state: v.wsrep_local_state_comment ?? null,
        clusterSize: v.wsrep_cluster_size ? Number(v.wsrep_cluster_size) : null,
        clusterStatus: v.wsrep_cluster_status ?? null,
        ready: v.wsrep_ready === 'ON',
      };
    } catch (err) {
      return { node: node.name, reachable: false, state: null, clusterSize: null, clusterStatus: null, ready: false, error: (err as Error).message };
    }
  }

  private cached: { at: number; statuses: Promise<GaleraNodeStatus[]> } | null = null;

  /**
   * Every node's status. Cached for a second so a burst of activities does not ask each node three times per
   * call; any failed query on a node drops the cache, so a node that dies is noticed at once.
   */
  async clusterStatus(): Promise<GaleraNodeStatus[]> {
    if (!this.cached || Date.now() - this.cached.at > 1_000) {
      const statuses = Promise.all(this.nodes.map((n) => this.nodeStatus(n)));
      this.cached = { at: Date.now(), statuses };
    }
    return this.cached.statuses;
  }

  /** Forget the cached cluster view (after a node misbehaved). */
  invalidateStatus(): void {
    this.cached = null;
  }

  /** Nodes that are Synced and in the primary component, in configured order. */
  async syncedNodes(): Promise<GaleraNode[]> {
    const statuses = await this.clusterStatus();
    return this.nodes.filter((n, i) => statuses[i].state === 'Synced' && statuses[i].clusterStatus === 'Primary' && statuses[i].ready);
  }

  /** DDL that has run or waited on any reachable node for at least `minSeconds`. */
  async stalledDdl(minSeconds = DDL_STALL_SECONDS): Promise<StalledDdl[]> {
    const per = await Promise.all(
      this.nodes.map(async (n) => {
        try {
          const rows = await this.statusQuery(n, STALLED_DDL_SQL, [minSeconds]);
          return toStalledDdl(n.name, rows);
        } catch {
          return []; // an unreachable node is reported by nodeStatus
        }
      }),
    );
    return per.flat();
  }

  private readonly answering = new Map<string, Promise<boolean | null>>();

  /**
   * Whether the node answers a status query within the bound: true; false when it gave no answer (silent: stopped,
   * cut off; or gone); null when it answered with a refusal (too many connections, access denied), which says it
   * lives. One ask in flight per node, shared by every watch: a timed-out ask drops the status connection, and asks
   * queued behind it would otherwise all fail with it and count a slow node lost many times over.
   */
  private answers(node: GaleraNode): Promise<boolean | null> {
    let asked = this.answering.get(node.name);
    if (!asked) {
      asked = this.statusQuery(node, 'SELECT 1')
        .then(
          () => true,
          (err: unknown) => (SILENT_CODES.has(String((err as { code?: unknown }).code)) ? false : null),
        )
        .finally(() => this.answering.delete(node.name));
      this.answering.set(node.name, asked);
    }
    return asked;
  }

  /**
   * Runs `work` while watching the node it runs on: work on a node that stops answering (its process stopped, the
   * network cut without a reset) would otherwise wait for as long as TCP does, its activity heartbeating on a timer
   * all along, so a restore's load or a night's dump hung until the step's 30-minute ceiling. From one status bound
   * after the start, the node is asked a status query (each ask bounded by it, on the status connection, apart from
   * the work's; one ask per node shared by all watches); a node that answers none of two asks running is lost:
   * `abort` is aborted (the work destroys its connection or kills its programs on it), the work is waited for up to
   * a bound more, and the call fails DatabaseUnavailable, retryable, its retry held back LOST_NODE_RETRY_MS (the next
   * attempt looks for a Synced node, which this one no longer is). Work that runs long on a node that answers (a
   * load, a big checksum, a lock wait) runs on. A silent node is given up about three status bounds after it went
   * silent (15 s in production), four at most.
   */
  async watched<T>(node: GaleraNode, work: (abort: AbortSignal) => Promise<T>): Promise<T> {
    const bound = this.opts.statusTimeoutMs ?? STATUS_QUERY_TIMEOUT_MS;
    const abort = new AbortController();
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const lost = new Promise<never>((_, reject) => {
      let misses = 0;
      const ask = async () => {
        const answered = await this.answers(node);
        if (done) return;
        if (answered === false) misses++;
        else if (answered) misses = 0;
        if (misses < 2) {
          // A silence is asked again at once (the ask itself took the bound); an answer or a refusal after a bound.
          timer = setTimeout(() => void ask(), answered === false ? 0 : bound);
          return;
        }
        this.invalidateStatus();
        const err = failure('DatabaseUnavailable', `database ${node.name} unavailable: it answered no status query for ${(2 * bound) / 1000} s while work ran on it (stopped, or cut off from this worker); the work was stopped`, { retryAfterMs: LOST_NODE_RETRY_MS });
        abort.abort(err);
        reject(err);
      };
      timer = setTimeout(() => void ask(), bound);
    });
    lost.catch(() => undefined);
    // Started inside a promise: a work that throws at once still ends the watch below.
    let result: { value: T } | undefined;
    const working = (async () => work(abort.signal))().then((value) => ((result = { value }), value));
    try {
      return await Promise.race([working, lost]);
    } catch (err) {
      if (!abort.signal.aborted) throw err;
      // Given up: the work was told (its connection destroyed, its programs killed) and is waited for up to a bound
      // more, so what it ran is gone when the step fails and its retry starts. Work that completed all the same (its
      // answer came as the node was given up) is its answer.
      const settled = result ?? (await settledWithin(working, bound));
      if (settled) return settled.value;
      throw abort.signal.reason;
    } finally {
      done = true;
      clearTimeout(timer);
    }
  }

  /**
   * Runs `fn` on a connection of the node's pool, watched (`watched`): a lost node's connection is destroyed with
   * the query it waits on failing at once. Afterwards the connection goes back to the pool, or is destroyed when
   * `fn` failed (its session's state is not known) or with `discard` (session state that must not leak to the pool's
   * next user). Errors classified.
   */
  async onNode<T>(node: GaleraNode, fn: (conn: PoolConnection) => Promise<T>, o: { discard?: boolean } = {}): Promise<T> {
    try {
      return await this.watched(node, async (abort) => {
        // A connection still opening when the node is given up (its handshake never comes) is not waited for; one
        // got after that is not used.
        const conn = await new Promise<PoolConnection>((resolve, reject) => {
          const given = () => reject(abort.reason);
          abort.addEventListener('abort', given, { once: true });
          this.pool(node)
            .getConnection()
            .then(
              (c) => {
                abort.removeEventListener('abort', given);
                if (!abort.aborted) return resolve(c);
                c.destroy();
                reject(abort.reason);
              },
              (err: unknown) => {
                abort.removeEventListener('abort', given);
                reject(err);
              },
            );
        });
        // mysql2's destroy() only half-closes the socket and leaves the query waiting on it: the socket itself is
        // destroyed with an error, which fails the waiting query (mysql2's network-error path).
        const stop = () => {
          const inner = (conn as unknown as { connection?: { stream?: { destroy(e?: Error): void } } }).connection;
          inner?.stream?.destroy(Object.assign(new Error(`${node.name} given up: no answer`), { code: 'PROTOCOL_CONNECTION_LOST' }));
          conn.destroy();
        };
        abort.addEventListener('abort', stop, { once: true });
        let ok = false;
        try {
          const r = await fn(conn);
          ok = true;
          return r;
        } finally {
          abort.removeEventListener('abort', stop);
          // Given up (stop ran, or the abort came before its listener: destroying again is harmless), failed (its
          // session's state unknown) or to be discarded: destroyed; else back to the pool.
          if (abort.aborted || o.discard || !ok) conn.destroy();
          else conn.release();
        }
      });
    } catch (err) {
      this.invalidateStatus();
      throw classifyDatabaseError(err, node.name);
    }
  }

  /** Runs a query on one node, watched (`watched`), errors classified. */
  async query<T extends RowDataPacket[]>(node: GaleraNode, sql: string, params: unknown[] = []): Promise<T> {
    return this.onNode(node, async (conn) => (await conn.query<T>(sql, params))[0]);
  }

  async close(): Promise<void> {
    for (const [name, conn] of [...this.statusConns]) this.dropStatusConn(name, conn);
    await Promise.all([...this.pools.values()].map((p) => p.end().catch(() => undefined)));
    this.pools.clear();
  }
}
