/**
 * The migration input file (issue 15): CSV with a header or YAML with the same fields, one site per row.
 * Pure: text in, rows or problems out, every problem naming the line and field. The password file is only
 * named here; the migration worker reads it (it never enters workflow history).
 */
import { LineCounter, isMap, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { normalizeDomain } from './domain-input';

export const MIGRATION_COLUMNS = [
  'domain', 'source_ssh', 'source_path', 'source_db', 'source_db_host', 'source_db_user', 'source_db_password_file', 'from_url', 'to_url',
] as const;
export const OPTIONAL_COLUMNS = ['wave'] as const;
export type MigrationColumn = (typeof MIGRATION_COLUMNS)[number] | (typeof OPTIONAL_COLUMNS)[number];

/** The wave a row without one belongs to (the workflow ID is `migrate/<wave>/<domain>`). */
export const DEFAULT_WAVE = 'single';

/** One site to migrate, as the workflow receives it (no secret: the password is a file on the worker). */
export interface MigrationSource {
  /** The input file's line (1-based) the row starts on, for messages. */
  line: number;
  domain: string;
  wave: string;
  ssh: { user: string; host: string; port: number };
  sourcePath: string;
  sourceDb: string;
  /** How the old host reaches its database: `localhost` (its socket) or host[:port]. */
  sourceDbHost: { host: string; port: number | null };
  sourceDbUser: string;
  sourceDbPasswordFile: string;
  /** Empty: read from the source's `home` option during pre-flight. */
  fromUrl: string;
  /** Empty: `https://<domain>`. */
  toUrl: string;
}

export interface InputProblem {
  line: number;
  field: string;
  message: string;
}

export type ParsedMigrationInput = { ok: true; rows: MigrationSource[] } | { ok: false; problems: InputProblem[] };

const noControl = (what: string) => z.string().refine((s) => !/[\0-\x1f\x7f]/.test(s), `${what} holds a control character`);
const absolutePath = noControl('the path').pipe(z.string().regex(/^\/\S/, 'an absolute path (starting with /)').max(4096));

/** Hostnames or IPv4/[IPv6]; no shell or option metacharacters reach an SSH or mysqldump command line. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

function port(s: string | undefined): number | null | 'bad' {
  if (s === undefined) return null;
  const n = Number(s);
  return /^\d{1,5}$/.test(s) && n >= 1 && n <= 65535 ? n : 'bad';
}

const url = z
  .string()
  .max(2048)
  .refine((s) => s === '' || /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(s), 'an http:// or https:// URL without query or fragment (e.g. https://old.example.com)');

const rowSchema = z
  .object({
    domain: z.string().transform((s, ctx) => {
      const d = normalizeDomain(s);
      if (!d.ok) {
        ctx.addIssue({ code: 'custom', message: d.problem });
        return z.NEVER;
      }
      return d.domain;
    }),
    wave: z.string().regex(/^$|^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and -, at most 40').transform((s) => s || DEFAULT_WAVE),
    source_ssh: z.string().transform((s, ctx) => {
      const m = /^([a-z_][a-z0-9_.-]{0,31})@([^@:\s]+|\[[^\]]+\])(?::(\d+))?$/i.exec(s.trim());
      const p = port(m?.[3]);
      if (!m || !HOST.test(m[2]) || p === 'bad') {
        ctx.addIssue({ code: 'custom', message: `"${s.slice(0, 80)}" is not user@host[:port]` });
        return z.NEVER;
      }
      return { user: m[1], host: m[2].replace(/^\[|\]$/g, ''), port: p ?? 22 };
    }),
    source_path: absolutePath,
    source_db: z.string().regex(/^[A-Za-z0-9_$-]{1,64}$/, 'a database name: 1 to 64 letters, digits, _ $ -'),
    source_db_host: z.string().transform((s, ctx) => {
      const t = s.trim();
      if (t === '' || t === 'localhost') return { host: 'localhost', port: null };
      const m = /^([^:\s]+|\[[^\]]+\])(?::(\d+))?$/.exec(t);
      const p = port(m?.[2]);
      if (!m || !HOST.test(m[1]) || p === 'bad') {
        ctx.addIssue({ code: 'custom', message: `"${t.slice(0, 80)}" is not host[:port] (or empty for localhost)` });
        return z.NEVER;
      }
      return { host: m[1].replace(/^\[|\]$/g, ''), port: p };
    }),
    source_db_user: z.string().min(1, 'required').max(80).regex(/^[^\s'"`\\]+$/, 'no spaces, quotes or backslashes'),
    source_db_password_file: absolutePath,
    from_url: url,
    to_url: url,
  })
  .superRefine((r, ctx) => {
    if (r.from_url && r.to_url && r.from_url.endsWith('/') !== r.to_url.endsWith('/')) {
      ctx.addIssue({ code: 'custom', path: ['to_url'], message: 'from_url and to_url must both end with / or neither' });
    }
  });

type RawRow = Partial<Record<string, unknown>>;

function toSource(line: number, raw: RawRow, problems: InputProblem[]): MigrationSource | null {
  const text: Record<string, string> = {};
  for (const c of [...MIGRATION_COLUMNS, ...OPTIONAL_COLUMNS]) {
    const v = raw[c];
    text[c] = v === undefined || v === null ? '' : typeof v === 'object' ? '\u0000object' : String(v).trim();
  }
  for (const c of Object.keys(raw)) {
    if (!(MIGRATION_COLUMNS as readonly string[]).includes(c) && !(OPTIONAL_COLUMNS as readonly string[]).includes(c)) {
      problems.push({ line, field: c, message: `unknown field (known: ${[...MIGRATION_COLUMNS, ...OPTIONAL_COLUMNS].join(', ')})` });
    }
  }
  const r = rowSchema.safeParse(text);
  if (!r.success) {
    for (const issue of r.error.issues) {
      const field = String(issue.path[0] ?? '?');
      problems.push({ line, field, message: text[field] === '' && issue.code !== 'custom' ? 'required' : issue.message });
    }
    return null;
  }
  const d = r.data;
  return {
    line,
    domain: d.domain,
    wave: d.wave,
    ssh: d.source_ssh,
    sourcePath: d.source_path.replace(/\/+$/, '') || '/',
    sourceDb: d.source_db,
    sourceDbHost: d.source_db_host,
    sourceDbUser: d.source_db_user,
    sourceDbPasswordFile: d.source_db_password_file,
    fromUrl: d.from_url,
    toUrl: d.to_url,
  };
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. Records with the line each starts on. */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let atFieldStart = true;
  const s = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
    } else if (c === ',') {
      fields.push(field);
      field = '';
      atFieldStart = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && s[i + 1] === '\n') i++;
      fields.push(field);
      if (fields.length > 1 || fields[0].trim() !== '') out.push({ line: start, fields });
      fields = [];
      field = '';
      atFieldStart = true;
      line++;
      start = line;
    } else {
      field += c;
      atFieldStart = false;
    }
  }
  fields.push(field);
  if (fields.length > 1 || fields[0].trim() !== '') out.push({ line: start, fields });
  return out;
}

