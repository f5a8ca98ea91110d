/**
 * The one shell command that reads a docroot's WordPress version (`$wp_version` in wp-includes/version.php, the
 * first such line in its first 200; spaces around `=` allowed): prints it on stdout, and nothing when the file is
 * missing or no regular file (a named pipe a site's owner left there would hold `sed` forever) or has no such
 * line. Used over SSH by the files backup, the restore's check and the migration's preflight.
 */
import { shellQuote } from './shell-quote';

/** `docroot`: a path (quoted here), or null for the working directory. */
export function wordpressVersionCommand(docroot: string | null): string {
  const file = docroot === null ? 'wp-includes/version.php' : `${shellQuote(docroot)}/wp-includes/version.php`;
  return `{ [ -f ${file} ] && sed -n "/^\\$wp_version *= *'/{s/^\\$wp_version *= *'\\([^']*\\)'.*/\\1/p;q;};200q" ${file}; } 2>/dev/null`;
}
