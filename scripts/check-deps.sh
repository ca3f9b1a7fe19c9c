#!/usr/bin/env bash
# check-deps.sh - enforce the module dependency rules of STYLE.md 4.2 over `#include "..."` in src/.
#
#   base          nothing of herd but base/
#   proto         base/compiler.h, base/err.h, base/base64.h, proto/
#   stats         base/, stats/
#   loop          base/, loop/
#   load          base/, load/
#   net           loop/, base/, net/
#   stream        base/, loop/, net/, stream/ (the buffered stream under client and server)
#   client        not server/, report/, cli/, scenario/
#   server        not client/, report/, cli/
#   report        not loop/, net/, client/, server/
#   cli           not net/, not loop internals
#   scenario      base/, and the faces cli/cli.h, client/client.h, flow/flow.h, load/load.h,
#                 report/report.h, stats/stats.h (it fills run_options through cli; libyaml)
#   flow          base/, proto/, client/client.h (the role names), flow/ (the flow compiler and
#                 CSV data: pure but for reading its files; libyaml)
#   everyone      no other folder's *_internal.h
#
# Inside client/, layers: a file may include the headers of its own layer and those below,
# never above (calls go down; what goes up goes through operations tables and hooks):
#   client  conn (conn.h conn.c)  <  session (session.h ws.c sse.c request.c)
#           <  role (role.h roles.c track.c message.c flow.c)  <  top (worker.h worker.c params.c)
# client/client.h is the module's face and below everything. A new file must be given a layer.
#
# Inside server/, layers: a file may include the headers of its own layer and those below,
# never above (calls go down; what goes up goes through operations tables and hooks):
#   server  conn (srv_conn.h conn.c out.c)  <  session (srv_session.h http.c wsconn.c sse.c)
#           <  app (srv_app.h routes.c echo.c pubsub.c)  <  top (server.c params.c)
# server/server.h is the module's face (its params) and below everything. A new file must be
# given a layer.
#
# Each violation is printed as file:line: what and why; the exit status is 1 if there was one.
# System headers (<...>) are not checked: only `#include "..."` names herd's own files.
set -euo pipefail

cd "$(dirname "$0")/.."
[ -d src ] || {
    echo "check-deps: no src/ folder" >&2
    exit 2
}

violations=0
files=0
report() { # file line included why
    printf '%s:%s: includes "%s": %s\n' "$1" "$2" "$3" "$4"
    violations=$((violations + 1))
}

