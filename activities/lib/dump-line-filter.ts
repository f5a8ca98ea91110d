/**
 * A stream filter over a mysqldump/mariadb-dump text that rewrites its DDL lines and never its data: both tools
 * write each row batch as one line starting `INSERT INTO ` (newlines in values escaped), and those lines pass
 * through untouched and unbuffered; every other line goes through `rewrite` whole.
 */
import { Transform } from 'node:stream';

const INSERT = Buffer.from('INSERT INTO ');

export function dumpDdlFilter(rewrite: (line: string) => string): Transform {
  let mode: 'start' | 'insert' | 'other' = 'start';
  let line: Buffer[] = [];
  let lineBytes = 0;
  const emit = (t: Transform) => t.push(Buffer.from(rewrite(Buffer.concat(line).toString('utf8')), 'utf8'));
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      let pos = 0;
      while (pos < chunk.length) {
        const nl = chunk.indexOf(0x0a, pos);
        const end = nl === -1 ? chunk.length : nl + 1;
        const piece = chunk.subarray(pos, end);
        pos = end;
        if (mode === 'insert') this.push(piece);
        else {
          line.push(piece);
          lineBytes += piece.length;
          if (mode === 'start' && lineBytes >= INSERT.length) {
            const head = Buffer.concat(line);
            if (head.subarray(0, INSERT.length).equals(INSERT)) {
              mode = 'insert';
              this.push(head);
              line = [];
              lineBytes = 0;
            } else mode = 'other';
          }
        }
        if (nl !== -1) {
          if (mode !== 'insert' && line.length) emit(this);
          mode = 'start';
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
