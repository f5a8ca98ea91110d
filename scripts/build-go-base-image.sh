#!/usr/bin/env bash
# Builds a local stand-in for the official golang:1.25-bookworm image, for machines that cannot pull from a registry
# (this one): the local Node base image (scripts/build-node-base-image.sh: Debian bookworm and its certificate
# authorities) with this machine's Go toolchain copied to where the official image keeps it (/usr/local/go). The
# worker image's drover-packs stage is then built from it:
#   docker build --network host --build-arg NODE_IMAGE=<node tag> --build-arg GO_IMAGE=<this tag> .
# Usage: build-go-base-image.sh [tag] [base]   (defaults drover-local/golang:bookworm, drover-local/node:20-bookworm-slim;
# DOCKER_HOST is honoured). Idempotent: an image built by the same recipe is kept.
set -euo pipefail
tag="${1:-drover-local/golang:bookworm}"
base="${2:-drover-local/node:20-bookworm-slim}"
command -v go >/dev/null || { echo "build-go-base-image: needs Go on this machine" >&2; exit 1; }
# The image builds with this Go alone (GOTOOLCHAIN=local): tools/drover-packs/go.mod asks for 1.25.
version="$(go env GOVERSION)"; version="${version#go}"; minor="${version#1.}"; minor="${minor%%.*}"
case "$version" in 1.*) [ "$minor" -ge 25 ] 2>/dev/null || { echo "build-go-base-image: needs Go 1.25 or newer on this machine (found $version)" >&2; exit 1; } ;; esac
docker image inspect "$base" >/dev/null 2>&1 || { echo "build-go-base-image: the base image $base is missing (scripts/build-node-base-image.sh builds it)" >&2; exit 1; }
goroot="$(go env GOROOT)"
# The recipe: this script, the Go it copies and the base it starts from. An image built by another recipe is rebuilt.
recipe="$( (cat "${BASH_SOURCE[0]}"; go version; docker image inspect --format '{{.Id}}' "$base") | sha256sum | cut -c1-16)"
if [ "$(docker image inspect --format '{{ index .Config.Labels "drover.base-recipe" }}' "$tag" 2>/dev/null)" = "$recipe" ]; then
  echo "$tag already present"; exit 0
fi
docker build --quiet -t "$tag" -f - "$goroot" >/dev/null <<DOCKERFILE
FROM $base
COPY . /usr/local/go
ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOTOOLCHAIN=local
LABEL drover.base-recipe=$recipe
DOCKERFILE
echo "$tag built from $base and $(go version | cut -d' ' -f3)"
