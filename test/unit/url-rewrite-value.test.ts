/** The URL rewriter on single values, table-driven (cases after wp-cli's and go-search-replace's suites). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileNeedles, isSerialized, looksSerialized, UrlRewriter } from '../../lib/url-rewrite';

const FROM = 'https://old.example.com';
const TO = 'https://new.example';
const rw = new UrlRewriter(FROM, TO);
const run = (s: string | Buffer) => rw.rewrite(Buffer.from(s));
const out = (s: string) => run(s).value.toString();
/** PHP's serialize() of a string: the length is in bytes. */
const ser = (s: string) => `s:${Buffer.byteLength(s)}:"${s}";`;

describe('serialized values: token level, lengths in bytes', () => {
  const cases: [string, string, string][] = [
    ['a string', `s:23:"${FROM}";`, `s:19:"${TO}";`],
    ['in an array, keys untouched', `a:1:{s:23:"${FROM}";s:25:"${FROM}/x";}`, `a:1:{s:23:"${FROM}";s:21:"${TO}/x";}`],
    ['multibyte text counted in bytes', ser(`🖖 ${FROM} é`), ser(`🖖 ${TO} é`)],
    ['NUL bytes in private property names kept', `O:3:"Foo":1:{s:8:"\0Foo\0url";${ser(FROM)}}`, `O:3:"Foo":1:{s:8:"\0Foo\0url";${ser(TO)}}`],
    ['quotes and semicolons inside a string', ser(`";}"${FROM}\\`), ser(`";}"${TO}\\`)],
    ['floats, ints, bools, null, references and enums keep their bytes', `a:7:{i:0;d:0.1;i:1;d:1.0E+25;i:2;i:-9223372036854775808;i:3;b:1;i:4;N;i:5;R:2;i:6;E:7:"Foo:Bar";}`, `a:7:{i:0;d:0.1;i:1;d:1.0E+25;i:2;i:-9223372036854775808;i:3;b:1;i:4;N;i:5;R:2;i:6;E:7:"Foo:Bar";}`],
    ['nested serialized string, three deep', `a:1:{i:0;${ser(ser(ser(FROM)))}}`, `a:1:{i:0;${ser(ser(ser(TO)))}}`],
    ['C: payload that is serialized data', `C:3:"Box":${ser(FROM).length}:{${ser(FROM)}}`, `C:3:"Box":${ser(TO).length}:{${ser(TO)}}`],
    ['JSON with escaped slashes inside', ser('{"u":"https:\\/\\/old.example.com"}'), ser('{"u":"https:\\/\\/new.example"}')],
    ['surrounding whitespace kept (WordPress trims before unserialize)', ` s:23:"${FROM}";\n`, ` s:19:"${TO}";\n`],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(isSerialized(Buffer.from(input.trim()))).toBe(true);
    expect(out(input)).toBe(expected);
    expect(isSerialized(Buffer.from(out(input).trim()))).toBe(true);
  });

  it('an object payload that is not one serialized value (ArrayObject style) is left alone and counted', () => {
    const payload = `x:i:0;a:1:{i:0;s:23:"${FROM}";};m:a:0:{}`;
    const r = run(`C:11:"ArrayObject":${payload.length}:{${payload}}`);
    expect(r.changed).toBe(false);
    expect(r.leftAlone).toBe(1);
  });

  it('an S: (escaped) string is kept opaque and counted', () => {
    const r = run(`a:2:{i:0;S:23:"${FROM.replace('h', '\\68')}";i:1;s:23:"${FROM}";}`);
    expect(r.value.toString()).toBe(`a:2:{i:0;S:23:"${FROM.replace('h', '\\68')}";i:1;s:19:"${TO}";}`);
    expect(r.leftAlone).toBe(1);
  });
});

