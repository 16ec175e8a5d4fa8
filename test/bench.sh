#!/usr/bin/env bash
# test/bench.sh: the performance benchmark (issue 5).  Not part of the test
# suite.  As root on Debian 12:
#
#     bash test/bench.sh
#
# Installs what is missing (PostgreSQL 15, build deps, pgbackrest, zstd, lz4,
# time), builds and installs partback from this checkout, starts a throwaway
# cluster owned by the OS user "partback", builds DolphinDB-style data in
# database "bench" -- bench.quotes, 10 daily range partitions each hash-
# partitioned 4 ways (40 leaves), and the TOAST-heavy bench.docs -- and times,
# with the wall clock, PB_BENCH_REPS repetitions of each of:
#
#   zstd -1 / lz4 -1 of the tables' relation files, 2 processes (the
#       physical limit for copying this data)
#   partback.backup_db, zstd and lz4, parallel 1 and 2, into a fresh dir
#   incremental backup_db after one row of one partition changed, and after
#       no change (each against the full backup_db of the same repetition)
#   pg_dump -Fd -j2 -Z0 and -Z1
#   pgBackRest full backup, compress-type zst and lz4, process-max 2
#   partback.check_backup
#   partback.restore_db into an empty database vs pg_restore -j2 -d
#
# and prints one table of medians, then the targets of issues 5 and 4 with
# PASS / SHORT.  Everything lives in /tmp/partback-bench.XXXXXX, removed at
# the end (also on failure or Ctrl-C).
#
# Knobs:
#   PB_BENCH_ROWS_PER_DAY  rows of bench.quotes per day (default 2000000,
#                          about 2 GB of heap; 200000 for a quick run)
#   PB_BENCH_REPS          repetitions of each measurement (default 3)
#   PB_BENCH_DOCS          documents of ~1 MB in bench.docs (default
#                          ROWS_PER_DAY / 10000, at least 20)
#   PB_BENCH_PORT          port (default 5450 or the next free one)
#   PB_BENCH_OUT           also write the result table to this file
#   PB_BENCH_PERF=1        after the measurements, profile one more backup_db
#                          (zstd, parallel 2) and restore_db with perf record -a
#                          and print the top symbols (needs linux-perf)
#   PB_KEEP=1              keep the temp dir (cluster, backups, logs)
#   PB_BENCH_PARTS         which parts to run (default "main scale big tables"):
#                          main = everything above; scale, big and tables =
#                          test/bench_scale.sh's partition-count curve,
#                          one-big-table and many-tables cases (issue 14)
#   PB_BENCH_LEAVES        the curve's leaf counts (default "100 1000 10000 20000")
#   PB_BENCH_SCALE_ROWS    rows of the curve's table (default 500000)
#   PB_BENCH_BIG_MB        heap MB of the big table (default 2048)
#   PB_BENCH_TABLES        tables of the many-tables case (default 5000)

set -Eeuo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=test/lib.sh
source test/lib.sh

ROWS_PER_DAY=${PB_BENCH_ROWS_PER_DAY:-2000000}
REPS=${PB_BENCH_REPS:-3}
DOCS=${PB_BENCH_DOCS:-$((ROWS_PER_DAY / 10000))}
[ "$DOCS" -ge 20 ] || DOCS=20
DAYS=10
HASH=4

case "$ROWS_PER_DAY$REPS$DOCS" in
*[!0-9]*) pb_die "PB_BENCH_ROWS_PER_DAY, PB_BENCH_REPS and PB_BENCH_DOCS must be positive integers" ;;
esac
[ "$ROWS_PER_DAY" -ge 1000 ] || pb_die "PB_BENCH_ROWS_PER_DAY must be at least 1000"
[ "$REPS" -ge 1 ] || pb_die "PB_BENCH_REPS must be at least 1"

PB_TREE=
CLUSTER=
SAMPLER_PID=
STATUS=failed
START=$(date +%s)

