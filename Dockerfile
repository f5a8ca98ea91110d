# The Drover workers' image (stacks/drover.yml, docker-compose.temporal.yml): one image, the entry chosen by
# command (dist/workers/infra.js, backup.js or restore.js; the CLI is dist/client/cli.js).
# Build: docker build -t "$DROVER_REGISTRY/drover:$(git describe --tags --always)" .
# Without registry access: scripts/build-node-base-image.sh and scripts/build-go-base-image.sh, then --network host
# --build-arg NODE_IMAGE=<the first's tag> --build-arg GO_IMAGE=<the second's>.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG GO_IMAGE=golang:1.25-bookworm

# 0. drover-packs, the restore worker's pack fetcher (tools/drover-packs): a static Go program.
FROM ${GO_IMAGE} AS packs
WORKDIR /src
COPY tools/drover-packs ./
RUN CGO_ENABLED=0 go build -trimpath -o /drover-packs .

# 1. Build: TypeScript compiled, one workflow bundle per queue prebuilt (workers load theirs instead of bundling at start).
#    `npm install` with the lockfile, not `npm ci`: the lockfile lists only the Linux builds of platform-specific
#    optional packages (docs/decisions.md), which `npm ci` rejects as out of sync; versions still come from it.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm install --no-save --no-audit --no-fund --ignore-scripts --loglevel=error
# The sources in one layer (.dockerignore keeps tests, docs and local state out).
COPY . .
RUN npm run build && npm prune --omit=dev --no-save --no-audit --no-fund --loglevel=error

# 2. Run: the tools activities call (mariadb-dump and mariadb for dumps and restores, zstd and age for the backup
#    stream, ssh for the nodes, drover-packs for a deduplicated restore's packs), the compiled code, production
#    dependencies only, a non-root user.
FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends mariadb-client zstd age openssh-client ca-certificates curl openssl tini wget \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 drover \
 && useradd --system --uid 10001 --gid drover --home-dir /app --shell /usr/sbin/nologin drover
WORKDIR /app
COPY --from=build --chown=root:root /src/package.json ./
COPY --from=build --chown=root:root /src/node_modules node_modules
COPY --from=build --chown=root:root /src/dist dist
COPY --from=packs --chown=root:root /drover-packs /usr/local/bin/drover-packs
COPY --chown=root:root configs/plans configs/plans
USER drover
ENV NODE_ENV=production DROVER_METRICS_HOST=0.0.0.0 DROVER_METRICS_PORT=9464 DROVER_STATE_DIR=/tmp/drover
EXPOSE 9464 9465
# Healthy while the worker serves its metrics (it stops serving when it shuts down).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD wget -q -O /dev/null "http://127.0.0.1:${DROVER_METRICS_PORT}/metrics" || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "node"]
CMD ["dist/workers/infra.js"]
