#!/usr/bin/env bash
# Builds the local stand-in for the official wordpress:*-php8.2-apache image, for machines that cannot pull from a
# registry (this one): a Debian bookworm rootfs from mmdebstrap (minbase, no recommends, no docs) with Apache 2.4,
# mod_php 8.2, php-cli, php-mysql and curl, and WordPress 6.1 from this machine's Debian `wordpress` package (its
# symlinks into system libraries resolved, so the tree is self-contained) with the twentytwentythree theme
# (extracted from its .deb: the package itself would pull the whole of `wordpress` and its MariaDB client).
# Not included: php-gd (its image codecs double the size; WordPress then edits no images). Output: a rootfs
# tarball, which `docker import` (Drover's ensureImportedImage) turns into an image with the changes in
# devkit/wordpress-image.ts (entrypoint, CMD, health check, port).
# What it does like the official image (images/wordpress/docker-entrypoint.sh): at start, WordPress core is copied
# into the docroot /var/www/html when it has none, wp-config.php is written when missing (WORDPRESS_DB_HOST,
# WORDPRESS_DB_USER, WORDPRESS_DB_PASSWORD(_FILE), WORDPRESS_DB_NAME, WORDPRESS_TABLE_PREFIX,
# WORDPRESS_CONFIG_EXTRA); then Apache runs in the foreground.
# Usage: build-wordpress-image.sh <out.tar>   Idempotent: an existing tarball is kept (its name carries the recipe).
set -euo pipefail
out="${1:?usage: build-wordpress-image.sh <out.tar>}"
[ -s "$out" ] && { echo "$out already built"; exit 0; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v mmdebstrap >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
[ -f /usr/share/wordpress/wp-includes/version.php ] || { echo "build-wordpress-image: needs Debian's wordpress package on this machine (scripts/install.sh)" >&2; exit 1; }
# No documentation, manual pages or translations: none of it is used by a web server.
mmdebstrap --quiet --variant=minbase \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --include=apache2,libapache2-mod-php8.2,php8.2-cli,php8.2-mysql,curl,ca-certificates \
  bookworm "$work/root" http://deb.debian.org/debian
r="$work/root"
rm -rf "$r/var/lib/apt/lists/"* "$r/var/cache/apt/"*.bin "$r/var/cache/apt/archives/"*.deb
# WordPress core where the official image keeps it (/usr/src/wordpress), without Debian's wp-config.php (which
# reads /etc/wordpress/config-<host>.php) and .htaccess.
mkdir -p "$r/usr/src"
cp -aL /usr/share/wordpress "$r/usr/src/wordpress"
rm -f "$r/usr/src/wordpress/wp-config.php" "$r/usr/src/wordpress/.htaccess"
(cd "$work" && apt-get download -qq wordpress-theme-twentytwentythree >/dev/null && dpkg-deb -x wordpress-theme-twentytwentythree_*.deb theme)
cp -aL "$work/theme/usr/share/wordpress/wp-content/themes/twentytwentythree" "$r/usr/src/wordpress/wp-content/themes/"
mkdir -p "$r/usr/src/wordpress/wp-content/uploads"
chroot "$r" chown -R www-data:www-data /usr/src/wordpress
install -m 0644 "$here/images/wordpress/wp-config-docker.php" "$r/usr/src/wp-config-docker.php"
install -m 0755 "$here/images/wordpress/docker-entrypoint.sh" "$r/usr/local/bin/docker-entrypoint.sh"
install -m 0755 "$here/images/wordpress/apache2-foreground" "$r/usr/local/bin/apache2-foreground"
install -m 0644 "$here/images/wordpress/site.conf" "$r/etc/apache2/sites-available/000-default.conf"
chroot "$r" a2enmod -q rewrite >/dev/null
chroot "$r" a2dismod -q -f status >/dev/null 2>&1 || true
mkdir -p "$r/var/www/html"
rm -f "$r/var/www/html/index.html"
chroot "$r" chown www-data:www-data /var/www/html
tar -C "$r" -cf "$out.part" .
mv "$out.part" "$out"
echo "$out built ($(du -h "$out" | cut -f1))"