on_exit()
{
	local rc=$?
	trap - EXIT ERR
	set +e
	if [ -n "$SAMPLER_PID" ]; then
		kill "$SAMPLER_PID" 2>/dev/null
		wait "$SAMPLER_PID" 2>/dev/null
	fi
	if [ "$STATUS" != ok ] && [ -n "$CLUSTER" ] && [ -f "$CLUSTER/server.log" ]; then
		local keep
		keep=$(mktemp /tmp/partback-bench-server.XXXXXX.log)
		cp "$CLUSTER/server.log" "$keep"
		echo "---- server log (last 30 lines) ----" >&2
		tail -n 30 "$keep" >&2
		echo "---- full server log kept in $keep ----" >&2
	fi
	if [ -n "$CLUSTER" ]; then
		pb_stop_cluster "$CLUSTER"
	fi
	if [ -n "$PB_TREE" ] && [ -d "$PB_TREE" ]; then
		pb_kill_postmasters_under "$PB_TREE"
		if [ "${PB_KEEP:-0}" = 1 ]; then
			echo "==> kept $PB_TREE"
		else
			rm -rf "$PB_TREE"
		fi
	fi
	if [ "$STATUS" = ok ]; then
		echo "==> benchmark finished in $(($(date +%s) - START)) s"
		exit 0
	fi
	echo "==> benchmark FAILED after $(($(date +%s) - START)) s" >&2
	[ "$rc" -eq 0 ] && rc=1
	exit "$rc"
}
trap on_exit EXIT
trap 'echo "ERROR: line $LINENO: command failed: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*"; }
now() { date +%s.%N; }
# seconds between two "now"s
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# a / b with format f; "-" if undefined
div() {
	awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" \
		'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf f, a / b }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.3f", a[(NR + 1) / 2]; else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
bytes_of() { du -sb "$1" | cut -f1; }

# psql in database $1 (rest: psql args); value-only output
q() { local db=$1; shift; pb_psql -d "$db" -At "$@"; }
checkpoint() { q postgres -c "CHECKPOINT" >/dev/null; }

# ------------------------------------------------------------ results
declare -A TIMES=() STORED=()
# record OP SECONDS [STORED_BYTES]
record()
{
	TIMES[$1]="${TIMES[$1]:-} $2"
	if [ -n "${3:-}" ]; then STORED[$1]=$3; fi
	printf '    %-44s %8.3f s%s\n' "$1" "$2" "${3:+   stored $(mib "$3") MB}"
}
med() { if [ -n "${TIMES[$1]:-}" ]; then read -ra _t <<<"${TIMES[$1]}"; median "${_t[@]}"; else echo -; fi; }

# ------------------------------------------------------------ memory sampler
# Samples, every 0.2 s, the private memory (RssAnon) of partback's background
# workers under our postmaster; keeps the maximum of copy workers and of
# leaders in $WORK/mem.PHASE.copy and $WORK/mem.PHASE.leader (kB).
sampler()
{
	local pm=$1 out=$2 pid args kb max_copy=0 max_leader=0
	while :; do
		while read -r pid args; do
			case "$args" in
			*"partback job "*" copy"* | *"partback job "*" leader"*) ;;
			*) continue ;;
			esac
			kb=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
			[ -n "$kb" ] || continue
			case "$args" in
			*copy*) if [ "$kb" -gt "$max_copy" ]; then max_copy=$kb; echo "$kb" >"$out.copy"; fi ;;
			*) if [ "$kb" -gt "$max_leader" ]; then max_leader=$kb; echo "$kb" >"$out.leader"; fi ;;
			esac
		done < <(ps --ppid "$pm" -o pid=,args= 2>/dev/null || true)
		sleep 0.2
	done
}
# mem_start PHASE ... mem_stop; then mem_peak PHASE copy|leader: MB
mem_start() { sampler "$PM_PID" "$WORK/mem.$1" & SAMPLER_PID=$!; }
mem_peak() { div "$(cat "$WORK/mem.$1.$2" 2>/dev/null || echo 0)" 1024 %.0f; }
mem_stop()
{
	if [ -n "$SAMPLER_PID" ]; then
		kill "$SAMPLER_PID" 2>/dev/null || true
		wait "$SAMPLER_PID" 2>/dev/null || true
		SAMPLER_PID=
	fi
}

pb_require_root

# ------------------------------------------------------------ setup
step "installing packages (only what is missing)"
PB_PACKAGES+=(pgbackrest zstd lz4 time procps)
pb_install_deps
pb_ensure_user
command -v pgbackrest >/dev/null || pb_die "pgbackrest is not installed"

pb_prepare_tree bench
step "building and installing partback in $PB_TREE"
pb_build_install "$PB_TREE"
COMMIT=$(git -C "$PB_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$PB_REPO" status --porcelain -- src sql 2>/dev/null || true)" ]; then
	COMMIT="$COMMIT+local changes"
fi

CLUSTER=$PB_TREE/pg
WORK=$PB_TREE/work
PORT=${PB_BENCH_PORT:-$(pb_free_port 5450)}
mkdir -p "$WORK"
chown "$PB_USER:" "$WORK"
chmod 0755 "$WORK"

step "starting a throwaway cluster in $CLUSTER (port $PORT)"
pb_start_cluster "$CLUSTER" "$PORT"
cat >>"$CLUSTER/data/postgresql.conf" <<EOF

# added by partback test/bench.sh
shared_buffers = 512MB
wal_level = replica
archive_mode = off
max_wal_senders = 4
max_worker_processes = 16
max_wal_size = 8GB
checkpoint_timeout = 30min
maintenance_work_mem = 256MB
autovacuum = off
# the partition-count curve's plain queries and INSERTs through a root of
# 20,000 leaves lock every leaf (partback's restore works with the default)
max_locks_per_transaction = 1024
EOF
pb_as_user "$PB_PGBIN/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/server.log" -w -t 120 restart \
	>/dev/null || pb_die "could not restart the cluster with the benchmark settings"
PM_PID=$(head -n 1 "$CLUSTER/data/postmaster.pid")
DATA=$CLUSTER/data
echo "    shared_buffers $(q postgres -c 'SHOW shared_buffers'), wal_level $(q postgres -c 'SHOW wal_level'), autovacuum off, max_wal_size 8GB"
echo "    to look around while it runs: runuser -u $PB_USER -- psql -h $CLUSTER -p $PORT bench"

PARTS=" ${PB_BENCH_PARTS:-main scale big tables} "
BK=$WORK/backups
mkdir -p "$BK"
chown "$PB_USER:" "$BK"
chmod 0700 "$BK"
# shellcheck source=test/bench_scale.sh
source test/bench_scale.sh
# the issue-14 parts, each if asked for; appended to the report
scale_parts()
{
	case "$PARTS" in *" scale "*) scale_curve ;; esac
	case "$PARTS" in *" big "*) big_table ;; esac
	case "$PARTS" in *" tables "*) many_tables ;; esac
	{
		[ -z "$SCALE_REPORT" ] || { echo; echo "partition-count curve ($(date -u '+%Y-%m-%d %H:%M UTC'), partback $COMMIT):"; cat "$SCALE_REPORT"; }
		[ -z "$BIG_REPORT" ] || { echo; cat "$BIG_REPORT"; }
		[ -z "$TABLES_REPORT" ] || { echo; cat "$TABLES_REPORT"; }
	} >>"$WORK/report.txt"
}
case "$PARTS" in
*" main "*) ;;
*)
	: >"$WORK/report.txt"
	scale_parts
	step "results"
	cat "$WORK/report.txt"
	if [ -n "${PB_BENCH_OUT:-}" ]; then
		cp "$WORK/report.txt" "$PB_BENCH_OUT"
		echo "==> table written to $PB_BENCH_OUT"
	fi
	STATUS=ok
	exit 0
	;;
