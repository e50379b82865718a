#!/bin/sh
# Fails (exit 1), printing each offending `file: #include "x"`, when a lower layer includes a
# higher one or includes form a cycle. The layer table and the rules are in check-layers.py.
exec python3 "$(dirname "$0")/check-layers.py" "$@"
