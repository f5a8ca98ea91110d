/**
 * The one remote command a site's files backup runs (activities/storage-archive.ts), run here by the shells a
 * storage node's login shell may be (sh and bash): the docroot as a tar on stdout, the WordPress version on
 * stderr, and its own exit code when the path is no directory.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesArchiveCommand, wordpressVersionOf } from '../../activities/storage-archive';
import { KEPT_STDERR_BYTES, stderrKeeper } from '../../lib/clients/ssh-client';
import { wordpressVersionCommand } from '../../lib/wp-version-shell';
import { scratchDir } from '../helpers/scratch';

const root = scratchDir('drover-archive-cmd-');

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
    // The line is written anyway (empty), so a tar warning naming a file `drover-wp-version: 9.9` is never read as it.
    expect(r.stderr.toString('utf8')).toBe('drover-wp-version: \n');
    expect(listed(r.stdout)).toContain('./wp-content/uploads/café menu.txt');
    expect(wordpressVersionOf(r.stderr.toString('utf8'))).toBeNull();
  });

  it('writes the version last: the SSH client\'s kept stderr has it after more than 8 KiB from a login shell and more than 8 KiB of tar warnings', () => {
    const dir = docroot(`noisy-${shell}`, '6.4.3');
    // What a login shell's rc files may write before the command runs (e.g. a warning per line of a broken rc)…
    const noise = `i=0; while [ $i -lt 400 ]; do echo "rc: warning number $i about something long" >&2; i=$((i+1)); done; `;
    // …and a tar that warns about 400 files as it reads (files changed as it read them), then archives.
    const bin = path.join(root, `bin-noisy-${shell}`);
    mkdirSync(bin, { recursive: true });
    const realTar = spawnSync('sh', ['-c', 'command -v tar']).stdout.toString().trim();
    writeFileSync(path.join(bin, 'tar'), `#!/bin/sh\ni=0; while [ $i -lt 400 ]; do echo "tar: ./wp-content/cache/page-$i.html: file changed as we read it" >&2; i=$((i+1)); done\nexec ${realTar} "$@"\n`, { mode: 0o755 });
    const r = spawnSync(shell, ['-c', noise + filesArchiveCommand(dir)], { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status).toBe(0);
    expect(listed(r.stdout)).toContain('./wp-content/uploads/café menu.txt');
    expect(r.stderr.length).toBeGreaterThan(4 * KEPT_STDERR_BYTES);
    const kept = stderrKeeper();
    kept.push(r.stderr);
    expect(kept.text()).toContain('bytes of stderr not kept');
    expect(wordpressVersionOf(kept.text())).toBe('6.4.3');
  });

  it('exits with tar\'s code when tar fails', () => {
    const dir = docroot(`tarfail-${shell}`, '6.4.3');
    // A tar that exits 2 (the PATH the command runs with finds this one first).
    const bin = path.join(root, `bin-${shell}`);
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, 'tar'), '#!/bin/sh\necho "tar: ./x: Cannot open" >&2; exit 2\n', { mode: 0o755 });
    const r = spawnSync(shell, ['-c', filesArchiveCommand(dir)], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status).toBe(2);
    expect(wordpressVersionOf(r.stderr.toString('utf8'))).toBe('6.4.3');
  });

  it('exits 66 with nothing on stdout when the path is not a directory', () => {
    const r = run(shell, path.join(root, `missing-${shell}`));
    expect(r.status).toBe(66);
    expect(r.stdout.length).toBe(0);
    writeFileSync(path.join(root, `a file-${shell}`), 'x');
    expect(run(shell, path.join(root, `a file-${shell}`)).status).toBe(66);
  });
});

describe('wordpressVersionCommand (files backup, restore check, migration preflight)', () => {
  it('prints the first $wp_version, spaces around = allowed, and nothing for a docroot without one', () => {
    const dir = docroot('version-cmd');
    writeFileSync(path.join(dir, 'wp-includes/version.php'), "<?php\n$wp_db_version = 57155;\n$wp_version  =  '6.5.5' ;\n$wp_version = '9.9';\n");
    expect(spawnSync('sh', ['-c', wordpressVersionCommand(dir)]).stdout.toString()).toBe('6.5.5\n');
    expect(spawnSync('sh', ['-c', wordpressVersionCommand(null)], { cwd: dir }).stdout.toString()).toBe('6.5.5\n');
    expect(spawnSync('sh', ['-c', wordpressVersionCommand(path.join(root, 'nowhere'))]).stdout.toString()).toBe('');
  });

  it('reads no named pipe (a site owner\'s version.php that would hold sed forever): the files archive still ends', () => {
    const dir = docroot('version-fifo');
    expect(spawnSync('mkfifo', [path.join(dir, 'wp-includes/version.php')]).status).toBe(0);
    const r = spawnSync('sh', ['-c', wordpressVersionCommand(dir)], { timeout: 20_000 });
    expect(r.error).toBeUndefined();
    expect(r.stdout.toString()).toBe('');
    const archived = spawnSync('sh', ['-c', filesArchiveCommand(dir)], { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 });
    expect(archived.error).toBeUndefined();
    expect(archived.status).toBe(0);
    expect(listed(archived.stdout)).toContain('./wp-includes/version.php');
    expect(wordpressVersionOf(archived.stderr.toString('utf8'))).toBeNull();
  });
});

describe('wordpressVersionOf', () => {
  it('finds the version line among tar warnings', () => {
    expect(wordpressVersionOf('tar: ./cache: file changed as we read it\ndrover-wp-version: 6.1.1\n')).toBe('6.1.1');
    expect(wordpressVersionOf('tar: ./x: Cannot open: Permission denied\n')).toBeNull();
    // A login shell's rc file that wrote to stderr without a newline.
    expect(wordpressVersionOf('pyenv: no such commanddrover-wp-version: 6.7.1\ntar: warning\n')).toBe('6.7.1');
    // The command's own line is the last: a warning naming a file the site's owner called so comes before it.
    expect(wordpressVersionOf('tar: ./drover-wp-version: 9.9: socket ignored\ndrover-wp-version: 6.7.1\n')).toBe('6.7.1');
    expect(wordpressVersionOf('tar: ./drover-wp-version: 9.9: socket ignored\ndrover-wp-version: \n')).toBeNull();
  });
});