esac

# ------------------------------------------------------------ data
step "creating database bench: bench.quotes ($DAYS days x $HASH hash partitions, $ROWS_PER_DAY rows/day) and bench.docs ($DOCS documents of ~1 MB)"
q postgres -c "CREATE DATABASE bench" >/dev/null
q bench -c "CREATE EXTENSION partback" >/dev/null
{
	echo "CREATE SCHEMA bench;"
	echo "CREATE TABLE bench.quotes (
	trade_date date NOT NULL,
	symbol     text NOT NULL,
	trade_time timestamptz NOT NULL,
	price      numeric(12,4),
	volume     bigint,
	bid        numeric(12,4),
	ask        numeric(12,4),
	exchange   text
) PARTITION BY RANGE (trade_date);"
	for d in $(seq 1 $DAYS); do
		p=$(printf 'quotes_201201%02d' "$d")
		echo "CREATE TABLE bench.$p PARTITION OF bench.quotes
	FOR VALUES FROM ('$(printf '2012-01-%02d' "$d")') TO ('$(printf '2012-01-%02d' $((d + 1)))') PARTITION BY HASH (symbol);"
		for h in $(seq 0 $((HASH - 1))); do
			echo "CREATE TABLE bench.${p}_h$h PARTITION OF bench.$p FOR VALUES WITH (MODULUS $HASH, REMAINDER $h);"
		done
	done
	echo "CREATE TABLE bench.docs (
	id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	title text NOT NULL,
	body  text
);"
	echo "ALTER TABLE bench.docs ALTER COLUMN body SET STORAGE EXTERNAL;"
} | pb_psql -d bench -f - >/dev/null

T0=$(now)
load_days()
{
	local d
	for d in "$@"; do
		q bench -c "INSERT INTO bench.quotes
SELECT day::date,
       'T' || lpad(((i * 7919) % 500)::text, 3, '0'),
       day + interval '9 hours 30 minutes' + i * (interval '6 hours 30 minutes' / $ROWS_PER_DAY),
       round((10 + (i * 7919) % 500 + random() * 5)::numeric, 4),
       (random() * 10000)::bigint,
       round((10 + (i * 7919) % 500 + random() * 5)::numeric, 4),
       round((10 + (i * 7919) % 500 + random() * 5)::numeric, 4),
       (ARRAY['XNYS','XNAS','ARCX','BATS'])[1 + i % 4]
FROM (SELECT timestamptz '2012-01-01' + ($d - 1) * interval '1 day' AS day) AS dd,
     generate_series(1, $ROWS_PER_DAY::bigint) AS i;" >/dev/null
	done
}
# two loaders, odd and even days
load_days $(seq 1 2 $DAYS) &
L1=$!
load_days $(seq 2 2 $DAYS) &
L2=$!
rc1=0 rc2=0
wait "$L1" || rc1=$?
wait "$L2" || rc2=$?
[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] || pb_die "loading bench.quotes failed"
q bench -c "INSERT INTO bench.docs (title, body)
SELECT 'document ' || n, b.body
FROM generate_series(1, $DOCS) AS n,
     LATERAL (SELECT string_agg(md5(random()::text || n || g), '') AS body
              FROM generate_series(1, 24000 + (n % 16) * 1000) AS g) AS b;" >/dev/null
echo "    loaded in $(elapsed "$T0" "$(now)") s; building indexes"
T0=$(now)
q bench -c "CREATE INDEX ON bench.quotes (symbol, trade_time)" >/dev/null
echo "    index built in $(elapsed "$T0" "$(now)") s; VACUUM ANALYZE"
q bench -c "VACUUM ANALYZE" >/dev/null
checkpoint

# the relations whose files hold the data: every leaf of quotes, docs, docs' TOAST table
RELS_SQL="SELECT relid FROM pg_partition_tree('bench.quotes') WHERE isleaf
          UNION ALL SELECT 'bench.docs'::regclass
          UNION ALL SELECT reltoastrelid FROM pg_class WHERE oid = 'bench.docs'::regclass AND reltoastrelid <> 0"
HEAP_BYTES=$(q bench -c "SELECT sum(pg_relation_size(relid)) FROM ($RELS_SQL) AS r(relid)")
HEAP_MB=$(mib "$HEAP_BYTES")
LEAVES=$(q bench -c "SELECT count(*) FROM pg_partition_tree('bench.quotes') WHERE isleaf")
QUOTES_ROWS=$(q bench -c "SELECT count(*) FROM bench.quotes")
step "data: $QUOTES_ROWS quotes in $LEAVES leaf partitions, $DOCS documents"
pb_psql -d bench -P pager=off -c "
SELECT t.tbl AS table, count(*) AS relations,
       pg_size_pretty(sum(pg_relation_size(t.relid))) AS heap,
       pg_size_pretty(sum(pg_indexes_size(t.relid))) AS indexes
  FROM (SELECT 'bench.quotes' AS tbl, relid FROM pg_partition_tree('bench.quotes') WHERE isleaf
        UNION ALL SELECT 'bench.docs', 'bench.docs'::regclass
        UNION ALL SELECT 'bench.docs (TOAST)', reltoastrelid::regclass FROM pg_class WHERE oid = 'bench.docs'::regclass) AS t
 GROUP BY 1 ORDER BY 1;"
