#!/usr/bin/env bash
# kube-run.sh - run a herd scenario as N shards on Kubernetes and judge the whole.
#
#   scripts/kube-run.sh -f SCENARIO.yaml -n SHARDS [options]
#
# Applies deploy/kubernetes/ (a ConfigMap holding the scenario, an Indexed Job of SHARDS pods,
# pod I running `herd run --shard I/SHARDS --start-at T -f /scenario/scenario.yaml --json -`
# with one instant T for all), waits for the Job, collects every pod's report with
# `kubectl logs`, merges them with `herd merge` (exactly: counters add up, histograms merge),
# prints the summary, checks the thresholds (the scenario's and --threshold) on the whole, and
# deletes the Job and the ConfigMap (also on Ctrl-C). Exit codes as herd run's: 0 the run
# happened and every threshold held; 1 a threshold failed; 2 bad usage (of this script, or a
# pod refused its options); 3 the run could not happen (no report came back, no connection
# opened, a shard's report is missing).
#
# Options:
#   -f FILE            the scenario (herd run -f); checked here first with herd run --check
#   -n N               shards, one pod each (default 1)
#   --image IMAGE      the herd image the pods run (default $HERD_IMAGE or herd:latest)
#   --namespace NS     where (default: kubectl's current namespace)
#   --name NAME        the Job's and ConfigMap's name (default herd-RUNID)
#   --lead DUR         from now until the shards start together: pods must be scheduled and
#                      their image pulled by then (default 60s; 30s, 2m, 90)
#   --cpu C            CPU per pod, request = limit (default 1)
#   --memory M         memory per pod, request = limit (default 1Gi)
#   --port-range 'LO HI'  net.ipv4.ip_local_port_range in each pod (default '1024 65535')
#   --threshold EXPR   a threshold on the merged report (repeatable)
#   --json FILE        write the merged JSON report to FILE
#   --logs FILE        keep the collected pod logs (herd merge reads them again)
#   --timeout DUR      how long to wait for the Job after the start (default 1h)
#   --keep             leave the Job and ConfigMap in place
#   --render           print the manifests that would be applied and exit (needs no cluster)
#   --render-target    print deploy/kubernetes/target.yaml (herd serve as an in-cluster target)
#                      for --image and exit, e.g. ... --render-target | kubectl apply -f -
#   --target-cpu C, --target-memory M   resources of each of the target's two herd serve
#                                        processes (ports 8080 and 8081; default 1, 2Gi)
#   --target-replicas N                  the target's replicas (default 1)
#
# Environment: KUBECTL (default kubectl), HERD (the local herd that checks and merges; default
# herd on PATH, else build/release/herd), HERD_RUN_ID (default: random).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
manifests=$top/deploy/kubernetes
prog=kube-run.sh

usage_error() {
    echo "$prog: $*" >&2
    exit 2
}

scenario="" shards=1 image=${HERD_IMAGE:-herd:latest} namespace="" name="" lead=60s cpu=1
memory=1Gi port_range="1024 65535" json_out="" logs_out="" timeout=1h keep=0 render=0
render_target=0 target_cpu=1 target_memory=2Gi target_replicas=1
thresholds=()

need_arg() { [ $# -ge 2 ] || usage_error "$1: missing value"; }
while [ $# -gt 0 ]; do
    case $1 in
    -f | --file) need_arg "$@"; scenario=$2; shift ;;
    -n | --shards) need_arg "$@"; shards=$2; shift ;;
    --image) need_arg "$@"; image=$2; shift ;;
    --namespace) need_arg "$@"; namespace=$2; shift ;;
    --name) need_arg "$@"; name=$2; shift ;;
    --lead) need_arg "$@"; lead=$2; shift ;;
    --cpu) need_arg "$@"; cpu=$2; shift ;;
    --memory) need_arg "$@"; memory=$2; shift ;;
    --port-range) need_arg "$@"; port_range=$2; shift ;;
    --threshold) need_arg "$@"; thresholds+=("--threshold" "$2"); shift ;;
    --json) need_arg "$@"; json_out=$2; shift ;;
    --logs) need_arg "$@"; logs_out=$2; shift ;;
    --timeout) need_arg "$@"; timeout=$2; shift ;;
    --target-cpu) need_arg "$@"; target_cpu=$2; shift ;;
    --target-memory) need_arg "$@"; target_memory=$2; shift ;;
    --target-replicas) need_arg "$@"; target_replicas=$2; shift ;;
    --keep) keep=1 ;;
    --render) render=1 ;;
    --render-target) render_target=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) usage_error "unknown option $1 (see $prog --help)" ;;
    esac
    shift
