#!/bin/sh
# Starts ProxySQL with the shipped proxysql.cnf, its password placeholders filled from Docker secrets into a copy
# only ProxySQL reads. --reload merges the file into ProxySQL's on-disk database at every start: changes to the
# shipped rules apply, and per-site users added at runtime through the admin interface are kept.
set -eu
umask 077
esc() { sed 's/[\\&|]/\\&/g' "$1"; }
sed -e "s|@ADMIN_PASSWORD@|$(esc /run/secrets/proxysql_admin_password)|" \
    -e "s|@MONITOR_PASSWORD@|$(esc /run/secrets/proxysql_monitor_password)|" \
    /etc/proxysql/proxysql.shipped.cnf > /etc/proxysql.cnf
exec proxysql -f --idle-threads -c /etc/proxysql.cnf --reload
