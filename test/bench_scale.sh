# shellcheck shell=bash
# test/bench_scale.sh: the parts of test/bench.sh that measure how cost
# grows (issue 14), sourced by it after the cluster is up:
#
#   scale_curve   one range-partitioned table with one index and
#                 PB_BENCH_SCALE_ROWS rows over N leaves, for each N of
#                 PB_BENCH_LEAVES: backup_db vs pg_dump -Fd -j2 -Z1, an
#                 incremental backup_db with nothing changed, restore_db vs
#                 pg_restore -j2 into an empty database; per-leaf cost of the
#                 first and last fifth of the leaves a backup and a restore
#                 finish (from partback.chunk.done_at), peak RssAnon of the
#                 leader and copy workers, files the incremental writes and
#                 catalog rows it adds
#   big_table     one unpartitioned table of PB_BENCH_BIG_MB MB of heap with
#                 one index: backup_db and restore_db with parallel 1 and 2
#                 vs pg_dump -Fd -Z1 and pg_restore -j2
#   many_tables   PB_BENCH_TABLES unpartitioned tables of a few rows, each
#                 with a primary key, in 10 schemas: backup_db vs pg_dump
#                 -Fd -j2 -Z1 and restore_db vs pg_restore -j2 into an empty
#                 database, with the cluster's own max_locks_per_transaction
#
# Both use bench.sh's helpers (q, now, elapsed, div, median, mib, mem_*,
# checkpoint) and its cluster; they print their own tables, which
# bench.sh appends to the report.

SCALE_REPORT=
BIG_REPORT=
TABLES_REPORT=

# files under dir $1
files_in() { find "$1" -type f | wc -l; }
# catalog rows of partback's job tables in database $1
catalog_rows() {
	q "$1" -c "SELECT (SELECT count(*) FROM partback.job) + (SELECT count(*) FROM partback.task)
	                + (SELECT count(*) FROM partback.chunk) + (SELECT count(*) FROM partback.job_message)"
}
# ms per leaf of the first and the last fifth of the chunks job $2 finished,
# in database $1: "first last" (from the first chunk done, so that the
# job's start-up is not in it)
# pg_restore -j2 of dump into a new database target, dropped after; echoes
# the seconds it took (call it as s=$(...): a failure then stops the run)
time_pg_restore() {
	local dump=$1 target=$2 t0 t1
	q postgres -c "CREATE DATABASE $target" >/dev/null
	checkpoint
	t0=$(now)
	pb_as_user "$PB_PGBIN/pg_restore" -h "$CLUSTER" -p "$PORT" -j2 -d "$target" "$dump" ||
		pb_die "pg_restore of $dump failed"
	t1=$(now)
	q postgres -c "DROP DATABASE $target WITH (FORCE)" >/dev/null
	elapsed "$t0" "$t1"
}

fifths() {
	q "$1" -F ' ' -c "
	WITH d AS (SELECT done_at, row_number() OVER (ORDER BY done_at) AS i, count(*) OVER () AS n
	             FROM partback.chunk WHERE job_id = $2)
	SELECT round((extract(epoch FROM max(done_at) FILTER (WHERE i <= greatest(n / 5, 2)) - min(done_at))
	              * 1000 / greatest(max(n) / 5 - 1, 1))::numeric, 2),
	       round((extract(epoch FROM max(done_at) - max(done_at) FILTER (WHERE i <= n - n / 5))
	              * 1000 / greatest(max(n) / 5, 1))::numeric, 2)
	  FROM d"
}

