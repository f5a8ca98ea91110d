/**
 * The URL rewriter judged by PHP itself: values serialized by PHP's serialize() (objects of classes the farm
 * lacks, private and protected properties, serialized data nested inside strings, multibyte text, floats,
 * int-like keys, references, enums, a Serializable class), rewritten in TypeScript, then unserialized by PHP.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UrlRewriter } from '../../lib/url-rewrite';
import { phpBytes, phpJudge, phpSerialize, runPhp } from '../helpers/php';

const FROM = 'https://old.example.com';
const TO = 'https://new.example';
const rewriter = new UrlRewriter(FROM, TO);

/** Classes that exist only in the generating script (and in the strong judge). */
const CLASSES = `
class Widget_Settings { public $title; protected $link; private $secret; public $n;
  function __construct($t, $l, $s, $n) { $this->title = $t; $this->link = $l; $this->secret = $s; $this->n = $n; } }
class Child_Settings extends Widget_Settings { private $own = 'https://old.example.com/child'; }
class Legacy_Box implements Serializable { public $data;
  function __construct($d) { $this->data = $d; }
  function serialize() { return serialize($this->data); }
  function unserialize($s) { $this->data = unserialize($s); } }
enum Mode: string { case Live = 'https://old.example.com'; case Off = 'off'; }
`;

/** Hard values, as PHP expressions. */
const CORPUS: Record<string, string> = {
  'plain string': `'https://old.example.com/wp-content/uploads/a.jpg'`,
  'multibyte around the URL': `'café — 日本語 🎉 https://old.example.com/ü 🎉'`,
  'options array with int-like keys and floats': `['siteurl' => 'https://old.example.com', '5' => 0.1, 'big' => 1e100, 'neg' => -0.0, 'i' => PHP_INT_MAX, 'b' => false, 'n' => null]`,
  'object with private and protected properties': `new Widget_Settings('Über https://old.example.com', 'https://old.example.com/x', "sec\\0ret https://old.example.com", 3)`,
  'inherited private property': `new Child_Settings('t', 'https://old.example.com/l', 's', 1)`,
  'serialized inside a serialized string': `['w' => serialize(['url' => 'https://old.example.com/in', 'o' => new Widget_Settings('a', 'https://old.example.com', 'b', 2)])]`,
  'three levels of nesting': `serialize(['x' => serialize(['y' => serialize('https://old.example.com/deep ✓')])])`,
  'JSON with escaped slashes inside an array': `['elementor' => json_encode(['url' => 'https://old.example.com/p', 'txt' => 'naïve'])]`,
  'JSON unescaped inside an array': `['j' => json_encode(['url' => 'https://old.example.com/p'], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)]`,
  'references': `(function () { $s = 'https://old.example.com/r'; $o = new stdClass; $o->u = 'https://old.example.com/o'; $a = ['a' => &$s, 'b' => &$s, 'o1' => $o, 'o2' => $o]; return $a; })()`,
  'Serializable (C:) class': `new Legacy_Box(['u' => 'https://old.example.com/legacy', 'k' => 'ß'])`,
  'enum case whose value is the URL (left alone: a case name is not data)': `['m' => Mode::Live, 'u' => 'https://old.example.com']`,
  'keys holding the URL are not rewritten': `['https://old.example.com' => 'https://old.example.com']`,
  'nothing to rewrite': `['a' => 'https://other.example', 'b' => 'https://old.example.community']`,
  'URL-encoded and scheme-less forms': `['share' => 'https://x.test/?u=https%3A%2F%2Fold.example.com%2Fp', 'pr' => '<img src="//old.example.com/i.png">', 'http' => 'http://old.example.com/']`,
  'binary string with invalid UTF-8 next to a URL string': `['bin' => "\\xff\\xfe https://old.example.com \\x00", 'u' => 'https://old.example.com']`,
};

