/**
 * The local stand-in for the official `wordpress:*-php8.2-apache` image (no registry can be reached here): a
 * Debian rootfs with Apache, mod_php 8.2 and Debian's WordPress 6.1, built by scripts/build-wordpress-image.sh
 * and cached under ~/.cache/drover/images by recipe (the script and images/wordpress/*), so a second build is a
 * file lookup. `docker import` turns it into an image with WORDPRESS_IMAGE_CHANGES (Drover's
 * ensureImportedImage passes them, so the local provider's bring-up imports it on every node).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { droverRoot } from '../lib/version';
import { LOCAL_WORDPRESS_IMAGE } from '../lib/site-names';

const run = promisify(execFile);

/** The image's name: the one production code knows (lib/site-names.ts), kept in one place. */
export const WORDPRESS_IMAGE = LOCAL_WORDPRESS_IMAGE;

/** What the official image's Dockerfile sets, as `docker import --change` instructions. */
export const WORDPRESS_IMAGE_CHANGES = [
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'WORKDIR /var/www/html',
  'EXPOSE 80',
  'ENTRYPOINT ["docker-entrypoint.sh"]',
  'CMD ["apache2-foreground"]',
  // The same check as stacks/wordpress.yml's (which overrides it there): Apache serves the docroot.
  'HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD curl -fsS -o /dev/null http://127.0.0.1/wp-includes/images/blank.gif || exit 1',
];

function recipe(): string {
  const root = droverRoot();
  const h = createHash('sha256');
  h.update(readFileSync(path.join(root, 'scripts/build-wordpress-image.sh')));
  const dir = path.join(root, 'images/wordpress');
  for (const f of readdirSync(dir).sort()) h.update(f).update(readFileSync(path.join(dir, f)));
  return h.digest('hex').slice(0, 12);
}

/** Builds (once per recipe) and returns the rootfs tarball. Takes a few minutes the first time; needs root. */
export async function buildWordpressImageTar(opts: { cacheDir?: string; log?: (msg: string) => void } = {}): Promise<string> {
  const dir = opts.cacheDir ?? path.join(process.env.DROVER_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'drover'), 'images');
  const out = path.join(dir, `drover-wordpress-${recipe()}.tar`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  opts.log?.(`building the local WordPress image (Debian packages, once): ${out}`);
  await run('bash', [path.join(droverRoot(), 'scripts/build-wordpress-image.sh'), out], { timeout: 1_200_000, maxBuffer: 16 * 1024 * 1024 });
  return out;
}

/**
 * The image as a local bring-up (or a site workflow's ensureImportedImage) takes it: add it to the cluster input's
 * `images` so every node has it before a site's service is created there.
 */
export async function wordpressImageInput(opts: { cacheDir?: string; log?: (msg: string) => void } = {}): Promise<{ image: string; tarPath: string; changes: string[] }> {
  return { image: WORDPRESS_IMAGE, tarPath: await buildWordpressImageTar(opts), changes: [...WORDPRESS_IMAGE_CHANGES] };
}