scale_curve()
{
	local leaves=${PB_BENCH_LEAVES:-100 1000 10000 20000}
	local rows=${PB_BENCH_SCALE_ROWS:-500000}
	local n t0 t1 job dir files0 rows0 line
	local b_s d_s i_s r_s pr_s b_f b_l r_f r_l b_mem i_files i_rows

	step "partition-count curve: bench_scale.events, $rows rows and one index over N leaves, N in: $leaves"
	SCALE_REPORT=$WORK/scale.txt
	{
		printf '| %7s | %9s | %9s | %6s | %13s | %9s | %6s | %9s | %9s | %12s | %9s | %11s | %6s | %12s |\n' \
			leaves "backup s" "pg_dump s" ratio "ms/leaf 1st/5" "last/5" "incr0 s" "incr0/dump" "incr0 files" "incr0 cat.rows" \
			"restore s" "pg_restore s" ratio "leader MB b/r"
		printf '|%s|\n' "$(printf -- '-%.0s' {1..178})"
	} >"$SCALE_REPORT"
	for n in $leaves; do
		q postgres -c "DROP DATABASE IF EXISTS bench_scale" >/dev/null
		q postgres -c "CREATE DATABASE bench_scale" >/dev/null
		q bench_scale -c "CREATE EXTENSION partback" >/dev/null
		t0=$(now)
		{
			echo "CREATE SCHEMA s;"
			echo "CREATE TABLE s.events (id bigint NOT NULL, at timestamptz NOT NULL, kind integer, note text) PARTITION BY RANGE (id);"
			awk -v n="$n" -v rows="$rows" 'BEGIN {
				w = int((rows + n - 1) / n); if (w < 1) w = 1;
				for (i = 0; i < n; i++)
					printf "CREATE TABLE s.events_%d PARTITION OF s.events FOR VALUES FROM (%d) TO (%d);\n", i, i * w, (i + 1) * w;
			}'
			echo "INSERT INTO s.events SELECT g, timestamptz '2020-01-01' + g * interval '1 second', g % 97, md5(g::text) FROM generate_series(0, $rows - 1) AS g;"
			echo "CREATE INDEX ON s.events (at);"
			echo "VACUUM ANALYZE s.events;"
		} | pb_psql -d bench_scale -q -f - >/dev/null
		echo "    $n leaves made and loaded in $(elapsed "$t0" "$(now)") s"
		dir=$BK/scale-$n
		rm -rf "$dir" "$BK/scale-dump"

		checkpoint
		mem_start "scale$n.backup"
		t0=$(now)
		job=$(q bench_scale -c "SELECT partback.backup_db('$dir', parallel => 2, wait => true)")
		t1=$(now)
		mem_stop
		b_s=$(elapsed "$t0" "$t1")
		read -r b_f b_l < <(fifths bench_scale "$job")
		record "scale${n}_backup" "$b_s"

		t0=$(now)
		pb_as_user "$PB_PGBIN/pg_dump" -h "$CLUSTER" -p "$PORT" -Fd -j2 -Z1 -f "$BK/scale-dump" bench_scale
		t1=$(now)
		d_s=$(elapsed "$t0" "$t1")
		record "scale${n}_dump" "$d_s"

		files0=$(files_in "$dir")
		rows0=$(catalog_rows bench_scale)
		t0=$(now)
		q bench_scale -c "SELECT partback.backup_db('$dir', parallel => 2, wait => true)" >/dev/null
		t1=$(now)
		i_s=$(elapsed "$t0" "$t1")
		i_files=$(($(files_in "$dir") - files0))
		i_rows=$(($(catalog_rows bench_scale) - rows0))
		record "scale${n}_incr0" "$i_s"

		q postgres -c "CREATE DATABASE bench_scale_r" >/dev/null
		q bench_scale_r -c "CREATE EXTENSION partback" >/dev/null
		checkpoint
		mem_start "scale$n.restore"
		t0=$(now)
		q bench_scale_r -c "SELECT partback.restore_db('$dir', source_db => 'bench_scale', backup_id => 1, parallel => 2, wait => true)" >/dev/null
		t1=$(now)
		mem_stop
		r_s=$(elapsed "$t0" "$t1")
		job=$(q bench_scale_r -c "SELECT max(job_id) FROM partback.job")
		read -r r_f r_l < <(fifths bench_scale_r "$job")
		line=$(q bench_scale_r -c "SELECT count(*) FROM s.events")
		[ "$line" = "$rows" ] || pb_die "restore_db of $n leaves: $line rows, expected $rows"
		record "scale${n}_restore" "$r_s"
		q postgres -c "DROP DATABASE bench_scale_r WITH (FORCE)" >/dev/null

		pr_s=$(time_pg_restore "$BK/scale-dump" bench_scale_r)
		record "scale${n}_pg_restore" "$pr_s"

		b_mem="$(mem_peak "scale$n.backup" leader)/$(mem_peak "scale$n.restore" leader)"
		printf '| %7s | %9s | %9s | %6s | %13s | %9s | %6s | %9s | %9s | %12s | %9s | %11s | %6s | %12s |\n' \
			"$n" "$b_s" "$d_s" "$(div "$b_s" "$d_s")" "$b_f (r $r_f)" "$b_l (r $r_l)" "$i_s" "$(div "$i_s" "$d_s")" \
			"$i_files" "$i_rows" "$r_s" "$pr_s" "$(div "$r_s" "$pr_s")" "$b_mem" >>"$SCALE_REPORT"
		rm -rf "$dir" "$BK/scale-dump"
		q postgres -c "DROP DATABASE bench_scale WITH (FORCE)" >/dev/null
	done
	{
		echo "ratio = partback time / pg_dump or pg_restore time (goal: backup <= 1, incr0 <= 0.2, restore <= 0.5);"
		echo "ms/leaf: wall time per leaf of the first and the last fifth of the leaves a job finished, for the"
		echo "backup and (r) the restore (goal: last/5 within 1.2x of first/5); one run per N, not a median;"
		echo "incr0 files / cat.rows: files the nothing-changed incremental wrote and rows it added to partback's"
		echo "catalog; leader MB: peak RssAnon of the job leader, backup/restore (goal: < 100)."
	} >>"$SCALE_REPORT"
	cat "$SCALE_REPORT"
}

