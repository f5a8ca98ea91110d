/**
 * Storage benchmark (docs/benchmarks.md, issue 19): a year of nights of one simulated WordPress site under a
 * stated change model, with the retention policy applied every night, stored (a) as today's full nightly archives
 * and (b) deduplicated as activities/lib/dedup-files.ts stores it: pieces of at most PIECE_BYTES, new pieces in
 * packs of PACK_BYTES, a pack collected once no kept point refers to any piece in it, a per-point index, and the
 * database dump one object per night in both. Compression ratios per kind of file and the index's size per entry
 * are measured here (zstd -3 over generated content and a real tar's headers), not assumed.
 *   npx vite-node bench/storage/run.ts -- [--nights 365] [--seed 1]
 * Pure simulation: no services, a few seconds.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { PACK_BYTES, PIECE_BYTES } from '../../activities/lib/dedup-files';
import { tarEntries } from '../../activities/lib/tar-entries';
import { dateOf, dayNumber, planRetention } from '../../lib/retention';
import { whole } from '../lib/args';

const NIGHTS = whole('nights', 365);
let seed = whole('seed', 1);
/** mulberry32: the same farm every run. */
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (a: number, b: number) => Math.round(a + rand() * (b - a));
function poisson(mean: number): number {
  let [k, p] = [0, Math.exp(-mean)];
  let s = p;
  const u = rand();
  while (u > s) {
    k++;
    p *= mean / k;
    s += p;
  }
  return k;
}
const MB = 1024 * 1024;
const GB = 1024 * MB;
const AGE_OVERHEAD = 200;
const RECORD_OVERHEAD = 36;