describe('url-rewrite judged by PHP unserialize()', () => {
  const names = Object.keys(CORPUS);
  const originals = phpSerialize(CLASSES, Object.values(CORPUS));
  const rewritten = originals.map((o) => rewriter.rewrite(o));

  it('naive byte replacement (SQL REPLACE) breaks serialized lengths; the token-level rewrite does not', () => {
    const naive = originals.map((o) => Buffer.from(o.toString('latin1').split(FROM).join(TO), 'latin1'));
    const naiveVerdicts = phpJudge(CLASSES, rewriter.needles, naive.map((r) => ({ rewritten: r })));
    const ours = phpJudge(CLASSES, rewriter.needles, rewritten.map((r) => ({ rewritten: r.value })));
    const rejectedNaive = names.filter((_, i) => !naiveVerdicts[i].unserializes);
    expect(rejectedNaive).toContain('object with private and protected properties');
    expect(rejectedNaive).toContain('options array with int-like keys and floats');
    expect(rejectedNaive.length).toBeGreaterThanOrEqual(10);
    expect(names.filter((_, i) => !ours[i].unserializes)).toEqual([]);
  });

  it('matches, byte for byte, PHP unserialize → replace every string (recursively) → serialize', () => {
    const verdicts = phpJudge(CLASSES, rewriter.needles, originals.map((o, i) => ({ original: o, rewritten: rewritten[i].value })));
    names.forEach((name, i) => {
      const v = verdicts[i];
      expect(v.unserializes, name).toBe(true);
      expect(v.roundTrips, `${name}: serialize(unserialize(ours)) differs from ours`).toBe(true);
      if (name.startsWith('binary')) return; // the reference replaces inside invalid UTF-8; we leave it alone
      expect(rewritten[i].value.toString('latin1'), name).toBe(v.expected!.toString('latin1'));
    });
  });

  it('reports what it left alone: the enum case and the binary string still hold the old URL', () => {
    const at = (n: string) => rewritten[names.indexOf(n)];
    expect(at('binary string with invalid UTF-8 next to a URL string').leftAlone).toBe(1);
    expect(at('binary string with invalid UTF-8 next to a URL string').value.toString('latin1')).toContain(`"\xff\xfe ${FROM} \0"`);
    expect(at('nothing to rewrite').changed).toBe(false);
    expect(at('keys holding the URL are not rewritten').value.toString()).toBe(`a:1:{s:23:"${FROM}";s:19:"${TO}";}`);
    expect(at('enum case whose value is the URL (left alone: a case name is not data)').value.toString()).toContain('E:9:"Mode:Live";');
  });

  it('a farm without the classes still unserializes every rewritten value (as __PHP_Incomplete_Class), lengths exact', () => {
    const withoutEnums = names.filter((n) => !n.startsWith('enum'));
    const verdicts = phpJudge(
      '',
      rewriter.needles,
      withoutEnums.map((n) => ({ rewritten: rewritten[names.indexOf(n)].value })),
    );
    withoutEnums.forEach((name, i) => {
      expect(verdicts[i].unserializes, name).toBe(true);
      // PHP's own limit: an incomplete class cannot re-serialize a C: payload (it writes O:…:0:{}).
      if (name.startsWith('Serializable')) return;
      expect(verdicts[i].roundTrips, name).toBe(true);
    });
  });
});

describe('url-rewrite: serialized data inside urlencode() / rawurlencode()', () => {
  it('is decoded, rewritten with lengths recomputed and encoded again in the same style; PHP decodes and unserializes it', () => {
    const inner = `['u' => 'https://old.example.com/é ü', 'o' => new Widget_Settings('a', 'https://old.example.com', 'b', 1)]`;
    const [enc, raw, nested] = runPhp(
      `${CLASSES}
echo urlencode(serialize(${inner})), "\n", rawurlencode(serialize(${inner})), "\n", base64_encode(serialize(['c' => urlencode(serialize(${inner}))])), "\n";`,
    ).split('\n');
    const out = [enc, raw].map((v) => rewriter.rewrite(Buffer.from(v)));
    expect(out.map((o) => o.kind)).toEqual(['url-encoded-serialized', 'url-encoded-serialized']);
    const nestedOut = rewriter.rewrite(Buffer.from(nested, 'base64'));
    const check = runPhp(
      `${CLASSES}
$a = unserialize(urldecode(${phpBytes(out[0].value)}));
$b = unserialize(rawurldecode(${phpBytes(out[1].value)}));
$c = unserialize(urldecode(unserialize(${phpBytes(nestedOut.value)})['c']));
foreach ([$a, $b, $c] as $x) echo $x['u'], '|', (function () { return $this->link; })->call($x['o']), "\n";`,
    );
    expect(check).toBe(`${TO}/é ü|${TO}\n`.repeat(3));
  });
});

// ---- Property: random nested structures built and serialized by PHP --------------------------------------

