#!/usr/bin/env bash
# test/suite.sh: the whole suite against ONE PostgreSQL major.  test/run.sh
# (THE test command) calls it for every supported major: on the host for 15,
# inside a Debian root (test/roots.sh) for the others.  As root:
#
#     PB_PG_MAJOR=15 bash test/suite.sh
#
# installs what is missing, builds (no compiler warning allowed) and installs
# partback for that major (and the test-only label provider test/seclabel),
# then runs as the OS user "partback"
#   - the pg_regress suite (sql/[0-9]*.sql against expected/, then the
#     isolation specs) on a throwaway cluster with shared_preload_libraries =
#     'partback', through `make installcheck`, and test/sql_definition_check.sh;
#   - every TAP test test/t/*.pl (PostgreSQL::Test::Cluster; each cluster gets
#     shared_preload_libraries = 'partback' through TEMP_CONFIG).
# It ends with the line "N passed, N failed" (regress tests + TAP subtests; a
# failed build, a harness failure or a TAP script that dies counts as one
# failure) and exits non-zero if anything failed.
#
# Environment knobs: PB_PG_MAJOR (default 15), PB_TAP_TIMEOUT (seconds per
# TAP script, default 600), PB_BUDGET (seconds for the whole suite, default
# 1080), PB_TESTS (TAP scripts to run, e.g. "t/010_roundtrip.pl"; default
# all), PB_SKIP_REGRESS=1, PB_SKIP_TAP=1, PB_KEEP=1 (keep the temp tree even
# on success), PB_CORES=1 (allow core dumps of crashing server processes).
# TAP scripts get PB_SMALL_FS, an 8 MB tmpfs mounted for the disk-full tests
# (unset, with the reason printed, when the mount fails).

set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=test/lib.sh
source test/lib.sh

PASSED=0
FAILED=0
SKIPPED=0
START=$(date +%s)
BUDGET=${PB_BUDGET:-1080}
TAP_TIMEOUT=${PB_TAP_TIMEOUT:-600}
REGRESS_DIR=
PB_TREE=
PB_SMALL_FS=

elapsed() { echo $(($(date +%s) - START)); }

cleanup()
{
	if [ -n "$REGRESS_DIR" ]; then
		pb_stop_cluster "$REGRESS_DIR"
		REGRESS_DIR=
	fi
	if [ -n "$PB_TREE" ] && [ -d "$PB_TREE" ]; then
		pb_kill_postmasters_under "$PB_TREE"
		pb_umount_under "$PB_TREE"
		if [ "$FAILED" -eq 0 ] && [ -z "${PB_KEEP:-}" ]; then
			rm -rf "$PB_TREE" /tmp/partback_regress
		else
			echo "test tree and logs kept in $PB_TREE"
		fi
	fi
}

