/**
 * The files branch's yield (cpu-yield.ts), run for real: a shell leading its session ends at nice 10, its autogroup
 * too, also when it is not root and another session set its autogroup's nice less than 100 ms before (the kernel
 * refuses such a write with EAGAIN to a process without CAP_SYS_ADMIN: the write is retried in the background).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { yieldCpuShell } from '../../activities/lib/cpu-yield';

/** Runs the yield in a new session (as `nobody` with `asNobody`), then prints its nice value and its autogroup once the retries had time. */
function yielded(asNobody: boolean): Promise<string> {
  const script = `${yieldCpuShell} sleep 1.5; read -r -a st < /proc/$$/stat; echo "\${st[18]} $(cat /proc/self/autogroup 2>/dev/null)"`;
  const argv = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'bash', '-c', script] : ['bash', '-c', script];
  const p = spawn('setsid', ['-w', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => p.once('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exited ${code}`)))));
}

describe('yieldCpuShell', () => {
  it('a session leader ends at nice 10 and its autogroup too', async () => {
    const out = await yielded(false);
    expect(out).toMatch(/^10 /);
    if (existsSync('/proc/self/autogroup')) expect(out).toMatch(/ nice 10$/);
  });

  it.skipIf(process.getuid?.() !== 0 || !existsSync('/proc/self/autogroup'))('without CAP_SYS_ADMIN, three sessions yielding at once all get their autogroup to nice 10 (the 100 ms limit waited out)', async () => {
    const outs = await Promise.all([yielded(true), yielded(true), yielded(true)]);
    for (const out of outs) expect(out, out).toMatch(/^10 \/autogroup-\d+ nice 10$/);
  });
});
