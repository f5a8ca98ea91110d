/**
 * The bootstrap script droplets run (activities/swarm-nodes.ts): it parses as POSIX sh, and the systemd drop-in
 * that re-applies the metadata block when Docker starts installs the same DOCKER-USER rule bootstrap applies.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_SCRIPT, bootstrapScript } from '../../activities/lib/node-scripts';
import { localNodeDockerSocket, localNodeRunDir } from '../../lib/local-node-paths';
import { scratchDir } from '../helpers/scratch';

const RULE = '-d 169.254.169.254/32 -j DROP';

describe('BOOTSTRAP_SCRIPT', () => {
  it('parses as POSIX sh', () => {
    expect(() => execFileSync('sh', ['-n'], { input: BOOTSTRAP_SCRIPT })).not.toThrow();
  });

  it('drops forwarded traffic to the metadata address first in DOCKER-USER (else FORWARD), checking before inserting', () => {
    expect(BOOTSTRAP_SCRIPT).toContain('if iptables -n -L DOCKER-USER >/dev/null 2>&1; then chain=DOCKER-USER; else chain=FORWARD; fi');
    expect(BOOTSTRAP_SCRIPT).toContain(`iptables -C "$chain" ${RULE} 2>/dev/null || iptables -I "$chain" 1 ${RULE}`);
    // Applied on both paths: Docker already running, and Docker just started.
    expect(BOOTSTRAP_SCRIPT.match(/block_metadata(;|\n)/g)).toHaveLength(2);
  });

  it('writes a docker.service drop-in whose ExecStartPost puts the same rule back first in DOCKER-USER', () => {
    const unit = /want='(\[Service\]\n[^']*)'/.exec(BOOTSTRAP_SCRIPT)?.[1];
    expect(unit).toBe(`[Service]\nExecStartPost=/bin/sh -c "iptables -C DOCKER-USER ${RULE} 2>/dev/null || iptables -I DOCKER-USER 1 ${RULE}"`);
    expect(BOOTSTRAP_SCRIPT).toContain('unit=/etc/systemd/system/docker.service.d/drover-block-metadata.conf');
    expect(BOOTSTRAP_SCRIPT).toMatch(/printf '%s\\n' "\$want" > "\$unit"; systemctl daemon-reload/);
  });

  // Fake containerd, ctr, dockerd, docker, iptables and sysctl on PATH. containerd answers only after 2 s (a loaded
  // machine, scaled down); a dockerd asked to start its own containerd gives up the way dockerd 20.10 does when that
  // containerd is late; one handed a containerd that answers comes up.
  const fakeNode = () => {
    const dir = scratchDir('bootstrap-');
    const bin = path.join(dir, 'bin');
    // The node's folder as deep as a checkout may put it; its sockets go under its short runtime folder.
    const node = path.join(dir, 'a-checkout-at-some-depth', '.drover-test', 'nodes', 'farm-with-a-long-name', 'farm-with-a-long-name-manager-01');
    const runDir = path.join(dir, 'run');
    for (const d of [bin, node, runDir]) mkdirSync(d, { recursive: true });
    const fake = (name: string, body: string) => {
      writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(path.join(bin, name), 0o755);
    };
    const count = (name: string) => `n=$(cat "${dir}/${name}.starts" 2>/dev/null || echo 0); echo $((n + 1)) > "${dir}/${name}.starts"`;
    fake('containerd', `${count('containerd')}; echo $$ >> "${dir}/pids"; sleep 2; touch "${dir}/containerd.up"; exec sleep 60`);
    fake('ctr', `[ -f "${dir}/containerd.up" ]`);
    fake('dockerd', `${count('dockerd')}; echo "$@" > "${dir}/dockerd.args"
case "$*" in *"--containerd ${runDir}/exec/containerd/containerd.sock"*) ;; *) echo 'failed to start containerd: timeout waiting for containerd to start'; exit 1;; esac
[ -f "${dir}/containerd.up" ] || { echo 'containerd not answering'; exit 1; }
echo $$ >> "${dir}/pids"; touch "${dir}/dockerd.up"; exec sleep 60`);
    // A dockerd that accepts connections and never answers (hung, or stopped): `docker info` waits for good.
    // `docker version` killed from elsewhere at once (the OOM killer), or held past its bound, when asked to.
    fake('docker', `[ -f "${dir}/dockerd.hung" ] && exec sleep 600
case "$1" in info) [ -f "${dir}/dockerd.up" ];; version) [ -f "${dir}/version.killed" ] && kill -9 $$; [ -f "${dir}/version.hung" ] && exec sleep 600; [ -f "${dir}/version.fails" ] && exit 1; echo 20.10.24;; esac`);
    fake('iptables', 'exit 0');
    fake('sysctl', 'exit 0');
    const run = (script = BOOTSTRAP_SCRIPT) =>
      spawnSync('sh', ['-c', script], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { PATH: `${bin}:${process.env.PATH}`, DROVER_NODE_DIR: node, DROVER_NODE_RUN: runDir, DOCKER_HOST: `unix://${runDir}/docker.sock` },
      });
    const starts = (name: string) => Number(readFileSync(path.join(dir, `${name}.starts`), 'utf8'));
    const cleanup = () => {
      for (const pid of (() => {
        try {
          return readFileSync(path.join(dir, 'pids'), 'utf8').split('\n').filter(Boolean).map(Number);
        } catch {
          return [];
        }
      })()) {
        try {
          process.kill(pid);
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    };
    return { dir, node, runDir, run, starts, cleanup };
  };

  it("starts a local node's containerd itself, waits for it on its own clock, and hands it to dockerd", () => {
    const n = fakeNode();
    try {
      const run = n.run();
      expect(run.status, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toContain('docker started');
      expect(n.starts('containerd')).toBe(1);
      expect(n.starts('dockerd')).toBe(1);
      const args = readFileSync(path.join(n.dir, 'dockerd.args'), 'utf8');
      expect(args).toContain(`--containerd ${n.runDir}/exec/containerd/containerd.sock`);
      expect(args).toContain(`--exec-root ${n.runDir}/exec`);
      // containerd's sockets are in the runtime folder, not the (deep) node folder.
      const toml = readFileSync(path.join(n.node, 'containerd.toml'), 'utf8');
      expect(toml).toContain(`address = "${n.runDir}/exec/containerd/containerd-debug.sock"`);
      expect(toml).not.toContain(`${n.node}/exec`);
    } finally {
      n.cleanup();
    }
  });

  it('a second run while containerd from the first is still starting waits on it instead of starting another', () => {
    const n = fakeNode();
    try {
      // The first attempt started containerd and died (its activity timed out): containerd is still starting.
      mkdirSync(path.join(n.runDir, 'exec', 'containerd'), { recursive: true });
      const first = spawnSync('sh', ['-c', `containerd >/dev/null 2>&1 </dev/null & echo $! > ${n.node}/containerd.pid`], { env: { PATH: `${path.join(n.dir, 'bin')}:${process.env.PATH}` } });
      expect(first.status).toBe(0);
      const run = n.run();
      expect(run.status, run.stdout + run.stderr).toBe(0);
      expect(n.starts('containerd')).toBe(1);
      expect(n.starts('dockerd')).toBe(1);
    } finally {
      n.cleanup();
    }
  });

  it('a dockerd that never answers fails the bootstrap within its bounds, naming it, instead of holding it for good', () => {
    const n = fakeNode();
    try {
      const up = n.run();
      expect(up.status, up.stdout + up.stderr).toBe(0);
      writeFileSync(path.join(n.dir, 'dockerd.hung'), '');
      const started = Date.now();
      // Each `docker` call bounded to 1 s, Docker's answer waited for 3 s: the first check, then the wait, both bounded.
      const run = n.run(bootstrapScript({ startSeconds: 3, callSeconds: 1 }));
      const took = Date.now() - started;
      expect(run.status, run.stdout + run.stderr).toBe(1);
      expect(run.stderr).toContain('dockerd did not answer within 3 s');
      // Not the spawn's own 30 s limit (the script would have been killed, status null), and no second dockerd.
      expect(took).toBeLessThan(20_000);
      expect(n.starts('dockerd')).toBe(1);
    } finally {
      n.cleanup();
    }
  });

  it('a docker call killed before its bound is said killed, not taken for a dockerd that did not answer', () => {
    const n = fakeNode();
    try {
      expect(n.run().status).toBe(0);
      writeFileSync(path.join(n.dir, 'version.killed'), '');
      const killed = n.run(bootstrapScript({ startSeconds: 3, callSeconds: 5 }));
      expect(killed.status, killed.stdout + killed.stderr).toBe(1);
      expect(killed.stderr).toMatch(/^docker version was killed \(SIGKILL\) after \d+ s, before its 5 s bound/m);
      expect(killed.stderr).not.toContain('did not answer');
      rmSync(path.join(n.dir, 'version.killed'));
      writeFileSync(path.join(n.dir, 'version.hung'), '');
      const held = n.run(bootstrapScript({ startSeconds: 3, callSeconds: 1 }));
      expect(held.status, held.stdout + held.stderr).toBe(1);
      expect(held.stderr).toContain('dockerd did not answer within 1 s (docker version)');
      rmSync(path.join(n.dir, 'version.hung'));
      writeFileSync(path.join(n.dir, 'version.fails'), '');
      const failed = n.run(bootstrapScript({ startSeconds: 3, callSeconds: 5 }));
      expect(failed.status, failed.stdout + failed.stderr).toBe(1);
      expect(failed.stderr).toContain('docker version failed (exit 1)');
    } finally {
      n.cleanup();
    }
  });

  it('a containerd that dies while starting fails the bootstrap with the end of its log', () => {
    const n = fakeNode();
    try {
      writeFileSync(path.join(n.dir, 'bin', 'containerd'), '#!/bin/sh\necho "containerd: failed to load plugin: disk full"; exit 1\n');
      const run = n.run();
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('containerd exited while starting; the end of its log:');
      expect(run.stderr).toContain('failed to load plugin: disk full');
    } finally {
      n.cleanup();
    }
  });
});

describe('localNodeRunDir', () => {
  it("keeps a node's deepest socket under the 104-byte limit wherever its folder is, one folder per node", () => {
    const deep = `/${'checkout-'.repeat(20)}/.drover-test/nodes/${'f'.repeat(40)}/${'f'.repeat(40)}-manager-01`;
    const sock = `${localNodeRunDir(deep)}/exec/containerd/containerd-debug.sock`;
    expect(sock.length).toBeLessThan(104);
    expect(localNodeRunDir(deep)).toBe(localNodeRunDir(`${deep}/`));
    expect(localNodeRunDir(`${deep}-2`)).not.toBe(localNodeRunDir(deep));
    expect(localNodeDockerSocket(deep)).toBe(`${localNodeRunDir(deep)}/docker.sock`);
  });
});