finish()
{
	cleanup
	[ "$SKIPPED" -gt 0 ] && echo "($SKIPPED TAP subtests skipped)"
	echo "PostgreSQL $PB_PG_MAJOR: total time $(elapsed) s"
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

pb_require_root
# PB_CORES=1: let crashing server processes dump core (core_pattern decides
# where; with the default "core", into the data directory, kept on failure)
[ -n "${PB_CORES:-}" ] && ulimit -c unlimited

# ------------------------------------------------------------------ setup
pb_log "checking packages"
if ! pb_install_deps; then
	FAILED=$((FAILED + 1))
	finish
fi
pb_ensure_user
pb_cleanup_stale
pb_prepare_tree test
pb_log "PostgreSQL $PB_PG_MAJOR ($("$PB_PGBIN/postgres" --version)): building in $PB_TREE (PG_CONFIG=$PG_CONFIG)"
if ! pb_build_install "$PB_TREE"; then
	echo "BUILD FAILED"
	FAILED=$((FAILED + 1))
	finish
fi
# the security label provider "pbtest" that the security label test loads
# (test/seclabel), for the same major
if ! pb_build_install "$PB_TREE/test/seclabel"; then
	echo "BUILD FAILED (test/seclabel)"
	FAILED=$((FAILED + 1))
	finish
fi
pb_log "build and install ok"

# ------------------------------------------------------------------ regress
run_regress()
{
	local tests=() f log rc=0 ok bad
	for f in "$PB_TREE"/sql/[0-9]*.sql; do
		[ -f "$f" ] && tests+=("$(basename "$f" .sql)")
	done
	# isolation specs (Makefile's ISOLATION) run after them, same summary lines
	for f in "$PB_TREE"/specs/*.spec; do
		[ -f "$f" ] && tests+=("$(basename "$f" .spec)")
	done
	if [ ${#tests[@]} -eq 0 ]; then
		pb_log "regress: no tests in sql/"
		return
	fi
	pb_log "regress: ${#tests[@]} tests"
	# the regress tests keep their backups in fixed dirs below this one,
	# which must be empty and writable by the server at the start
	rm -rf /tmp/partback_regress
	install -d -o "$PB_USER" -g "$(id -gn "$PB_USER")" -m 0700 /tmp/partback_regress
	REGRESS_DIR=$PB_TREE/regress_pg
	if ! pb_start_cluster "$REGRESS_DIR" "$(pb_free_port 55432)"; then
		echo "regress: could not start a cluster"
		FAILED=$((FAILED + 1))
		return
	fi
	log=$PB_TREE/regress.log
	pb_as_user env PGHOST="$PB_HOST" PGPORT="$PB_PORT" \
		timeout -k 10 "$((BUDGET - $(elapsed) > 60 ? BUDGET - $(elapsed) : 60))" \
		make -C "$PB_TREE" -s installcheck PG_CONFIG="$PG_CONFIG" TAP_TESTS= \
		>"$log" 2>&1 || rc=$?
	cat "$log"
	# pg_regress's result lines: 15 prints "test NAME ... ok 12 ms" (or
	# "     NAME ... FAILED"), 16 and later TAP: "ok 1 - NAME  12 ms" and
	# "not ok 2 - NAME  30 ms" ("+" instead of "-" in a parallel group)
	ok=$(grep -cE '^((test| ) +[^ ]+ +\.\.\. +ok( |$)|ok [0-9]+ +[-+] +[^ ]+)' "$log")
	bad=$(grep -cE '^((test| ) +[^ ]+ +\.\.\. +(FAILED|failed)|not ok [0-9]+ +[-+] +[^ ]+)' "$log")
	if [ "$rc" -ne 0 ]; then
		echo "regress: make installcheck exited with $rc"
		[ "$bad" -eq 0 ] && bad=1
	fi
	if [ "$((ok + bad))" -lt "${#tests[@]}" ]; then
		# pg_regress gave up early: every test it did not report failed
		echo "regress: only $((ok + bad)) of ${#tests[@]} tests reported"
		bad=$((${#tests[@]} - ok))
	fi
	if [ "$bad" -gt 0 ]; then
		# pg_regress writes regression.diffs into its --outputdir
		for f in "$PB_TREE/regression.diffs" "$PB_TREE/results/regression.diffs" \
			"$PB_TREE/output_iso/regression.diffs"; do
			[ -f "$f" ] || continue
			echo "---- ${f#"$PB_TREE"/} (first 200 lines) ----"
			head -n 200 "$f"
			echo "---- end of regression.diffs ----"
		done
	fi
	if [ "$bad" -gt 0 ]; then
		# the servers of make installcheck's --temp-instance
		for f in "$PB_TREE"/tmp_check_regress/log/postmaster.log \
			"$PB_TREE"/tmp_check_isolation/log/postmaster.log; do
			[ -f "$f" ] || continue
			echo "---- ${f#"$PB_TREE"/} (last 40 lines) ----"
			tail -n 40 "$f"
			echo "---- end of server log ----"
		done
	fi
	pb_log "regress: $ok passed, $bad failed"
	PASSED=$((PASSED + ok))
	FAILED=$((FAILED + bad))
	run_definition_check
	pb_stop_cluster "$REGRESS_DIR"
	REGRESS_DIR=
}

# test/sql_definition_check.sh: the definition capture and target matching
# functions on their own, against the regress cluster; one check a line.
run_definition_check()
{
	local log=$PB_TREE/definition.log rc=0 ok bad
	pb_as_user env PGHOST="$PB_HOST" PGPORT="$PB_PORT" PGUSER="$PB_USER" \
		timeout -k 10 300 bash "$PB_TREE/test/sql_definition_check.sh" \
		>"$log" 2>&1 || rc=$?
	ok=$(grep -c '^ok ' "$log")
	bad=$(grep -c '^FAIL ' "$log")
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
	fi
	if [ "$bad" -gt 0 ]; then
		echo "---- definition checks ----"
		cat "$log"
		echo "---- end of definition checks ----"
	fi
	pb_log "definition checks: $ok passed, $bad failed"
	PASSED=$((PASSED + ok))
	FAILED=$((FAILED + bad))
}

# ------------------------------------------------------------------ TAP
# Mimics PGXS's prove_installcheck: TESTDIR (15), TESTDATADIR and TESTLOGDIR
# (16 and later: PostgreSQL::Test::Utils makes its dirs from them, else data
# and backup dirs are relative), PGPORT, PG_REGRESS, -I flags.
run_tap()
{
	local scripts=() s name log rc remaining limit ok bad skip t0 tmpconf f pgxs_dir
	if [ -n "${PB_TESTS:-}" ]; then
		read -r -a scripts <<<"$PB_TESTS"
	else
		for f in "$PB_TREE"/test/t/*.pl; do
			[ -f "$f" ] && scripts+=("t/$(basename "$f")")
		done
	fi
	if [ ${#scripts[@]} -eq 0 ]; then
		pb_log "TAP: no tests in test/t/"
		return
	fi
	pb_log "TAP: ${#scripts[@]} scripts"
	pgxs_dir=$(dirname "$("$PG_CONFIG" --pgxs)")/..
	pgxs_dir=$(cd "$pgxs_dir" && pwd)
	rm -rf "$PB_TREE/test/tmp_check"
	mkdir -p "$PB_TREE/test/tmp_check"
	tmpconf=$PB_TREE/test/tmp_check/partback_temp.conf
	cat >"$tmpconf" <<-'EOF'
		# added to every PostgreSQL::Test::Cluster node by test/run.sh
		shared_preload_libraries = 'partback'
		max_worker_processes = 16
	EOF
	chown -R "$PB_USER:" "$PB_TREE/test/tmp_check"
	# an 8 MB file system for the disk-full tests (PB_SMALL_FS); without it
	# they skip
	PB_SMALL_FS=$PB_TREE/smallfs
	if ! pb_mount_small_fs "$PB_SMALL_FS" 8m; then
		echo "TAP: the disk-full tests will skip"
		PB_SMALL_FS=
	fi

	for s in "${scripts[@]}"; do
		name=$(basename "$s" .pl)
		log=$PB_TREE/test/tmp_check/prove_$name.out
		remaining=$((BUDGET - $(elapsed)))
		if [ "$remaining" -lt 20 ]; then
			echo "$s: NOT RUN (time budget of $BUDGET s used up)"
			FAILED=$((FAILED + 1))
			continue
		fi
		limit=$((TAP_TIMEOUT < remaining ? TAP_TIMEOUT : remaining))
		t0=$(date +%s)
		rc=0
		(cd "$PB_TREE/test" && pb_as_user env \
			TESTDIR="$PB_TREE/test" \
			TESTDATADIR="$PB_TREE/test/tmp_check" \
			TESTLOGDIR="$PB_TREE/test/tmp_check/log" \
			PGPORT=65432 \
			PG_REGRESS="$pgxs_dir/test/regress/pg_regress" \
			PERL5LIB="$pgxs_dir/test/perl:$PB_TREE/test/perl:$PB_TREE/test" \
			TEMP_CONFIG="$tmpconf" \
			PG_TEST_PORT_DIR="$PB_TREE/test/tmp_check" \
			PARTBACK_SRCDIR="$PB_TREE" \
			PB_SMALL_FS="$PB_SMALL_FS" \
			timeout -k 15 "$limit" \
			prove -v -I "$pgxs_dir/test/perl" \
			-I "$PB_TREE/test/perl" -I "$PB_TREE/test" "$s") \
			>"$log" 2>&1 || rc=$?
		pb_kill_postmasters_under "$PB_TREE/test/tmp_check"
		# top-level TAP lines only (subtests are indented)
		ok=$(grep -E '^(t/[^ ]+ \.+ )?ok [0-9]+' "$log" | grep -cviE '# *(skip|todo)')
		skip=$(grep -E '^(t/[^ ]+ \.+ )?ok [0-9]+' "$log" | grep -ciE '# *skip')
		bad=$(grep -E '^(t/[^ ]+ \.+ )?not ok [0-9]+' "$log" | grep -cviE '# *todo')
		# prove's own count covers planned tests that never ran
		f=$(sed -nE 's/^Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' "$log" | tail -n 1)
		if [ -n "$f" ] && [ "$f" -gt "$bad" ]; then
			bad=$f
		fi
		if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
			bad=1 # died, no plan, timeout: the script itself failed
		fi
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "$s: TIMED OUT after $limit s"
		fi
		if [ "$bad" -gt 0 ]; then
			echo "$s: FAILED ($ok passed, $bad failed, $(($(date +%s) - t0)) s)"
			echo "---- prove output ----"
			cat "$log"
			if [ -f "$PB_TREE/test/tmp_check/log/regress_log_$name" ]; then
				echo "---- tmp_check/log/regress_log_$name (last 100 lines) ----"
				tail -n 100 "$PB_TREE/test/tmp_check/log/regress_log_$name"
			fi
			for f in "$PB_TREE/test/tmp_check/log/${name}"_*.log; do
				[ -f "$f" ] || continue
				echo "---- ${f#"$PB_TREE"/test/} (last 40 lines) ----"
				tail -n 40 "$f"
			done
			echo "---- end of $s ----"
		else
			echo "$s: ok ($ok passed$([ "$skip" -gt 0 ] && echo ", $skip skipped"), $(($(date +%s) - t0)) s)"
		fi
		PASSED=$((PASSED + ok))
		FAILED=$((FAILED + bad))
		SKIPPED=$((SKIPPED + skip))
	done
}

[ -z "${PB_SKIP_REGRESS:-}" ] && run_regress
[ -z "${PB_SKIP_TAP:-}" ] && run_tap
finish
