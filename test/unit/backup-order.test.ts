import { describe, expect, it } from 'vitest';
import { orderLargestFirst } from '../../lib/backup-runs';

describe('orderLargestFirst', () => {
  it('starts sites without a size first, then the largest, ties in their given order, each site once', () => {
    const sizes = new Map([
      ['small.example.com', 10],
      ['huge.example.com', 5e10],
      ['mid-a.example.com', 1000],
      ['mid-b.example.com', 1000],
    ]);
    const sites = ['small.example.com', 'mid-b.example.com', 'new-ünï.example.com', 'huge.example.com', 'mid-a.example.com', 'small.example.com', 'migrated.example.com'];
    expect(orderLargestFirst(sites, sizes)).toEqual(['new-ünï.example.com', 'migrated.example.com', 'huge.example.com', 'mid-b.example.com', 'mid-a.example.com', 'small.example.com']);
  });
  it('keeps the given order when nothing is known yet (the first night)', () => {
    expect(orderLargestFirst(['b', 'a', 'c'], new Map())).toEqual(['b', 'a', 'c']);
  });
});
