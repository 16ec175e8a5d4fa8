#!/usr/bin/env bash
# test/crossversion.sh: backups move between PostgreSQL majors.  Called by
# test/run.sh after the suites; as root on Debian 12.
#
# A cluster of the host's major (15) and one of each newer major in its
# Debian root (test/roots.sh; the roots share the host's network namespace
# and all cluster dirs, sockets and backups live in one dir bind-mounted at
# the same path into every root, so a server-side backup path means the same
# thing to every server):
#   - 15 loads test/t/fidelity_schema.sql (every built-in type, many
#     definition properties) and takes partback.backup_db;
#   - every newer major restores it with restore_db (into a database that
#     has the extension and the schema's types) and with migrate (into an
#     empty one), and must give back every table and leaf partition row for
#     row (pbtest.fp / pbtest.leaves, count + md5 of the rows as text), and
#     the same definitions as the same schema created natively on that
#     major: `pg_dump -s` of both, by the newest major's pg_dump, normalized
#     (comments, SET lines, \restrict lines out).  Not the source's dump: a
#     table made on 15 and the same table made on 18 dump differently (18
#     names NOT NULL constraints, and pg_dump prints names it did not
#     generate, e.g. truncated ones), which is PostgreSQL's difference, not a
#     loss.  The definitions are compared with each table's column lines
#     sorted, then the column order on its own;
#   - newer to older: a backup taken on the newest major, restored on 15,
#     must be refused at call time with SQLSTATE 0A000 and a message naming
#     the newer major, and leave the target unchanged.
# One "ok - ..." or "FAIL - ..." line per check; ends with "N passed, N
# failed"; exits non-zero if anything failed.
#
# Partback must be installed for each major: test/run.sh's suites did that
# and pass the roots as PB_ROOT_17=/path PB_ROOT_18=/path and the majors
# they built in PB_XV_BUILT="15 17 18".  Without them (run on its own) it
# enters the roots and builds and installs partback itself.
# Knobs: PB_PG_VERSIONS (default "15 17 18"), PB_KEEP=1 keeps the work dir.

set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=test/lib.sh
source test/lib.sh
# shellcheck source=test/roots.sh
source test/roots.sh

PASSED=0
FAILED=0
SRC=$PB_PG_MAJOR             # the host's major: the source of the backups
TARGETS=()                   # the newer majors
declare -A ROOT              # major -> root dir ("" for the host)
declare -A PORT              # major -> port of its cluster
OWN_RUNS=()                  # roots this script entered itself
BINDS=()                     # bind mounts of the work dir into roots
X=                           # the work dir, same path on host and in roots

ok() { echo "ok - $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL - $*"; FAILED=$((FAILED + 1)); }

cleanup()
{
	local v m r
	for v in "$SRC" "${TARGETS[@]}"; do
		[ -n "$X" ] && [ -f "$X/pg$v/data/postmaster.pid" ] &&
			as_pg "$v" pg_ctl -D "$X/pg$v/data" -m fast -w -t 60 stop >/dev/null 2>&1
	done
	for m in "${BINDS[@]}"; do
		r=${m%%"$X"}
		pb_root_kill_procs "$r"
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	BINDS=()
	for r in "${OWN_RUNS[@]}"; do
		pb_root_leave "$r"
	done
	OWN_RUNS=()
	if [ -n "$X" ] && [ -d "$X" ]; then
		pb_kill_postmasters_under "$X"
		if [ "$FAILED" -eq 0 ] && [ -z "${PB_KEEP:-}" ]; then
			rm -rf "$X"
		else
			echo "cross-version work dir kept in $X"
		fi
	fi
}

finish()
{
	cleanup
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ] && exit 0
	exit 1
}

# shellcheck disable=SC2317 # called by the trap
on_signal()
{
	trap - INT TERM
	echo "interrupted"
	FAILED=$((FAILED + 1))
	finish
}
trap on_signal INT TERM

