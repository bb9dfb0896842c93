# lib.sh — sourced by the bench scripts: local clusters from a tree's own
# build, the page cache dropped, the master's call counters.

# cluster_down TREE DIR — stop the cluster in DIR and remove its data.
cluster_down() { "$1/scripts/local-cluster" down --dir "$2" --purge >/dev/null 2>&1; }

# cluster_up TREE DIR — a fresh cluster of TREE in DIR, mounted at DIR/mnt
# (start-up log: DIR.up.log). One retry: an older tree's local-cluster may
# predate fixes to its start-up.
cluster_try_up() {
	cluster_down "$1" "$2"; rm -rf "$2"; mkdir -p "$2"
	(cd "$1" && timeout 120 scripts/local-cluster up --dir "$2" --mount "$2/mnt" > "$2.up.log" 2>&1) ||
		{ tail -3 "$2.up.log" >&2; false; }
}
cluster_up() { cluster_try_up "$@" || cluster_try_up "$@"; }

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# Stopwatch for the A/B scripts: now; secs START END (seconds, 3
# decimals); rate N START END (N per second).
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {printf "%d", n / (b - a)}'; }

# master_calls ADDR — "route count" lines of the master's request counters.
master_calls() {
	curl -s "http://$1/metrics" | grep '^bigfs_http_requests_total' |
		sed 's/bigfs_http_requests_total{route="\(.*\)"} /\1 /'
}

# calls_between BEFORE AFTER — "route=n" for each route called between two
# master_calls snapshots (files).
calls_between() {
	join "$1" "$2" | awk '$3-$2>0 && $1!="/metrics" {printf "%s=%d ", $1, $3-$2}'
}
