import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { adaptWpConfigForFarm, parseWpConfig } from '../../lib/wp-config';
import { scratchDir } from '../helpers/scratch';

describe('parseWpConfig', () => {
  it.each([
    ["<?php\n$table_prefix = 'wp_';", 'wp_'],
    ["<?php\n/* $table_prefix = 'no_'; */\n$table_prefix  =  \"wpx7_\";", 'wpx7_'],
    ["<?php\n// $table_prefix = 'no_';\n# $table_prefix = 'nope_';\n$table_prefix='a1_' ;", 'a1_'],
    ["<?php\n$table_prefix = 'first_';\n$table_prefix = 'second_';", 'second_'],
    ["<?php\n$table_prefix = getenv('P');", null],
    ["<?php\n$table_prefix = \"wp_$x\";", null],
    ["<?php\n$table_prefix = 'bad prefix';", null],
    ["<?php\ndefine('X', 'http://a//b'); $table_prefix = 'ok_';", 'ok_'],
  ])('%j → %s', (src, prefix) => {
    expect(parseWpConfig(src).tablePrefix).toBe(prefix);
  });

  it('reads DB_* constants, quotes and escapes included', () => {
    const c = parseWpConfig(`<?php\ndefine( 'DB_NAME', 'shop' );\ndefine("DB_HOST", "127.0.0.1:3307");\ndefine('DB_PASSWORD', 'it\\'s // not a comment');\n// define('DB_USER', 'commented');`);
    expect(c.constants).toEqual({ DB_NAME: 'shop', DB_HOST: '127.0.0.1:3307', DB_PASSWORD: "it's // not a comment" });
  });
});

describe('adaptWpConfigForFarm', () => {
  const source = [
    '<?php',
    '/** The base configuration for WordPress (as the old host left it). */',
    "define( 'DB_NAME', 'old_db' );",
    "define( 'DB_USER', 'u_old' );",
    "define('DB_PASSWORD', 'p;a)s\\'s(\"w');",
    "define( 'DB_HOST', '127.0.0.1:3306' );",
    "define( 'DB_CHARSET', 'utf8mb4' );",
    "define('WP_HOME', 'https://old.example.com'); define('WP_REDIS_HOST', 'old-redis');",
    "// define('DB_NAME', 'in a comment');",
    "/* $table_prefix = 'wp_'; (commented out: the real one is below) */",
    '$table_prefix  =  "wpx7_";',
    "define('AUTH_KEY', 'keep me; (really)');",
    "if ( ! defined( 'ABSPATH' ) ) { define( 'ABSPATH', __DIR__ . '/' ); }",
    "require_once ABSPATH . 'wp-settings.php';",
    '',
  ].join('\n');

  it('removes the database and farm-set defines, keeps the rest, sets the prefix; PHP runs it with the farm environment', () => {
    const { text, removed } = adaptWpConfigForFarm(source, { tablePrefix: 'wpx7_' });
    expect(removed.sort()).toEqual(['DB_HOST', 'DB_NAME', 'DB_PASSWORD', 'DB_USER', 'WP_HOME', 'WP_REDIS_HOST']);
    expect(text).not.toContain('old_db');
    expect(text).not.toContain('p;a)s');
    expect(text).toContain("define('AUTH_KEY', 'keep me; (really)');");
    expect(text).toContain("define( 'DB_CHARSET', 'utf8mb4' );");
    expect(text).toContain("$table_prefix = 'wpx7_';");
    // Again: unchanged (a retried step).
    expect(adaptWpConfigForFarm(text, { tablePrefix: 'wpx7_' }).text).toBe(text);
    // PHP's verdict: the constants come from the service's environment and secret file.
    const dir = scratchDir('drover-wpconfig-');
    try {
      writeFileSync(path.join(dir, 'wp-config.php'), text);
      writeFileSync(path.join(dir, 'secret'), 'farm-secret\n');
      writeFileSync(path.join(dir, 'wp-settings.php'), "<?php echo json_encode([DB_NAME, DB_USER, DB_PASSWORD, DB_HOST, DB_CHARSET, WP_HOME, AUTH_KEY, $table_prefix]);");
      const out = execFileSync('php', [path.join(dir, 'wp-config.php')], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, WORDPRESS_DB_NAME: 'wp_new_example', WORDPRESS_DB_USER: 'wp_new_u', WORDPRESS_DB_PASSWORD_FILE: path.join(dir, 'secret'), WORDPRESS_DB_HOST: 'galera:3306', WORDPRESS_CONFIG_EXTRA: "define('WP_HOME', 'http://new.example');" },
      });
      expect(JSON.parse(out)).toEqual(['wp_new_example', 'wp_new_u', 'farm-secret', 'galera:3306', 'utf8mb4', 'http://new.example', 'keep me; (really)', 'wpx7_']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a prefix that is not a literal name', () => {
    expect(() => adaptWpConfigForFarm(source, { tablePrefix: "x'; evil();" })).toThrow(/tablePrefix/);
  });
});
