#!/usr/bin/env bash
# Installs whatever Drover's local environment and tests need and is missing on this machine: Debian packages,
# the Go-built tools (Temporal CLI, versitygw, Drover's own drover-packs) and node_modules; then builds dist/ if
# the sources changed.
# Quick when everything is present, so `bin/drover` and the test command run it every time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '• %s\n' "$*" >&2; }

APT_PACKAGES=(php-cli mariadb-server mariadb-client galera-4 rsync openssh-server openssh-client docker.io iproute2 zstd age curl openssl procps prometheus prometheus-alertmanager prometheus-varnish-exporter varnish redis-server busybox-static python3-libconf docker-compose chromium mmdebstrap wordpress php-cgi adminer)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { echo "drover: installing ${missing[*]} needs root" >&2; exit 1; }
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # Keep the packaged services from starting: Drover runs its own instances under its state folder.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  [ "$made_policy" = 1 ] && rm -f "$policy"
fi

bindir="${DROVER_BIN_DIR:-$HOME/.cache/drover/bin}"
mkdir -p "$bindir"
go_tool() {
  local name=$1 module=$2
  [ -x "$bindir/$name" ] && return 0
  command -v "$name" >/dev/null 2>&1 && return 0
  command -v go >/dev/null 2>&1 || { echo "drover: Go is needed to build $name ($module)" >&2; exit 1; }
  say "building $name from the Go module proxy ($module); this happens once"
  CGO_ENABLED=0 GOBIN="$bindir" go install "$module" >&2
}
go_tool temporal github.com/temporalio/cli/cmd/temporal@v1.5.1
go_tool versitygw github.com/versity/versitygw/cmd/versitygw@v1.7.0
# drover-packs, the restore worker's pack fetcher: built from this repository's tools/drover-packs, again whenever
# that source changes (its SHA-256 beside the program).
packs_src="$root/tools/drover-packs"
packs_sum="$(cat "$packs_src"/go.mod "$packs_src"/go.sum "$packs_src"/*.go | sha256sum | cut -d' ' -f1)"
if [ ! -x "$bindir/drover-packs" ] || [ "$(cat "$bindir/drover-packs.sum" 2>/dev/null)" != "$packs_sum" ]; then
  command -v go >/dev/null 2>&1 || { echo "drover: Go is needed to build drover-packs (tools/drover-packs)" >&2; exit 1; }
  say "building drover-packs (tools/drover-packs)"
  tmp="$(mktemp "$bindir/.drover-packs.XXXXXX")"
  # Its go.mod asks for Go 1.25: an older Go 1.21 or later fetches that toolchain from the module proxy itself.
  (cd "$packs_src" && CGO_ENABLED=0 go build -trimpath -o "$tmp" .) >&2 || {
    rm -f "$tmp"
    echo "drover: building drover-packs failed (tools/drover-packs needs Go 1.25, or a Go from 1.21 on that can fetch it: $(go version))" >&2
    exit 1
  }
  mv -f "$tmp" "$bindir/drover-packs"
  echo "$packs_sum" > "$bindir/drover-packs.sum"
fi

cd "$root"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing node modules"
  # Not `npm ci`: the registry reachable here serves only Linux builds of platform-specific optional packages,
  # so the lockfile lists only those and `npm ci` rejects it as out of sync. `npm install --no-save` installs
  # the locked versions without rewriting the lockfile.
  npm install --no-save --no-audit --no-fund --loglevel=error >&2
fi

stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find workflows activities workers client lib devkit package.json tsconfig.json tsconfig.build.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  say "building dist/"
  rm -rf dist
  npm run --silent build >&2
  touch "$stamp"
fi
