/**
 * The sites the restore benchmark generates (not timed): a realistic one (a database grown with long posts, a
 * docroot of photos and PHP-like sources) and one with millions of small rows (wp_postmeta of a shop: a few dozen
 * bytes a row, the shape that costs per row rather than per byte).
 */
import type { ActivityDeps } from '../../activities';
import { SshClient } from '../../lib/clients/ssh-client';
import { generateSiteDatabase, generateSiteFiles } from '../../devkit/site-generator';

export const MB = 1024 * 1024;
export const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

export interface SiteSpec {
  domain: string;
  database: string;
  filesPath: string;
}

/** A WordPress database grown to about `mb` MiB of posts (long block-markup content, like a real blog's). */
export async function postsDatabase(deps: ActivityDeps, site: SiteSpec, mb: number): Promise<void> {
  const pool = deps.galera.pool((await deps.galera.syncedNodes())[0]);
  await generateSiteDatabase(pool, { ...site, posts: 200 });
  const words = 'lorem ipsum dolor sit amet café garden coffee roast bakery studio harbour shipping cart checkout review recipe weekend market seasonal fresh local'.split(' ');
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const paragraph = () => `<!-- wp:paragraph -->\n<p>${Array.from({ length: 120 }, () => words[Math.floor(rand() * words.length)]).join(' ')}.</p>\n<!-- /wp:paragraph -->\n`;
  // Counted as inserted (InnoDB's table statistics lag behind bulk inserts).
  let inserted = 0;
  for (let n = 0; inserted < mb * MB; n++) {
    const rows = Array.from({ length: 500 }, (_, i) => {
      const title = `Bench post ${n}-${i}`;
      return [1, '2025-01-01 00:00:00', '2025-01-01 00:00:00', Array.from({ length: 6 }, paragraph).join(''), title, '', 'publish', 'open', 'open', '', `bench-post-${n}-${i}`, '', '', '2025-01-01 00:00:00', '2025-01-01 00:00:00', '', 0, '', 0, 'post', '', 0];
    });
    await pool.query(
      `INSERT INTO \`${site.database}\`.wp_posts (post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt, post_status, comment_status, ping_status, post_password, post_name, to_ping, pinged, post_modified, post_modified_gmt, post_content_filtered, post_parent, guid, menu_order, post_type, post_mime_type, comment_count) VALUES ?`,
      [rows],
    );
    inserted += rows.reduce((a, r) => a + String(r[3]).length, 0);
    if (n % 20 === 0) log(`  database ${(inserted / MB).toFixed(0)} MiB`);
  }
}

/**
 * The WordPress database plus `rows` small wp_postmeta rows: ten WooCommerce-like keys per product (`_sku`,
 * `_price`, `_stock_status`, `total_sales`, `_edit_lock`, …) over rows/10 product IDs, values of 1-20 bytes. Made on
 * the server with INSERT … SELECT from MariaDB's sequence engine, 100,000 rows a statement (a Galera write set of a
 * few MiB), so millions take a minute or two rather than an hour of client round trips.
 */
export async function smallRowsDatabase(deps: ActivityDeps, site: SiteSpec, rows: number): Promise<void> {
  const pool = deps.galera.pool((await deps.galera.syncedNodes())[0]);
  await generateSiteDatabase(pool, { ...site, posts: 200 });
  const keys = ['_sku', '_price', '_regular_price', '_sale_price', '_stock_status', '_stock', '_manage_stock', 'total_sales', '_tax_status', '_edit_lock'];
  const values = [
    "CONCAT('SKU-', LPAD(s.seq DIV 10, 8, '0'))",
    'FORMAT(1 + (s.seq * 7919 % 99900) / 100, 2)',
    'FORMAT(2 + (s.seq * 7919 % 99900) / 100, 2)',
    "IF(s.seq % 3 = 0, FORMAT(1 + (s.seq * 104729 % 9990) / 100, 2), '')",
    "ELT(1 + s.seq % 3, 'instock', 'outofstock', 'onbackorder')",
    'CAST(s.seq * 31 % 500 AS CHAR)',
    "IF(s.seq % 2 = 0, 'yes', 'no')",
    'CAST(s.seq * 17 % 10000 AS CHAR)',
    "'taxable'",
    "CONCAT(1764547200 + s.seq % 86400, ':1')",
  ];
  const step = 100_000;
  for (let from = 1; from <= rows; from += step) {
    const to = Math.min(rows, from + step - 1);
    await pool.query(
      `INSERT INTO \`${site.database}\`.wp_postmeta (post_id, meta_key, meta_value)
       SELECT 10000 + s.seq DIV 10, ELT(1 + s.seq % 10, ${keys.map((k) => `'${k}'`).join(', ')}), ELT(1 + s.seq % 10, ${values.join(', ')})
       FROM \`${site.database}\`.seq_${from}_to_${to} s`,
    );
    if (to === rows || ((to / step) | 0) % 5 === 0) log(`  wp_postmeta ${to.toLocaleString('en')} rows`);
  }
}

/** The generator's small docroot, plus `mb` MiB of uploads (2,048 incompressible "photos") and 2,000 PHP-like files. */
export async function siteFiles(deps: ActivityDeps, site: SiteSpec, mb: number): Promise<void> {
  const ssh = await SshClient.connect(deps.ssh.defaultTarget, deps.ssh.options);
  try {
    await generateSiteFiles(ssh, { ...site, uploadBytes: 4096 });
    if (mb <= 0) return;
    const each = Math.max(1, Math.floor((mb * MB) / 2048));
    await ssh.execOrThrow(
      `set -e; cd '${site.filesPath}'; for m in 01 02 03 04 05 06 07 08; do mkdir -p wp-content/uploads/2025/$m; done; ` +
        `head -c ${each * 2048} /dev/urandom | split -b ${each} -d -a 4 - wp-content/uploads/2025/photo-; ` +
        `i=0; for f in wp-content/uploads/2025/photo-*; do i=$((i+1)); mv "$f" "wp-content/uploads/2025/0$(( (i % 8) + 1 ))/$(basename "$f").jpg"; done; ` +
        `mkdir -p wp-includes/bench; for i in $(seq 1 2000); do yes "<?php /* WordPress core-like source line $i */ echo esc_html( get_the_title() );" | head -c 20000 > wp-includes/bench/file-$i.php; done`,
    );
  } finally {
    ssh.close();
  }
}