echo "    heap size (main forks of every leaf, docs and its TOAST table): $HEAP_MB MB (MB = 2^20 bytes)"
echo "    database bench: $(q bench -c "SELECT pg_size_pretty(pg_database_size('bench'))") with indexes"

# the relation files, biggest first (so two processes finish together)
FILES=$WORK/relfiles
q bench -c "SELECT pg_relation_filepath(relid) FROM ($RELS_SQL) AS r(relid)" |
	while IFS= read -r rel; do
		for f in "$DATA/$rel" "$DATA/$rel".[0-9]*; do
			if [ -f "$f" ]; then printf '%s\t%s\n' "$(stat -c %s "$f")" "$f"; fi
		done
	done | sort -rn | cut -f2 >"$FILES"
FILE_BYTES=$(xargs -d '\n' stat -c %s <"$FILES" | awk '{ s += $1 } END { print s }')
echo "    $(wc -l <"$FILES") relation files, $(mib "$FILE_BYTES") MB"

# ------------------------------------------------------------ raw compression
step "physical limit: zstd -1 and lz4 -1 of the relation files, 2 processes (as root, page cache warm)"
RAW=$WORK/raw
for rep in $(seq 1 "$REPS"); do
	for tool in zstd lz4; do
		rm -rf "$RAW"
		mkdir -p "$RAW"
		checkpoint
		t0=$(now)
		xargs -d '\n' -P2 -I{} sh -c 'exec "$0" -1 -q -c "$1" >"$2/$(basename "$1").$0"' "$tool" {} "$RAW" <"$FILES" ||
			pb_die "$tool of the relation files failed"
		t1=$(now)
		record "raw_$tool" "$(elapsed "$t0" "$t1")" "$(bytes_of "$RAW")"
	done
done
rm -rf "$RAW"

# ------------------------------------------------------------ backup_db
# backup_db DIR COMPRESSION PARALLEL [FORCE [LEVEL]]: prints the job id
backup_db()
{
	q bench -c "SET partback.compression_level = ${5:-0}" \
		-c "SELECT partback.backup_db('$1', compression => '$2', parallel => $3, force => ${4:-false}, wait => true)"
}
# job_counts JOB: "partitions reused"
job_counts() { q bench -F ' ' -c "SELECT partitions, reused FROM partback.jobs WHERE job_id = $1"; }
# new_bytes DIR: what the newest backup in DIR wrote
new_bytes() { q bench -c "SELECT new_bytes FROM partback.list_backups('$1') ORDER BY backup_id DESC LIMIT 1"; }

