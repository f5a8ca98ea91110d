import { execFileSync } from 'node:child_process';

/**
 * A /24 under 10.<second>.0.0/16 whose gateway (.1) no link on this machine holds. Another checkout's test run
 * (or a crashed one) may still have a farm bridge up on the first choice; the local provider refuses a subnet
 * held by another link, so a fixed subnet would fail the test for a reason that has nothing to do with it.
 */
export function freeSubnet(second: number, start = 0): string {
  const held = new Set(
    execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => new RegExp(`inet 10\\.${second}\\.(\\d+)\\.`).exec(l)?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number),
  );
  for (let i = 0; i < 250; i++) {
    const third = (start + i) % 250;
    if (!held.has(third)) return `10.${second}.${third}.0/24`;
  }
  throw new Error(`no free /24 left under 10.${second}.0.0/16`);
}
