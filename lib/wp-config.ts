/**
 * Reads what a migration needs from an old host's wp-config.php without running it (never `include`: it is
 * someone else's PHP): `$table_prefix` and the DB_* constants, from the code outside comments and strings'
 * surroundings. A prefix that is computed (concatenation, getenv) is reported as not found, not guessed.
 */

export interface WpConfig {
  tablePrefix: string | null;
  constants: Record<string, string>;
}

/** The PHP source with comments blanked out (strings kept, so a `//` inside a string is not a comment). */
export function stripPhpComments(src: string): string {
  let out = '';
  for (let i = 0; i < src.length; ) {
    const c = src[i];
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end === -1 ? src.length : end + 2;
      out += ' ';
    } else if ((c === '/' && src[i + 1] === '/') || c === '#') {
      while (i < src.length && src[i] !== '\n' && !(src[i] === '?' && src[i + 1] === '>')) i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function unquote(quote: string, body: string): string {
  if (quote === "'") return body.replace(/\\(['\\])/g, '$1');
  return body.replace(/\\(["\\$])/g, '$1').replace(/\\n/g, '\n').replace(/\\t/g, '\t');
}

const STRING = String.raw`(['"])((?:\\.|(?!\1)[^\\])*)\1`;

export function parseWpConfig(src: string): WpConfig {
  const code = stripPhpComments(src);
  const constants: Record<string, string> = {};
  for (const m of code.matchAll(new RegExp(String.raw`\bdefine\s*\(\s*${STRING}\s*,\s*` + STRING.replace('\\1', '\\3').replace('(?!\\1)', '(?!\\3)') + String.raw`\s*\)`, 'g'))) {
    constants[unquote(m[1], m[2])] = unquote(m[3], m[4]);
  }
  // The last plain assignment wins, as in PHP; a double-quoted prefix with `$` would interpolate: refused.
  let tablePrefix: string | null = null;
  for (const m of code.matchAll(new RegExp(String.raw`\$table_prefix\s*=\s*` + STRING + String.raw`\s*;`, 'g'))) {
    const v = unquote(m[1], m[2]);
    tablePrefix = m[1] === '"' && m[2].includes('$') ? null : v;
  }
  if (tablePrefix !== null && !/^[A-Za-z0-9_]{1,48}$/.test(tablePrefix)) tablePrefix = null;
  return { tablePrefix, constants };
}

/** Constants the farm sets (the database from the service's environment, the rest in WORDPRESS_CONFIG_EXTRA). */
const FARM_CONSTANTS = new Set(['DB_NAME', 'DB_USER', 'DB_PASSWORD', 'DB_HOST', 'WP_HOME', 'WP_SITEURL', 'FORCE_SSL_ADMIN', 'DISABLE_WP_CRON']);
const isFarmConstant = (name: string) => FARM_CONSTANTS.has(name) || name.startsWith('WP_REDIS_');
export const FARM_BLOCK_MARK = '/* Drover (migrated from its old host)';

/** The farm's settings, as the local image's wp-config-docker.php reads them (images/wordpress). */
const FARM_BLOCK = `${FARM_BLOCK_MARK}: the farm's database settings, read from the site's service at every request (the
   password from its Docker secret), then the farm's own settings (WORDPRESS_CONFIG_EXTRA: home URL, object cache). */
if (!function_exists('getenv_docker')) {
	function getenv_docker($env, $default) {
		if ($fileEnv = getenv($env . '_FILE')) { return rtrim(file_get_contents($fileEnv), "\\r\\n"); }
		if (($val = getenv($env)) !== false) { return $val; }
		return $default;
	}
}
define('DB_NAME', getenv_docker('WORDPRESS_DB_NAME', ''));
define('DB_USER', getenv_docker('WORDPRESS_DB_USER', ''));
define('DB_PASSWORD', getenv_docker('WORDPRESS_DB_PASSWORD', ''));
define('DB_HOST', getenv_docker('WORDPRESS_DB_HOST', ''));
if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && strpos($_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) { $_SERVER['HTTPS'] = 'on'; }
if ($drover_config_extra = getenv_docker('WORDPRESS_CONFIG_EXTRA', '')) { eval($drover_config_extra); }
/* end of Drover's settings */
`;

/** Index just past the string literal opening at `i`. */
function skipString(src: string, i: number): number {
  const q = src[i];
  let j = i + 1;
  while (j < src.length && src[j] !== q) j += src[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** Index just past the statement's `;` (strings, comments and parentheses skipped) from `i`; -1 if none. */
function statementEnd(src: string, i: number, closeParens = 0): number {
  let depth = closeParens;
  for (let j = i; j < src.length; ) {
    const c = src[j];
    if (c === "'" || c === '"') j = skipString(src, j);
    else if (c === '/' && src[j + 1] === '*') j = src.indexOf('*/', j + 2) === -1 ? src.length : src.indexOf('*/', j + 2) + 2;
    else if ((c === '/' && src[j + 1] === '/') || c === '#') j = src.indexOf('\n', j) === -1 ? src.length : src.indexOf('\n', j);
    else if (c === '(' || c === ')') {
      depth += c === '(' ? 1 : -1;
      j++;
    }
    else if (c === ';' && depth <= 0) return j + 1;
    else j++;
  }
  return -1;
}

/**
 * An old host's wp-config.php made to run on the farm, without running it: its `define()`s of the database
 * settings and of what the farm sets itself (home URL, SSL admin, cron, object cache) are removed, the farm's
 * settings block (the same as the local image's wp-config) goes right after `<?php`, and `$table_prefix` is set
 * to `tablePrefix` as a literal. Everything else (salts, WP_DEBUG, custom constants) is kept. Already adapted
 * (the block is there): returned unchanged, so a retried step is harmless.
 */
export function adaptWpConfigForFarm(src: string, opts: { tablePrefix: string }): { text: string; removed: string[] } {
  if (!/^[A-Za-z0-9_]{1,48}$/.test(opts.tablePrefix)) throw new Error(`tablePrefix: ${JSON.stringify(opts.tablePrefix)} is not letters, digits and _`);
  if (src.includes(FARM_BLOCK_MARK)) return { text: src, removed: [] };
  const open = /<\?php\b\s*/.exec(src);
  if (!open) throw new Error('wp-config.php has no <?php opening tag');
  const cuts: { from: number; to: number; by: string }[] = [];
  const removed: string[] = [];
  let prefixSet = false;
  const define = /define\s*\(\s*(['"])([A-Za-z0-9_]+)\1\s*,/y;
  const prefix = /\$table_prefix\s*=/y;
  for (let i = open.index + open[0].length; i < src.length; ) {
    const c = src[i];
    if (c === "'" || c === '"') {
      i = skipString(src, i);
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const e = src.indexOf('*/', i + 2);
      i = e === -1 ? src.length : e + 2;
      continue;
    }
    if ((c === '/' && src[i + 1] === '/') || c === '#') {
      const e = src.indexOf('\n', i);
      i = e === -1 ? src.length : e;
      continue;
    }
    const before = i > 0 ? src[i - 1] : ' ';
    if (!/[A-Za-z0-9_$>:\\]/.test(before)) {
      define.lastIndex = i;
      const d = define.exec(src);
      if (d && isFarmConstant(d[2])) {
        const end = statementEnd(src, define.lastIndex, 1);
        if (end !== -1) {
          cuts.push({ from: i, to: end, by: `/* ${d[2]}: set by the farm (Drover) */` });
          removed.push(d[2]);
          i = end;
          continue;
        }
      }
      prefix.lastIndex = i;
      if (src[i] === '$' && prefix.exec(src)) {
        const end = statementEnd(src, prefix.lastIndex);
        if (end !== -1) {
          cuts.push({ from: i, to: end, by: `$table_prefix = '${opts.tablePrefix}';` });
          prefixSet = true;
          i = end;
          continue;
        }
      }
    }
    i++;
  }
  let text = src;
  for (const cut of [...cuts].reverse()) text = text.slice(0, cut.from) + cut.by + text.slice(cut.to);
  const at = open.index + open[0].length;
  const block = FARM_BLOCK + (prefixSet ? '' : `$table_prefix = '${opts.tablePrefix}';\n`) + '\n';
  return { text: text.slice(0, at) + block + text.slice(at), removed };
}