CHANGE_PART=bench.quotes_20120105_h2
declare -a INCR1_RATIOS=() INCR0_RATIOS=()
INCR1_COPIED="" INCR0_COPIED="" INCR_PARTS=""
step "partback.backup_db, zstd and lz4 (default levels), parallel 1 and 2, and zstd level 3 parallel 2, each into a fresh dir; after zstd/2, incremental backups into the same dir"
mem_start backup
for rep in $(seq 1 "$REPS"); do
	for cfg in zstd:1 zstd:2 lz4:1 lz4:2 zstd3:2; do
		comp=${cfg%:*} par=${cfg#*:} level=0
		if [ "$comp" = zstd3 ]; then comp=zstd level=3; fi
		dir=$BK/pb-$comp$level-p$par
		rm -rf "$dir"
		checkpoint
		t0=$(now)
		job=$(backup_db "$dir" "$comp" "$par" false "$level")
		t1=$(now)
		full=$(elapsed "$t0" "$t1")
		if [ "$level" = 3 ]; then
			record "pb_zstd3_p$par" "$full" "$(bytes_of "$dir")"
			continue
		fi
		record "pb_${comp}_p$par" "$full" "$(bytes_of "$dir")"
		[ "$cfg" = zstd:2 ] || continue

		# one row of one partition changed
		out=$(q bench -c "UPDATE $CHANGE_PART SET volume = volume + 1
		                  WHERE ctid = (SELECT ctid FROM $CHANGE_PART LIMIT 1) RETURNING 1")
		[ "$out" = 1 ] || pb_die "the UPDATE of one row in $CHANGE_PART changed '$out' rows"
		checkpoint
		t0=$(now)
		job=$(backup_db "$dir" zstd 2)
		t1=$(now)
		s=$(elapsed "$t0" "$t1")
		read -r parts reused < <(job_counts "$job")
		[ -n "$parts" ] && [ -n "$reused" ] || pb_die "no counts of job $job in partback.jobs"
		INCR_PARTS=$parts
		INCR1_COPIED="${INCR1_COPIED:+$INCR1_COPIED,}$((parts - reused))"
		INCR1_RATIOS+=("$(div "$s" "$full" %.4f)")
		record pb_incr1 "$s" "$(new_bytes "$dir")"
		echo "      copied $((parts - reused)) of $parts partitions; $(div "$s" "$full" %.3f) of the full backup's time"

		checkpoint
		t0=$(now)
		job=$(backup_db "$dir" zstd 2)
		t1=$(now)
		s=$(elapsed "$t0" "$t1")
		read -r parts reused < <(job_counts "$job")
		[ -n "$parts" ] && [ -n "$reused" ] || pb_die "no counts of job $job in partback.jobs"
		INCR0_COPIED="${INCR0_COPIED:+$INCR0_COPIED,}$((parts - reused))"
		INCR0_RATIOS+=("$(div "$s" "$full" %.4f)")
		record pb_incr0 "$s" "$(new_bytes "$dir")"
		echo "      copied $((parts - reused)) of $parts partitions; $(div "$s" "$full" %.3f) of the full backup's time"
	done
done
mem_stop
PBDIR=$BK/pb-zstd0-p2
pb_psql -d bench -P pager=off -c "SELECT backup_id, tables, partitions, pg_size_pretty(bytes) AS bytes, pg_size_pretty(new_bytes) AS new_bytes
                                   FROM partback.list_backups('$PBDIR')"
for d in "$BK"/pb-*; do
	[ "$d" = "$PBDIR" ] || rm -rf "$d"
done

# ------------------------------------------------------------ pg_dump
step "pg_dump -Fd -j2 -Z0 and -Z1 of database bench"
for rep in $(seq 1 "$REPS"); do
	for z in 0 1; do
		dir=$BK/dump-z$z
		rm -rf "$dir"
		checkpoint
		t0=$(now)
		pb_as_user "$PB_PGBIN/pg_dump" -h "$CLUSTER" -p "$PORT" -Fd -j2 -Z"$z" -f "$dir" bench
		t1=$(now)
		record "dump_z$z" "$(elapsed "$t0" "$t1")" "$(bytes_of "$dir")"
	done
done
rm -rf "$BK/dump-z0"

# ------------------------------------------------------------ pgBackRest
step "pgBackRest $(pgbackrest version | awk '{ print $2 }') full backup of the whole cluster, process-max 2, zst and lz4 (no WAL archive: archive-check=n)"
PGBR=$WORK/pgbackrest
mkdir -p "$PGBR/conf.d" "$PGBR/lock" "$PGBR/log"
cat >"$PGBR/pgbackrest.conf" <<EOF
[global]
repo1-path=$PGBR/repo
repo1-retention-full=1
lock-path=$PGBR/lock
log-path=$PGBR/log
log-level-console=warn
log-level-file=info
start-fast=y
archive-check=n
archive-mode-check=n
backup-standby=n
process-max=2

[bench]
pg1-path=$DATA
pg1-port=$PORT
pg1-socket-path=$CLUSTER
EOF
chown -R "$PB_USER:" "$PGBR"
pgbr() { pb_as_user pgbackrest --config="$PGBR/pgbackrest.conf" --config-include-path="$PGBR/conf.d" --stanza=bench "$@"; }
CLUSTER_BYTES=$(q postgres -c "SELECT sum(pg_database_size(oid)) FROM pg_database")
for rep in $(seq 1 "$REPS"); do
	for c in zst lz4; do
		rm -rf "$PGBR/repo"
		pgbr stanza-create >"$PGBR/stanza.out" 2>&1 || { cat "$PGBR/stanza.out" >&2; pb_die "pgbackrest stanza-create failed"; }
		checkpoint
		t0=$(now)
		pgbr --compress-type="$c" --type=full backup >"$PGBR/backup.out" 2>&1 ||
			{ cat "$PGBR/backup.out" >&2; tail -n 30 "$PGBR/log/"*backup*.log >&2 2>/dev/null; pb_die "pgbackrest backup failed"; }
		t1=$(now)
		record "pgbr_$c" "$(elapsed "$t0" "$t1")" "$(bytes_of "$PGBR/repo/backup")"
	done
done
rm -rf "$PGBR/repo"

# ------------------------------------------------------------ check_backup
read -r CHECK_ID CHECK_BYTES < <(q bench -c "SELECT backup_id || ' ' || bytes FROM partback.list_backups('$PBDIR') ORDER BY backup_id DESC LIMIT 1")
step "partback.check_backup of the newest zstd backup ($(mib "$CHECK_BYTES") MB of data files)"
for rep in $(seq 1 "$REPS"); do
	t0=$(now)
	n=$(q bench -c "SELECT count(*) FROM partback.check_backup('$PBDIR', source_db => 'bench', backup_id => $CHECK_ID)")
	t1=$(now)
	[ "$n" = 0 ] || pb_die "check_backup reported $n problems"
	record pb_check "$(elapsed "$t0" "$t1")" "$CHECK_BYTES"
done

# ------------------------------------------------------------ restores
step "restore into an empty database: partback.restore_db (newest zstd backup, parallel 2) vs pg_restore -j2 (the -Z1 dump)"
SRC_COUNT_DOCS=$(q bench -c "SELECT count(*) FROM bench.docs")
mem_start restore
for rep in $(seq 1 "$REPS"); do
	q postgres -c "CREATE DATABASE pbr" >/dev/null
	q pbr -c "CREATE EXTENSION partback" >/dev/null
	checkpoint
	t0=$(now)
	q pbr -c "SELECT partback.restore_db('$PBDIR', source_db => 'bench', parallel => 2, wait => true)" >/dev/null
	t1=$(now)
	record pb_restore "$(elapsed "$t0" "$t1")"
	if [ "$rep" = 1 ]; then
		got=$(q pbr -c "SELECT (SELECT count(*) FROM bench.quotes) || ' ' || (SELECT count(*) FROM bench.docs) || ' ' ||
		                       (SELECT count(*) FROM pg_indexes WHERE schemaname = 'bench')")
		want="$QUOTES_ROWS $SRC_COUNT_DOCS $(q bench -c "SELECT count(*) FROM pg_indexes WHERE schemaname = 'bench'")"
		[ "$got" = "$want" ] || pb_die "restore_db: rows/docs/indexes '$got', expected '$want'"
		echo "      restored: $got (quotes rows, docs, indexes) as in the source"
	fi
	q postgres -c "DROP DATABASE pbr WITH (FORCE)" >/dev/null

	q postgres -c "CREATE DATABASE pgr" >/dev/null
	checkpoint
	t0=$(now)
	pb_as_user "$PB_PGBIN/pg_restore" -h "$CLUSTER" -p "$PORT" -j2 -d pgr "$BK/dump-z1"
	t1=$(now)
	record pg_restore "$(elapsed "$t0" "$t1")"
	q postgres -c "DROP DATABASE pgr WITH (FORCE)" >/dev/null
done
mem_stop

# ------------------------------------------------------------ restore's physical limit
# What a restore cannot do without: decompress the backup's files and load
# them with COPY ... FREEZE, then build the indexes, with every core busy --
# 2 loads at a time (each leaf truncated and loaded in one transaction,
# COPY FROM PROGRAM 'zstd -dc' of its data files), then pg_restore's
# post-data section with -j2 (the same index builds as pg_restore's).
step "restore's physical limit: zstd -d + COPY FREEZE of the backup's data files, 2 at a time, then the indexes with pg_restore -j2 --section=post-data"
LOADS=$WORK/phys.sql
q bench -c "SELECT 'BEGIN; TRUNCATE ' || leaf || '; ' || string_agg(format('COPY %s FROM PROGRAM %L WITH (FORMAT binary, FREEZE)',
                       leaf, 'zstd -dcq ' || file), '; ' ORDER BY file) || '; COMMIT;'
              FROM (SELECT format('%I.%I', m->>'partition_schema', m->>'partition_name') AS leaf,
                           '$PBDIR/bench/' || regexp_replace(p->>'meta', '/[^/]*\$', '') || '/' || (f->>'name') AS file,
                           (m->>'stored_bytes')::bigint AS size
                      FROM partback._manifest('$PBDIR', 'bench') man,
                           jsonb_array_elements(man->'tables') t,
                           jsonb_array_elements(t->'partitions') p,
                           LATERAL partback._partition_meta('$PBDIR', 'bench', p->>'meta', p->>'meta_sha256') m,
                           jsonb_array_elements(m->'files') f) x
             GROUP BY leaf ORDER BY max(size) DESC" >"$LOADS"
[ -s "$LOADS" ] || pb_die "no data files found in $PBDIR"
for rep in $(seq 1 "$REPS"); do
	q postgres -c "CREATE DATABASE phys" >/dev/null
	pb_as_user "$PB_PGBIN/pg_restore" -h "$CLUSTER" -p "$PORT" --section=pre-data -d phys "$BK/dump-z1"
	checkpoint
	t0=$(now)
	# one psql per leaf, 2 at a time
	tr '\n' '\0' <"$LOADS" | xargs -0 -P2 -I{} runuser -u "$PB_USER" -- \
		"$PB_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CLUSTER" -p "$PORT" -d phys -c {} >/dev/null ||
		pb_die "loading the data files with COPY FREEZE failed"
	pb_as_user "$PB_PGBIN/pg_restore" -h "$CLUSTER" -p "$PORT" -j2 --section=post-data -d phys "$BK/dump-z1"
	t1=$(now)
	record phys_restore "$(elapsed "$t0" "$t1")"
	if [ "$rep" = 1 ]; then
		got=$(q phys -c "SELECT count(*) FROM bench.quotes")
		[ "$got" = "$QUOTES_ROWS" ] || pb_die "physical limit: $got rows of bench.quotes, expected $QUOTES_ROWS"
	fi
	q postgres -c "DROP DATABASE phys WITH (FORCE)" >/dev/null
done

# ------------------------------------------------------------ shared_buffers
step "does a backup evict the working set?  a 100 MB table in database postgres, prewarmed, then backup_db"
q postgres -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" >/dev/null
q postgres -c "CREATE EXTENSION IF NOT EXISTS pg_buffercache" >/dev/null
q postgres -c "CREATE TABLE hot AS SELECT g AS id, repeat(md5(g::text), 3) AS pad FROM generate_series(1, 700000) AS g" >/dev/null
HOT_SQL="SELECT count(*) FROM pg_buffercache b
          WHERE b.reldatabase = (SELECT oid FROM pg_database WHERE datname = 'postgres')
            AND b.relfilenode = pg_relation_filenode('hot')"
q postgres -c "SELECT pg_prewarm('hot')" >/dev/null
HOT_BLOCKS=$(q postgres -c "SELECT pg_relation_size('hot') / current_setting('block_size')::int")
HOT_BEFORE=$(q postgres -c "$HOT_SQL")
rm -rf "$BK/pb-evict"
backup_db "$BK/pb-evict" zstd 2 >/dev/null
HOT_AFTER=$(q postgres -c "$HOT_SQL")
rm -rf "$BK/pb-evict"
echo "    hot table: $HOT_BLOCKS blocks; in shared_buffers before the backup $HOT_BEFORE, after $HOT_AFTER"

# ------------------------------------------------------------ report
mbps() { div "$HEAP_MB" "$1" %.0f; }
stored_mb() { if [ -n "${STORED[$1]:-}" ]; then mib "${STORED[$1]}"; else echo -; fi; }
pass()
{
	case "$1" in
	-*) echo "n/a" ;;
	*) if awk "BEGIN { exit !($1) }"; then echo PASS; else echo SHORT; fi ;;
	esac
}

