/**
 * A stream filter over a mysqldump/mariadb-dump text that rewrites its DDL lines and never its data. A data INSERT
 * starts a line with `INSERT INTO ` at the dump's top level and passes through untouched and unbuffered up to the
 * line that ends it with `;`: mysqldump writes a batch of rows on that one line, mariadb-dump 10.11
 * `INSERT INTO … VALUES` and then one row per line. Newlines inside values are escaped (`\n`), so a value never
 * spans lines, and a line of rows that ends with `;` ends the statement. Triggers, routines and events are written
 * between `DELIMITER ;;` and `DELIMITER ;`, with their bodies as their authors wrote them: a body line that starts
 * with `INSERT INTO ` is a statement of the program, not data, and is rewritten like every other line there.
 * `inCode` (the rewriter's lexer, codeOnly) tells a `DELIMITER` command from such a line inside a body's literal.
 */
import { Transform } from 'node:stream';
import type { CodeRewriter } from './qualified-names';

const INSERT = Buffer.from('INSERT INTO ');
const NL = 0x0a;
const SEMICOLON = 0x3b;

export function dumpDdlFilter(rewrite: (line: string) => string, o: Partial<Pick<CodeRewriter, 'inCode' | 'unfinished' | 'resync'>> = {}): Transform {
  let mode: 'start' | 'insert' | 'other' = 'start';
  let line: Buffer[] = [];
  let lineBytes = 0;
  // Inside a DELIMITER block (a trigger, routine or event): no line there is data.
  let program = false;
  // The last byte of an INSERT's current line before its newline: `;` ends the statement.
  let last = -1;
  const emit = (t: Transform) => {
    const text = Buffer.concat(line).toString('utf8');
    // The client's DELIMITER command: always at the top level (where the lexer starts from code again, so a misread
    // ends with the program it was in), in a program's body only outside its literals and comments.
    const delimiter = /^DELIMITER\s+(\S+)\s*$/.exec(text);
    if (delimiter && (!program || (o.inCode?.() ?? true))) {
      o.resync?.();
      program = delimiter[1] !== ';';
    }
    t.push(Buffer.from(rewrite(text), 'utf8'));
  };
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
            if (!program && head.subarray(0, INSERT.length).equals(INSERT)) {
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
      // A whole dump ends in code at the top level: anything else is a program misread, whose rewrite is not loaded.
      if (program || o.unfinished?.()) done(new Error(`the dump ends ${program ? 'inside a DELIMITER block' : 'inside a string literal, quoted name or comment'} as its statements were read: not loaded`));
      else done();
    },
  });
}
