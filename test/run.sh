#!/usr/bin/env bash
# test/run.sh: THE test command.  As root on Debian 12:
#
#     bash test/run.sh
#
# runs the whole suite (test/suite.sh: build, pg_regress + isolation +
# definition checks, every TAP script) on every supported PostgreSQL major:
#   15  on the host (Debian 12's packages),
#   17  in a Debian 13 "trixie" root,
#   18  in a Debian sid root,
# (roots made with debootstrap from Debian's archive and cached, see
# test/roots.sh), then the cross-version restores (test/crossversion.sh) and,
# if present, the package test (test/package.sh).  It prints each part's
# "N passed, N failed", a summary, and ends with ONE line "N passed, N failed"
# over everything; exits non-zero if anything failed.
#
# Knobs: PB_PG_VERSIONS (default "15 17 18"), PB_SKIP_CROSSVERSION=1,
# PB_SKIP_PACKAGE=1, and test/suite.sh's (PB_BUDGET per major, PB_TESTS,
# PB_SKIP_REGRESS, PB_SKIP_TAP, PB_TAP_TIMEOUT, PB_KEEP, PB_CORES), passed to
# every major's suite.  PB_ROOT_CACHE: where the roots are cached.

set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=test/lib.sh
source test/lib.sh
# shellcheck source=test/roots.sh
source test/roots.sh

VERSIONS=${PB_PG_VERSIONS:-15 17 18}
START=$(date +%s)
PASSED=0
FAILED=0
SUMMARY=()       # one line per part, printed at the end
FAILURES=()      # what failed, so that the end of the output names it
RUNS=()          # root run dirs to leave at the end
declare -A KEEP  # root run dir -> 1 if its suite failed (keep its files)
CHILD=           # the part running now (killed on INT/TERM)
CHILD_NAME=      # its name
TAILER=          # the tail -f echoing its output
declare -A ROOT_OF # major -> its root (for test/crossversion.sh)
OUT=$(mktemp -d "$PB_TMPROOT/partback-out.XXXXXX") || exit 1

# The pids of every descendant of process $1 (children first).
descendants()
{
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# Stop process $1 (the part running now, or the roots being made): TERM to it
# and everything below it (so that a suite's own trap runs at once and stops
# its clusters), KILL after 60 s.
stop_child()
{
	local pids CHILD=$1
	[ -n "$CHILD" ] || return 0
	pids="$CHILD $(descendants "$CHILD")"
	# shellcheck disable=SC2086 # a list of pids
	kill -TERM $pids 2>/dev/null
	for _ in $(seq 60); do
		kill -0 "$CHILD" 2>/dev/null || break
		sleep 1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	wait "$CHILD" 2>/dev/null
}

# Make the Debian roots of the majors that need one, before any suite runs:
# made while the host's suite ran, they saved a few minutes on a fresh
# machine but loaded it enough to make timing-sensitive tests of that suite
# fail there (a CI run's 15 suite lost one script that never failed here).
# In the background, waited for, so that INT and TERM still reach us.
ROOTS_PID=
prepare_roots()
{
	local v
	for v in $VERSIONS; do
		[ "$v" = "$PB_PG_MAJOR" ] && continue
		pb_root_ensure "$v" >/dev/null || echo "could not make the root for PostgreSQL $v"
	done
}

# Stop a prepare_roots still running and undo what it left half done.
stop_roots()
{
	local d
	[ -n "$ROOTS_PID" ] || return 0
	stop_child "$ROOTS_PID"
	ROOTS_PID=
	for d in "$PB_ROOT_CACHE"/.*.tmp."$$"; do
		[ -d "$d" ] || continue
		pb_root_kill_procs "$d"
		pb_umount_under "$d"
		rm -rf "$d"
	done
}

finish()
{
	local r
	stop_child "$CHILD"
	CHILD=
	[ -n "$TAILER" ] && kill "$TAILER" 2>/dev/null
	stop_roots
	for r in "${RUNS[@]}"; do
		pb_root_leave "$r" "${KEEP[$r]:-${PB_KEEP:-}}" || FAILED=$((FAILED + 1))
	done
	RUNS=()
	rm -rf "$OUT"
	echo
	echo "==================== summary ===================="
	for r in "${SUMMARY[@]}"; do
		echo "$r"
	done
	if [ "${#FAILURES[@]}" -gt 0 ]; then
		echo "failures (details above):"
		for r in "${FAILURES[@]}"; do
			echo "  $r"
		done
	fi
	echo "total time $(($(date +%s) - START)) s"
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
	SUMMARY+=("${CHILD_NAME:-run}: interrupted")
	finish
}
trap on_signal INT TERM

# Run a part (a command whose output ends with "N passed, N failed") in the
# background, so that INT/TERM reach us at once; echo its output, add its
# counts.  A part that prints no count line, or exits non-zero reporting no
# failure, counts one failure.
run_part()
{
	local name=$1 log=$OUT/$1.log rc=0 t0 line p f
	shift
	t0=$(date +%s)
	"$@" >"$log" 2>&1 &
	CHILD=$!
	CHILD_NAME=$name
	# echo it live; tail never ends by itself, so if it is gone at the end
	# something killed it, and the whole log is printed instead
	tail -n +1 -f "$log" 2>/dev/null &
	TAILER=$!
	wait "$CHILD" || rc=$?
	CHILD=
	sleep 1
	if kill "$TAILER" 2>/dev/null; then
		wait "$TAILER" 2>/dev/null
		TAILER=
	else
		TAILER=
		echo "---- (live output of $name stopped; its whole log follows) ----"
		cat "$log"
	fi
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed}
	else
		p=0
		f=1
		echo "$name: no \"N passed, N failed\" line (exit status $rc)"
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$name: exited with $rc but reported no failure; counted as one"
		f=1
	fi
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	if [ "$f" -gt 0 ]; then
		# the failing scripts, regress tests and subtests, at most 20 lines
		while IFS= read -r line; do
			FAILURES+=("$name: $line")
		done < <(grep -E ': (FAILED|TIMED OUT)|^not ok|^ +not ok|^(test| ) +[^ ]+ +\.\.\. +(FAILED|failed)|^# +(Failed test|Looks like)' "$log" | head -n 20)
	fi
	SUMMARY+=("$(printf '%-26s %5d passed, %3d failed  (%d s)' "$name:" "$p" "$f" "$(($(date +%s) - t0))")")
}

