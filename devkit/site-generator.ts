/**
 * Generates realistic WordPress sites for the demo, tests and benchmarks: a database with the real WordPress
 * schema and rows (posts with block markup, revisions, attachments with serialized metadata, options with
 * serialized PHP values, users with roles, terms, comments), plus a docroot on the storage host (written over
 * SSH) with wp-config.php, wp-includes/version.php and uploads. Deterministic for a given domain and seed.
 */
import { createHash } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import type { SshClient } from '../lib/clients/ssh-client';
import { phpSerialize, wordpressSchema, WP_DB_VERSION, WP_VERSION } from './wordpress-schema';
import { shellQuote as q } from '../lib/shell-quote';

export interface GenerateSiteOptions {
  domain: string;
  database: string;
  filesPath: string;
  posts?: number;
  /** Bytes of uploads (spread over a few files). */
  uploadBytes?: number;
  seed?: number;
}

/** A small deterministic PRNG (mulberry32) so a site's content is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'lorem ipsum dolor sit amet café naïve jalapeño garden coffee roast bakery studio harbour “quoted” it’s déjà vu ünïcödé 🌿 shipping cart checkout review recipe weekend market seasonal fresh local'.split(' ');

function sentence(r: () => number, n: number): string {
  const w = Array.from({ length: n }, () => WORDS[Math.floor(r() * WORDS.length)]);
  w[0] = w[0][0].toUpperCase() + w[0].slice(1);
  return w.join(' ') + '.';
}

function dt(base: number, offsetMin: number): string {
  return new Date(base + offsetMin * 60_000).toISOString().slice(0, 19).replace('T', ' ');
}

interface Rows {
  [table: string]: Record<string, unknown>[];
}

export function wordpressRows(o: GenerateSiteOptions): Rows {
  const r = rng(o.seed ?? parseInt(createHash('sha256').update(o.domain).digest('hex').slice(0, 8), 16));
  const url = `https://${o.domain}`;
  const base = Date.UTC(2024, 0, 1);
  const postCount = o.posts ?? 40;
  const rows: Rows = { wp_users: [], wp_usermeta: [], wp_posts: [], wp_postmeta: [], wp_terms: [], wp_term_taxonomy: [], wp_term_relationships: [], wp_comments: [], wp_commentmeta: [], wp_options: [] };

  const roles = ['administrator', 'editor', 'author', 'author'];
  roles.forEach((role, i) => {
    const id = i + 1;
    const login = i === 0 ? 'admin' : `${role}${id}`;
    rows.wp_users.push({ ID: id, user_login: login, user_pass: `$P$B${createHash('md5').update(`${o.domain}${id}`).digest('base64').slice(0, 27)}`, user_nicename: login, user_email: `${login}@${o.domain}`, user_url: '', user_registered: dt(base, i * 1440), user_activation_key: '', user_status: 0, display_name: login[0].toUpperCase() + login.slice(1) });
    for (const [k, v] of Object.entries({ nickname: login, first_name: '', last_name: '', rich_editing: 'true', wp_capabilities: phpSerialize({ [role]: true }), wp_user_level: String([10, 7, 2, 2][i]), show_admin_bar_front: 'true', session_tokens: phpSerialize({ [createHash('sha256').update(`${o.domain}${id}s`).digest('hex')]: { expiration: 1767225600, ip: '203.0.113.7', ua: 'Mozilla/5.0', login: 1764547200 } }) })) {
      rows.wp_usermeta.push({ user_id: id, meta_key: k, meta_value: v });
    }
  });

  const cats = ['Uncategorized', 'News', 'Recipes', 'Events', 'Shop'];
  cats.forEach((name, i) => {
    rows.wp_terms.push({ term_id: i + 1, name, slug: name.toLowerCase(), term_group: 0 });
    rows.wp_term_taxonomy.push({ term_taxonomy_id: i + 1, term_id: i + 1, taxonomy: 'category', description: i ? `Posts about ${name.toLowerCase()}` : '', parent: 0, count: 0 });
  });

  let id = 0;
  let commentId = 0;
  for (let i = 0; i < postCount; i++) {
    const isPage = i % 8 === 7;
    const postId = ++id;
    const title = sentence(r, 3 + Math.floor(r() * 5)).replace(/\.$/, '');
    const slug = `${title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}-${postId}`;
    const paragraphs = Array.from({ length: 2 + Math.floor(r() * 5) }, () => `<!-- wp:paragraph -->\n<p>${sentence(r, 12 + Math.floor(r() * 30))} It's "quoted" & <em>escaped</em>.</p>\n<!-- /wp:paragraph -->`);
    const content = [`<!-- wp:heading -->\n<h2 class="wp-block-heading">${title}</h2>\n<!-- /wp:heading -->`, ...paragraphs].join('\n\n');
    const when = dt(base, i * 997);
    const post = { ID: postId, post_author: 1 + (i % 4), post_date: when, post_date_gmt: when, post_content: content, post_title: title, post_excerpt: '', post_status: i % 13 === 12 ? 'draft' : 'publish', comment_status: 'open', ping_status: 'open', post_password: '', post_name: slug, to_ping: '', pinged: '', post_modified: when, post_modified_gmt: when, post_content_filtered: '', post_parent: 0, guid: `${url}/?${isPage ? 'page_id' : 'p'}=${postId}`, menu_order: 0, post_type: isPage ? 'page' : 'post', post_mime_type: '', comment_count: 0 };
    rows.wp_posts.push(post);
    rows.wp_postmeta.push({ post_id: postId, meta_key: '_edit_lock', meta_value: `${1764547200 + i}:1` }, { post_id: postId, meta_key: '_edit_last', meta_value: '1' });
    // A revision of the post, as the block editor leaves behind.
    const revId = ++id;
    rows.wp_posts.push({ ...post, ID: revId, post_status: 'inherit', post_type: 'revision', post_name: `${postId}-revision-v1`, post_parent: postId, guid: `${url}/?p=${revId}`, post_content: content.slice(0, Math.floor(content.length * 0.8)) });
    if (i % 3 === 0) {
      const attId = ++id;
      const file = `2024/${String(1 + (i % 12)).padStart(2, '0')}/image-${postId}.jpg`;
      rows.wp_posts.push({ ...post, ID: attId, post_title: `image-${postId}`, post_content: '', post_status: 'inherit', post_type: 'attachment', post_mime_type: 'image/jpeg', post_name: `image-${postId}`, post_parent: postId, guid: `${url}/wp-content/uploads/${file}` });
      rows.wp_postmeta.push(
        { post_id: attId, meta_key: '_wp_attached_file', meta_value: file },
        { post_id: attId, meta_key: '_wp_attachment_metadata', meta_value: phpSerialize({ width: 1200, height: 800, file, filesize: 48213 + i, sizes: { thumbnail: { file: `image-${postId}-150x150.jpg`, width: 150, height: 150, 'mime-type': 'image/jpeg', filesize: 5120 }, medium: { file: `image-${postId}-300x200.jpg`, width: 300, height: 200, 'mime-type': 'image/jpeg', filesize: 12288 } }, image_meta: { aperture: '2.8', credit: '', camera: 'Café Cam ™', caption: '', created_timestamp: '0', copyright: '', focal_length: '35', iso: '200', shutter_speed: '0.004', title: '', orientation: '1', keywords: [] } }) },
        { post_id: postId, meta_key: '_thumbnail_id', meta_value: String(attId) },
      );
    }
    if (!isPage) {
      const cat = 1 + Math.floor(r() * cats.length);
      rows.wp_term_relationships.push({ object_id: postId, term_taxonomy_id: cat, term_order: 0 });
      (rows.wp_term_taxonomy[cat - 1] as { count: number }).count++;
      const nComments = Math.floor(r() * 4);
      for (let c = 0; c < nComments; c++) {
        const cid = ++commentId;
        rows.wp_comments.push({ comment_ID: cid, comment_post_ID: postId, comment_author: `Visitor ${cid}`, comment_author_email: `visitor${cid}@example.org`, comment_author_url: '', comment_author_IP: `198.51.100.${cid % 250}`, comment_date: dt(base, i * 997 + 60 * (c + 1)), comment_date_gmt: dt(base, i * 997 + 60 * (c + 1)), comment_content: sentence(r, 8 + Math.floor(r() * 20)), comment_karma: 0, comment_approved: c === 2 ? '0' : '1', comment_agent: 'Mozilla/5.0 (X11; Linux x86_64)', comment_type: 'comment', comment_parent: 0, user_id: 0 });
        rows.wp_commentmeta.push({ comment_id: cid, meta_key: 'akismet_result', meta_value: 'false' });
      }
      post.comment_count = nComments;
    }
  }

  const options: Record<string, string> = {
    siteurl: url,
    home: url,
    blogname: `${o.domain.split('.')[0]} — a WordPress site`,
    blogdescription: 'Just another WordPress site',
    admin_email: `admin@${o.domain}`,
    users_can_register: '0',
    permalink_structure: '/%year%/%monthnum%/%postname%/',
    template: 'twentytwentyfive',
    stylesheet: 'twentytwentyfive',
    db_version: String(WP_DB_VERSION),
    default_category: '1',
    posts_per_page: '10',
    timezone_string: 'Europe/Amsterdam',
    active_plugins: phpSerialize(['akismet/akismet.php', 'redis-cache/redis-cache.php', 'woocommerce/woocommerce.php']),
    sticky_posts: phpSerialize([]),
    wp_user_roles: phpSerialize({ administrator: { name: 'Administrator', capabilities: { switch_themes: true, edit_themes: true, activate_plugins: true, manage_options: true, edit_posts: true, publish_posts: true, read: true, level_10: true } }, editor: { name: 'Editor', capabilities: { edit_posts: true, edit_others_posts: true, publish_posts: true, read: true, level_7: true } }, author: { name: 'Author', capabilities: { upload_files: true, edit_posts: true, publish_posts: true, read: true, level_2: true } }, subscriber: { name: 'Subscriber', capabilities: { read: true, level_0: true } } }),
    cron: phpSerialize({ 1764550000: { wp_version_check: { '40cd750bba9870f18aada2478b24840a': { schedule: 'twicedaily', args: [], interval: 43200 } } }, version: 2 }),
    widget_block: phpSerialize({ 2: { content: '<!-- wp:search /-->' }, _multiwidget: 1 }),
    _transient_doing_cron: '1764550000.1234560000',
    woocommerce_currency: 'EUR',
    'redis-cache_settings': phpSerialize({ host: 'redis', port: 6379, database: 0, prefix: `${o.database}:` }),
  };
  for (const [k, v] of Object.entries(options)) rows.wp_options.push({ option_name: k, option_value: v, autoload: k.startsWith('_transient') ? 'no' : 'yes' });
  return rows;
}

async function insertAll(pool: Pool, db: string, table: string, rows: Record<string, unknown>[]): Promise<void> {
  if (!rows.length) return;
  const cols = Object.keys(rows[0]);
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200);
    await pool.query(`INSERT INTO \`${db}\`.\`${table}\` (${cols.map((c) => `\`${c}\``).join(',')}) VALUES ?`, [chunk.map((row) => cols.map((c) => row[c]))]);
  }
}

/** Creates (or re-creates) the site's database with the WordPress schema and rows. */
export async function generateSiteDatabase(pool: Pool, o: GenerateSiteOptions): Promise<{ tables: number; rows: number }> {
  await pool.query(`DROP DATABASE IF EXISTS \`${o.database}\``);
  await pool.query(`CREATE DATABASE \`${o.database}\` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
  for (const ddl of wordpressSchema()) await pool.query(ddl.replace(/CREATE TABLE IF NOT EXISTS (\w+)/, `CREATE TABLE IF NOT EXISTS \`${o.database}\`.$1`));
  const rows = wordpressRows(o);
  let n = 0;
  for (const [table, list] of Object.entries(rows)) {
    await insertAll(pool, o.database, table, list);
    n += list.length;
  }
  return { tables: wordpressSchema().length, rows: n };
}

