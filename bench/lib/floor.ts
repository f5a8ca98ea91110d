/**
 * What the benches' hand-written references share: the machine's busy CPU time, and the floor's files half (OpenSSH
 * reads the docroot as a tar from the storage node, `zstd | age` beside it, into a file the caller uploads).
 */
import { readFileSync } from 'node:fs';
import type { SshTarget } from '../../lib/clients/ssh-client';
import { shellQuote } from '../../lib/shell-quote';

/** The machine's busy CPU time so far, in seconds (every process: the bench, age, zstd, sshd, tar, the S3 server). */
export function busyCpuSeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/**
 * The floor's files half as a shell pipeline: `files` and `out` are shell words as given (e.g. `'$files'` inside a
 * script, or a quoted path), the key file, target and recipients come from the environment the bench runs on;
 * `cipher` another than OpenSSH's default (the floor keeps the default, as the operators' script would).
 */
export function floorFilesPipeline(o: { keyFile: string; target: SshTarget; recipients: string[]; files: string; out: string; cipher?: string }): string {
  return (
    `ssh -n ${o.cipher ? `-c ${o.cipher} ` : ''}-i ${shellQuote(o.keyFile)} -p ${o.target.port} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR ${o.target.username}@${o.target.host} ` +
    `"tar -C ${o.files} --numeric-owner -cf - ." | zstd -3 -q -c -T2 | age ${o.recipients.map((r) => `-r ${r}`).join(' ')} > ${o.out}`
  );
}