# Run a command of major $1's PostgreSQL as user partback: on the host for
# the host's major, else chrooted into its root; its bin dir first on PATH.
as_pg()
{
	local v=$1
	shift
	if [ -z "${ROOT[$v]}" ]; then
		pb_as_user "$@"
		return
	fi
	chroot "${ROOT[$v]}" setpriv --reuid "$PB_USER" --regid "$PB_USER" --init-groups -- \
		/usr/bin/env -i HOME="/home/$PB_USER" USER="$PB_USER" LANG=C.UTF-8 \
		PATH="/usr/lib/postgresql/$v/bin:/usr/bin:/bin" "$@"
}

# psql to major $1's cluster, database $2, unaligned; stops at the first error
q()
{
	local v=$1 db=$2
	shift 2
	as_pg "$v" psql -X -q -At -v ON_ERROR_STOP=1 -h "$X/pg$v" -p "${PORT[$v]}" -d "$db" "$@"
}

# Build and install partback for major $1, unless test/run.sh's suite did
# that already (PB_XV_BUILT lists those majors).
ensure_partback()
{
	local v=$1
	case " ${PB_XV_BUILT:-} " in
	*" $v "*) return 0 ;;
	esac
	echo "==> building partback for PostgreSQL $v"
	if [ -z "${ROOT[$v]}" ]; then
		pb_prepare_tree xv-build && pb_build_install "$PB_TREE" >/dev/null
		local rc=$?
		rm -rf "$PB_TREE"
		return $rc
	fi
	mkdir -p "${ROOT[$v]}/partback-xv-build"
	(tar -cf - --exclude=./.git --exclude='*.o' --exclude='*.so' . |
		tar -xf - -C "${ROOT[$v]}/partback-xv-build") &&
		chroot "${ROOT[$v]}" /usr/bin/env -i PATH=/usr/bin:/bin \
			make -s -C /partback-xv-build PG_CONFIG="/usr/lib/postgresql/$v/bin/pg_config" all install \
			>/dev/null
}

# initdb and start major $1's cluster in $X/pg$1 (socket there too).
start_cluster()
{
	local v=$1 d=$X/pg$1
	install -d -o "$PB_USER" -g "$(id -gn "$PB_USER")" -m 0700 "$d"
	if ! as_pg "$v" initdb -D "$d/data" --auth=trust -E UTF8 --locale=C.UTF-8 \
		--no-instructions >"$d/initdb.log" 2>&1; then
		cat "$d/initdb.log"
		return 1
	fi
	cat >>"$d/data/postgresql.conf" <<-EOF

		# added by partback test/crossversion.sh
		shared_preload_libraries = 'partback'
		listen_addresses = ''
		unix_socket_directories = '$d'
		port = ${PORT[$v]}
		max_worker_processes = 16
		log_line_prefix = '%m [%p] %q%a '
	EOF
	if ! as_pg "$v" pg_ctl -D "$d/data" -l "$d/server.log" -w -t 120 start >/dev/null; then
		tail -n 30 "$d/server.log"
		return 1
	fi
}

# Print the server log's last lines of major $1 (after a failure).
show_log()
{
	echo "---- PostgreSQL $1 server log (last 15 lines) ----"
	tail -n 15 "$X/pg$1/server.log"
	echo "----"
}

# A database $2 on major $1 with the extension, the schema's types and the
# pbtest helpers: what a restore target needs.
make_target_db()
{
	local v=$1 db=$2
	q "$v" postgres -c "CREATE DATABASE $db" &&
		q "$v" "$db" -c "CREATE EXTENSION partback" -f "$X/types.sql" -f "$X/helpers.sql"
}

