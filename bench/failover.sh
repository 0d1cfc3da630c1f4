#!/usr/bin/env bash
# Failover benchmark, tandem against Patroni (make bench-failover); see bench/failover.py --help.
exec /usr/bin/python3 "$(dirname "$0")/failover.py" "$@"
