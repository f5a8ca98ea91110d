#!/usr/bin/env bash
# Builds a local stand-in for the official node:20-bookworm-slim image, for machines that cannot pull from a
# registry (this one): a Debian bookworm rootfs from mmdebstrap (the Debian mirror is reachable) with this
# machine's Node 20 copied to where the official image keeps it (/usr/local/bin/node, npm under
# /usr/local/lib/node_modules), imported with `docker import`. The worker image is then built from it:
#   docker build --network host --build-arg NODE_IMAGE=<tag> .
# Usage: build-node-base-image.sh [tag]   (default drover-local/node:20-bookworm-slim; DOCKER_HOST is honoured)
# Idempotent: an image built by the same recipe is kept.
set -euo pipefail
tag="${1:-drover-local/node:20-bookworm-slim}"
node_bin="$(command -v node)"
# The recipe: this script and the Node it copies. An image built by another recipe is rebuilt.
recipe="$( (cat "${BASH_SOURCE[0]}"; "$node_bin" --version; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null) | sha256sum | cut -c1-16)"
if [ "$(docker image inspect --format '{{ index .Config.Labels "drover.base-recipe" }}' "$tag" 2>/dev/null)" = "$recipe" ]; then
  echo "$tag already present"; exit 0
fi
case "$("$node_bin" --version)" in v20.*) ;; *) echo "build-node-base-image: needs Node 20 on this machine (found $("$node_bin" --version))" >&2; exit 1 ;; esac
npm_dir="$(dirname "$(readlink -f "$(command -v npm)")")/.."
command -v mmdebstrap >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# minbase + what node links against (libstdc++) and what npm needs to fetch (ca-certificates).
mmdebstrap --quiet --variant=minbase --include=ca-certificates,libstdc++6 bookworm "$work/root" http://deb.debian.org/debian
rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin
# The certificate authorities this machine trusts beyond Debian's (e.g. an egress proxy's), so npm and apt inside
# the build reach the registries the way this machine does.
# Node reads its own bundle unless told otherwise, as it is told on this machine.
extra_ca=()
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$work/root/usr/local/share/ca-certificates/"
  chroot "$work/root" update-ca-certificates >/dev/null
  extra_ca=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
fi
install -D -m 0755 "$node_bin" "$work/root/usr/local/bin/node"
mkdir -p "$work/root/usr/local/lib/node_modules"
cp -a "$(readlink -f "$npm_dir")" "$work/root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/root/usr/local/bin/npx"
tar -C "$work/root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_VERSION='"$("$node_bin" --version | tr -d v)" \
  --change "LABEL drover.base-recipe=$recipe" "${extra_ca[@]}" \
  --change 'CMD ["node"]' - "$tag" >/dev/null
echo "$tag built from Debian bookworm and Node $("$node_bin" --version)"
