/** The options file MariaDB's clients read Drover's credentials from: exact values as MariaDB parses them, 0600, removed after. */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeClientOptionsFile } from '../../activities/lib/mariadb-options-file';

describe('writeClientOptionsFile', () => {
  it.each(['plain', 'quote"and\\backslash', 'space and #hash;semi', "it's=ünïcødé", '\\'])('MariaDB reads the password %j back exactly', (password) => {
    const o = writeClientOptionsFile({ host: '10.0.0.7', port: 3306 }, { user: 'drover', password }, 'drover-test-');
    try {
      expect(statSync(o.file).mode & 0o777).toBe(0o600);
      const read = execFileSync('my_print_defaults', [`--defaults-file=${o.file}`, 'client'], { encoding: 'utf8' }).trim().split('\n');
      expect(read).toEqual(['--host=10.0.0.7', '--port=3306', '--user=drover', `--password=${password}`]);
    } finally {
      o.remove();
    }
    expect(existsSync(path.dirname(o.file))).toBe(false);
  });
});
