/** The progress line's words for a step's latest heartbeat (client/worker-option.ts). */
import { describe, expect, it } from 'vitest';
import { heartbeatWords } from '../../client/worker-option';

describe('heartbeatWords', () => {
  it('says an object as key: value pairs, lists joined with commas, nested objects as JSON', () => {
    expect(heartbeatWords({ stack: 'smoke', services: ['smoke_web 2/3 (no suitable node)', 'smoke_db 1/1'] })).toBe('stack: smoke; services: smoke_web 2/3 (no suitable node), smoke_db 1/1');
    expect(heartbeatWords({ removed: [] })).toBe('removed: none');
    expect(heartbeatWords({ part: { n: 3, of: 9 } })).toBe('part: {"n":3,"of":9}');
  });

  it('says a list or a plain value as it is', () => {
    expect(heartbeatWords(['a.example', 'b.example'])).toBe('a.example, b.example');
    expect(heartbeatWords(42)).toBe('42');
  });

  it('cuts a long heartbeat to one line of 160 characters', () => {
    const sites = Array.from({ length: 500 }, (_, i) => `site-${i}.example.com`);
    const words = heartbeatWords(sites);
    expect(words).toHaveLength(160);
    expect(words.endsWith('…')).toBe(true);
    expect(words.startsWith('site-0.example.com, site-1.example.com')).toBe(true);
  });
});