/** zstd -3 ratio of PHP-like source, and the stored index's bytes per entry (real tar headers, zstd -3). */
async function measure(): Promise<{ sourceRatio: number; indexBytesPerEntry: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-storage-'));
  try {
    const words = ['function', 'return', '$this->', 'array(', 'wp_', 'get_option', 'esc_html', 'apply_filters', "'", ';', '{', '}', 'if (', 'isset(', 'foreach', ' as ', '=>'];
    const php = Array.from({ length: 200_000 }, () => words[Math.floor(rand() * words.length)] + (rand() < 0.1 ? '\n\t' : ' ')).join('');
    const sourceRatio = execFileSync('zstd', ['-3', '-c'], { input: php }).length / Buffer.byteLength(php);
    for (let i = 0; i < 2000; i++) {
      const p = path.join(dir, `wp-content/plugins/plugin-${i % 40}/includes/class-${i}-${'handler'.repeat(i % 3)}.php`);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, '');
    }
    const tar = execFileSync('tar', ['-C', dir, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 256 * MB });
    // The index as dedup-files.ts writes it: each entry's header blocks (base64) and its pieces' ids and packs.
    const entries: { h: string; p: number[] }[] = [];
    for await (const ev of tarEntries(Readable.from([tar]))) if (ev.kind === 'entry') entries.push({ h: ev.header.toString('base64'), p: [entries.length] });
    const pieces = entries.map(() => [randomBytes(32).toString('hex'), Math.floor(rand() * 50), between(1000, 40000)]);
    const index = JSON.stringify({ format: 'drover-dedup-files', version: 1, entries, pieces, packs: [] });
    return { sourceRatio, indexBytesPerEntry: (execFileSync('zstd', ['-3', '-c'], { input: index }).length + AGE_OVERHEAD) / entries.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface FileState {
  size: number;
  version: number;
  ratio: number;
}
interface Point {
  pieces: string[];
  dbStored: number;
  fullFiles: number;
  index: number;
}

async function main() {
  const { sourceRatio, indexBytesPerEntry } = await measure();

  // The site at night 0 (see docs/benchmarks.md for the model).
  const files = new Map<string, FileState>();
  const add = (p: string, size: number, ratio: number) => files.set(p, { size, version: (files.get(p)?.version ?? 0) + 1, ratio });
  const core = Array.from({ length: 1800 }, (_, i) => `wp-core/${i}.php`);
  for (const p of core) add(p, between(2_000, 48_000), sourceRatio);
  const plugins = Array.from({ length: 20 }, (_, i) => Array.from({ length: 150 }, (_, j) => `wp-content/plugins/p${i}/${j}.php`));
  for (const p of plugins.flat()) add(p, between(2_000, 38_000), sourceRatio);
  for (let i = 0; i < 1500; i++) add(`wp-content/uploads/u${i}.jpg`, between(40_000, 360_000), 1);
  const small = Array.from({ length: 30 }, (_, i) => `wp-content/cache/c${i}.php`);
  for (const p of small) add(p, between(1_000, 9_000), sourceRatio);
  let dbRaw = 80 * MB;
  const DB_RATIO = 0.2;

  // Deduplicated store: pieces → pack, packs with live counts.
  const pieceSize = new Map<string, number>();
  const pieceRefs = new Map<string, number>();
  const pieceRecipe = new Map<string, { pack: number }>();
  const packs: { stored: number; pieces: string[]; live: number; gone: boolean }[] = [];
  const points = new Map<string, Point>();
  let uploaded = 0;
  let maxDedup = 0;
  let maxFull = 0;
  const start = dayNumber('2026-01-01');

  const piecesOf = (p: string, f: FileState): string[] => {
    const out: string[] = [];
    for (let off = 0, k = 0; off < f.size; off += PIECE_BYTES, k++) {
      const id = `${p}@${f.version}#${k}`;
      if (!pieceSize.has(id)) pieceSize.set(id, Math.ceil(Math.min(PIECE_BYTES, f.size - off) * f.ratio));
      out.push(id);
    }
    return out;
  };

  for (let night = 0; night < NIGHTS; night++) {
    const date = dateOf(start + night);
    if (night > 0) {
      // Change model, per night.
      for (let i = poisson(1); i > 0; i--) add(`wp-content/uploads/n${night}-${i}.jpg`, between(50_000, 1_200_000), 1);
      for (let i = 0; i < 3; i++) add(small[between(0, small.length - 1)], between(1_000, 9_000), sourceRatio);
      if (rand() < 20 / 30) for (const p of plugins[between(0, plugins.length - 1)]) if (rand() < 0.6) add(p, between(2_000, 38_000), sourceRatio);
      if (night % 45 === 0) for (const p of core) if (rand() < (night === 180 ? 0.7 : 0.05)) add(p, between(2_000, 48_000), sourceRatio);
      dbRaw += 40 * 1024;
    }
    // Tonight's point: new pieces into packs.
    const pieces: string[] = [];
    let open: number | null = null;
    let openPlain = 0;
    let fullFiles = 0;
    for (const [p, f] of files) {
      fullFiles += Math.ceil(f.size * f.ratio);
      for (const id of piecesOf(p, f)) {
        pieces.push(id);
        if (pieceRecipe.has(id)) continue;
        if (open === null || openPlain >= PACK_BYTES) {
          open = packs.push({ stored: AGE_OVERHEAD, pieces: [], live: 0, gone: false }) - 1;
          openPlain = 0;
        }
        packs[open].stored += pieceSize.get(id)! + RECORD_OVERHEAD;
        packs[open].pieces.push(id);
        openPlain += pieceSize.get(id)!;
        pieceRecipe.set(id, { pack: open });
        uploaded += pieceSize.get(id)! + RECORD_OVERHEAD;
      }
    }
    const point: Point = { pieces, dbStored: Math.ceil(dbRaw * DB_RATIO), fullFiles: fullFiles + AGE_OVERHEAD, index: Math.ceil(files.size * indexBytesPerEntry) };
    uploaded += point.dbStored + point.index;
    points.set(date, point);
    for (const id of pieces) {
      const n = (pieceRefs.get(id) ?? 0) + 1;
      pieceRefs.set(id, n);
      if (n === 1) packs[pieceRecipe.get(id)!.pack].live++;
    }
    // Retention, then collection.
    const plan = planRetention([...points.keys()].map((d) => ({ date: d, complete: true })), date);
    for (const d of plan.decisions.filter((x) => x.action === 'delete')) {
      for (const id of points.get(d.date)!.pieces) {
        const n = pieceRefs.get(id)! - 1;
        pieceRefs.set(id, n);
        if (n === 0) packs[pieceRecipe.get(id)!.pack].live--;
      }
      points.delete(d.date);
    }
    for (const pk of packs) if (!pk.gone && pk.live === 0) pk.gone = true;
    const kept = [...points.values()];
    const dedup = packs.filter((pk) => !pk.gone).reduce((a, pk) => a + pk.stored, 0) + kept.reduce((a, pt) => a + pt.dbStored + pt.index, 0);
    const full = kept.reduce((a, pt) => a + pt.fullFiles + pt.dbStored, 0);
    maxDedup = Math.max(maxDedup, dedup);
    maxFull = Math.max(maxFull, full);
    if (night === NIGHTS - 1) {
      const budget = (5.4 * 1e12) / 500;
      const packBytes = packs.filter((pk) => !pk.gone).reduce((a, pk) => a + pk.stored, 0);
      const referenced = [...pieceRefs.entries()].filter(([, n]) => n > 0).reduce((a, [id]) => a + pieceSize.get(id)! + RECORD_OVERHEAD, 0);
      console.log(
        JSON.stringify(
          {
            nights: NIGHTS,
            keptPoints: kept.length,
            measured: { sourceZstdRatio: +sourceRatio.toFixed(3), indexBytesPerEntry: +indexBytesPerEntry.toFixed(1) },
            siteNow: { files: files.size, filesPlainMiB: +([...files.values()].reduce((a, f) => a + f.size, 0) / MB).toFixed(0), dbDumpStoredMiB: +(point.dbStored / MB).toFixed(1) },
            fullArchivesGiB: +(full / GB).toFixed(2),
            dedupGiB: +(dedup / GB).toFixed(2),
            dedupOverFull: +(dedup / full).toFixed(3),
            dedupParts: { packsGiB: +(packBytes / GB).toFixed(2), unreferencedInLivePacksMiB: +((packBytes - referenced) / MB).toFixed(1), dbDumpsGiB: +(kept.reduce((a, pt) => a + pt.dbStored, 0) / GB).toFixed(2), indexesMiB: +(kept.reduce((a, pt) => a + pt.index, 0) / MB).toFixed(1) },
            yearMax: { fullGiB: +(maxFull / GB).toFixed(2), dedupGiB: +(maxDedup / GB).toFixed(2), dedupOverFull: +(maxDedup / maxFull).toFixed(3) },
            budgetPerSiteGiB: +(budget / GB).toFixed(2),
            dedupOverBudget: +(dedup / budget).toFixed(3),
            fullOverBudget: +(full / budget).toFixed(3),
            uploadedPerNightMiB: +(uploaded / NIGHTS / MB).toFixed(1),
          },
          null,
          2,
        ),
      );
    }
  }
}

void main();