# A part that could not even start counts as one failure.
part_failed()
{
	echo "$1: $2"
	FAILED=$((FAILED + 1))
	SUMMARY+=("$(printf '%-26s %5d passed, %3d failed  (%s)' "$1:" 0 1 "$2")")
}

# Copy the repository (no .git, no build products) to dir $1 inside a root.
copy_repo_to()
{
	mkdir -p "$1" &&
		tar -cf - --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
			--exclude=./results --exclude=tmp_check --exclude=./test/tmp . |
		(cd "$1" && tar -xf -)
}

# The environment every suite gets: the knobs the caller set.
suite_env()
{
	local v
	for v in PB_BUDGET PB_TESTS PB_SKIP_REGRESS PB_SKIP_TAP PB_TAP_TIMEOUT \
		PB_KEEP PB_CORES CI; do
		[ -n "${!v+x}" ] && printf '%s=%s\n' "$v" "${!v}"
	done
}

pb_require_root
echo "==> PostgreSQL majors: $VERSIONS"

# ------------------------------------------------------------------ host
# debootstrap makes the roots; ps (procps) finds the processes to stop
PB_PACKAGES+=(debootstrap procps)
if ! pb_install_deps; then
	part_failed "host packages" "apt-get failed"
	finish
fi
pb_ensure_user
pb_root_cleanup_stale
pb_cleanup_stale

# ------------------------------------------------------------------ suites
prepare_roots >"$OUT/roots.log" 2>&1 &
ROOTS_PID=$!
t0=$(date +%s)
wait "$ROOTS_PID" || true
ROOTS_PID=
cat "$OUT/roots.log"
echo "==> Debian roots ready in $(($(date +%s) - t0)) s"
for v in $VERSIONS; do
	echo
	echo "==================== PostgreSQL $v ===================="
	mapfile -t envs < <(suite_env)
	if [ "$v" = "$PB_PG_MAJOR" ]; then
		# the host's own major (15, or the sandbox's copy of it)
		run_part "PostgreSQL $v suite" env "${envs[@]}" bash test/suite.sh
		continue
	fi
	t0=$(date +%s)
	run=$(mktemp -d "$PB_TMPROOT/partback-root.XXXXXX") || { part_failed "PostgreSQL $v suite" "mktemp failed"; continue; }
	echo $$ >"$run/.runner_pid"
	RUNS+=("$run")
	if ! pb_root_enter "$v" "$run"; then
		part_failed "PostgreSQL $v suite" "no Debian root for PostgreSQL $v"
		continue
	fi
	ROOT_OF[$v]=$run/root
	if ! copy_repo_to "$run/root/partback-src"; then
		part_failed "PostgreSQL $v suite" "could not copy the repository into the root"
		continue
	fi
	echo "==> root for PostgreSQL $v ready in $(($(date +%s) - t0)) s: $run/root"
	f0=$FAILED
	run_part "PostgreSQL $v suite" pb_root_run "$run" "${envs[@]}" PB_PG_MAJOR="$v" \
		bash /partback-src/test/suite.sh
	[ "$FAILED" -gt "$f0" ] && KEEP[$run]=1
done

# ------------------------------------------------------------------ cross-version
if [ -z "${PB_SKIP_CROSSVERSION:-}" ]; then
	echo
	echo "==================== cross-version restores ===================="
	xv_env=()
	for v in "${!ROOT_OF[@]}"; do
		xv_env+=("PB_ROOT_$v=${ROOT_OF[$v]}")
	done
	run_part "cross-version" env "${xv_env[@]}" PB_PG_VERSIONS="$VERSIONS" \
		PB_XV_BUILT="$VERSIONS" \
		bash test/crossversion.sh
fi

# ------------------------------------------------------------------ packages
if [ -z "${PB_SKIP_PACKAGE:-}" ] && [ -f test/package.sh ]; then
	echo
	echo "==================== packages (test/package.sh) ===================="
	# shellcheck disable=SC2086 # one argument per major
	run_part "packages" bash test/package.sh $VERSIONS
fi

finish
