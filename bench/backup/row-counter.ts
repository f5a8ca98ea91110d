/**
 * The dump's row counter (activities/lib/dump-row-counter.ts) reads every byte of every database dump of a night.
 * Its throughput against SHA-256 over the same chunks (which every uploaded byte pays too), side by side, rounds
 * alternating, on a generated extended-insert dump of wp_postmeta-like rows (quoted strings with escapes):
 *   npx vite-node bench/backup/row-counter.ts -- --mib 100 --rounds 5 [--counter path/to/other/dump-row-counter.ts]
 * The column `counter, names tested` gives the counter the database's name, as the backup does: it then also tests
 * every line outside the data for a qualified name of it (the generated dump has one such line per 500 rows' line).
 * `--counter` loads another implementation of the same class (e.g. an older commit's, from `git show`) and runs it
 * as a third column, so two versions compare in one run.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { DumpRowCounter } from '../../activities/lib/dump-row-counter';
import { runMain } from '../lib/shell';
import { text, whole } from '../lib/args';

const MIB = whole('mib', 100);
const ROUNDS = whole('rounds', 5);
const OTHER = text('counter');

type Counter = { rows: Map<string, number>; namesDatabase?: boolean; _transform: (c: Buffer, e: BufferEncoding, cb: () => void) => void };

function generated(mib: number): Buffer[] {
  const lines: string[] = ['-- Host: db1    Database: wp_site\n', 'CREATE TABLE `wp_postmeta` (\n  `meta_id` bigint(20)\n);\n'];
  let size = 0;
  while (size < mib * 1024 * 1024) {
    const batch: string[] = [];
    for (let i = 0; i < 500; i++) batch.push(`(${size + i},${i},'_meta_key_${i}','a \\'quoted\\' value,\\n(with) ${'x'.repeat(i % 200)}')`);
    const line = `INSERT INTO \`wp_postmeta\` VALUES ${batch.join(',')};\n`;
    // A statement line between the data's, as a dump has per table (LOCK TABLES, ALTER TABLE … DISABLE KEYS, …).
    const statement = `/*!40000 ALTER TABLE \`wp_postmeta\` DISABLE KEYS */;\n`;
    lines.push(line, statement);
    size += line.length + statement.length;
  }
  const all = Buffer.from(lines.join(''));
  const chunks: Buffer[] = [];
  // 64 KiB: what a child process's stdout delivers.
  for (let i = 0; i < all.length; i += 65536) chunks.push(all.subarray(i, i + 65536));
  return chunks;
}

function timed(run: () => void): number {
  const t = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

runMain(async () => {
  const chunks = generated(MIB);
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  const Other = OTHER ? ((await import(path.resolve(OTHER))) as { DumpRowCounter: new () => Counter }).DumpRowCounter : undefined;
  const count = (C: new (database?: string) => Counter, database?: string) => () => {
    const c = new C(database);
    for (const ch of chunks) c._transform(ch, 'binary', () => undefined);
    if (!c.rows.get('wp_postmeta')) throw new Error('no rows counted');
    if (database && c.namesDatabase !== false) throw new Error('the generated dump names no database');
  };
  const columns: [string, () => void][] = [
    ['sha256', () => void chunks.reduce((h, ch) => h.update(ch), createHash('sha256')).digest()],
    ['counter', count(DumpRowCounter as unknown as new () => Counter)],
    ['counter, names tested', count(DumpRowCounter as unknown as new (database?: string) => Counter, 'wp_site')],
    ...(Other ? [['other counter', count(Other)] as [string, () => void]] : []),
  ];
  const times = new Map(columns.map(([name]) => [name, [] as number[]]));
  for (let r = 0; r < ROUNDS; r++) for (const [name, run] of columns) times.get(name)!.push(timed(run));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const sha = median(times.get('sha256')!);
  console.log(`${(bytes / 1048576).toFixed(0)} MiB, ${ROUNDS} rounds, medians:`);
  for (const [name] of columns) {
    const t = median(times.get(name)!);
    console.log(`  ${name.padEnd(22)} ${(bytes / 1048576 / t).toFixed(0).padStart(6)} MiB/s   ${(t / sha).toFixed(2)} x sha256's time`);
  }
});
