/**
 * The shell scripts a node runs over SSH to get Docker up (swarm-nodes.ts sends them): the bootstrap, and where a
 * session on the node finds Docker's socket.
 */
import { LOCAL_SERVICES_ADDRESS } from '../../lib/local-services';

/** How long the bootstrap waits for a starting Docker to answer, and for one `docker` call to answer. */
export interface BootstrapBounds {
  startSeconds: number;
  callSeconds: number;
}
export const BOOTSTRAP_BOUNDS: BootstrapBounds = { startSeconds: 300, callSeconds: 20 };

/**
 * Installs and starts Docker if it is not running. On a droplet (systemd): docker.io from Debian, enabled as a
 * service. On a local node (DROVER_NODE_DIR set by its sshd): dockerd started in the node's namespaces with its
 * own data and socket. Either way a second run finds Docker answering and changes nothing. Every `docker` call is
 * bounded (`callSeconds`, by `timeout`): a dockerd that accepts connections and never answers (hung, or stopped)
 * would hold the call, and the script, for good; a Docker that does not answer within `startSeconds` fails the
 * script, naming it, with the end of its log.
 */
export function bootstrapScript(b: BootstrapBounds = BOOTSTRAP_BOUNDS): string {
  return BOOTSTRAP_TEMPLATE.replaceAll('@CALL@', `timeout -k 2 ${b.callSeconds}`).replaceAll('@CALL_SECONDS@', String(b.callSeconds)).replaceAll('@START_SECONDS@', String(b.startSeconds));
}