/** Writes the site's docroot on the storage host: config, version file, uploads (pseudo-random bytes). */
export async function generateSiteFiles(ssh: SshClient, o: GenerateSiteOptions): Promise<void> {
  const root = o.filesPath;
  const bytes = o.uploadBytes ?? 256 * 1024;
  const files = 4;
  const script = [
    'set -e',
    `rm -rf ${q(root)}`,
    `mkdir -p ${q(root + '/wp-includes')} ${q(root + '/wp-content/themes/twentytwentyfive')} ${q(root + '/wp-content/plugins/akismet')} ${q(root + '/wp-content/uploads/2024/01')}`,
    `printf '%s\\n' '<?php' '$wp_version = '"'"'${WP_VERSION}'"'"';' '$wp_db_version = ${WP_DB_VERSION};' > ${q(root + '/wp-includes/version.php')}`,
    `printf '%s\\n' '<?php' "define( 'DB_NAME', '${o.database}' );" "define( 'DB_HOST', 'proxysql:6033' );" "\\$table_prefix = 'wp_';" "require_once ABSPATH . 'wp-settings.php';" > ${q(root + '/wp-config.php')}`,
    `printf '%s\\n' '/*' 'Theme Name: Twenty Twenty-Five' '*/' > ${q(root + '/wp-content/themes/twentytwentyfive/style.css')}`,
    `printf '%s\\n' '<?php' '/* Plugin Name: Akismet */' > ${q(root + '/wp-content/plugins/akismet/akismet.php')}`,
    ...Array.from({ length: files }, (_, i) => `head -c ${Math.floor(bytes / files)} /dev/urandom > ${q(`${root}/wp-content/uploads/2024/01/photo-${i + 1}.jpg`)}`),
    `printf 'Déjà vu – ünïcödé file name\\n' > ${q(root + '/wp-content/uploads/2024/01/café menu (final).txt')}`,
  ].join('\n');
  await ssh.execOrThrow('sh -s', { stdin: script });
}
