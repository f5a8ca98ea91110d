/**
 * Counts the rows of each table in a mariadb-dump stream as it passes through: the manifest's row counts are then
 * exactly the dump's (same snapshot), whatever the site writes meanwhile. A statement that starts a line with
 * `INSERT INTO \`t\`` (backticks doubled inside the name) is read up to its `;`, across lines and chunks (newer
 * mariadb-dump puts each row on its own line); every `(` at depth 0 outside a quoted string starts a row. Strings
 * are single-quoted with backslash escapes (newlines inside are escaped too); blobs are hex literals
 * (`--hex-blob`), so nothing else can hold a quote or a parenthesis. Triggers, routines and events stand between
 * `DELIMITER ;;` and `DELIMITER ;` with their bodies as written: a body line that starts with `INSERT INTO \`t\``
 * is a statement of the program, and is not counted.
 *
 * Given the dumped database's name, it also finds whether any statement outside the data names that database
 * (`` `db`.x `` or `db.x`: a trigger or routine written with qualified names; `ALTER DATABASE db`): only then must a restore under
 * another name pass the dump through its requalifying filter (`namesDatabase`, recorded in the manifest). Every
 * line that is not a data INSERT's is tested (at least the lines the restore's filter rewrites); a line carried
 * over more than 1 MiB of chunks is taken to name it.
 *
 * Every byte of every dump of the night passes here, so the scan keeps its state in locals while it reads a chunk
 * and skips what it need not look at: the rest of a line that is not an INSERT (`indexOf`), a string's bytes in a
 * tight loop (about six times the speed of a method call per byte).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { namesDatabaseTest } from './qualified-names';

const INSERT = Buffer.from('INSERT INTO `');
const DELIMITER = Buffer.from('DELIMITER ');
const NL = 0x0a;
const BACKTICK = 0x60;
const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const OPEN = 0x28;
const CLOSE = 0x29;
const SEMICOLON = 0x3b;
const DOT = 0x2e;

const LINE = 0;
const NAME = 1;
const VALUES = 2;
/** The rest of a `DELIMITER ` line: the new delimiter. */
const DELIMITER_VALUE = 3;
/** A line tested for the database's name longer than this is taken to name it. */
const LONGEST_TESTED_LINE = 1024 * 1024;

/** A pass-through stream that counts each table's rows in the dump; read `rows` once the stream has ended. */
export class DumpRowCounter extends Transform {
  readonly rows = new Map<string, number>();
  /** Whether a statement outside the data names the database (false when no database was given). */
  namesDatabase = false;
  private readonly names: ((text: string) => boolean) | null;
  private readonly database: string | undefined;
  /** The current line is one to test (it began outside a data INSERT), and its bytes of earlier chunks. */
  private testing: boolean;
  private carry: Buffer[] = [];
  private carried = 0;
  private mode = LINE;
  /** Bytes of `prefix` matched at the start of the current line; -1 when this line cannot be one. */
  private matched = 0;
  /** The line start being matched: an INSERT, or a DELIMITER line. */
  private prefix = INSERT;
  /** Inside a DELIMITER block (a trigger, routine or event): nothing there is data. */
  private program = false;
  private delimiter: number[] = [];
  private name: number[] = [];
  private closingTick = false;
  private table = '';
  private depth = 0;
  private quoted = false;
  private escaped = false;

  /** `database`: the dumped database's name, to find whether a statement names it (`namesDatabase`). */
  constructor(database?: string) {
    super();
    this.names = database ? namesDatabaseTest(database) : null;
    this.database = database;
    this.testing = this.names !== null;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.scan(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.testing) this.test(Buffer.alloc(0), 0, 0);
    cb();
  }

  /** Tests the current line (its carried bytes, then chunk[from, to)) and starts the next. */
  private test(chunk: Buffer, from: number, to: number): void {
    const line = this.carried ? Buffer.concat([...this.carry, chunk.subarray(from, to)]) : chunk.subarray(from, to);
    if (this.names!(line.toString('utf8'))) this.namesDatabase = true;
    this.forgetCarry();
  }

  /** Forgets the carried bytes of the current line. */
  private forgetCarry(): void {
    this.carry = [];
    this.carried = 0;
  }

