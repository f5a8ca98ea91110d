/** The benchmarks' command-line flags: `--name value`. A number that is not a whole number ≥ 0 exits 2, naming it. */
export function text(name: string): string | undefined;
export function text(name: string, dflt: string): string;
export function text(name: string, dflt?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

export function whole(name: string, dflt: number): number {
  const v = text(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${name} must be a whole number, got "${v}"\n`);
    process.exit(2);
  }
  return n;
}
