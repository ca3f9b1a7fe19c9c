#!/bin/sh
# tap_selftest.sh BIN - prove must fail every way a unit binary can fail (tests/unit/tap.h):
# a failed check, a CHECK_QUIET failure no check reported, main returning or exit() before
# tap_done(), a crash, an abort; and pass a binary that passes (also one whose forked child
# exits). Run by `make unit` before the unit tests.
set -u
bin=$1
dir=$(mktemp -d /tmp/herd-tap-selftest.XXXXXX)
trap 'rm -rf "$dir"' EXIT
status=0
for case in pass child-exits fail quiet-unreported early-return early-exit crash abort; do
    printf '#!/bin/sh\nexec "%s" %s\n' "$bin" "$case" >"$dir/$case"
    chmod +x "$dir/$case"
    if prove "$dir/$case" >"$dir/$case.log" 2>&1; then verdict=pass; else verdict=fail; fi
    want=fail
    case $case in pass | child-exits) want=pass ;; esac
    if [ "$verdict" != "$want" ]; then
        echo "tap_selftest: case $case: prove said $verdict, expected $want" >&2
        sed 's/^/    /' "$dir/$case.log" >&2
        status=1
    fi
done
[ "$status" = 0 ] && echo "tap_selftest: prove fails each way a unit binary can fail"
exit "$status"
