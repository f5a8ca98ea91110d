/**
 * PHP as the judge of the URL rewriter: Debian's php-cli generates serialized values with PHP's own serialize()
 * and checks rewritten ones with its own unserialize(). One php process per call, many values per call.
 * Values cross the process boundary as base64 lines, so binary and NUL bytes survive.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { NeedleSet } from '../../lib/url-rewrite';
import { scratchDir } from './scratch';

/** Runs a PHP script (without the `<?php` tag) with `stdin`; returns stdout; throws with PHP's output on failure. */
export function runPhp(script: string, stdin = ''): string {
  const dir = scratchDir('drover-php-');
  const file = path.join(dir, 'script.php');
  fs.writeFileSync(file, `<?php\nerror_reporting(E_ALL & ~E_DEPRECATED);\n${script}\n`);
  try {
    return execFileSync('php', ['-d', 'display_errors=stderr', file], {
      input: stdin,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A PHP string literal holding exactly these bytes. */
export function phpBytes(b: Buffer | string): string {
  return `base64_decode('${Buffer.from(b).toString('base64')}')`;
}

/**
 * Serializes each PHP expression in `exprs` with PHP's serialize(), after running `prelude` (class definitions,
 * helper functions). Returns the bytes PHP produced.
 */
export function phpSerialize(prelude: string, exprs: readonly string[]): Buffer[] {
  const body = exprs.map((e) => `echo base64_encode(serialize(${e})), "\\n";`).join('\n');
  const out = runPhp(`${prelude}\n${body}`);
  return out.split('\n').filter((l) => l !== '').map((l) => Buffer.from(l, 'base64'));
}

export interface Verdict {
  /** unserialize() accepted the rewritten bytes. */
  readonly unserializes: boolean;
  /** serialize(unserialize(rewritten)) === rewritten: every length and count in it is what PHP would write. */
  readonly roundTrips: boolean;
  /**
   * When an original was given: serialize(replace(unserialize(original))), with replace() the reference rewrite
   * done inside PHP on PHP values (recursing into arrays, objects' properties of every visibility, and strings
   * that are themselves serialized). Null when the original does not unserialize.
   */
  readonly expected: Buffer | null;
}

/**
 * The reference rewrite in PHP: one preg_replace_callback over every spelling (longest first, the same host
 * boundary as the TypeScript code), applied to each string value; serialized strings are unserialized, rewritten
 * and serialized again (what wp-cli's search-replace does). Objects are rewritten in place through reflection.
 */
function referencePrelude(needles: NeedleSet): string {
  const alts = needles.needles.map((n) => `preg_quote(${phpBytes(n.from)}, '/')`).join(", '|', ");
  const map = needles.needles.map((n) => `${phpBytes(n.from)} => ${phpBytes(n.to)}`).join(', ');
  const boundary = needles.hostBoundary ? '(?![A-Za-z0-9_-]|\\.[A-Za-z0-9_-])' : '';
  return `
$GLOBALS['__map'] = [${map}];
$GLOBALS['__re'] = '/(?:' . implode('', [${alts}]) . ')${boundary}/s';
function __rep_str($s) {
  // Only canonical serialized strings (PHP's unserialize() ignores trailing bytes, which would drop text).
  if ($s !== 'b:0;') { $u = @unserialize($s); if ($u !== false && serialize($u) === $s) { __rep($u); return serialize($u); } }
  return preg_replace_callback($GLOBALS['__re'], fn($m) => $GLOBALS['__map'][$m[0]], $s);
}
function __rep(&$v, $seen = null) {
  $seen ??= new SplObjectStorage();
  if (is_string($v)) { $v = __rep_str($v); return; }
  if (is_array($v)) { foreach ($v as $k => &$item) { __rep($item, $seen); } unset($item); return; }
  if (is_object($v) && !($v instanceof UnitEnum)) {
    if ($v instanceof __PHP_Incomplete_Class || $seen->contains($v)) return;
    $seen->attach($v);
    for ($c = new ReflectionObject($v); $c; $c = $c->getParentClass()) {
      foreach ($c->getProperties() as $p) {
        if ($p->isStatic() || ($p->getDeclaringClass()->getName() !== $c->getName() && $p->isPrivate())) continue;
        $p->setAccessible(true);
        if (!$p->isInitialized($v)) continue;
        $x = $p->getValue($v); __rep($x, $seen); $p->setValue($v, $x);
      }
    }
  }
}`;
}

/**
 * Judges rewritten values in one php process. `prelude` defines the classes the judge knows (pass '' to judge as
 * a farm that has none of them: unserialize then yields __PHP_Incomplete_Class, which keeps class and properties).
 */
export function phpJudge(
  prelude: string,
  needles: NeedleSet,
  items: readonly { original?: Buffer; rewritten: Buffer }[],
): Verdict[] {
  const lines = items
    .map((i) => `${i.original ? i.original.toString('base64') : '-'} ${i.rewritten.toString('base64')}`)
    .join('\n');
  const script = `${prelude}
${referencePrelude(needles)}
foreach (explode("\\n", trim(stream_get_contents(STDIN))) as $line) {
  if ($line === '') continue;
  [$o, $r] = explode(' ', $line);
  $r = base64_decode($r);
  $u = @unserialize($r);
  $ok = $u !== false || $r === 'b:0;';
  $round = $ok && serialize($u) === $r;
  $exp = '-';
  if ($o !== '-') {
    $ov = @unserialize(base64_decode($o));
    if ($ov !== false || base64_decode($o) === 'b:0;') { __rep($ov); $exp = base64_encode(serialize($ov)); }
  }
  echo ($ok ? 1 : 0), ' ', ($round ? 1 : 0), ' ', $exp, "\\n";
}`;
  const out = runPhp(script, lines + '\n');
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [ok, round, exp] = l.split(' ');
      return { unserializes: ok === '1', roundTrips: round === '1', expected: exp === '-' ? null : Buffer.from(exp, 'base64') };
    });
}
