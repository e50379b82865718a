#!/bin/sh
# Fails (exit 1) when a tracked *.c or *.h file is not as clang-format 14 would write it under the
# root .clang-format, and prints those files (and clang-format's first complaints about each).
# Usage: tools/check-format.sh [TOP]   (TOP: the source tree, default this script's tree)
# Fix with: clang-format -i FILE...
set -u
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 2
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
        echo "check-format: $cf is not installed (tools/install-deps.sh)" >&2
        exit 77
fi
case $("$cf" --version) in
*"version 14."*) ;;
*) echo "check-format: warning: not clang-format 14: $("$cf" --version)" >&2 ;;
esac
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        files=$(git ls-files '*.c' '*.h')
else
        files=$(find . -name '*.[ch]' ! -path './build*' | sed 's|^\./||' | sort)
fi
bad=0 total=0 log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT
for f in $files; do
        total=$((total + 1))
        if ! "$cf" --style=file --dry-run -Werror "$f" >"$log" 2>&1; then
                bad=$((bad + 1))
                echo "$f: not formatted ($(grep -c 'error:' "$log") places)"
                grep 'error:' "$log" | head -n 3 | sed 's/^/    /'
        fi
done
if [ "$bad" -gt 0 ]; then
        echo "check-format: $bad of $total files need clang-format -i" >&2
        exit 1
fi
echo "check-format: $total files formatted"
