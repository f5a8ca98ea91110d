/**
 * Adminer (Debian's `adminer` package, 4.8.1: the contractor stack's version) served by php-cli's built-in server,
 * and a login through its form as a browser does it: what a contractor's database user sees there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { scratchDir } from './scratch';

/** Where Debian installs Adminer's single-file build (DROVER_ADMINER_PHP overrides it). */
export const ADMINER_PHP = process.env.DROVER_ADMINER_PHP ?? '/usr/share/adminer/adminer.php';
export const adminerAvailable = (): boolean => existsSync(ADMINER_PHP);

export interface Adminer {
  url: string;
  /** Logs in; the databases Adminer lists for this login, or the error it shows. */
  login(o: { server: string; username: string; password: string }): Promise<{ databases: string[]; error: string | null }>;
  close(): void;
}

export async function startAdminer(port: number): Promise<Adminer> {
  const dir = scratchDir('drover-adminer-');
  writeFileSync(path.join(dir, 'index.php'), `<?php\nerror_reporting(E_ALL & ~E_DEPRECATED & ~E_NOTICE & ~E_WARNING);\ninclude ${JSON.stringify(ADMINER_PHP)};\n`);
  const php: ChildProcess = spawn('php', ['-d', `session.save_path=${dir}`, '-S', `127.0.0.1:${port}`, '-t', dir], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; ; i++) {
    try {
      await fetch(url);
      break;
    } catch {
      if (i > 50) throw new Error('adminer did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async login({ server, username, password }) {
      const jar = new Map<string, string>();
      const keep = (r: Response) => {
        for (const c of r.headers.getSetCookie()) {
          const [kv] = c.split(';');
          const i = kv.indexOf('=');
          jar.set(kv.slice(0, i), kv.slice(i + 1));
        }
      };
      const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      keep(await fetch(url, { redirect: 'manual' }));
      const form = new URLSearchParams({ 'auth[driver]': 'server', 'auth[server]': server, 'auth[username]': username, 'auth[password]': password, 'auth[db]': '' });
      const posted = await fetch(url, { method: 'POST', body: form, headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
      keep(posted);
      const location = posted.headers.get('location');
      const page = location ? await fetch(new URL(location, url), { headers: { cookie: cookie() }, redirect: 'manual' }) : posted;
      const html = await page.text();
      const error = /<div class='error'>([\s\S]*?)<\/div>/.exec(html)?.[1]?.replace(/<[^>]+>/g, '').trim() ?? null;
      const databases = [...html.matchAll(/(?:[?&]|&amp;)db=([^&"']+)/g)].map((m) => decodeURIComponent(m[1]));
      return { databases: [...new Set(databases)].sort(), error };
    },
    close() {
      php.kill('SIGTERM');
    },
  };
}
