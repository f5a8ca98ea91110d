/**
 * The one shell command that reads a docroot's WordPress version (`$wp_version` in wp-includes/version.php, the
 * first such line; spaces around `=` allowed): prints it on stdout, and nothing when the file or the line is
 * missing (sed then exits 2 or 0; its errors are discarded). Used over SSH by the files backup, the restore's check and the migration's preflight.
 */
import { shellQuote } from './shell-quote';

/** `docroot`: a path (quoted here), or null for the working directory. */
export function wordpressVersionCommand(docroot: string | null): string {
  const file = docroot === null ? 'wp-includes/version.php' : `${shellQuote(docroot)}/wp-includes/version.php`;
  return `sed -n "/^\\$wp_version *= *'/{s/^\\$wp_version *= *'\\([^']*\\)'.*/\\1/p;q;}" ${file} 2>/dev/null`;
}