const BOOTSTRAP_TEMPLATE = `set -eu
command -v timeout >/dev/null 2>&1 || { echo "the bootstrap needs timeout (coreutils) on the node" >&2; exit 3; }
# Containers must never read the metadata service: a droplet's user data holds its host private key. Traffic a
# node forwards from its containers to 169.254.169.254 is dropped, in DOCKER-USER where Docker manages iptables
# (Docker jumps there before its own accept rules and never flushes it), else first in FORWARD.
block_metadata() {
  if iptables -n -L DOCKER-USER >/dev/null 2>&1; then chain=DOCKER-USER; else chain=FORWARD; fi
  iptables -C "$chain" -d 169.254.169.254/32 -j DROP 2>/dev/null || iptables -I "$chain" 1 -d 169.254.169.254/32 -j DROP
}
# A local node (a network namespace on the operator's machine): its containers reach the local environment's
# services (Galera at ${LOCAL_SERVICES_ADDRESS}) through the node, masqueraded as the node's address, since Docker
# runs there without iptables (no NAT of its own) and the host has no route back to container addresses.
local_services_nat() {
  [ -n "\${DROVER_NODE_DIR:-}" ] || return 0
  sysctl -qw net.ipv4.ip_forward=1
  iptables -t nat -C POSTROUTING -d ${LOCAL_SERVICES_ADDRESS}/32 -o eth0 -j MASQUERADE 2>/dev/null || iptables -t nat -A POSTROUTING -d ${LOCAL_SERVICES_ADDRESS}/32 -o eth0 -j MASQUERADE
}
if [ -z "\${DROVER_NODE_DIR:-}" ] && command -v systemctl >/dev/null 2>&1; then
  # On a droplet the rule is put back every time Docker starts (iptables rules do not survive a reboot).
  mkdir -p /etc/systemd/system/docker.service.d
  unit=/etc/systemd/system/docker.service.d/drover-block-metadata.conf
  want='[Service]
ExecStartPost=/bin/sh -c "iptables -C DOCKER-USER -d 169.254.169.254/32 -j DROP 2>/dev/null || iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP"'
  if [ "$(cat "$unit" 2>/dev/null)" != "$want" ]; then printf '%s\\n' "$want" > "$unit"; systemctl daemon-reload; fi
fi
# The server's version; a dockerd that stops answering here fails the script in the words wait_for uses. timeout
# gives 124 for a call it stopped and 137 for one it had to kill; 137 before the bound is a kill from elsewhere (the
# OOM killer), said as such.
docker_version() {
  started=$(date +%s) rc=0
  @CALL@ docker version --format '{{.Server.Version}}' || rc=$?
  [ "$rc" = 0 ] && return 0
  if [ "$rc" = 124 ] || { [ "$rc" = 137 ] && [ $(( $(date +%s) - started )) -ge @CALL_SECONDS@ ]; }; then
    echo "dockerd did not answer within @CALL_SECONDS@ s (docker version)" >&2
  elif [ "$rc" = 137 ]; then
    echo "docker version was killed (SIGKILL) after $(( $(date +%s) - started )) s, before its @CALL_SECONDS@ s bound: the node's memory, most likely" >&2
  else
    echo "docker version failed (exit $rc)" >&2
  fi
  exit 1
}
if @CALL@ docker info >/dev/null 2>&1; then block_metadata; local_services_nat; echo "docker already running"; docker_version; echo "\${DOCKER_HOST:-unix:///var/run/docker.sock}"; exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io
fi
# A local node runs its own containerd and hands it to dockerd: dockerd would start one itself but gives it a fixed
# 15 s, which a loaded machine (many nodes starting at once) overruns, and a containerd left from that attempt
# holds its database lock against the next. Here both are waited on one clock (startSeconds), and a process still starting
# from an earlier attempt of this script is waited on, never started twice.
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
containerd_alive() { alive "$d/containerd.pid"; }
dockerd_alive() { alive "$d/dockerd.pid" || alive "$d/dockerd.started"; }
# docker.service, unless systemd has marked it failed (it gave up starting it).
systemd_docker() { ! systemctl is-failed --quiet docker; }
start_local_containerd() {
  mkdir -p "$r/exec/containerd" "$d/data/containerd"
  cat >"$d/containerd.toml" <<EOF
version = 2
root = "$d/data/containerd/daemon"
state = "$r/exec/containerd/daemon"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$r/exec/containerd/containerd.sock"
[debug]
  address = "$r/exec/containerd/containerd-debug.sock"
EOF
  : >"$d/containerd.log"
  setsid containerd --config "$d/containerd.toml" >>"$d/containerd.log" 2>&1 </dev/null &
  echo $! >"$d/containerd.pid"
}
# No --storage-driver: Docker picks overlay2 where the kernel mounts overlayfs on the data folder's filesystem (a
# container shares its image's files), else vfs (every container a full copy of its image).
start_local_dockerd() {
  : >"$d/dockerd.log"
  setsid dockerd --host "$DOCKER_HOST" --data-root "$d/data" --exec-root "$r/exec" --pidfile "$d/dockerd.pid" \\
    --containerd "$r/exec/containerd/containerd.sock" \\
    --iptables=false --ip6tables=false --bridge=none >>"$d/dockerd.log" 2>&1 </dev/null &
  echo $! >"$d/dockerd.started"
}
# The end of a log: a file, or (\`journal\`) systemd's journal of the docker unit.
show_log() {
  if [ -f "$1" ]; then tail -n 20 "$1" >&2
  elif [ "$1" = journal ] && command -v journalctl >/dev/null 2>&1; then journalctl -u docker -n 20 --no-pager >&2 || true
  fi
}
# Waits until the command answers; says why if the process died instead (with the end of its log), or the clock ran out.
wait_for() {
  what=$1 still=$2 log=$3; shift 3
  until "$@" >/dev/null 2>&1; do
    if ! "$still"; then echo "$what exited while starting; the end of its log:" >&2; show_log "$log"; exit 1; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$what did not answer within @START_SECONDS@ s" >&2; show_log "$log"; exit 1
    fi
    sleep 0.5
  done
}
deadline=$(( $(date +%s) + @START_SECONDS@ ))
if [ -n "\${DROVER_NODE_DIR:-}" ]; then
  d="$DROVER_NODE_DIR"
  # Sockets and the exec root under the node's short runtime folder (DROVER_NODE_RUN; a node made before it
  # existed has none and keeps them in its folder): Unix socket paths must stay under ~104 bytes.
  r="\${DROVER_NODE_RUN:-$d}"
  containerd_alive || start_local_containerd
  wait_for containerd containerd_alive "$d/containerd.log" @CALL@ ctr --address "$r/exec/containerd/containerd.sock" version
  dockerd_alive || start_local_dockerd
  wait_for dockerd dockerd_alive "$d/dockerd.log" @CALL@ docker info
else
  mkdir -p /etc/docker
  [ -f /etc/docker/daemon.json ] || printf '%s\\n' '{ "log-driver": "json-file", "log-opts": { "max-size": "50m", "max-file": "3" } }' > /etc/docker/daemon.json
  # Started without waiting on it (docker.service sets no start timeout: a dockerd that never reports ready would
  # hold \`systemctl start\` for good); wait_for's clock waits on it instead.
  systemctl enable docker
  systemctl start --no-block docker
  wait_for dockerd systemd_docker journal @CALL@ docker info
fi
block_metadata
local_services_nat
echo "docker started"; docker_version; echo "\${DOCKER_HOST:-unix:///var/run/docker.sock}"
`;

/** The bootstrap with its default bounds. */
export const BOOTSTRAP_SCRIPT = bootstrapScript();

/** Where a session on the node finds Docker (local nodes set DOCKER_HOST; droplets use the default socket). */
export const SOCKET_SCRIPT = 'echo "${DOCKER_HOST:-unix:///var/run/docker.sock}"';
export const socketPath = (line: string) => line.trim().replace(/^unix:\/\//, '');
