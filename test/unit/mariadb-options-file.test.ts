/** The options file MariaDB's clients read Drover's credentials from: exact values as MariaDB parses them, 0600, removed after. */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeClientOptionsFile } from '../../activities/lib/mariadb-options-file';
import { readPasswordFile } from '../../activities/lib/old-host';
import { writeFileSync } from 'node:fs';
import { scratchDir } from '../helpers/scratch';

describe('writeClientOptionsFile', () => {
  it.each(['plain', 'quote"and\\backslash', 'space and #hash;semi', "it's=ünïcødé", '\\'])('MariaDB reads the password %j back exactly', (password) => {
    const o = writeClientOptionsFile({ host: '10.0.0.7', port: 3306 }, { user: 'drover', password }, 'load');
    try {
      expect(statSync(o.file).mode & 0o777).toBe(0o600);
      const read = execFileSync('my_print_defaults', [`--defaults-file=${o.file}`, 'client'], { encoding: 'utf8' }).trim().split('\n');
      expect(read).toEqual(['--host=10.0.0.7', '--port=3306', '--user=drover', `--password=${password}`]);
    } finally {
      o.remove();
    }
    expect(existsSync(path.dirname(o.file))).toBe(false);
  });

  it.each(['firstpart\nsecondpart', 'firstpart\rsecondpart'])('refuses a password with a line break (%j): ConfigMissing, no part of it in the message', (password) => {
    let err: (Error & { type?: string }) | undefined;
    try {
      writeClientOptionsFile({ host: '10.0.0.7', port: 3306 }, { user: 'drover', password }, 'load');
    } catch (e) {
      err = e as Error & { type?: string };
    }
    expect(err?.type).toBe('ConfigMissing');
    expect(err?.message).toMatch(/line break/);
    expect(err?.message).not.toMatch(/firstpart|secondpart/);
  });
});

describe('readPasswordFile (the old host\'s database password)', () => {
  it('takes one trailing newline off and refuses a line break inside, naming the file, not the password', async () => {
    const dir = scratchDir('drover-pw-');
    writeFileSync(path.join(dir, 'ok'), 'sécret\n');
    expect(await readPasswordFile(path.join(dir, 'ok'))).toBe('sécret');
    writeFileSync(path.join(dir, 'two'), 'first\nsecondhalf\n');
    const err = await readPasswordFile(path.join(dir, 'two')).then(() => undefined, (e: Error & { type?: string }) => e);
    expect(err?.type).toBe('ConfigMissing');
    expect(err?.message).toContain(path.join(dir, 'two'));
    expect(err?.message).not.toMatch(/first|secondhalf/);
  });
});
