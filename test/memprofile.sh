#!/usr/bin/env bash
# test/memprofile.sh: peak private memory (RssAnon) of a backup_db and a
# restore_db of one range-partitioned table of N leaves (10 rows each, one
# index), for the job's leader and its copy workers; a developer's tool
# (issue 14), not used by CI.  Run as root in a sandbox:
#
#   N=5000 LOCKS=256 bash test/sandbox.sh NAME bash test/memprofile.sh
#
# N: leaves (2000); RESTORE=0: the backup only; LOCKS:
# max_locks_per_transaction (64); LOGKB: log the memory contexts of a
# process (pg_log_backend_memory_contexts) when its RssAnon passes this many
# kB, and again at each 15 MB more (30000); SRC: the tree to build (this
# one).  Prints one line per job; the contexts logged (those of 1 MB or
# more) go to $OUT/ctx-$TAG-$N.txt (OUT: /var/tmp).
# Sampling is every 0.3 s: a peak shorter than that can be missed.
set -euo pipefail
cd "${SRC:-$(dirname "$0")/..}"
source test/lib.sh
N=${N:-2000}
pb_prepare_tree mem
pb_build_install "$PB_TREE" >/dev/null
C=$PB_TREE/pg
PORT=$(pb_free_port 5480)
pb_start_cluster "$C" "$PORT"
trap 'pb_stop_cluster "$C"' EXIT
Q() { runuser -u partback -- psql -X -h "$C" -p "$PORT" -d ${DB:-postgres} -At -c "$1"; }
Q "ALTER SYSTEM SET max_locks_per_transaction = ${LOCKS:-64}" >/dev/null
pb_stop_cluster "$C"; pb_start_cluster "$C" "$PORT"
Q "CREATE EXTENSION partback"
{
echo "CREATE SCHEMA s; CREATE TABLE s.e (id bigint NOT NULL, at timestamptz, note text) PARTITION BY RANGE (id);"
awk -v n=$N 'BEGIN{for(i=0;i<n;i++) printf "CREATE TABLE s.e_%d PARTITION OF s.e FOR VALUES FROM (%d) TO (%d);\n", i, i*10, (i+1)*10}'
echo "INSERT INTO s.e SELECT g, now(), md5(g::text) FROM generate_series(0, $N*10-1) g; CREATE INDEX ON s.e(at); VACUUM ANALYZE s.e;"
} | pb_psql -d postgres -q -f - >/dev/null
D=$PB_TREE/bk; mkdir -p $D; chown partback: $D
watch_job() {
	local job=$1 pid= kb max=0 wmax=0 logged=0 wlogged=0 lastkb=${LOGKB:-30000} wlastkb=${LOGKB:-30000} t0=$(date +%s.%N)
	while :; do
		st=$(DB=$2 Q "SELECT state || ' ' || coalesce(worker_pid, 0) FROM partback.job WHERE job_id = $job")
		case "$st" in running*) pid=${st#running } ;; succeeded*|failed*|cancelled*) break ;; esac
		if [ -n "$pid" ] && [ "$pid" != 0 ]; then
			kb=$(awk '/^RssAnon:/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
			if [ "${kb:-0}" -gt "$max" ]; then max=$kb; fi
			if [ "${kb:-0}" -gt $lastkb ] && [ $logged -lt 8 ]; then DB=$2 Q "SELECT pg_log_backend_memory_contexts($pid)" >/dev/null; logged=$((logged+1)); lastkb=$((kb+15000)); echo "logged leader $pid at $kb kB" >&2; fi
		fi
		for w in $(DB=$2 Q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'partback job $job copy'"); do
			kb=$(awk '/^RssAnon:/ {print $2}' /proc/$w/status 2>/dev/null || echo 0)
			if [ "${kb:-0}" -gt "$wmax" ]; then wmax=$kb; fi
			if [ "${kb:-0}" -gt $wlastkb ] && [ $wlogged -lt 4 ]; then DB=$2 Q "SELECT pg_log_backend_memory_contexts($w)" >/dev/null; wlogged=$((wlogged+1)); wlastkb=$((kb+15000)); echo "logged worker $w at $kb kB" >&2; fi
		done
		sleep 0.3
	done
	echo "N=$N job $job ($3): $st, $(echo "$(date +%s.%N) - $t0" | bc) s, leader peak RssAnon ${max} kB, copy workers peak RssAnon ${wmax} kB"
}
job=$(Q "SELECT partback.backup_db('$D/b', parallel => 2)")
watch_job $job postgres backup
if [ "${RESTORE:-1}" = 1 ]; then
Q "CREATE DATABASE r"; DB=r Q "CREATE EXTENSION partback"
job=$(DB=r Q "SELECT partback.restore_db('$D/b', source_db => 'postgres', parallel => 2)")
watch_job $job r restore
fi
grep -E "level: |Grand total|logging memory" $C/server.log | sed -E "s/^.*(LOG|STATEMENT):  //" | perl -ne 'print if /logging|Grand/ || (/: (\d+) total/ && $1 >= 1000000)' | cut -c1-250 > ${OUT:-/var/tmp}/ctx-${TAG:-x}-$N.txt || true
grep -E "ERROR|FATAL" $C/server.log | head -5 || true