# Content of every table of database $2 on major $1, tab-separated: per
# table its name, "table" and its row count and md5 (pbtest.fp), then per
# leaf partition its name, bounds chain and fingerprint (pbtest.leaves).
content()
{
	q "$1" "$2" -F "$(printf '\t')" \
		-c "SELECT r.name, 'table', pbtest.fp(r.rel) FROM pbtest.roots() AS r" \
		-c "SELECT r.name, l.chain, l.fp FROM pbtest.roots() AS r, pbtest.leaves(r.rel) AS l"
}

# The lines of content file $2 of table $1; or, without $1, the table names.
table_lines()
{
	T=$1 awk -F '\t' '$1 == ENVIRON["T"]' "$2"
}
table_names()
{
	cut -f1 "$1" | sort -u
}

# `pg_dump -s` of database $2 on major $1 with the newest pg_dump, normalized
# into file $3: no comments, SET or set_config lines, \restrict lines, blank
# lines (they hold versions, dump times and random keys), and no "ALTER
# COLUMN ... SET (pg_attver=N)" lines, nor pg_attver among other options:
# sid's pg_dump 18 prints those, with a different N each time, for every
# column of a pre-18 server; it is the server's own attribute option (back
# branches), not one a user or partback sets.  The tables only 18 has (fid.pg18*, made by the schema
# file's 18-only block) are left out.  $3.sorted: the same with the column
# lines of each CREATE TABLE sorted.
dump_schema()
{
	local v=$1 db=$2 out=$3
	as_pg "$NEWEST" pg_dump -s -T 'fid.pg18*' -h "$X/pg$v" -p "${PORT[$v]}" -d "$db" -f "$out.raw" || return 1
	grep -vE '^(--|SET |SELECT pg_catalog\.set_config|\\(un)?restrict |$)' "$out.raw" |
		grep -vE '^ALTER TABLE ONLY .* ALTER COLUMN .* SET \(pg_attver=[0-9]+\);$' |
		sed -E 's/pg_attver=[0-9]+, //; s/, pg_attver=[0-9]+\)/)/' >"$out"
	# (mawk: no asort; sort(1) through a pipe, awk's own output flushed first)
	awk -v sort='LC_ALL=C sort' '
		/^CREATE (UNLOGGED )?TABLE .*\($/ { print; fflush(); incols = 1; next }
		incols && /^\)/ { close(sort); incols = 0; print; next }
		incols { sub(/,$/, ""); print | sort; next }
		{ print }' "$out" >"$out.sorted"
}

# Check that database $2 on target $1 holds what the source's src holds.
compare_with_source()
{
	local v=$1 db=$2 what=$3 t lines bad=0
	content "$v" "$db" >"$X/content.$v.$db" 2>&1
	# per table: its fingerprint line and its leaves' lines
	while IFS= read -r t; do
		lines=$(table_lines "$t" "$X/content.src" | wc -l)
		if diff <(table_lines "$t" "$X/content.src") <(table_lines "$t" "$X/content.$v.$db") >"$X/diff" 2>&1; then
			ok "$what: $t: content identical ($lines table and leaf fingerprints)"
		else
			fail "$what: $t: content differs (< source, > PostgreSQL $v)"
			cat "$X/diff"
			bad=1
		fi
	done < <(table_names "$X/content.src")
	if diff <(table_names "$X/content.src") <(table_names "$X/content.$v.$db") >"$X/diff"; then
		ok "$what: the same $(table_names "$X/content.src" | wc -l) tables as the source"
	else
		fail "$what: the target has other tables than the source (< source, > target)"
		cat "$X/diff"
	fi
	if ! dump_schema "$v" "$db" "$X/schema.$v.$db"; then
		fail "$what: pg_dump -s of the target failed"
	elif diff -u "$X/schema.$v.native.sorted" "$X/schema.$v.$db.sorted" >"$X/diff"; then
		ok "$what: pg_dump -s (by pg_dump $NEWEST) identical to the schema created on $v (column order aside)"
		if diff -u "$X/schema.$v.native" "$X/schema.$v.$db" >"$X/diff"; then
			ok "$what: every table's column order as created on $v"
		else
			fail "$what: a table's column order differs from the one created on $v (- created on $v, + restored)"
			head -n 150 "$X/diff"
		fi
	else
		fail "$what: pg_dump -s (by pg_dump $NEWEST) differs from the schema created on $v (- created on $v, + restored; column lines sorted)"
		head -n 150 "$X/diff"
	fi
	return $bad
}

