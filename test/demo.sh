#!/usr/bin/env bash
# test/demo.sh: the demo.  As root on Debian 12:
#
#     bash test/demo.sh
#
# Installs what is missing, builds and installs partback, starts a throwaway
# cluster owned by the OS user "partback" (shared_preload_libraries =
# 'partback'), creates DolphinDB-style data in schema testdb, backs the
# database up, checks the backup, drops a table and restores it, restores one
# day of a partitioned table into a new table, and compares row counts and
# content checksums.  Prints every step and every SQL statement it runs.
# Exits non-zero on any error or mismatch; removes the cluster and its files
# at the end.
#
# Knobs: PB_DEMO_ROWS_PER_DAY (default 200000), PB_DEMO_PORT (default: 5433,
# or the next free port).

set -Eeuo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=test/lib.sh
source test/lib.sh

ROWS_PER_DAY=${PB_DEMO_ROWS_PER_DAY:-200000}
PB_TREE=
CLUSTER=
STATUS=failed
START=$(date +%s)

on_exit()
{
	local rc=$?
	trap - EXIT
	if [ "$STATUS" != ok ] && [ -n "$CLUSTER" ] && [ -f "$CLUSTER/server.log" ]; then
		local keep
		keep=$(mktemp /tmp/partback-demo-server.XXXXXX.log)
		cp "$CLUSTER/server.log" "$keep"
		echo "---- server log (last 30 lines) ----"
		tail -n 30 "$keep"
		echo "---- full server log kept in $keep ----"
	fi
	if [ -n "$CLUSTER" ]; then
		pb_stop_cluster "$CLUSTER"
	fi
	if [ -n "$PB_TREE" ] && [ -d "$PB_TREE" ]; then
		pb_kill_postmasters_under "$PB_TREE"
		rm -rf "$PB_TREE"
	fi
	if [ "$STATUS" = ok ]; then
		echo "==> demo finished in $(($(date +%s) - START)) s: counts match"
		exit 0
	fi
	echo "==> demo FAILED" >&2
	[ "$rc" -eq 0 ] && rc=1
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*"; }

# run SQL in database demo, echoing it; output as psql prints it
sql()
{
	printf '%s\n' "$1" | awk 'NR == 1 { print "    demo=# " $0; next } { sub(/^\t/, ""); print "           " $0 }'
	pb_psql -d demo -P pager=off -c "$1"
}

# run SQL in database demo, echoing it; print and return the single value
sql_value()
{
	local v
	printf '    demo=# %s\n' "$1" >&2
	v=$(pb_psql -d demo -At -c "$1") || return 1
	printf '    -> %s\n' "$v" >&2
	printf '%s' "$v"
}

pb_require_root

step "installing packages (only what is missing)"
pb_install_deps
pb_ensure_user
pb_cleanup_stale

pb_prepare_tree demo
step "building and installing partback (make && make install) in $PB_TREE"
pb_build_install "$PB_TREE"

CLUSTER=$PB_TREE/pg
PORT=${PB_DEMO_PORT:-$(pb_free_port 5433)}
BACKUPS=$PB_TREE/backups
step "starting a throwaway cluster owned by OS user $PB_USER: data $CLUSTER/data, socket $CLUSTER, port $PORT, shared_preload_libraries = 'partback'"
pb_start_cluster "$CLUSTER" "$PORT"
mkdir -p "$BACKUPS"
chown "$PB_USER:" "$BACKUPS"
chmod 0700 "$BACKUPS"
echo "    backup dir: $BACKUPS (written by the server, so owned by $PB_USER)"
echo "    to look around while it runs: runuser -u $PB_USER -- psql -h $CLUSTER -p $PORT demo"

step "creating database demo and the extension"
printf '    postgres=# CREATE DATABASE demo;\n'
pb_psql -d postgres -c "CREATE DATABASE demo"
sql "CREATE EXTENSION partback;"

step "creating schema testdb: quotes (range by day x hash by symbol), quotes_2 (range by day), docs (TOASTed)"
sql "CREATE SCHEMA testdb;"
sql "CREATE TABLE testdb.quotes (
	trade_date date NOT NULL,
	symbol     text NOT NULL,
	trade_time timestamptz NOT NULL,
	price      numeric(12,4),
	volume     bigint,
	bid        numeric(12,4),
	ask        numeric(12,4),
	exchange   char(4) DEFAULT 'XNYS'
) PARTITION BY RANGE (trade_date);"
for d in 1 2 3 4 5; do
	day=$(printf '2012-01-%02d' "$d")
	next=$(printf '2012-01-%02d' $((d + 1)))
	p=$(printf 'quotes_201201%02d' "$d")
	sql "CREATE TABLE testdb.$p PARTITION OF testdb.quotes
	FOR VALUES FROM ('$day') TO ('$next') PARTITION BY HASH (symbol);"
	for h in 0 1 2 3; do
		pb_psql -d demo -c "CREATE TABLE testdb.${p}_h$h PARTITION OF testdb.$p FOR VALUES WITH (MODULUS 4, REMAINDER $h);"
	done
	echo "    (and testdb.${p}_h0 .. ${p}_h3: FOR VALUES WITH (MODULUS 4, REMAINDER 0..3))"
