/** The typed search attributes workflows start with (lib/contract/search-attributes.ts). */
import { describe, expect, it } from 'vitest';
import { DROVER_SEARCH_ATTRIBUTES, farmSearchAttributes, siteSearchAttributes } from '../../lib/contract/search-attributes';

const plain = (pairs: ReturnType<typeof siteSearchAttributes>) => Object.fromEntries(pairs.map((p) => [p.key.name, p.value]));

describe('search attributes', () => {
  it('are five Keyword attributes with Drover names', () => {
    expect(DROVER_SEARCH_ATTRIBUTES.map((a) => [a.name, a.type])).toEqual([
      ['DroverSite', 'KEYWORD'],
      ['DroverFarm', 'KEYWORD'],
      ['DroverOperation', 'KEYWORD'],
      ['DroverWave', 'KEYWORD'],
      ['DroverStep', 'KEYWORD'],
    ]);
  });

  it.each([
    [siteSearchAttributes('shop.example.com', 'restore'), { DroverOperation: 'restore', DroverSite: 'shop.example.com' }],
    [siteSearchAttributes(null, 'backup'), { DroverOperation: 'backup' }],
    [siteSearchAttributes('a.example.com', 'migrate', { farm: 'fra1', wave: 'wave-3' }), { DroverOperation: 'migrate', DroverSite: 'a.example.com', DroverFarm: 'fra1', DroverWave: 'wave-3' }],
    [farmSearchAttributes('demo', 'bring-up'), { DroverOperation: 'bring-up', DroverFarm: 'demo' }],
  ])('%# sets exactly what it is given', (pairs, want) => {
    expect(plain(pairs)).toEqual(want);
  });
});