done

# ---- checks: every value ends up in YAML or on a command line ----

# A duration (30s, 2m, 1h, 1m30s, or bare seconds) in whole seconds.
seconds_of() {
    local v=$1 total=0 n u
    [[ $v =~ ^[0-9]+$ ]] && { echo "$v"; return 0; }
    [[ $v =~ ^([0-9]+(h|m|s))+$ ]] || return 1
    while [[ $v =~ ^([0-9]+)(h|m|s)(.*)$ ]]; do
        n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} v=${BASH_REMATCH[3]}
        case $u in h) total=$((total + n * 3600)) ;; m) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
    done
    echo "$total"
}
quantity_ok() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$ ]]; }

kubectl_cmd=${KUBECTL:-kubectl}
if [ "$render_target" = 1 ]; then
    [[ $image =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || usage_error "--image: not an image reference: $image"
    quantity_ok "$target_cpu" || usage_error "--target-cpu: expected a quantity like 2 or 500m, got $target_cpu"
    quantity_ok "$target_memory" || usage_error "--target-memory: expected a quantity like 4Gi, got $target_memory"
    [[ $target_replicas =~ ^[1-9][0-9]{0,3}$ ]] || usage_error "--target-replicas: expected a whole number from 1 to 9999, got $target_replicas"
    sed -e "s|\${IMAGE}|$image|g" -e "s|\${TARGET_CPU}|$target_cpu|g" \
        -e "s|\${TARGET_MEMORY}|$target_memory|g" -e "s|\${TARGET_REPLICAS}|$target_replicas|g" \
        "$manifests/target.yaml"
    exit 0
fi

[ -n "$scenario" ] || usage_error "-f: a scenario file is needed (see $prog --help)"
[ -r "$scenario" ] || usage_error "-f: cannot read $scenario"
[[ $shards =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "-n: expected a whole number from 1 to 99999, got $shards"
[[ $image =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || usage_error "--image: not an image reference: $image"
[ -z "$namespace" ] || [[ $namespace =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] ||
    usage_error "--namespace: not a namespace name: $namespace"
lead_s=$(seconds_of "$lead") || usage_error "--lead: expected a duration like 60s or 2m, got $lead"
timeout_s=$(seconds_of "$timeout") || usage_error "--timeout: expected a duration like 1h, got $timeout"
quantity_ok "$cpu" || usage_error "--cpu: expected a quantity like 1 or 500m, got $cpu"
quantity_ok "$memory" || usage_error "--memory: expected a quantity like 1Gi, got $memory"
[[ $port_range =~ ^([0-9]{1,5})\ ([0-9]{1,5})$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] &&
    [ "${BASH_REMATCH[1]}" -le "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[2]}" -le 65535 ] ||
    usage_error "--port-range: expected 'LOW HIGH' like '1024 65535', got '$port_range'"

run_id=${HERD_RUN_ID:-}
if [ -z "$run_id" ]; then
    run_id=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    run_id=$((run_id % 2147483647 + 1))
fi
[[ $run_id =~ ^[0-9]{1,10}$ ]] || usage_error "HERD_RUN_ID: expected a number, got $run_id"
[ -n "$name" ] || name=herd-$run_id
[[ $name =~ ^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$ ]] ||
    usage_error "--name: expected a DNS label of at most 52 characters, got $name"

herd=${HERD:-}
if [ -z "$herd" ]; then
    if command -v herd >/dev/null 2>&1; then herd=herd; else herd=$top/build/release/herd; fi
fi
if [ "$render" = 0 ]; then
    "$herd" --version >/dev/null 2>&1 ||
        usage_error "the local herd ($herd) does not run: build it (make) or set HERD=..."
    # The scenario is the pods' only input: a mistake in it is found here, before the cluster.
    "$herd" run -f "$scenario" --check >/dev/null || exit 2
    command -v "$kubectl_cmd" >/dev/null 2>&1 || usage_error "$kubectl_cmd: not found (set KUBECTL=...)"
fi

# The one instant every shard starts at, in whole seconds: RFC 3339 UTC.
start_s=$(($(date -u +%s) + lead_s))
# GNU date takes -d @SECONDS, BSD date (macOS) -r SECONDS.
start_at=$(date -u -d "@$start_s" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
    date -u -r "$start_s" +%Y-%m-%dT%H:%M:%SZ)

render_all() {
    local subst=(-e "s|\${NAME}|$name|g" -e "s|\${RUN_ID}|$run_id|g" -e "s|\${SHARDS}|$shards|g"
        -e "s|\${START_AT}|$start_at|g" -e "s|\${IMAGE}|$image|g" -e "s|\${CPU}|$cpu|g"
        -e "s|\${MEMORY}|$memory|g" -e "s|\${PORT_RANGE}|$port_range|g")
    sed "${subst[@]}" "$manifests/configmap.yaml"
    sed 's/^/    /' "$scenario"
    # A scenario without a final newline must not glue the separator to its last line.
    [ -z "$(tail -c1 "$scenario")" ] || echo
    echo "---"
    sed "${subst[@]}" "$manifests/job.yaml"
}

if [ "$render" = 1 ]; then
    render_all
    exit 0
fi

k() {
    if [ -n "$namespace" ]; then "$kubectl_cmd" -n "$namespace" "$@"; else "$kubectl_cmd" "$@"; fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/herd-kube.XXXXXX")
manifest=$work/manifests.yaml
logs=$work/pods.log
render_all >"$manifest"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$keep" = 0 ]; then
        k delete -f "$manifest" --ignore-not-found --wait=false >/dev/null 2>&1 ||
            echo "$prog: could not delete Job $name; delete it with: kubectl delete job,configmap $name" >&2
    fi
    [ -z "$logs_out" ] || [ ! -f "$logs" ] || cp "$logs" "$logs_out"
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "$prog: run $run_id: $shards shards of $scenario start at $start_at (in ${lead_s}s), Job $name" >&2
k apply -f "$manifest" >/dev/null || { echo "$prog: kubectl apply failed" >&2; exit 3; }

# ---- wait: every index ran once (Complete), or the Job ended (Failed) ----
deadline=$((start_s + timeout_s))
while :; do
    status=$(k get job "$name" -o 'jsonpath={.status.succeeded},{.status.failed},{.status.conditions[*].type}' 2>/dev/null) || status=""
    IFS=, read -r succeeded failed conditions <<<"$status"
    case " $conditions " in *" Complete "* | *" Failed "*) break ;; esac
    if [ "$(date -u +%s)" -ge "$deadline" ]; then
        echo "$prog: the Job has not finished ${timeout} after the start (${succeeded:-0} of $shards shards done); collecting what there is" >&2
        break
    fi
    sleep 2
done

# ---- collect: each pod's log, its shard and exit code ----
: >"$logs"
pods=$(k get pods -l "herd.run/id=$run_id" -o 'jsonpath={range .items[*]}{.metadata.name},{.metadata.annotations.batch\.kubernetes\.io/job-completion-index},{.status.containerStatuses[0].state.terminated.exitCode}{"\n"}{end}') ||
    pods=""
[ -n "$pods" ] || echo "$prog: no pod of run $run_id found" >&2
usage_failed=0 collected=0
while IFS=, read -r pod index code; do
    [ -n "$pod" ] || continue
    if ! k logs "$pod" >>"$logs" 2>"$work/logs.err"; then
        echo "$prog: shard $index ($pod): no logs: $(head -c 300 "$work/logs.err")" >&2
        continue
    fi
    collected=$((collected + 1))
    case $code in
    0 | 1 | 4) ;;
    2)
        usage_failed=1
        echo "$prog: shard $index ($pod) exited 2: it refused its options (or started more than a second after $start_at: raise --lead); its log ends:" >&2
        k logs "$pod" --tail=5 2>/dev/null | sed 's/^/    /' >&2 || true
        ;;
    "") echo "$prog: shard $index ($pod) has not finished" >&2 ;;
    *) echo "$prog: shard $index ($pod) exited $code" >&2 ;;
    esac
done <<<"$pods"

if ! grep -q -- '---- herd report begin ' "$logs"; then
    echo "$prog: no report came back from the $collected pods of $shards" >&2
    [ "$usage_failed" = 0 ] || exit 2
    exit 3
fi

# ---- merge and judge the whole ----
merged=$work/merged.json
set +e
"$herd" merge "$logs" "${thresholds[@]}" --json "$merged"
code=$?
set -e
[ -z "$json_out" ] || [ ! -f "$merged" ] || cp "$merged" "$json_out"
if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
    echo "$prog: herd merge could not merge the shards' reports (exit $code)" >&2
    exit 3
fi
[ "$usage_failed" = 0 ] || exit 2
if grep -q '"connections.opened": 0,' "$merged"; then
    echo "$prog: no connection opened in any shard" >&2
    exit 3
fi
[ "$code" = 1 ] && exit 1
if grep -q 'shards are missing' "$merged"; then
    echo "$prog: the reports of some shards are missing (see the warnings above)" >&2
    exit 3
fi
exit 0