big_table()
{
	local mb=${PB_BENCH_BIG_MB:-2048}
	local rows t0 t1 par dir pr_s

	# ~ 120 bytes of heap per row
	rows=$((mb * 1048576 / 120))
	step "one big table: bench_big's big.t, about $mb MB of heap ($rows rows) and one index, parallel 1 and 2"
	q postgres -c "DROP DATABASE IF EXISTS bench_big" >/dev/null
	q postgres -c "CREATE DATABASE bench_big" >/dev/null
	q bench_big -c "CREATE EXTENSION partback" >/dev/null
	t0=$(now)
	# in a schema of its own: the OS user's "$user" schema is partback's
	q bench_big -c "CREATE SCHEMA big; CREATE TABLE big.t (id bigint NOT NULL, at timestamptz NOT NULL, v integer, note text)" >/dev/null
	q bench_big -c "INSERT INTO big.t SELECT g, timestamptz '2020-01-01' + g * interval '1 second', g % 1000, md5(g::text) || md5((g + 1)::text)
	                FROM generate_series(1, $rows) AS g" >/dev/null
	q bench_big -c "CREATE INDEX ON big.t (at)" >/dev/null
	q bench_big -c "VACUUM ANALYZE big.t" >/dev/null
	echo "    made in $(elapsed "$t0" "$(now)") s: $(q bench_big -c "SELECT pg_size_pretty(pg_relation_size('big.t'))") of heap"
	for _ in $(seq 1 "$REPS"); do
		for par in 1 2; do
			dir=$BK/big-p$par
			rm -rf "$dir"
			checkpoint
			t0=$(now)
			q bench_big -c "SELECT partback.backup_db('$dir', parallel => $par, wait => true)" >/dev/null
			t1=$(now)
			record "big_backup_p$par" "$(elapsed "$t0" "$t1")"
		done
		rm -rf "$BK/big-dump"
		t0=$(now)
		pb_as_user "$PB_PGBIN/pg_dump" -h "$CLUSTER" -p "$PORT" -Fd -j2 -Z1 -f "$BK/big-dump" bench_big
		t1=$(now)
		record big_dump "$(elapsed "$t0" "$t1")"
		for par in 1 2; do
			q postgres -c "CREATE DATABASE bench_big_r" >/dev/null
			q bench_big_r -c "CREATE EXTENSION partback" >/dev/null
			checkpoint
			t0=$(now)
			q bench_big_r -c "SELECT partback.restore_db('$BK/big-p2', source_db => 'bench_big', parallel => $par, wait => true)" >/dev/null
			t1=$(now)
			record "big_restore_p$par" "$(elapsed "$t0" "$t1")"
			q postgres -c "DROP DATABASE bench_big_r WITH (FORCE)" >/dev/null
		done
		pr_s=$(time_pg_restore "$BK/big-dump" bench_big_r)
		record big_pg_restore "$pr_s"
	done
	rm -rf "$BK"/big-p1 "$BK"/big-p2 "$BK/big-dump"
	q postgres -c "DROP DATABASE bench_big WITH (FORCE)" >/dev/null

	BIG_REPORT=$WORK/big.txt
	{
		echo "one big table ($mb MB of heap, one index), medians of $REPS:"
		printf '  %-48s %8s s\n' "backup_db parallel 1" "$(med big_backup_p1)"
		printf '  %-48s %8s s\n' "backup_db parallel 2" "$(med big_backup_p2)"
		printf '  %-48s %8s s\n' "pg_dump -Fd -j2 -Z1" "$(med big_dump)"
		printf '  %-48s %8s s\n' "restore_db parallel 1" "$(med big_restore_p1)"
		printf '  %-48s %8s s\n' "restore_db parallel 2" "$(med big_restore_p2)"
		printf '  %-48s %8s s\n' "pg_restore -j2" "$(med big_pg_restore)"
		printf '  %-48s %8s   (goal >= 1.7)\n' "backup: parallel 1 time / parallel 2 time" "$(div "$(med big_backup_p1)" "$(med big_backup_p2)")"
		printf '  %-48s %8s   (goal >= 1.7)\n' "restore: parallel 1 time / parallel 2 time" "$(div "$(med big_restore_p1)" "$(med big_restore_p2)")"
		printf '  %-48s %8s   (goal >= 1.7)\n' "pg_restore -j2 time / restore_db parallel 2 time" "$(div "$(med big_pg_restore)" "$(med big_restore_p2)")"
	} >"$BIG_REPORT"
	cat "$BIG_REPORT"
}

