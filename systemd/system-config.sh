#!/bin/sh
# Prints the config file for an installed service: config/herald.toml with the
# database in the unit's StateDirectory and log files in its LogsDirectory, so
# that the daemon and every command an operator runs with
# `--config /etc/herald/herald.toml` read the same database.
#   sh systemd/system-config.sh | sudo tee /etc/herald/herald.toml
set -eu
here=$(dirname "$0")
sed -e 's|^database = "herald.db" .*|database = "/var/lib/herald/herald.db"   # the service'"'"'s StateDirectory|' \
    -e 's|^# dir = "/var/log/herald" .*|dir = "/var/log/herald"       # the service'"'"'s LogsDirectory|' \
    "$here/../config/herald.toml"
