#!/bin/sh
# What a user sees of a fetch in a real terminal (tmux, at 80 and at 200 columns, a download
# slowed by --rate-limit so that the progress line is redrawn many times):
# - every progress line fits: no line of the pane's output is wider than the terminal less one
#   column (what was written to the terminal, split at carriage returns and newlines; messages
#   are lines that stay, not redrawn);
# - the phases are named (discovering, verifying signature, downloading, rendering) and the
#   download counts bytes with a rate and the time left;
# - the progress leaves nothing behind: after the fetch the pane and its scrollback hold the
#   lines before it, "signature verified", the summary and the image ID, in that order;
# - a re-fetch answered 304 ends with its own summary line;
# - narrowing the terminal during the download narrows the line, with no remnant left.
# And with a full store (a small tmpfs): one error line naming the file system and what the
# fetch needed, nothing else; the same when only the tree no longer fits (render into trees/).
# $NET is a list of options, split on purpose; fe_nginx_start takes no script arguments.
# shellcheck disable=SC2086,SC2119
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init

host=progress.example.com
fe_page "$WWW/$host" "$host" "https://$host/img/{name}.caidx"
fe_image "$SRC/a" "$host/a" 1536
fe_publish "$WWW/$host/img/$host/a.caidx" "$SRC/a"
# Published a while ago: the ETag of a document changed in its response's second is not kept.
touch -d "@$(($(date +%s) - 60))" "$WWW/$host/img/$host/a.caidx"
fe_nginx_start
RATE=384K

# --- in a terminal ---------------------------------------------------------------------------------
if ! command -v tmux >/dev/null 2>&1; then
        skip_part "the progress line in a terminal" "tmux is not installed"