  /** Keeps the current line's bytes of this chunk (from `from`) for when it ends in a later one. */
  private keep(chunk: Buffer, from: number): void {
    if (from >= chunk.length) return;
    this.carried += chunk.length - from;
    if (this.carried > LONGEST_TESTED_LINE) {
      this.namesDatabase = true;
      this.testing = false;
      this.forgetCarry();
      return;
    }
    this.carry.push(Buffer.from(chunk.subarray(from)));
  }

  private scan(chunk: Buffer): void {
    const n = chunk.length;
    let { mode, matched, depth, quoted, escaped } = this;
    // Rows of the current table found in this chunk, added to the map once.
    let counted = 0;
    let i = 0;
    // Where the line being tested for the database's name starts in this chunk (0: in an earlier one, whose bytes
    // are carried), or -1: no line is being tested (a data INSERT's, or the database found named already).
    const testing = this.names !== null && !this.namesDatabase;
    let line = testing && this.testing ? 0 : -1;
    // The next line, starting at `at`, is tested unless a line before it named the database.
    const nextLine = (at: number) => (testing && !this.namesDatabase ? at : -1);
    while (i < n) {
      if (mode === LINE) {
        if (matched < 0) {
          const nl = chunk.indexOf(NL, i);
          if (nl < 0) break;
          if (line >= 0) this.test(chunk, line, nl);
          matched = 0;
          i = nl + 1;
          line = nextLine(i);
          continue;
        }
        const c = chunk[i++];
        if (c === NL) {
          if (line >= 0) this.test(chunk, line, i - 1);
          matched = 0;
          line = nextLine(i);
        } else {
          if (matched === 0) this.prefix = c === DELIMITER[0] ? DELIMITER : INSERT;
          matched = this.prefix[matched] === c && (this.prefix === DELIMITER || !this.program) ? matched + 1 : -1;
          if (matched === this.prefix.length) {
            // A data INSERT (not tested: data is never rewritten) or a DELIMITER line (names no database).
            line = -1;
            this.forgetCarry();
            if (this.prefix === DELIMITER) {
              mode = DELIMITER_VALUE;
              this.delimiter = [];
            } else {
              mode = NAME;
              this.name = [];
              this.closingTick = false;
            }
          }
        }
        continue;
      }
      if (mode === DELIMITER_VALUE) {
        const c = chunk[i++];
        if (c !== NL) {
          if (this.delimiter.length < 16) this.delimiter.push(c);
          continue;
        }
        this.program = Buffer.from(this.delimiter).toString('latin1').trim() !== ';';
        mode = LINE;
        matched = 0;
        line = nextLine(i);
        continue;
      }
      if (mode === NAME) {
        const c = chunk[i];
        if (c === BACKTICK) {
          if (this.closingTick) this.name.push(BACKTICK);
          this.closingTick = !this.closingTick;
          i++;
          continue;
        }
        if (!this.closingTick) {
          this.name.push(c);
          i++;
          continue;
        }
        // The byte after the closing backtick: the name is complete; that byte is the values' first.
        if (counted) this.count(counted);
        counted = 0;
        this.table = Buffer.from(this.name).toString('utf8');
        // mariadb-dump never qualifies a data INSERT's table: `INSERT INTO \`db\`.\`t\`` is a program's statement
        // taken for data (a body line after a `DELIMITER ;` inside its literal), and names the database.
        if (c === DOT && this.table === this.database) this.namesDatabase = true;
        mode = VALUES;
        depth = 0;
        quoted = false;
        escaped = false;
      }
      if (quoted) {
        if (escaped) {
          escaped = false;
          i++;
        }
        while (i < n) {
          const c = chunk[i++];
          if (c === BACKSLASH) {
            if (i < n) i++;
            else escaped = true;
          } else if (c === QUOTE) {
            quoted = false;
            break;
          }
        }
        continue;
      }
      while (i < n) {
        const c = chunk[i++];
        if (c === QUOTE) {
          quoted = true;
          break;
        }
        if (c === OPEN) {
          if (depth === 0) counted++;
          depth++;
        } else if (c === CLOSE) depth--;
        else if (c === SEMICOLON && depth === 0) {
          mode = LINE;
          matched = -1;
          break;
        }
      }
    }
    if (counted) this.count(counted);
    this.testing = line >= 0;
    if (line >= 0) this.keep(chunk, line);
    this.mode = mode;
    this.matched = matched;
    this.depth = depth;
    this.quoted = quoted;
    this.escaped = escaped;
  }

  private count(rows: number): void {
    this.rows.set(this.table, (this.rows.get(this.table) ?? 0) + rows);
  }
}