done
sql "CREATE INDEX ON testdb.quotes (symbol, trade_time);"

sql "CREATE TABLE testdb.quotes_2 (
	trade_date date NOT NULL,
	symbol     text NOT NULL,
	trade_time timestamptz NOT NULL,
	price      numeric(12,4),
	volume     bigint,
	bid        numeric(12,4),
	ask        numeric(12,4),
	exchange   char(4) DEFAULT 'XNYS'
) PARTITION BY RANGE (trade_date);"
for d in 1 2 3; do
	sql "CREATE TABLE testdb.$(printf 'quotes_2_201201%02d' "$d") PARTITION OF testdb.quotes_2
	FOR VALUES FROM ('$(printf '2012-01-%02d' "$d")') TO ('$(printf '2012-01-%02d' $((d + 1)))');"
done

sql "CREATE TABLE testdb.docs (
	id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	title text NOT NULL,
	body  text
);"

step "loading data: $ROWS_PER_DAY quotes per day for 5 days, 500 tickers"
T0=$(date +%s)
sql "INSERT INTO testdb.quotes
SELECT day::date,
       'T' || lpad(((i * 7919) % 500)::text, 3, '0'),
       day + interval '9 hours 30 minutes' + i * interval '100 milliseconds',
       round((10 + (i * 7919) % 500 + random() * 5)::numeric, 4),
       (random() * 10000)::bigint,
       round((10 + (i * 7919) % 500 + random() * 5)::numeric, 4),
       round((10 + (i * 7919) % 500 + random() * 5)::numeric, 4),
       (ARRAY['XNYS','XNAS','ARCX','BATS'])[1 + i % 4]
FROM generate_series(timestamptz '2012-01-01', '2012-01-05', interval '1 day') AS day,
     generate_series(1, $ROWS_PER_DAY) AS i;"
sql "INSERT INTO testdb.quotes_2 (trade_date, symbol, trade_time, price, volume, bid, ask)
SELECT day::date,
       'T' || lpad(((i * 7919) % 500)::text, 3, '0'),
       day + interval '9 hours 30 minutes' + i * interval '100 milliseconds',
       round((10 + (i * 7919) % 500 + random() * 5)::numeric, 4),
       (random() * 10000)::bigint,
       NULL,
       round((10 + (i * 7919) % 500 + random() * 5)::numeric, 4)
FROM generate_series(timestamptz '2012-01-01', '2012-01-03', interval '1 day') AS day,
     generate_series(1, $((ROWS_PER_DAY / 2))) AS i;"
step "loading 50 documents of 300 kB to 1 MB each (random hex, so they are TOASTed, not compressed away)"
sql "INSERT INTO testdb.docs (title, body)
SELECT 'document ' || n, b.body
FROM generate_series(1, 50) AS n,
     LATERAL (SELECT string_agg(md5(random()::text || n || g), '') AS body
              FROM generate_series(1, 9400 + n * 440) AS g) AS b;"
sql "ANALYZE testdb.quotes, testdb.quotes_2, testdb.docs;"
echo "    loaded in $(($(date +%s) - T0)) s"
sql "SELECT c.oid::regclass AS table, count(*) AS leaf_partitions,
       pg_size_pretty(sum(pg_total_relation_size(t.relid))) AS size
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace,
     LATERAL (SELECT relid FROM pg_partition_tree(c.oid) WHERE isleaf
              UNION ALL SELECT c.oid WHERE c.relkind = 'r') AS t
