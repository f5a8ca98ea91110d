#!/bin/sh
# Runs once, when galera-1 initialises an empty data directory (docker-entrypoint-initdb.d): the users the farm
# needs, each password from its Docker secret. Galera replicates them to the other nodes. Sites' users are made
# by site creation, one per site.
set -eu
q() { printf "%s" "$1" | sed "s/'/''/g"; }
docker_process_sql <<SQL
CREATE USER IF NOT EXISTS 'sst'@'localhost' IDENTIFIED BY '$(q "$(cat /run/secrets/galera_sst_password)")';
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'sst'@'localhost';
CREATE USER IF NOT EXISTS 'proxysql_monitor'@'%' IDENTIFIED BY '$(q "$(cat /run/secrets/proxysql_monitor_password)")';
GRANT USAGE, REPLICATION CLIENT ON *.* TO 'proxysql_monitor'@'%';
CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED BY '$(q "$(cat /run/secrets/mysqld_exporter_password)")' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS, REPLICATION CLIENT, SELECT, SLAVE MONITOR ON *.* TO 'exporter'@'%';
CREATE USER IF NOT EXISTS 'drover'@'%' IDENTIFIED BY '$(q "$(cat /run/secrets/drover_galera_password)")';
GRANT ALL PRIVILEGES ON *.* TO 'drover'@'%' WITH GRANT OPTION;
SQL