# rule MODULE TARGET: prints why MODULE may not include TARGET (a path under src/), or nothing
rule() {
    local mod=$1 inc=$2 tmod=${2%%/*}
    [ "$tmod" = "$2" ] && tmod="" # a file at src/ top level (none should be included)
    # Another folder's internal header: never.
    case "$inc" in
    *_internal.h)
        if [ "$tmod" != "$mod" ]; then
            echo "another module's internal header (only ${tmod:-its own folder} may include it)"
            return
        fi
        ;;
    esac
    [ "$tmod" = "$mod" ] && return
    case "$mod" in
    base)
        echo "base is a libc-only leaf and includes nothing else of herd" ;;
    proto)
        case "$inc" in
        base/compiler.h | base/err.h | base/base64.h) ;;
        *) echo "proto may include only base/compiler.h, base/err.h, base/base64.h and proto/" ;;
        esac
        ;;
    stats | loop | load)
        [ "$tmod" = base ] || echo "$mod may include only base/ and $mod/" ;;
    net)
        case "$tmod" in
        base | loop) ;;
        *) echo "net may include only base/, loop/ and net/" ;;
        esac
        ;;
    stream)
        case "$tmod" in
        base | loop | net) ;;
        *) echo "stream may include only base/, loop/, net/ and stream/" ;;
        esac
        ;;
    client)
        case "$tmod" in
        server | report | cli | scenario) echo "client must not include $tmod/" ;;
        esac
        ;;
    server)
        case "$tmod" in
        client | report | cli) echo "server must not include $tmod/" ;;
        esac
        ;;
    report)
        case "$tmod" in
        loop | net | client | server)
            echo "report reads snapshots, never live state: it must not include $tmod/" ;;
        esac
        ;;
    cli)
        case "$tmod" in
        net) echo "$mod must not include net/ (it fills params structs only)" ;;
        esac
        ;;
    scenario)
        case "$inc" in
        base/* | cli/cli.h | client/client.h | flow/flow.h | load/load.h | report/report.h | stats/stats.h) ;;
        *) echo "scenario may include only base/ and the faces of cli, client, flow, load, report and stats" ;;
        esac
        ;;
    flow)
        case "$inc" in
        base/* | proto/* | client/client.h) ;;
        *) echo "flow may include only base/, proto/, client/client.h and flow/" ;;
        esac
        ;;
    esac
}

# layer MODULE FILE (path under src/): the layer number of a file of a layered module, or "?" when
# the file has none yet; nothing for other modules.
layer() {
    case "$1:$2" in
    client:client/client.h) echo 0 ;;
    client:client/conn.h | client:client/conn.c) echo 1 ;;
    client:client/session.h | client:client/ws.c | client:client/sse.c | client:client/request.c | client:client/http_pub.c) echo 2 ;;
    client:client/role.h | client:client/roles.c | client:client/track.c | client:client/message.c | client:client/flow.c) echo 3 ;;
    client:client/worker.h | client:client/worker.c | client:client/params.c) echo 4 ;;
    client:*) echo "?" ;;
    server:server/server.h) echo 0 ;;
    server:server/srv_conn.h | server:server/conn.c | server:server/out.c) echo 1 ;;
    server:server/srv_session.h | server:server/http.c | server:server/wsconn.c | server:server/sse.c) echo 2 ;;
    server:server/srv_app.h | server:server/routes.c | server:server/echo.c | server:server/pubsub.c) echo 3 ;;
    server:server/server.c | server:server/params.c) echo 4 ;;
    server:*) echo "?" ;;
    esac
}

# within MODULE FILE INCLUDED: prints why FILE may not include INCLUDED (both in MODULE), or nothing
within() {
    local from to
    from=$(layer "$1" "$2")
    to=$(layer "$1" "$3")
    [ -n "$from" ] || return 0
    if [ "$from" = "?" ]; then
        echo "$2 has no layer in scripts/check-deps.sh: give it one"
    elif [ "$to" = "?" ]; then
        echo "$3 has no layer in scripts/check-deps.sh: give it one"
    elif [ "$to" -gt "$from" ]; then
        echo "an include going up the layers of $1/ (layer $from includes layer $to): call up through the operations and hooks instead"
    fi
}

while IFS= read -r -d '' f; do
    files=$((files + 1))
    rel=${f#src/}
    dir=$(dirname "$rel")
    mod=${rel%%/*}
    [ "$mod" = "$rel" ] && mod="" # src/main.c and friends: only the internal-header rule
    while IFS=: read -r line text; do
        inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$text")
        [ -n "$inc" ] || continue
        # A name without a folder is relative to the including file's folder.
        case "$inc" in
        */*) ;;
        *) [ "$dir" = . ] || inc="$dir/$inc" ;;
        esac
        inc=$(realpath -m "/$inc") # fold "a/../b"
        inc=${inc#/}
        why=$(rule "$mod" "$inc")
        [ -n "$why" ] || [ "${inc%%/*}" != "$mod" ] || why=$(within "$mod" "$rel" "$inc")
        [ -z "$why" ] || report "$f" "$line" "$inc" "$why"
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
done < <(find src -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

if [ "$violations" -gt 0 ]; then
    echo "check-deps: $violations violation(s) of the module rules (STYLE.md 4.2)" >&2
    exit 1
fi
echo "check-deps: $files files follow the module rules"