# Call $3 (a restore function call) on the source major in a database that
# must stay unchanged: it must fail at call time with 0A000 naming major $1.
refused_newer()
{
	local newer=$1 db=$2 call=$3 before after out rc=0
	before=$(q "$SRC" "$db" -c "SELECT (SELECT count(*) FROM pbtest.roots()) || ' tables, ' || (SELECT count(*) FROM partback.job) || ' jobs'")
	out=$(q "$SRC" "$db" -v VERBOSITY=verbose -c "SELECT $call" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "$newer -> $SRC: $call was not refused at call time (returned job $out)"
		q "$SRC" "$db" -c "SELECT partback.wait_job($out)" >/dev/null 2>&1
	elif grep -q '0A000' <<<"$out" && grep -q "PostgreSQL $newer" <<<"$out"; then
		ok "$newer -> $SRC: $call refused at call time: $(grep -m1 ERROR <<<"$out")"
	else
		fail "$newer -> $SRC: $call failed, but not with 0A000 naming PostgreSQL $newer:"
		echo "$out"
	fi
	after=$(q "$SRC" "$db" -c "SELECT (SELECT count(*) FROM pbtest.roots()) || ' tables, ' || (SELECT count(*) FROM partback.job) || ' jobs'")
	if [ "$before" = "$after" ]; then
		ok "$newer -> $SRC: $call left the target unchanged ($after)"
	else
		fail "$newer -> $SRC: $call changed the target: before $before, after $after"
	fi
}

# ------------------------------------------------------------------ setup
pb_require_root
pb_ensure_user
ROOT[$SRC]=
for v in ${PB_PG_VERSIONS:-15 17 18}; do
	[ "$v" = "$SRC" ] && continue
	TARGETS+=("$v")
	var=PB_ROOT_$v
	if [ -n "${!var:-}" ]; then
		ROOT[$v]=${!var}
		continue
	fi
	run=$(mktemp -d "$PB_TMPROOT/partback-root.XXXXXX") || finish
	echo $$ >"$run/.runner_pid"
	OWN_RUNS+=("$run")
	if ! pb_root_enter "$v" "$run"; then
		fail "PostgreSQL $v: no Debian root"
		finish
	fi
	ROOT[$v]=$run/root
done
if [ ${#TARGETS[@]} -eq 0 ]; then
	echo "no major newer than $SRC in PB_PG_VERSIONS: nothing to test"
	finish
fi
NEWEST=${TARGETS[-1]}
echo "==> source PostgreSQL $SRC, targets ${TARGETS[*]}; definitions compared by pg_dump $NEWEST"

X=$(mktemp -d "$PB_TMPROOT/partback-xv.XXXXXX") || finish
echo $$ >"$X/.runner_pid"
chown "$PB_USER:" "$X"
chmod 0755 "$X"
for v in "${TARGETS[@]}"; do
	mkdir -p "${ROOT[$v]}$X"
	if ! mount --bind "$X" "${ROOT[$v]}$X"; then
		fail "could not bind-mount $X into the PostgreSQL $v root"
		finish
	fi
	BINDS+=("${ROOT[$v]}$X")
done
# the schema file in its three sections
awk -v dir="$X" '/^-- @@[a-z]+/ { sec = substr($2, 3); next } sec != "" { print > (dir "/" sec ".sql") }' \
	test/t/fidelity_schema.sql
install -d -o "$PB_USER" -m 0700 "$X/backups"
chown "$PB_USER:" "$X"/*.sql

port=$(pb_free_port 56432)
for v in "$SRC" "${TARGETS[@]}"; do
	PORT[$v]=$port
	port=$(pb_free_port $((port + 1)))
	if ! ensure_partback "$v"; then
		fail "PostgreSQL $v: partback is not installed and does not build"
		finish
	fi
	if ! start_cluster "$v"; then
		fail "PostgreSQL $v: could not start a cluster"
		finish
	fi
	echo "==> PostgreSQL $v: $(q "$v" postgres -c 'SELECT version()')"
	if ! q "$v" postgres -f "$X/cluster.sql" >/dev/null; then
		fail "PostgreSQL $v: could not run the schema's cluster section"
		finish
	fi
done

# ------------------------------------------------------------------ older -> newer
if make_target_db "$SRC" src && q "$SRC" src -f "$X/tables.sql" >/dev/null; then
	ok "PostgreSQL $SRC: the fidelity schema loaded"
else
	fail "PostgreSQL $SRC: could not load the fidelity schema"
	finish
fi
if q "$SRC" src -c "SELECT partback.backup_db('$X/backups/from$SRC', wait => true)" >/dev/null; then
	ok "PostgreSQL $SRC: backup_db"
else
	fail "PostgreSQL $SRC: backup_db"
	show_log "$SRC"
	finish
fi
content "$SRC" src >"$X/content.src" || { fail "reading the source's content"; finish; }

for v in "${TARGETS[@]}"; do
	# the schema created on this major itself: what its definitions must be
	if make_target_db "$v" native && q "$v" native -f "$X/tables.sql" >/dev/null &&
		dump_schema "$v" native "$X/schema.$v.native"; then
		ok "PostgreSQL $v: the fidelity schema created natively and dumped"
	else
		fail "PostgreSQL $v: creating the fidelity schema natively"
		continue
	fi
	if make_target_db "$v" viarestore &&
		q "$v" viarestore -c "SELECT partback.restore_db('$X/backups/from$SRC', source_db => 'src', backup_id => 1, wait => true)" >/dev/null; then
		ok "$SRC -> $v: restore_db"
		compare_with_source "$v" viarestore "$SRC -> $v restore_db"
	else
		fail "$SRC -> $v: restore_db"
		show_log "$v"
	fi
	if make_target_db "$v" viamigrate &&
		q "$v" viamigrate -c "SELECT partback.migrate('$X/backups/from$SRC', source_db => 'src', wait => true)" >/dev/null; then
		ok "$SRC -> $v: migrate"
		compare_with_source "$v" viamigrate "$SRC -> $v migrate"
	else
		fail "$SRC -> $v: migrate"
		show_log "$v"
	fi
done

# ------------------------------------------------------------------ newer -> older
# the newest major's backup of its own fidelity schema (with what only it
# has: 18's named and NOT VALID NOT NULLs, virtual columns)
if q "$NEWEST" native -c "SELECT partback.backup_db('$X/backups/from$NEWEST', wait => true)" >/dev/null; then
	ok "PostgreSQL $NEWEST: backup_db of its own fidelity schema"
	make_target_db "$SRC" back || fail "PostgreSQL $SRC: could not make database back"
	refused_newer "$NEWEST" back "partback.restore_db('$X/backups/from$NEWEST', source_db => 'native', backup_id => 1)"
	refused_newer "$NEWEST" back "partback.restore_table('$X/backups/from$NEWEST', 'fid.scalars', source_db => 'native', backup_id => 1)"
	refused_newer "$NEWEST" back "partback.restore('$X/backups/from$NEWEST', 'fid.sales', '%', source_db => 'native', backup_id => 1)"
	refused_newer "$NEWEST" back "partback.migrate('$X/backups/from$NEWEST', source_db => 'native')"
else
	fail "PostgreSQL $NEWEST: loading and backing up the fidelity schema"
	show_log "$NEWEST"
fi

finish