many_tables()
{
	local n=${PB_BENCH_TABLES:-5000}
	local t0 t1 dir count i pr_s

	step "many tables: bench_tables, $n tables of 3 rows with a primary key each, in 10 schemas"
	q postgres -c "DROP DATABASE IF EXISTS bench_tables" >/dev/null
	q postgres -c "CREATE DATABASE bench_tables" >/dev/null
	q bench_tables -c "CREATE EXTENSION partback" >/dev/null
	t0=$(now)
	{
		for i in $(seq 0 9); do echo "CREATE SCHEMA s$i;"; done
		awk -v n="$n" 'BEGIN {
			for (i = 0; i < n; i++)
				printf "CREATE TABLE s%d.t%d (id integer PRIMARY KEY, v text); INSERT INTO s%d.t%d VALUES (1, %s), (2, %s), (3, %s);\n",
					i % 10, i, i % 10, i, "\047a\047", "\047b\047", "\047c\047";
		}'
		echo "VACUUM ANALYZE;"
	} | pb_psql -d bench_tables -q -f - >/dev/null
	echo "    made in $(elapsed "$t0" "$(now)") s"
	for _ in $(seq 1 "$REPS"); do
		dir=$BK/tables
		rm -rf "$dir" "$BK/tables-dump"
		checkpoint
		t0=$(now)
		q bench_tables -c "SELECT partback.backup_db('$dir', parallel => 2, wait => true)" >/dev/null
		t1=$(now)
		record tables_backup "$(elapsed "$t0" "$t1")"
		t0=$(now)
		pb_as_user "$PB_PGBIN/pg_dump" -h "$CLUSTER" -p "$PORT" -Fd -j2 -Z1 -f "$BK/tables-dump" bench_tables
		t1=$(now)
		record tables_dump "$(elapsed "$t0" "$t1")"

		q postgres -c "CREATE DATABASE bench_tables_r" >/dev/null
		q bench_tables_r -c "CREATE EXTENSION partback" >/dev/null
		checkpoint
		t0=$(now)
		q bench_tables_r -c "SELECT partback.restore_db('$dir', source_db => 'bench_tables', parallel => 2, wait => true)" >/dev/null
		t1=$(now)
		record tables_restore "$(elapsed "$t0" "$t1")"
		count=$(q bench_tables_r -c "SELECT count(*) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname LIKE 's_' AND c.relkind = 'r'")
		[ "$count" = "$n" ] || pb_die "restore_db of $n tables made $count"
		q postgres -c "DROP DATABASE bench_tables_r WITH (FORCE)" >/dev/null

		pr_s=$(time_pg_restore "$BK/tables-dump" bench_tables_r)
		record tables_pg_restore "$pr_s"
	done
	rm -rf "$BK/tables" "$BK/tables-dump"
	q postgres -c "DROP DATABASE bench_tables WITH (FORCE)" >/dev/null

	TABLES_REPORT=$WORK/tables.txt
	{
		echo "many tables ($n tables with a primary key, 3 rows each; max_locks_per_transaction $(q postgres -c 'SHOW max_locks_per_transaction')), medians of $REPS:"
		printf '  %-48s %8s s\n' "backup_db parallel 2" "$(med tables_backup)"
		printf '  %-48s %8s s\n' "pg_dump -Fd -j2 -Z1" "$(med tables_dump)"
		printf '  %-48s %8s s\n' "restore_db parallel 2" "$(med tables_restore)"
		printf '  %-48s %8s s\n' "pg_restore -j2" "$(med tables_pg_restore)"
		printf '  %-48s %8s\n' "backup_db time / pg_dump time" "$(div "$(med tables_backup)" "$(med tables_dump)")"
		printf '  %-48s %8s\n' "restore_db time / pg_restore time" "$(div "$(med tables_restore)" "$(med tables_pg_restore)")"
	} >"$TABLES_REPORT"
	cat "$TABLES_REPORT"
}