R_ZSTD=$(med raw_zstd)
R_DUMP1=$(med dump_z1)
R_PGRESTORE=$(med pg_restore)
R_FULL=$(med pb_zstd_p2)

report()
{
	local op label ref refname ratio
	echo "partback benchmark -- $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) CPUs ($(lscpu 2>/dev/null | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr), PostgreSQL $("$PB_PGBIN/postgres" --version | awk '{ print $3 }'), pgBackRest $(pgbackrest version | awk '{ print $2 }')"
	echo "partback $COMMIT; cluster: shared_buffers 512MB, wal_level replica, autovacuum off; page cache warm"
	echo "data: bench.quotes $DAYS days x $HASH hash = $LEAVES leaves, $ROWS_PER_DAY rows/day ($QUOTES_ROWS rows) + bench.docs $DOCS docs (TOAST)"
	echo "heap: $HEAP_MB MB (main forks of the leaves, docs and its TOAST table; MB = 2^20 bytes; MB/s below = heap MB / median s)"
	echo "medians of $REPS repetitions, wall clock"
	echo
	printf '| %-44s | %8s | %6s | %9s | %6s | %-22s |\n' operation "median s" "MB/s" "stored MB" ratio "ratio = time / time of"
	printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" ---------- -------- ----------- -------- "$(printf -- '-%.0s' {1..24})"
	while IFS='|' read -r op label ref refname; do
		[ -n "${TIMES[$op]:-}" ] || continue
		if [ -n "$ref" ]; then ratio=$(div "$(med "$op")" "$(med "$ref")"); else ratio=; fi
		printf '| %-44s | %8s | %6s | %9s | %6s | %-22s |\n' "$label" "$(med "$op")" \
			"$(mbps "$(med "$op")")" "$(stored_mb "$op")" "$ratio" "$refname"
	done <<-EOF
		raw_zstd|zstd -1 of the relation files, 2 procs|raw_zstd|zstd -1 raw
		raw_lz4|lz4 -1 of the relation files, 2 procs|raw_zstd|zstd -1 raw
		pb_zstd_p1|backup_db zstd, parallel 1|raw_zstd|zstd -1 raw
		pb_zstd_p2|backup_db zstd, parallel 2|raw_zstd|zstd -1 raw
		pb_lz4_p1|backup_db lz4, parallel 1|raw_zstd|zstd -1 raw
		pb_lz4_p2|backup_db lz4, parallel 2|raw_zstd|zstd -1 raw
		pb_zstd3_p2|backup_db zstd level 3, parallel 2 (***)|raw_zstd|zstd -1 raw
		dump_z0|pg_dump -Fd -j2 -Z0|raw_zstd|zstd -1 raw
		dump_z1|pg_dump -Fd -j2 -Z1|raw_zstd|zstd -1 raw
		pgbr_zst|pgBackRest full, zst, process-max 2 (*)|raw_zstd|zstd -1 raw
		pgbr_lz4|pgBackRest full, lz4, process-max 2 (*)|raw_zstd|zstd -1 raw
		pb_incr1|backup_db incremental, 1 row changed|pb_zstd_p2|backup_db zstd, par. 2
		pb_incr0|backup_db incremental, nothing changed|pb_zstd_p2|backup_db zstd, par. 2
		pb_check|check_backup (stored = bytes checked)||
		pb_restore|restore_db into an empty db, parallel 2|pg_restore|pg_restore -j2
		pg_restore|pg_restore -j2 (-Z1 dump) into an empty db|pg_restore|pg_restore -j2
		phys_restore|restore's physical limit (zstd -d, COPY FREEZE, indexes)|phys_restore|physical limit
	EOF
	echo
	echo "backup_db uses partback's default levels (zstd 1, lz4 fast) unless a row says otherwise;"
	echo "(***) SET partback.compression_level = 3 -- zstd's own default level, for comparison."
	echo "(*) pgBackRest copies the whole cluster ($(mib "$CLUSTER_BYTES") MB: all databases, indexes included)."
	echo "restore_db and pg_restore include the index builds; stored MB of the incrementals is what they"
	echo "add to the backup dir (see list_backups.new_bytes above)."
	echo
	echo "targets (issue 5; issue 4 for the incrementals)          measured   target    "
	local r
	r=$(div "$R_FULL" "$R_ZSTD")
	printf '  %-52s %8s   %-8s  %s\n' "backup_db (zstd, par. 2) time / zstd -1 raw time" "$r" "<= 1.3" "$(pass "$r <= 1.3")"
	r=$(div "$R_DUMP1" "$R_FULL")
	printf '  %-52s %8s   %-8s  %s\n' "pg_dump -Z1 time / backup_db (zstd, par. 2) time" "$r" ">= 2.5" "$(pass "$r >= 2.5")"
	r=$(div "$R_PGRESTORE" "$(med pb_restore)")
	printf '  %-52s %8s   %-8s  %s\n' "pg_restore -j2 time / restore_db time" "$r" ">= 2" "$(pass "$r >= 2")"
	r=$(div "$(med pb_restore)" "$(med phys_restore)")
	printf '  %-52s %8s   %-8s  %s\n' "restore_db time / restore's physical limit (issue 14)" "$r" "<= 1.3" "$(pass "$r <= 1.3")"
	r=$(div "$(mib "$CHECK_BYTES")" "$(med pb_check)" %.0f)
	printf '  %-52s %8s   %-8s  %s\n' "check_backup MB/s of stored bytes" "$r" ">= 1024" "$(pass "$r >= 1024")"
	r=$(div "$(med pb_zstd_p1)" "$(med pb_zstd_p2)")
	printf '  %-52s %8s   %-8s  %s\n' "backup_db zstd: parallel 1 time / parallel 2 time" "$r" ">= 1.7" "$(pass "$r >= 1.7")"
	r=$(div "$(med pb_lz4_p1)" "$(med pb_lz4_p2)")
	printf '  %-52s %8s   %-8s  %s\n' "backup_db lz4: parallel 1 time / parallel 2 time" "$r" ">= 1.7" "$(pass "$r >= 1.7")"
	r=$(mem_peak backup copy)
	printf '  %-52s %8s   %-8s  %s\n' "backup: peak RssAnon of a copy worker, MB" "$r" "<= 100" "$(pass "$r <= 100")"
	r=$(mem_peak backup leader)
	printf '  %-52s %8s   %-8s  %s\n' "backup: peak RssAnon of a job leader, MB" "$r" "<= 100" "$(pass "$r <= 100")"
	r=$(mem_peak restore copy)
	printf '  %-52s %8s   %-8s  %s\n' "restore: peak RssAnon of a copy worker, MB (**)" "$r" "<= 100" "$(pass "$r <= 100")"
	r=$(mem_peak restore leader)
	printf '  %-52s %8s   %-8s  %s\n' "restore: peak RssAnon of a job leader, MB (**)" "$r" "<= 100" "$(pass "$r <= 100")"
	r=$(div "$HOT_AFTER" "$HOT_BLOCKS" %.2f)
	# with less data than shared_buffers nothing needs evicting: no verdict
	awk -v h="$HEAP_MB" 'BEGIN { exit !(h < 1024) }' && r="-"
	printf '  %-52s %8s   %-8s  %s\n' "share of a prewarmed 100 MB table still cached after" "$r" ">= 0.9" "$(pass "$r >= 0.9")"
	printf '  %-52s\n' "  a backup_db (ring buffer; n/a if heap < 1 GB)"
	r=$(median "${INCR1_RATIOS[@]}")
	printf '  %-52s %8s   %-8s  %s\n' "incremental, 1 row changed: time / full time" "$r" "<= 0.15" "$(pass "$r <= 0.15")"
	r=$(echo "$INCR1_COPIED" | tr ',' '\n' | sort -n | tail -n 1)
	printf '  %-52s %8s   %-8s  %s\n' "  partitions copied (of $INCR_PARTS; each repetition: $INCR1_COPIED)" "$r" "<= 1" "$(pass "$r <= 1")"
	r=$(median "${INCR0_RATIOS[@]}")
	printf '  %-52s %8s   %-8s  %s\n' "incremental, nothing changed: time / full time" "$r" "<= 0.10" "$(pass "$r <= 0.10")"
	r=$(echo "$INCR0_COPIED" | tr ',' '\n' | sort -n | tail -n 1)
	printf '  %-52s %8s   %-8s  %s\n' "  partitions copied (of $INCR_PARTS; each repetition: $INCR0_COPIED)" "$r" "0" "$(pass "$r == 0")"
	echo "(**) includes what index builds take: maintenance_work_mem = 256MB in this cluster"
	echo
	echo "all times (s):"
	for op in raw_zstd raw_lz4 pb_zstd_p1 pb_zstd_p2 pb_lz4_p1 pb_lz4_p2 pb_zstd3_p2 dump_z0 dump_z1 pgbr_zst pgbr_lz4 pb_incr1 pb_incr0 pb_check pb_restore pg_restore phys_restore; do
		[ -n "${TIMES[$op]:-}" ] && printf '  %-12s%s\n' "$op" "${TIMES[$op]}"
	done
}

