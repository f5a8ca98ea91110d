/**
 * The environment of a program a worker runs (mariadb-dump, mariadb, bash pipelines of tar, zstd, age and ssh,
 * varnishadm, ip): the worker's own without Drover's, Temporal's and AWS's variables, which hold its credentials
 * (S3 keys, the DigitalOcean token, codec keys, API keys). No program needs them: each gets what it must know on its
 * command line or in a 0600 file, and a program that logs or dumps its environment then has none to show.
 */
const WORKER_ONLY = /^(DROVER_|TEMPORAL_|AWS_)/;

export function programEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !WORKER_ONLY.test(k) && k !== 'BASH_ENV'));
}
