#!/bin/sh
# Drover's local WordPress image (scripts/build-wordpress-image.sh): what the official image's entrypoint does,
# for the variables the farm uses. The docroot /var/www/html is the site's folder on the storage tier.
# 1. No WordPress in it (no wp-includes/version.php): core is copied in from /usr/src/wordpress, owned by
#    www-data; files already there (a restored wp-content, uploads) are kept.
# 2. No wp-config.php: one is written from /usr/src/wp-config-docker.php, which reads the database settings from
#    the environment at every request (the password from WORDPRESS_DB_PASSWORD_FILE, a Docker secret, so it
#    never lands in the docroot or its backups), with $table_prefix written as a literal (Drover's registration
#    reads it from the file) and fresh authentication salts.
set -eu
docroot=/var/www/html
case "${1:-}" in apache2*|php*) ;; *) exec "$@" ;; esac
if [ ! -e "$docroot/wp-includes/version.php" ]; then
  echo "drover-wordpress: copying WordPress $(sed -n "s/^\$wp_version = '\(.*\)';/\1/p" /usr/src/wordpress/wp-includes/version.php) into $docroot" >&2
  (cd /usr/src/wordpress && tar -c --exclude=./wp-content/uploads/* .) | tar -x -C "$docroot" --skip-old-files --no-same-owner
  chown -R www-data:www-data "$docroot" 2>/dev/null || true
fi
if [ ! -s "$docroot/wp-config.php" ] && [ -n "${WORDPRESS_DB_HOST:-}${WORDPRESS_DB_NAME:-}" ]; then
  prefix="${WORDPRESS_TABLE_PREFIX:-wp_}"
  case "$prefix" in *[!A-Za-z0-9_]*|'') echo "drover-wordpress: WORDPRESS_TABLE_PREFIX must be letters, digits, _ (got '$prefix')" >&2; exit 1 ;; esac
  salts=$(php -r 'foreach (["AUTH_KEY","SECURE_AUTH_KEY","LOGGED_IN_KEY","NONCE_KEY","AUTH_SALT","SECURE_AUTH_SALT","LOGGED_IN_SALT","NONCE_SALT"] as $k) printf("define(%s, getenv_docker(%s, %s));\n", var_export($k, true), var_export("WORDPRESS_".$k, true), var_export(bin2hex(random_bytes(32)), true));')
  tmp="$docroot/.wp-config.php.$$"
  awk -v prefix="$prefix" -v salts="$salts" '
    /@@SALTS@@/ { print salts; next }
    /@@TABLE_PREFIX@@/ { sub(/@@TABLE_PREFIX@@/, prefix) }
    { print }
  ' /usr/src/wp-config-docker.php > "$tmp"
  chown www-data:www-data "$tmp" 2>/dev/null || true
  chmod 0640 "$tmp"
  mv "$tmp" "$docroot/wp-config.php"
fi
exec "$@"