step "results"
echo
report | tee "$WORK/report.txt"
scale_parts
if [ -n "${PB_BENCH_OUT:-}" ]; then
	cp "$WORK/report.txt" "$PB_BENCH_OUT"
	echo "==> table written to $PB_BENCH_OUT"
fi

# ------------------------------------------------------------ profile
perf_tidy() { grep -v -e '^#' -e '^[[:space:]]*$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//; s/[[:space:]]{3,}/   /g'; }
profile()
{
	local name=$1 db=$2 sql=$3 data=$WORK/perf.$1
	echo
	echo "---- perf: $name (perf record -a -F 999; share of all samples on both CPUs) ----"
	perf record -q -a -F 999 -o "$data" -- \
		"$PB_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -U "$PB_USER" -h "$CLUSTER" -p "$PORT" -d "$db" -c "$sql" >/dev/null 2>"$WORK/perf.$name.err" ||
		{ cat "$WORK/perf.$name.err" >&2; pb_die "perf record of $name failed"; }
	perf report -i "$data" --stdio --no-children --sort comm,dso \
		--percent-limit 2 2>/dev/null | perf_tidy | head -n 15
	echo "  -- top symbols --"
	perf report -i "$data" --stdio --no-children --sort dso,symbol \
		--percent-limit 1 2>/dev/null | perf_tidy | head -n 40
}
if [ "${PB_BENCH_PERF:-0}" = 1 ]; then
	if command -v perf >/dev/null; then
		step "profiles (not part of the timings above)"
		rm -rf "$BK/pb-perf"
		profile backup_db bench "SELECT partback.backup_db('$BK/pb-perf', compression => 'zstd', parallel => 2, wait => true)"
		q postgres -c "CREATE DATABASE pbr" >/dev/null
		q pbr -c "CREATE EXTENSION partback" >/dev/null
		checkpoint
		profile restore_db pbr "SELECT partback.restore_db('$BK/pb-perf', source_db => 'bench', parallel => 2, wait => true)"
		q postgres -c "DROP DATABASE pbr WITH (FORCE)" >/dev/null
		rm -rf "$BK/pb-perf"
	else
		echo "==> PB_BENCH_PERF=1 but perf is not installed (apt-get install linux-perf); no profile" >&2
	fi
fi

STATUS=ok
