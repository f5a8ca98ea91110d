/**
 * The one remote command a site's files backup runs (activities/storage-archive.ts), run here by the shells a
 * storage node's login shell may be (sh and bash): the docroot as a tar on stdout, the WordPress version on
 * stderr, and its own exit code when the path is no directory.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { filesArchiveCommand, wordpressVersionOf } from '../../activities/storage-archive';

const root = mkdtempSync(path.join(os.tmpdir(), 'drover-archive-cmd-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A docroot whose path has a space, a quote and a dollar sign; with version.php when `version` is given. */
function docroot(name: string, version?: string): string {
  const dir = path.join(root, `${name} it's $HOME`);
  mkdirSync(path.join(dir, 'wp-includes'), { recursive: true });
  mkdirSync(path.join(dir, 'wp-content/uploads'), { recursive: true });
  writeFileSync(path.join(dir, 'wp-content/uploads/café menu.txt'), 'menu\n');
  if (version !== undefined) writeFileSync(path.join(dir, 'wp-includes/version.php'), `<?php\n$wp_db_version = 57155;\n$wp_version = '${version}';\n$tinymce_version = '49110-20201110';\n`);
  return dir;
}

const run = (shell: string, filesPath: string) => spawnSync(shell, ['-c', filesArchiveCommand(filesPath)], { maxBuffer: 64 * 1024 * 1024 });
const listed = (tar: Buffer) => spawnSync('tar', ['-tf', '-'], { input: tar }).stdout.toString('utf8').split('\n').filter(Boolean).sort();

describe.each(['sh', 'bash'])('filesArchiveCommand under %s', (shell) => {
  it('writes the docroot as a tar to stdout and the WordPress version to stderr', () => {
    const dir = docroot(`with-${shell}`, '6.7.1');
    const r = run(shell, dir);
    expect(r.status).toBe(0);
    expect(listed(r.stdout)).toEqual(['./', './wp-content/', './wp-content/uploads/', './wp-content/uploads/café menu.txt', './wp-includes/', './wp-includes/version.php']);
    expect(wordpressVersionOf(r.stderr.toString('utf8'))).toBe('6.7.1');
  });

  it('reads no version from a docroot without version.php, and still archives it', () => {
    const dir = docroot(`bare-${shell}`);
    const r = run(shell, dir);
    expect(r.status).toBe(0);
    expect(listed(r.stdout)).toContain('./wp-content/uploads/café menu.txt');
    expect(wordpressVersionOf(r.stderr.toString('utf8'))).toBeNull();
  });

  it('exits 66 with nothing on stdout when the path is not a directory', () => {
    const r = run(shell, path.join(root, `missing-${shell}`));
    expect(r.status).toBe(66);
    expect(r.stdout.length).toBe(0);
    writeFileSync(path.join(root, `a file-${shell}`), 'x');
    expect(run(shell, path.join(root, `a file-${shell}`)).status).toBe(66);
  });
});

describe('wordpressVersionOf', () => {
  it('finds the version line among tar warnings', () => {
    expect(wordpressVersionOf('tar: ./cache: file changed as we read it\ndrover-wp-version: 6.1.1\n')).toBe('6.1.1');
    expect(wordpressVersionOf('tar: ./x: Cannot open: Permission denied\n')).toBeNull();
    // A login shell's rc file that wrote to stderr without a newline.
    expect(wordpressVersionOf('pyenv: no such commanddrover-wp-version: 6.7.1\ntar: warning\n')).toBe('6.7.1');
  });
});
