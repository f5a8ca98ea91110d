/**
 * The content of a site as an old host holds it: the WordPress rows of devkit/site-generator.ts under another
 * table prefix (the prefix-bound `<prefix>user_roles` option and `<prefix>capabilities` / `<prefix>user_level`
 * user meta renamed with it), plus the values a migration must not corrupt, produced by PHP's own serialize()
 * and json_encode() (php-cli): multibyte strings, serialized values nested inside serialized strings, objects
 * of classes the farm does not have (private and protected properties, floats), and page-builder JSON whose
 * URLs are written with escaped slashes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { wordpressRows } from '../site-generator';

export interface LegacyValue {
  table: 'options' | 'postmeta';
  key: string;
  /** The bytes PHP wrote. */
  value: Buffer;
  /** Serialized by PHP (so PHP must still unserialize it after the migration). */
  serialized: boolean;
}

/** Runs PHP code (without `<?php`); its stdout. */
function php(code: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-oldhost-php-'));
  try {
    const file = path.join(dir, 'gen.php');
    writeFileSync(file, `<?php\n${code}\n`);
    return execFileSync('php', ['-d', 'display_errors=stderr', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The tricky values for a site at `url` (no trailing slash), each written by PHP. Classes are declared only in
 * the generating script, so on the farm (and in the judge, unless it declares them) they are foreign.
 */
export function legacyValues(url: string): LegacyValue[] {
  const u = JSON.stringify(url);
  const out = php(`
namespace Elementor\\Core\\Kits { class Kit_Settings { public $site_url; protected $logo; private $ratio = 1.5; public $nested;
  function __construct($u) { $this->site_url = $u; $this->logo = $u . '/wp-content/uploads/2024/01/lögö-🌿.png'; $this->nested = ['a' => $u . '/a', 'weights' => [0.1, 2.5e-7, -0.0]]; } } }
namespace {
error_reporting(E_ALL & ~E_DEPRECATED);
$u = ${u};
$vals = [
  ['options', 'theme_mods_twentytwentyfive', true, serialize(['custom_logo' => 12, 'header_image' => $u . '/wp-content/uploads/2024/01/en-tête-café.jpg', 'nav_menu_locations' => ['primary' => 3], 'background' => ['url' => $u . '/bg.png', 'note' => 'Grüße aus Zürich — 東京 🌿']])],
  ['options', 'widget_text', true, serialize([2 => ['title' => 'Über uns', 'text' => '<a href="' . $u . '/über-uns/">Über uns – 私たち</a>', 'filter' => true, 'visual' => true], '_multiwidget' => 1])],
  ['options', 'legacy_nested_serialized', true, serialize(['inner' => serialize(['link' => $u . '/nested/', 'deeper' => serialize([$u . '/deep/ünïcödé'])]), 'count' => 3])],
  ['options', 'elementor_kit_settings', true, serialize(new \\Elementor\\Core\\Kits\\Kit_Settings($u))],
  ['options', 'legacy_float_map', true, serialize(['ratio' => 0.1, 'big' => 1.0E+25, 'home' => $u, 7 => false, '8' => null])],
  ['postmeta', '_elementor_data', false, json_encode([['id' => 'a1', 'elType' => 'section', 'settings' => ['background_image' => ['url' => $u . '/wp-content/uploads/2024/01/hero-é.jpg', 'id' => 5]], 'elements' => [['widgetType' => 'button', 'settings' => ['link' => ['url' => $u . '/kontakt/'], 'text' => 'Kontakt 📞']]]]])],
  ['postmeta', '_legacy_builder_blob', true, serialize(['json' => json_encode(['href' => $u . '/shop/', 'label' => 'Café']), 'list' => [$u . '/1', $u . '/2']])],
];
foreach ($vals as $v) echo $v[0], "\\t", $v[1], "\\t", $v[2] ? '1' : '0', "\\t", base64_encode($v[3]), "\\n";
}
`);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [table, key, ser, b64] = line.split('\t');
      return { table: table as LegacyValue['table'], key, serialized: ser === '1', value: Buffer.from(b64, 'base64') };
    });
}

/** `wp_users` → `wpx7_users`, and the prefix-bound keys inside the rows renamed the same way. */
export function legacyRows(domain: string, database: string, prefix: string, posts: number): Record<string, Record<string, unknown>[]> {
  const rows = wordpressRows({ domain, database, filesPath: '/unused', posts });
  const rename = (k: string) => (k.startsWith('wp_') ? prefix + k.slice(3) : k);
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const [table, list] of Object.entries(rows)) {
    out[rename(table)] = list.map((r) => {
      const row = { ...r };
      if (table === 'wp_usermeta') row.meta_key = rename(String(row.meta_key));
      if (table === 'wp_options') row.option_name = rename(String(row.option_name));
      return row;
    });
  }
  return out;
}