describe('malformed serialized data (declared lengths wrong, truncated): never guessed at', () => {
  const malformed = [
    `s:100:"${FROM}";`,
    `a:2:{s:3:"url";s:23:"${FROM}";}`,
    `a:1:{s:3:"url";s:23:"${FROM}";`.slice(0, -1) + ';',
    `s:999999999999999999999:"${FROM}";`,
  ];
  it.each(malformed)('%s is left alone and reported', (input) => {
    expect(looksSerialized(Buffer.from(input))).toBe(true);
    const r = run(input);
    expect(r).toMatchObject({ changed: false, kind: 'malformed-serialized', malformed: 1, leftAlone: 1 });
    expect(r.value.toString()).toBe(input);
  });

  it('a length-neutral rewrite (same byte lengths) is applied to malformed data: it cannot shift a length', () => {
    const same = new UrlRewriter('https://old.example.com', 'https://new.example.org');
    const r = same.rewrite(Buffer.from(`a:2:{s:3:"url";s:23:"${FROM}";}`));
    expect(r).toMatchObject({ changed: true, kind: 'malformed-serialized', malformed: 1, leftAlone: 0 });
    expect(r.value.toString()).toBe('a:2:{s:3:"url";s:23:"https://new.example.org";}');
  });

  it('text that merely starts like serialized data is still text', () => {
    expect(out(`a: see ${FROM}`)).toBe(`a: see ${TO}`);
  });
});