else
        # A private server whose socket goes with TEST_TMP.
        SOCK=$TEST_TMP/tmux.sock
        at_exit "tmux -S '$SOCK' kill-server 2>/dev/null || true"
        T() { tmux -S "$SOCK" -f /dev/null "$@"; }
        # in_pane N WIDTH STORE: runs the fetch in a fresh tmux window N of WIDTH columns, the
        # bytes written to the terminal going to $TEST_TMP/raw.N. Returns once it has started.
        # Three lines come first, as a shell prompt and the command would: the output sits below.
        in_pane() {
                _ip_go=$TEST_TMP/go.$1
                cat >"$TEST_TMP/run.$1" <<EOF
while [ ! -e "$_ip_go" ]; do sleep 0.05; done
echo "line one before the fetch"
echo "line two"
echo "\$ acfetch fetch $host/a"
"$A" --dir="$3" fetch $NET --rate-limit=$RATE "$host/a"
echo \$? >"$TEST_TMP/rc.$1"
exec sleep 600
EOF
                if [ "$1" = 0 ]; then
                        T new-session -d -s p -n w0 -x "$2" -y 30 "sh $TEST_TMP/run.$1"
                else
                        T new-window -d -t p -n "w$1" "sh $TEST_TMP/run.$1"
                fi
                T set-option -w -t "p:w$1" window-size manual
                T resize-window -t "p:w$1" -x "$2" -y 30
                T pipe-pane -t "p:w$1" -o "cat >>'$TEST_TMP/raw.$1'"
                : >"$_ip_go"
        }
        # Strip what moves the cursor or erases: the text the terminal shows, one drawn line per
        # line of output.
        drawn() {
                sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e 's/\x1b[78]//g' "$TEST_TMP/raw.$1" |
                        tr '\r' '\n' | grep -v '^$' || true
        }
        done_in() { [ -s "$TEST_TMP/rc.$1" ]; }
        wait_done() { # N
                _wd=0
                while ! done_in "$1"; do
                        _wd=$((_wd + 1))
                        [ "$_wd" -lt 1200 ] || fail "fetch $1 in tmux did not end within 120 s"
                        sleep 0.1
                done
                expect_eq "exit status of fetch $1 in tmux" "$(cat "$TEST_TMP/rc.$1")" 0
        }
        # Every progress line drawn is at most WIDTH - 1 columns (checks the whole output of
        # window N). Messages ("acfetch: ...") are lines of their own that stay: one as wide as a
        # long name makes it wraps as any output does, and is not redrawn.
        expect_fits() { # N WIDTH WHAT
                _ef=$(drawn "$1" | grep -v '^acfetch: ' | awk -v w="$2" 'length($0) >= w' | head -n 3)
                [ -z "$_ef" ] || fail "$3: lines as wide as the $2-column terminal or wider" "$_ef"
        }
        # The pane and its scrollback after the fetch, wrapped lines joined, blank ones left out.
        screen() { T capture-pane -p -J -S - -t "p:w$1" | grep -v '^[[:space:]]*$' || true; }
        expect_phases() { # N PHASE...
                _ep_n=$1
                shift
                for _ep in "$@"; do
                        drawn "$_ep_n" | grep -q "^$host/a: $_ep" ||
                                fail "fetch $_ep_n: no progress line says '$_ep'" "$(drawn "$_ep_n" | head -n 20)"
                done
        }
        # After fetch N: exactly the three lines before it and the EXPECTED lines (grep patterns).
        expect_screen() { # N EXPECTED...
                _es_n=$1
                shift
                screen "$_es_n" >"$TEST_TMP/screen.$_es_n"
                _es_want=$(($# + 3))
                [ "$(wc -l <"$TEST_TMP/screen.$_es_n")" -eq "$_es_want" ] ||
                        fail "fetch $_es_n: the pane and its scrollback hold other lines than $_es_want" \
                                "$(cat "$TEST_TMP/screen.$_es_n")"
                _es_i=4
                for _es in "$@"; do
                        sed -n "${_es_i}p" "$TEST_TMP/screen.$_es_n" | grep -q "$_es" ||
                                fail "fetch $_es_n: line $_es_i is not '$_es'" "$(cat "$TEST_TMP/screen.$_es_n")"
                        _es_i=$((_es_i + 1))
                done
        }

        n=0
        for width in 80 200; do
                in_pane "$n" "$width" "$TEST_TMP/tty$n"
                wait_done "$n"
                expect_fits "$n" "$width" "fetch at $width columns"
                expect_ge "progress lines drawn at $width columns" "$(drawn "$n" | grep -c ": downloading [0-9]")" 10
                expect_phases "$n" discovering "verifying signature" downloading rendering
                drawn "$n" | grep -q "^$host/a: downloading [0-9.]* [KM]\{0,1\}i\{0,1\}B of ~\{0,1\}[0-9.]* [KM]iB, [0-9.]* [KM]\{0,1\}i\{0,1\}B/s, [0-9:]*s\{0,1\} left" ||
                        fail "fetch at $width columns: no download line with amount, rate and time left" \
                                "$(drawn "$n" | grep downloading | head -n 5)"
                expect_screen "$n" "^acfetch: signature verified: " \
                        "^acfetch: $host/a: downloaded [0-9.]* [KM]iB in [0-9.]*s: [0-9]* of [0-9]* chunks; a [0-9.]* [KM]iB image$" \
                        '^sha512-[0-9a-f]\{32\}$'
                pass "fetch at $width columns: every line fits, phases named, only the summary left" \
                        "$(drawn "$n" | grep ': downloading' | sed -n '10p')"
                n=$((n + 1))
        done

        # The same store again: not modified (304).
        in_pane "$n" 80 "$TEST_TMP/tty0"
        wait_done "$n"
        expect_fits "$n" 80 "re-fetch at 80 columns"
        expect_phases "$n" discovering
        expect_screen "$n" "^acfetch: $host/a: not modified since the last fetch, nothing downloaded" \
                '^sha512-[0-9a-f]\{32\}$'
        pass "re-fetch (304): one summary line, nothing else"
        n=$((n + 1))

        # Narrowed while downloading: the line follows.
        in_pane "$n" 200 "$TEST_TMP/tty$n"
        wait_until sh -c "grep -q ': downloading [0-9].*left' '$TEST_TMP/raw.$n'" ||
                fail "the download at 200 columns drew no line"
        wide=$(drawn "$n" | awk 'length($0) > 70' | grep -c downloading || true)
        expect_ge "download lines wider than 70 columns at 200 columns" "$wide" 1
        T resize-window -t "p:w$n" -x 60
        # Until the next redraw the pane still shows the wide line, rewrapped: wait for one drawn
        # for the new width (the download runs for seconds more), then look for remnants.
        # shellcheck disable=SC2317 # called through wait_until
        narrow() {
                T capture-pane -p -J -t "p:w$n" | sed 's/ *$//' |
                        grep "^$host/a: downloading [0-9]" | awk 'length($0) < 60' | grep -q .
        }
        wait_until narrow || fail "no download line narrower than 60 columns after the resize" \
                "$(T capture-pane -p -J -t "p:w$n")"
        T capture-pane -p -J -t "p:w$n" >"$TEST_TMP/narrow.$n"
        # (Cells erased at the end of a line come out as spaces.)
        long=$(sed 's/ *$//' "$TEST_TMP/narrow.$n" | awk 'length($0) >= 60' | grep -v 'acfetch fetch' || true)
        [ -z "$long" ] || fail "lines of 60 columns or more on the 60-column pane" "$long"
        wait_done "$n"
        expect_screen "$n" "^acfetch: signature verified: " \
                "^acfetch: $host/a: downloaded " '^sha512-[0-9a-f]\{32\}$'
        pass "narrowed from 200 to 60 columns while downloading: the line follows, no remnant" \
                "$(grep downloading "$TEST_TMP/narrow.$n")"
fi

# --- a full file system ----------------------------------------------------------------------------
SMALL=$TEST_TMP/small
mkdir -p "$SMALL"
if ! mount -t tmpfs -o size=1M,mode=0755 tmpfs "$SMALL" 2>/dev/null; then
        skip_part "a full store" "cannot mount a tmpfs here"
else
        at_exit "umount -l '$SMALL'"
        # The chunks do not fit (nor the tree, extracted as they come: either may fill it first).
        acf --dir="$SMALL/store" fetch $NET "$host/a"
        expect_rc 254 "fetch into a full store"
        expect_eq "lines on stderr of a fetch into a full store" "$(grep -c . "$ERR")" 1
        grep -q "^acfetch: error: $SMALL/store/\(chunks\|trees\): no space left on device (the file system at $SMALL, 1.0 MiB); $host/a needed about [0-9.]* MiB (.* of chunks, a 1.5 MiB tree), [0-9.]* [KM]iB more than the [0-9.]* [KM]\{0,1\}i\{0,1\}B free when it began$" "$ERR" ||
                fail "fetch into a full store: not the one message expected" "$(cat "$ERR")"
        pass "fetch into a full store: one error line" "$(cat "$ERR")"

        # The chunks fit, the tree does not: rendering from the store into trees/.
        rm -rf "${SMALL:?}/store"
        mount -o remount,size=2300K "$SMALL" || fail "remount $SMALL"
        acf --dir="$SMALL/store" fetch $NET --no-render "$host/a"
        expect_rc 0 "fetch --no-render into a store with room for the chunks"
        acf --dir="$SMALL/store" fetch $NET "$host/a"
        expect_rc 254 "render into a full store"
        expect_eq "lines on stderr of a render into a full store" "$(grep -c . "$ERR")" 1
        grep -q "^acfetch: error: $SMALL/store/trees: no space left on device (the file system at $SMALL, 2.2 MiB); $host/a needed about 1.5 MiB, [0-9.]* [KM]iB more than the [0-9.]* [KM]\{0,1\}i\{0,1\}B free when it began$" "$ERR" ||
                fail "render into a full store: not the one message expected" "$(cat "$ERR")"
        pass "render into a full store: one error line naming trees/" "$(cat "$ERR")"
fi
finish