WHERE n.nspname = 'testdb' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
GROUP BY 1 ORDER BY 1;"

step "backing up database demo: partback.backup_db (wait => true blocks until the background worker is done)"
T0=$(date +%s)
sql "SELECT partback.backup_db('$BACKUPS', wait => true) AS job_id;"
echo "    backup took $(($(date +%s) - T0)) s; on disk: $(du -sh "$BACKUPS" | cut -f1)"

step "checking the backup: check_backup lists only what is wrong"
sql "SELECT * FROM partback.check_backup('$BACKUPS');"
problems=$(sql_value "SELECT count(*) FROM partback.check_backup('$BACKUPS');")
if [ "$problems" != 0 ]; then
	echo "    UNHEALTHY: check_backup reported $problems problems"
	exit 1
fi
echo "    healthy: no problems"

step "status of the jobs"
sql "SELECT * FROM partback.get_backup_status();"

step "what the backup holds for testdb.quotes (first 8 partitions)"
sql "SELECT * FROM partback.get_backup_list('$BACKUPS', 'demo', 'testdb.quotes') LIMIT 8;"

step "the backups in $BACKUPS"
sql "SELECT * FROM partback.list_backups('$BACKUPS');"

step "dropping testdb.quotes_2, then restoring it with restore_table"
count_before=$(sql_value "SELECT count(*) FROM testdb.quotes_2;")
md5_before=$(sql_value "SELECT md5(string_agg(q::text, E'\n' ORDER BY q::text COLLATE \"C\")) FROM testdb.quotes_2 AS q;")
sql "DROP TABLE testdb.quotes_2;"
T0=$(date +%s)
sql "SELECT partback.restore_table('$BACKUPS', 'testdb.quotes_2', wait => true) AS job_id;"
echo "    restore took $(($(date +%s) - T0)) s"
pb_psql -d demo -P pager=off -c '\d+ testdb.quotes_2'
count_after=$(sql_value "SELECT count(*) FROM testdb.quotes_2;")
md5_after=$(sql_value "SELECT md5(string_agg(q::text, E'\n' ORDER BY q::text COLLATE \"C\")) FROM testdb.quotes_2 AS q;")
echo "    quotes_2 before: $count_before rows, md5 $md5_before"
echo "    quotes_2 after:  $count_after rows, md5 $md5_after"
if [ "$count_before" != "$count_after" ] || [ "$md5_before" != "$md5_after" ]; then
	echo "    MISMATCH: restored testdb.quotes_2 differs from the original"
	exit 1
fi
echo "    quotes_2: counts match, content matches"

step "restoring one day of testdb.quotes (partitions 'quotes_20120102/%') into a new table testdb.quotes_day2"
T0=$(date +%s)
sql "SELECT partback.restore('$BACKUPS', 'testdb.quotes', 'quotes_20120102/%', target_table => 'testdb.quotes_day2', wait => true) AS job_id;"
echo "    restore took $(($(date +%s) - T0)) s"
sql "SELECT relid, parentrelid, isleaf, level FROM pg_partition_tree('testdb.quotes_day2');"
day_src=$(sql_value "SELECT count(*) FROM testdb.quotes WHERE trade_date = '2012-01-02';")
day_dst=$(sql_value "SELECT count(*) FROM testdb.quotes_day2;")
md5_src=$(sql_value "SELECT md5(string_agg(q::text, E'\n' ORDER BY q::text COLLATE \"C\")) FROM testdb.quotes AS q WHERE trade_date = '2012-01-02';")
md5_dst=$(sql_value "SELECT md5(string_agg(q::text, E'\n' ORDER BY q::text COLLATE \"C\")) FROM testdb.quotes_day2 AS q;")
echo "    quotes on 2012-01-02: $day_src rows, md5 $md5_src"
echo "    quotes_day2:          $day_dst rows, md5 $md5_dst"
if [ "$day_src" != "$day_dst" ] || [ "$md5_src" != "$md5_dst" ]; then
	echo "    MISMATCH: testdb.quotes_day2 differs from 2012-01-02 of testdb.quotes"
	exit 1
fi
echo "    quotes_day2: counts match, content matches"

step "status of the jobs, at the end"
sql "SELECT * FROM partback.get_backup_status();"

STATUS=ok
