/**
 * What sending a restore's files to the storage node costs by SSH client (docs/benchmarks.md): the same bytes, held
 * in memory by this process, written into `cat > /dev/null` on the environment's storage node through the worker's
 * SSH client (ssh2, as a restore's `tar -x` gets them) and through OpenSSH's `ssh` (AES-128-GCM, the cipher ssh2
 * picks on a CPU with AES instructions), the two alternating, each round's order reversed. Reports each send's
 * seconds and the whole machine's busy CPU-seconds (both ends of the connection run here).
 *   npx vite-node bench/restore/ssh-transport.ts -- --state-dir .drover-bench-restore --port-offset 600 --mb 553 --rounds 3
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { SshClient } from '../../lib/clients/ssh-client';
import { devUp } from '../../devkit/dev-env';
import { mergedEnv, parseEnv, workerEnvSchema } from '../../lib/env';
import { busyCpuSeconds } from '../lib/floor';
import { text, whole } from '../lib/args';
import { runMain } from '../lib/shell';
import { timed } from './measure';
import { log, MB } from './sites';

const STATE = path.resolve(text('state-dir', '.drover-bench-restore'));
const OFFSET = whole('port-offset', 600);
const SEND_MB = whole('mb', 553);
const ROUNDS = whole('rounds', 3);

/** Eight distinct incompressible MiB, written round and round: the bytes cost nothing to make during a send. */
const chunks = Array.from({ length: 8 }, () => randomBytes(MB));

async function send(into: Writable): Promise<void> {
  for (let i = 0; i < SEND_MB; i++) if (!into.write(chunks[i % chunks.length])) await once(into, 'drain');
  into.end();
}

async function main(): Promise<void> {
  const up = await devUp({ stateDir: STATE, portOffset: OFFSET, log });
  if (!up.healthy) throw new Error('environment not healthy');
  const env = parseEnv(workerEnvSchema, mergedEnv(STATE));
  const deps = createActivityDeps(env);
  const t = deps.ssh.defaultTarget;
  const methods: Record<string, () => Promise<void>> = {
    ssh2: async () => {
      const c = await SshClient.connect(t, deps.ssh.options);
      try {
        const { stdin, exit } = await c.execWithStdin('cat > /dev/null');
        await Promise.all([send(stdin), exit]);
      } finally {
        c.close();
      }
    },
    openssh: async () => {
      // Host key not checked: a benchmark on the environment's own sshd, nothing secret sent.
      const args = ['-q', '-F', '/dev/null', '-i', env.DROVER_SSH_KEY_FILE!, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-c', 'aes128-gcm@openssh.com', '-p', String(t.port), `${t.username}@${t.host}`, 'cat > /dev/null'];
      const ssh = spawn('ssh', args, { stdio: ['pipe', 'inherit', 'inherit'] });
      const closed = once(ssh, 'close');
      await send(ssh.stdin!);
      const [code] = await closed;
      if (code !== 0) throw new Error(`ssh exited ${code}`);
    },
  };
  const results: Record<string, { seconds: number[]; cpuSeconds: number[] }> = { ssh2: { seconds: [], cpuSeconds: [] }, openssh: { seconds: [], cpuSeconds: [] } };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? ['openssh', 'ssh2'] : ['ssh2', 'openssh'];
      for (const m of order) {
        log(`round ${r + 1}: ${m}`);
        const cpu0 = busyCpuSeconds();
        const { ms } = await timed(methods[m]);
        results[m].seconds.push(+(ms / 1000).toFixed(2));
        results[m].cpuSeconds.push(+(busyCpuSeconds() - cpu0).toFixed(2));
      }
    }
  } finally {
    await closeActivityDeps(deps);
  }
  process.stdout.write(JSON.stringify({ mib: SEND_MB, ...results }, null, 2) + '\n');
}

runMain(main);
