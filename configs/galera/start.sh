#!/bin/sh
# Starts one Galera node of the database stack. GALERA_NAME is galera-1, -2 or -3 (one per database node).
# - The SST credentials come from the Docker secret galera_sst_password, written to a file only mariadbd reads.
# - Bootstrap: only galera-1, and only when it has never run (no grastate.dat) or when Galera marked it safe to
#   bootstrap (the last node to leave). Any other node joins; if no node is up it waits for an operator
#   (`drover` will not guess which node has the newest data).
set -eu
conf=/run/galera/node.cnf
mkdir -p /run/galera
umask 077
cat > "$conf" <<CNF
[mariadb]
wsrep_node_name = $GALERA_NAME
wsrep_sst_auth = sst:$(cat /run/secrets/galera_sst_password)
CNF
chown mysql:mysql "$conf"
set -- mariadbd --defaults-extra-file="$conf"
state=/var/lib/mysql/grastate.dat
if [ "$GALERA_NAME" = galera-1 ] && { [ ! -f "$state" ] || grep -q '^safe_to_bootstrap: 1' "$state"; }; then
  set -- "$@" --wsrep-new-cluster
fi
exec docker-entrypoint.sh "$@"
