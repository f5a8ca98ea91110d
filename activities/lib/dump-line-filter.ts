/**
 * A stream filter over a mysqldump/mariadb-dump text that rewrites its DDL lines and never its data. An INSERT
 * statement starts a line with `INSERT INTO ` and passes through untouched and unbuffered up to the line that ends
 * it with `;`: mysqldump writes a batch of rows on that one line, mariadb-dump 10.11 `INSERT INTO … VALUES` and
 * then one row per line. Newlines inside values are escaped (`\n`), so a string never spans lines, and a line of
 * rows that ends with `;` ends the statement. Every other line goes through `rewrite` whole.
 */
import { Transform } from 'node:stream';

const INSERT = Buffer.from('INSERT INTO ');
const NL = 0x0a;
const SEMICOLON = 0x3b;

export function dumpDdlFilter(rewrite: (line: string) => string): Transform {
  let mode: 'start' | 'insert' | 'other' = 'start';
  let line: Buffer[] = [];
  let lineBytes = 0;
  // The last byte of an INSERT's current line before its newline: `;` ends the statement.
  let last = -1;
  const emit = (t: Transform) => t.push(Buffer.from(rewrite(Buffer.concat(line).toString('utf8')), 'utf8'));
  const pass = (t: Transform, b: Buffer) => {
    if (b.length === 0) return;
    const end = b[b.length - 1] === NL ? b.length - 2 : b.length - 1;
    if (end >= 0) last = b[end];
    t.push(b);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      let pos = 0;
      while (pos < chunk.length) {
        const nl = chunk.indexOf(NL, pos);
        const end = nl === -1 ? chunk.length : nl + 1;
        const piece = chunk.subarray(pos, end);
        pos = end;
        if (mode === 'insert') pass(this, piece);
        else {
          line.push(piece);
          lineBytes += piece.length;
          if (mode === 'start' && lineBytes >= INSERT.length) {
            const head = Buffer.concat(line);
            if (head.subarray(0, INSERT.length).equals(INSERT)) {
              mode = 'insert';
              last = -1;
              pass(this, head);
              line = [];
              lineBytes = 0;
            } else mode = 'other';
          }
        }
        if (nl !== -1) {
          if (mode !== 'insert' && line.length) emit(this);
          // Rows of the same INSERT follow on the next line unless this one ended the statement.
          mode = mode === 'insert' && last !== SEMICOLON ? 'insert' : 'start';
          line = [];
          lineBytes = 0;
        }
      }
      done();
    },
    flush(done) {
      if (line.length) {
        if (mode === 'insert') this.push(Buffer.concat(line));
        else emit(this);
      }
      done();
    },
  });
}