function checkDuplicates(rows: MigrationSource[], problems: InputProblem[]): void {
  const seen = new Map<string, number>();
  for (const r of rows) {
    const first = seen.get(r.domain);
    if (first !== undefined) problems.push({ line: r.line, field: 'domain', message: `${r.domain} is already on line ${first}` });
    else seen.set(r.domain, r.line);
  }
}

function fromCsv(text: string): ParsedMigrationInput {
  const records = parseCsv(text);
  if (!records.length) return { ok: false, problems: [{ line: 1, field: 'header', message: 'the file is empty' }] };
  const [header, ...data] = records;
  const cols = header.fields.map((f) => f.trim().toLowerCase());
  const problems: InputProblem[] = [];
  const missing = MIGRATION_COLUMNS.filter((c) => !cols.includes(c));
  for (const c of missing) problems.push({ line: header.line, field: c, message: 'missing column in the header' });
  cols.forEach((c, i) => {
    if (cols.indexOf(c) !== i) problems.push({ line: header.line, field: c, message: 'column named twice in the header' });
  });
  if (problems.length) return { ok: false, problems };
  if (!data.length) return { ok: false, problems: [{ line: header.line, field: 'domain', message: 'no site rows after the header' }] };
  const rows: MigrationSource[] = [];
  for (const rec of data) {
    if (rec.fields.length !== cols.length) {
      problems.push({ line: rec.line, field: cols[Math.min(rec.fields.length, cols.length) - 1] ?? 'domain', message: `${rec.fields.length} fields, the header has ${cols.length}` });
      continue;
    }
    const raw: RawRow = {};
    cols.forEach((c, i) => (raw[c] = rec.fields[i]));
    const r = toSource(rec.line, raw, problems);
    if (r) rows.push(r);
  }
  checkDuplicates(rows, problems);
  return problems.length ? { ok: false, problems } : { ok: true, rows };
}

function fromYaml(text: string): ParsedMigrationInput {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const lineOf = (n: YamlNode | null | undefined) => (n?.range ? lc.linePos(n.range[0]).line : 1);
  if (doc.errors.length) return { ok: false, problems: doc.errors.map((e) => ({ line: e.linePos?.[0]?.line ?? 1, field: 'yaml', message: e.message.split('\n')[0] })) };
  let list: YamlNode | null = doc.contents as YamlNode | null;
  if (isMap(list) && list.has('sites')) list = list.get('sites', true) as YamlNode;
  if (!isSeq(list)) return { ok: false, problems: [{ line: lineOf(list), field: 'sites', message: 'expected a list of sites (or a `sites:` list)' }] };
  const problems: InputProblem[] = [];
  const rows: MigrationSource[] = [];
  for (const item of list.items as YamlNode[]) {
    if (!isMap(item)) {
      problems.push({ line: lineOf(item), field: 'domain', message: 'each site is a mapping of fields' });
      continue;
    }
    const raw: RawRow = {};
    for (const pair of item.items) raw[String((pair.key as { value?: unknown })?.value ?? pair.key)] = (pair.value as { value?: unknown } | null)?.value ?? (pair.value ? {} : null);
    const line = lineOf(item);
    const before = problems.length;
    const r = toSource(line, raw, problems);
    // A field's own line is more useful than the item's first line.
    for (const p of problems.slice(before)) {
      const node = item.get(p.field, true) as YamlNode | undefined;
      if (node) p.line = lineOf(node);
    }
    if (r) rows.push(r);
  }
  if (!rows.length && !problems.length) problems.push({ line: lineOf(list), field: 'sites', message: 'no sites' });
  checkDuplicates(rows, problems);
  return problems.length ? { ok: false, problems } : { ok: true, rows };
}

/** Parses a migration file; YAML when the name ends in .yaml/.yml, CSV otherwise. */
export function parseMigrationInput(text: string, fileName: string): ParsedMigrationInput {
  return /\.ya?ml$/i.test(fileName) ? fromYaml(text) : fromCsv(text);
}

export function formatProblem(file: string, p: InputProblem): string {
  return `${file}:${p.line}: ${p.field}: ${p.message}`;
}

/** The URL the site is served under after the migration. */
export function targetUrl(r: Pick<MigrationSource, 'domain' | 'toUrl'>): string {
  return r.toUrl || `https://${r.domain}`;
}
