/**
 * Counts the rows of each table in a mariadb-dump stream as it passes through: the manifest's row counts are then
 * exactly the dump's (same snapshot), whatever the site writes meanwhile. A statement that starts a line with
 * `INSERT INTO \`t\`` (backticks doubled inside the name) is read up to its `;`, across lines and chunks (newer
 * mariadb-dump puts each row on its own line); every `(` at depth 0 outside a quoted string starts a row. Strings
 * are single-quoted with backslash escapes (newlines inside are escaped too); blobs are hex literals
 * (`--hex-blob`), so nothing else can hold a quote or a parenthesis.
 */
import { Transform, type TransformCallback } from 'node:stream';

const INSERT = Buffer.from('INSERT INTO `');
const NL = 0x0a;
const BACKTICK = 0x60;
const QUOTE = 0x27;
const BACKSLASH = 0x5c;

/** A pass-through stream that counts each table's rows in the dump; read `rows` once the stream has ended. */
export class DumpRowCounter extends Transform {
  readonly rows = new Map<string, number>();
  private mode: 'line' | 'name' | 'values' = 'line';
  /** Bytes of `INSERT INTO \`` matched at the start of the current line; -1 when this line cannot be one. */
  private matched = 0;
  private name: number[] = [];
  private closingTick = false;
  private table = '';
  private depth = 0;
  private quoted = false;
  private escaped = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    for (let i = 0; i < chunk.length; i++) this.byte(chunk[i]);
    cb(null, chunk);
  }

  private byte(c: number): void {
    if (this.mode === 'line') {
      if (c === NL) this.matched = 0;
      else if (this.matched >= 0) {
        this.matched = INSERT[this.matched] === c ? this.matched + 1 : -1;
        if (this.matched === INSERT.length) {
          this.mode = 'name';
          this.name = [];
          this.closingTick = false;
        }
      }
      return;
    }
    if (this.mode === 'name') {
      if (c === BACKTICK) {
        if (this.closingTick) this.name.push(BACKTICK);
        this.closingTick = !this.closingTick;
        return;
      }
      if (!this.closingTick) {
        this.name.push(c);
        return;
      }
      this.table = Buffer.from(this.name).toString('utf8');
      this.mode = 'values';
      this.depth = 0;
      this.quoted = false;
      this.escaped = false;
    }
    if (this.quoted) {
      if (this.escaped) this.escaped = false;
      else if (c === BACKSLASH) this.escaped = true;
      else if (c === QUOTE) this.quoted = false;
      return;
    }
    if (c === QUOTE) this.quoted = true;
    else if (c === 0x28) {
      if (this.depth === 0) this.rows.set(this.table, (this.rows.get(this.table) ?? 0) + 1);
      this.depth++;
    } else if (c === 0x29) this.depth--;
    else if (c === 0x3b && this.depth === 0) {
      this.mode = 'line';
      this.matched = -1;
    }
  }
}