describe('spellings of the URL in text and JSON', () => {
  const cases: [string, string, string][] = [
    ['plain', `<a href="${FROM}/about">`, `<a href="${TO}/about">`],
    ['JSON-escaped slashes', `{"url":"https:\\/\\/old.example.com\\/x"}`, `{"url":"https:\\/\\/new.example\\/x"}`],
    ['URL-encoded', `?u=https%3A%2F%2Fold.example.com%2Fp`, `?u=https%3A%2F%2Fnew.example%2Fp`],
    ['URL-encoded, lower-case hex', `?u=https%3a%2f%2fold.example.com`, `?u=https%3a%2f%2fnew.example`],
    ['scheme-less (protocol-relative)', `<img src="//old.example.com/i.png">`, `<img src="//new.example/i.png">`],
    ['the other scheme keeps its scheme', `http://old.example.com/`, `http://new.example/`],
    ['another host that starts the same is not touched', `https://old.example.community https://old.example.com.au`, `https://old.example.community https://old.example.com.au`],
    ['a port or a sentence end is a boundary', `${FROM}:8080/ and ${FROM}.`, `${TO}:8080/ and ${TO}.`],
    ['a Gutenberg block comment', `<!-- wp:image {"url":"${FROM}/a.jpg"} -->`, `<!-- wp:image {"url":"${TO}/a.jpg"} -->`],
  ];
  it.each(cases)('%s', (_name, input, expected) => expect(out(input)).toBe(expected));

  it('JSON holding serialized data: the inner lengths are recomputed and the token re-escaped like the original', () => {
    const inner = `a:1:{i:0;s:23:"${FROM}";}`;
    const json = JSON.stringify({ s: inner, t: 'café' }).replace(/\//g, '\\/').replace('é', '\\u00e9');
    const r = run(json);
    const decoded = JSON.parse(r.value.toString()) as { s: string; t: string };
    expect(decoded).toEqual({ s: `a:1:{i:0;s:19:"${TO}";}`, t: 'café' });
    expect(r.value.toString()).toContain('https:\\/\\/new.example');
    expect(r.value.toString()).toContain('caf\\u00e9');
  });

  it('with schemeless off only the exact URL is rewritten (wp-cli semantics)', () => {
    const exact = new UrlRewriter(FROM, TO, { schemeless: false });
    expect(exact.rewrite(Buffer.from(`//old.example.com ${FROM}`)).value.toString()).toBe(`//old.example.com ${TO}`);
  });
});

describe('URL-encoded serialized data', () => {
  it('is rewritten inside, in the same encoding style; URL-encoded text that is not serialized is text', () => {
    const inner = `a:1:{i:0;${ser(`${FROM}/a b~`)}}`;
    const url = encodeURIComponent(inner).replace(/%20/g, '+').replace(/[!'()*~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
    const r = run(url);
    expect(r.kind).toBe('url-encoded-serialized');
    expect(decodeURIComponent(r.value.toString().replace(/\+/g, ' '))).toBe(`a:1:{i:0;${ser(`${TO}/a b~`)}}`);
    expect(run('x%3Dhttps%3A%2F%2Fold.example.com')).toMatchObject({ kind: 'text', changed: true });
  });
});

describe('bytes that are not text', () => {
  it('a value that is not valid UTF-8 and not serialized is left alone and counted', () => {
    const bin = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.from(FROM)]);
    expect(run(bin)).toMatchObject({ changed: false, kind: 'binary', leftAlone: 1 });
  });

  it('serialized data holding a binary string: the binary string is left, the rest rewritten', () => {
    const bin = Buffer.concat([Buffer.from([0xff]), Buffer.from(FROM)]);
    const input = Buffer.concat([Buffer.from(`a:2:{i:0;s:${bin.length}:"`), bin, Buffer.from(`";i:1;s:23:"${FROM}";}`)]);
    const r = run(input);
    expect(r.leftAlone).toBe(1);
    expect(r.value.equals(Buffer.concat([Buffer.from(`a:2:{i:0;s:${bin.length}:"`), bin, Buffer.from(`";i:1;s:19:"${TO}";}`)]))).toBe(true);
  });
});

describe('the needle set', () => {
  it('refuses empty or identical URLs', () => {
    expect(() => compileNeedles('', TO)).toThrow(/non-empty/);
    expect(() => compileNeedles(FROM, FROM)).toThrow(/same/);
    expect(() => compileNeedles(`${FROM}/`, TO)).toThrow(/both end with/);
  });
  it('knows when running twice would apply twice', () => {
    expect(compileNeedles(FROM, TO).idempotent).toBe(true);
    expect(compileNeedles(FROM, 'https://old.example.com.new').idempotent).toBe(true); // host boundary
    expect(compileNeedles(`${FROM}/blog`, `${FROM}/blog/en`).idempotent).toBe(false);
  });
  it('the SQL prefilter host', () => expect(compileNeedles('https://old.example.com:8443/x', TO).host).toBe('old.example.com'));
});

describe('size', () => {
  it('a 2 MB post with about 50,000 URLs in three spellings is rewritten in linear time', () => {
    const chunk = `<p><a href="${FROM}/p">x</a> {"u":"https:\\/\\/old.example.com"} ?r=https%3A%2F%2Fold.example.com</p>\n`;
    const big = chunk.repeat(Math.ceil(2_000_000 / chunk.length));
    const started = performance.now();
    const r = run(big);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(r.value.toString()).toBe(chunk.split(FROM).join(TO).replace('https:\\/\\/old.example.com', 'https:\\/\\/new.example').replace('https%3A%2F%2Fold.example.com', 'https%3A%2F%2Fnew.example').repeat(Math.ceil(2_000_000 / chunk.length)));
  });
});

describe('properties (no PHP: any bytes)', () => {
  const fragment = fc.oneof(
    fc.constantFrom(FROM, 's:', 'a:1:{', '";', '}', 'i:0;', '\\/', '%2F', 'é', '🎉'),
    fc.string({ maxLength: 6 }),
    fc.uint8Array({ maxLength: 4 }).map((a) => Buffer.from(a).toString('latin1')),
  );
  it('never throws, and serialized input stays serialized', () => {
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 12 }), (parts) => {
        const input = Buffer.from(parts.join(''), 'utf8');
        const r = rw.rewrite(input);
        if (isSerialized(input)) expect(isSerialized(r.value)).toBe(true);
        if (!r.changed) expect(r.value.equals(input)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
  it('strings serialized by a JS model of serialize(): output equals the model applied to the replaced strings', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.constantFrom(FROM, ' ', '";', 'ü', '/x', 'old.example.community'), { maxLength: 5 }).map((p) => p.join('')), { maxLength: 5 }), (strings) => {
        const input = `a:${strings.length}:{${strings.map((s, i) => `i:${i};${ser(s)}`).join('')}}`;
        const replaced = strings.map((s) => s.replace(/https:\/\/old\.example\.com(?![A-Za-z0-9_-]|\.[A-Za-z0-9_-])/g, TO));
        expect(out(input)).toBe(`a:${strings.length}:{${replaced.map((s, i) => `i:${i};${ser(s)}`).join('')}}`);
      }),
      { numRuns: 500 },
    );
  });
});