type Tree =
  | { t: 'str'; parts: string[] }
  | { t: 'int'; v: number }
  | { t: 'float'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'null' }
  | { t: 'arr'; entries: [string | number, Tree][] }
  | { t: 'obj'; pub: Tree; prot: Tree; priv: Tree }
  | { t: 'std'; props: [string, Tree][] }
  | { t: 'ser'; inner: Tree }
  | { t: 'json'; inner: Tree };

const FRAGMENTS = [
  FROM,
  `${FROM}/wp-content/uploads/2020/01/a.jpg`,
  'https:\\/\\/old.example.com\\/x',
  '//old.example.com',
  'http://old.example.com',
  'https://old.example.community',
  'https://old.example.com.au',
  'https%3A%2F%2Fold.example.com',
  'café — 日本語 🎉',
  '";}s:1:"',
  '\0*\0',
  ' ',
  'a:1:{',
  '\\',
];

const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ t: fc.constant('str' as const), parts: fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 4 }) }),
    fc.record({ t: fc.constant('int' as const), v: fc.integer() }),
    fc.record({ t: fc.constant('float' as const), v: fc.constantFrom('0.1', '1e100', '-0.0', '1.5', '3.0', 'M_PI') }),
    fc.record({ t: fc.constant('bool' as const), v: fc.boolean() }),
    fc.constant({ t: 'null' as const }),
    fc.record({
      t: fc.constant('arr' as const),
      entries: fc.array(fc.tuple(fc.oneof(fc.integer({ min: -3, max: 20 }), fc.constantFrom('5', 'url', FROM, '', 'ü')), tie('tree')), { maxLength: 4 }),
    }),
    fc.record({ t: fc.constant('obj' as const), pub: tie('tree'), prot: tie('tree'), priv: tie('tree') }),
    fc.record({ t: fc.constant('std' as const), props: fc.array(fc.tuple(fc.constantFrom('a', 'link', 'b'), tie('tree')), { maxLength: 3 }) }),
    fc.record({ t: fc.constant('ser' as const), inner: tie('tree') }),
    fc.record({ t: fc.constant('json' as const), inner: tie('tree') }),
  ),
})).tree;

function phpExpr(t: Tree): string {
  switch (t.t) {
    case 'str':
      return phpBytes(t.parts.join(''));
    case 'int':
      return String(t.v);
    case 'float':
      return t.v;
    case 'bool':
      return t.v ? 'true' : 'false';
    case 'null':
      return 'null';
    case 'arr':
      return `[${t.entries.map(([k, v]) => `${typeof k === 'number' ? k : phpBytes(k)} => ${phpExpr(v)}`).join(', ')}]`;
    case 'obj':
      return `new Widget_Settings(${phpExpr(t.pub)}, ${phpExpr(t.prot)}, ${phpExpr(t.priv)}, 0)`;
    case 'std':
      return `(object)[${t.props.map(([k, v]) => `'${k}' => ${phpExpr(v)}`).join(', ')}]`;
    case 'ser':
      return `serialize(${phpExpr(t.inner)})`;
    case 'json':
      // JSON of strings only: PHP's own json re-encoding (the reference) would otherwise change float spellings.
      return `json_encode(__strings(${phpExpr(t.inner)}))`;
  }
}

const PROPERTY_PRELUDE = `${CLASSES}
function __strings($v) { if (is_array($v)) return array_map('__strings', $v); if (is_object($v)) return __strings(get_object_vars($v)); return (string)$v; }`;

describe('url-rewrite property: PHP agrees on random nested structures', () => {
  it('rewrite-then-unserialize equals unserialize-then-replace-in-PHP, for 300 structures', () => {
    const trees = fc.sample(treeArb, { numRuns: 300, seed: 20261130 });
    const originals = phpSerialize(PROPERTY_PRELUDE, trees.map(phpExpr));
    expect(originals).toHaveLength(trees.length);
    const ours = originals.map((o) => rewriter.rewrite(o));
    const verdicts = phpJudge(PROPERTY_PRELUDE, rewriter.needles, originals.map((o, i) => ({ original: o, rewritten: ours[i].value })));
    const failures = verdicts
      .map((v, i) => ({ v, i }))
      .filter(({ v, i }) => !v.unserializes || !v.roundTrips || !v.expected || !v.expected.equals(ours[i].value))
      .map(({ i }) => ({ original: originals[i].toString('latin1'), ours: ours[i].value.toString('latin1'), php: verdicts[i].expected?.toString('latin1') }));
    expect(failures.slice(0, 3)).toEqual([]);
    expect(ours.filter((r) => r.changed).length).toBeGreaterThan(50);
  });
});
