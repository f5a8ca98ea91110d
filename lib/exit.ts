/**
 * Exiting a Node process without losing output. Writes to a pipe are asynchronous: whatever the reader has not
 * taken yet (beyond the 64 KiB pipe buffer) waits in the process, and `process.exit` drops it. So a `--json`
 * document piped to `jq` would arrive cut short. Every entry point exits through here.
 */

/** Resolves once everything written to the stream so far has been handed to the OS (or the reader is gone). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable) return Promise.resolve();
  // Write callbacks run in order: an empty write's callback fires after every earlier write has gone out.
  return new Promise((resolve) => {
    stream.write('', () => resolve());
  });
}

/**
 * A reader that stops early (`drover … --json | head`) closes the pipe: what is left unwritten is not wanted, so
 * EPIPE ends the writing quietly instead of crashing the process with a stack trace.
 */
export function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
}

/** Exits with `code` after stdout and stderr have drained. */
export async function exitWhenFlushed(code: number): Promise<never> {
  process.exitCode = code;
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
