#!/usr/bin/env bash
# test/fuzz.sh [SECONDS]: fuzz partback's readers of backup files with
# libFuzzer, SECONDS per target (default 60, or $PB_FUZZ_SECONDS).  As root
# on Debian 12; a developer's tool, not part of test/run.sh or CI.  Run it
# in a sandbox (test/sandbox.sh NAME bash test/fuzz.sh 600) on a shared
# machine, since it installs partback like test/run.sh does.
#
# It installs clang-14 and libclang-rt-14-dev if missing, builds and
# installs partback, builds the fuzzing variant (fuzz/Makefile), and on a
# throwaway cluster run as OS user partback
#   1. backs up fuzz.events (fuzz/seed_tables.sql, fuzz/seed_data.sql) with
#      each compression, with partback itself, for the seed corpus;
#   2. makes a database "fuzz" holding partback's SQL objects bound to the
#      fuzzing library (shared_preload_libraries unset: the two libraries
#      must never meet in one process) and an empty fuzz.events;
#   3. runs each target (fuzz/partback_fuzz.c: manifest, meta, stream;
#      $PB_FUZZ_TARGETS to choose) in a single-user backend for SECONDS.
# It prints per target the executions, exec/s, coverage and findings.
# Findings (libFuzzer's crash-/timeout-/oom- inputs and inputs that raised
# an internal error) are copied to fuzz/findings/; the corpus grown is kept
# in fuzz/corpus/ (not in git) and seeds the next run.  Once fixed, an
# input belongs in fuzz/regress/, which test/t/095_fuzz_findings.pl replays
# through the product.  Exit status 1 if anything was found.  PB_FUZZ_ARGS adds libFuzzer options.  PB_FUZZ_REPRO=
# PATH runs saved inputs instead of fuzzing: a file, or every file of a
# directory, each as the target its name starts with (manifest-, meta-,
# stream-), under gdb if it is installed, printing the stack of a crash.
#
# No AddressSanitizer: preloading clang 14's runtime into Debian's postgres
# 15 deadlocks at its start (in glibc's bindtextdomain), so memory errors
# show only as crashes; libFuzzer's -rss_limit_mb and -timeout catch
# runaway memory and hangs.

set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=test/lib.sh
source test/lib.sh

SECS=${1:-${PB_FUZZ_SECONDS:-60}}
TARGETS=${PB_FUZZ_TARGETS:-manifest meta stream}
FINDINGS_OUT=$PB_REPO/fuzz/findings
CORPUS_KEEP=$PB_REPO/fuzz/corpus
SRC_DB=fuzzsrc
PB_TREE=
CLUSTER=

cleanup()
{
	if [ -n "$CLUSTER" ]; then
		pb_stop_cluster "$CLUSTER"
	fi
	if [ -n "$PB_TREE" ] && [ -d "$PB_TREE" ]; then
		pb_kill_postmasters_under "$PB_TREE"
		if [ -z "${PB_KEEP:-}" ]; then
			rm -rf "$PB_TREE"
		else
			echo "fuzzing tree kept in $PB_TREE"
		fi
	fi
}
trap cleanup EXIT
trap 'echo interrupted; exit 1' INT TERM

pb_require_root
case $SECS in
'' | *[!0-9]*) pb_die "SECONDS must be a number, not \"$SECS\"" ;;
esac

pb_log "checking packages"
pb_install_deps
PB_PACKAGES=(clang-14 libclang-rt-14-dev)
pb_install_deps
pb_ensure_user
pb_prepare_tree fuzz
pb_log "building and installing partback in $PB_TREE"
pb_build_install "$PB_TREE" || pb_die "build failed"
pb_log "building the fuzzing variant"
make -s -C "$PB_TREE/fuzz" PG_CONFIG="$PG_CONFIG" >"$PB_TREE/fuzz-build.log" 2>&1 ||
	{ cat "$PB_TREE/fuzz-build.log"; pb_die "fuzzing build failed"; }
grep -q 'warning:' "$PB_TREE/fuzz-build.log" &&
	{ cat "$PB_TREE/fuzz-build.log"; pb_die "fuzzing build printed warnings"; }
FUZZ_LIB=$PB_TREE/fuzz/build/partback_fuzz.so
chown -R "$PB_USER:" "$PB_TREE"

# ------------------------------------------------------------ seed backups
WORK=$PB_TREE/fuzzwork
CLUSTER=$PB_TREE/pg
pb_as_user mkdir -p "$WORK"
pb_start_cluster "$CLUSTER" "$(pb_free_port 56432)" || pb_die "could not start a cluster"
pb_log "backing up the seed table"
pb_psql -d postgres -c "CREATE DATABASE $SRC_DB" || pb_die "createdb failed"
pb_psql -d "$SRC_DB" -c "CREATE EXTENSION partback" -f fuzz/seed_tables.sql \
	-f fuzz/seed_data.sql >/dev/null || pb_die "could not make the seed table"
for c in zstd lz4 gzip none; do
	pb_psql -d "$SRC_DB" -c "SELECT partback.backup_db('$WORK/repo-$c', compression => '$c', wait => true)" \
		>/dev/null || pb_die "seed backup ($c) failed"
done
# a second, incremental backup: one partition changed, the others shared
pb_psql -d "$SRC_DB" -c "UPDATE fuzz.events SET n = n + 1 WHERE day >= '2024-02-01'" \
	-c "SELECT partback.backup_db('$WORK/repo-zstd', compression => 'zstd', wait => true)" \
	>/dev/null || pb_die "incremental seed backup failed"
pb_stop_cluster "$CLUSTER"

# ------------------------------------------------------------ fuzzing database
# Restart without partback.so; load the extension's SQL bound to the
# fuzzing library instead.
echo "shared_preload_libraries = ''" >>"$CLUSTER/data/postgresql.conf"
pb_as_user "$PB_PGBIN/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/server.log" -w -t 120 start \
	>/dev/null || pb_die "could not restart the cluster"
# the current version's script, as the Makefile built it
EXTVERSION=$(sed -n "s/^default_version *= *'\\(.*\\)'/\\1/p" "$PB_TREE/partback.control")
sed -e "s|MODULE_PATHNAME|$FUZZ_LIB|g" -e '/^\\echo /d' "$PB_TREE/partback--$EXTVERSION.sql" \
	>"$WORK/partback_fuzz.sql"
cat >>"$WORK/partback_fuzz.sql" <<-EOF
	CREATE FUNCTION partback_fuzz_run(target text, backup_dir text, source_db text,
									  leaf regclass, findings_dir text, args text[])
	RETURNS integer AS '$FUZZ_LIB', 'partback_fuzz_run' LANGUAGE C;
	-- the job that pb_restore_unit records its work under
	INSERT INTO partback.job (job_id, user_name, job_type, backup_dir, source_db,
							  args, state)
	VALUES (1, current_user, 'restore_db', '$WORK', '$SRC_DB', '{}', 'running');
EOF
chown "$PB_USER:" "$WORK/partback_fuzz.sql"
pb_psql -d postgres -c "CREATE DATABASE fuzz" >/dev/null || pb_die "createdb failed"
pb_psql -d fuzz -f "$WORK/partback_fuzz.sql" -f fuzz/seed_tables.sql >/dev/null ||
	pb_die "could not set up the fuzzing database"
pb_stop_cluster "$CLUSTER"
CLUSTER=

# ------------------------------------------------------------ seed corpora
pb_log "collecting seed corpora"
seed_dir()
{
	local target=$1
	rm -rf "$WORK/corpus/$target"
	mkdir -p "$WORK/corpus/$target"
	if [ -d "$CORPUS_KEEP/$target" ]; then
		cp "$CORPUS_KEEP/$target"/* "$WORK/corpus/$target/" 2>/dev/null
	fi
}
seed_dir manifest
seed_dir meta
seed_dir stream
for c in zstd lz4 gzip none; do
	db_dir=$WORK/repo-$c/$SRC_DB
	for f in "$db_dir"/manifests/*.json; do
		cp "$f" "$WORK/corpus/manifest/seed-$c-$(basename "$f")"
	done
	find "$db_dir/data" -name '*.meta.json' | while read -r f; do
		cp "$f" "$WORK/corpus/meta/seed-$c-$(echo "${f#"$db_dir"/data/}" | tr / _)"
	done
	# byte 0 of a stream input: the compression (see fuzz/partback_fuzz.c)
	case $c in
	none) k=0 ;; gzip) k=1 ;; lz4) k=2 ;; zstd) k=3 ;;
	esac
	find "$db_dir/data" -name '*.copy*' | while read -r f; do
		out=$WORK/corpus/stream/seed-$c-$(echo "${f#"$db_dir"/data/}" | tr / _)
		{ printf "\\$(printf '%03o' $k)"; cat "$f"; } >"$out"
		# the same file, its metadata giving a wrong checksum
		{ printf "\\$(printf '%03o' $((k | 4)))"; cat "$f"; } >"$out.badsum"
	done
done
mkdir -p "$WORK/findings"
chown -R "$PB_USER:" "$WORK"

# ------------------------------------------------------------ fuzzing
FOUND=0
SUMMARY=()

# One backend run of a target for $2 seconds; its output in $3.
run_session()
{
	local target=$1 secs=$2 log=$3 max_len sql a rc=0
	case $target in
	manifest | meta) max_len=32768 ;;
	stream) max_len=65536 ;;
	esac
	# a fresh copy of the template backup: the target overwrites its files
	rm -rf "$WORK/repo" "$WORK/repo.stream"
	cp -a "$WORK/repo-zstd" "$WORK/repo"
	# the stream target's RSS grows by about 1.6 kB an input (PostgreSQL's
	# bookkeeping of the one long transaction, see fuzz/partback_fuzz.c)
	local args=("-max_total_time=$secs" "-timeout=10" "-rss_limit_mb=4096"
		"-max_len=$max_len" "-print_final_stats=1"
		"-artifact_prefix=$WORK/findings/$target-")
	[ "$target" != stream ] && args+=("-dict=$PB_TREE/fuzz/json.dict")
	# shellcheck disable=SC2206
	[ -n "${PB_FUZZ_ARGS:-}" ] && args+=($PB_FUZZ_ARGS)
	if [ -n "${REPRO_INPUT:-}" ]; then
		cp "$REPRO_INPUT" "$WORK/repro-input"
		chown "$PB_USER:" "$WORK/repro-input"
		args+=("$WORK/repro-input")
	else
		args+=("$WORK/corpus/$target")
	fi
	sql="SELECT partback_fuzz_run('$target', '$WORK/repo', '$SRC_DB', 'fuzz.events_p1', '$WORK/findings', ARRAY["
	for a in "${args[@]}"; do
		sql+="'$a',"
	done
	sql="${sql%,}])"
	local backend=("$PB_PGBIN/postgres" --single -D "$PB_TREE/pg/data"
		-c shared_preload_libraries= -c jit=off -c log_min_messages=fatal
		-c fsync=off -c wal_level=minimal -c max_wal_senders=0 fuzz)
	if [ -n "${REPRO_INPUT:-}" ] && command -v gdb >/dev/null; then
		# a stack trace of the crash (libFuzzer alone prints none)
		echo "$sql" >"$WORK/repro.sql"
		chown "$PB_USER:" "$WORK/repro.sql"
		pb_as_user timeout -k 10 600 gdb -q -batch \
			-ex "run ${backend[*]:1} < $WORK/repro.sql" -ex bt "${backend[0]}" \
			>"$log" 2>&1 || rc=$?
		grep -E '^#[0-9]+ |received signal' "$log" | head -n 12
	else
		echo "$sql" | pb_as_user timeout -k 10 $((secs + 600)) "${backend[@]}" \
			>"$log" 2>&1 || rc=$?
	fi
	grep -E '^(partback_fuzz:|#[0-9]+\s+(INITED|DONE)|Done [0-9]+ runs|stat::|==[0-9]+== ERROR|SUMMARY|artifact_prefix|ALARM|MS: )' "$log"
	return "$rc"
}

# A target for SECS seconds in all; a session that stops on a finding is
# followed by another for the time left, so one finding does not end it.
run_target()
{
	local target=$1 t0 left session=0 rc runs=0 n cov findings
	case $target in
	manifest | meta | stream) ;;
	*) pb_die "unknown target $target (manifest, meta, stream)" ;;
	esac
	t0=$(date +%s)
	while :; do
		left=$((SECS - ($(date +%s) - t0)))
		[ "$session" -gt 0 ] && [ "$left" -lt 5 ] && break
		[ "$left" -lt 1 ] && left=1
		session=$((session + 1))
		pb_log "fuzzing $target for $left s (session $session)"
		rc=0
		run_session "$target" "$left" "$WORK/$target.$session.log" || rc=$?
		n=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$WORK/$target.$session.log" | tail -n 1)
		runs=$((runs + ${n:-0}))
		cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$WORK/$target.$session.log" | tail -n 1)
		if [ "$rc" -ne 0 ]; then
			echo "$target: the backend exited with status $rc (a finding)"
			grep -q 'Test unit written' "$WORK/$target.$session.log" ||
				tail -n 25 "$WORK/$target.$session.log"
			FOUND=1
		fi
		[ "$session" -ge 50 ] && break
	done
	left=$(($(date +%s) - t0))
	findings=$(find "$WORK/findings" -name "$target-*" | wc -l)
	SUMMARY+=("$(printf '%-9s %6d s %9d execs %6d exec/s  %-22s %d sessions, %d findings' \
		"$target" "$left" "$runs" $((runs / (left > 0 ? left : 1))) "${cov:-cov: ?}" \
		"$session" "$findings")")
}

# saved inputs, each run once
run_repro()
{
	local f target rc
	for f in "$@"; do
		target=$(basename "$f")
		target=${target%%-*}
		case $target in
		manifest | meta | stream) ;;
		*) echo "$f: name does not start with manifest-, meta- or stream-; skipped"; continue ;;
		esac
		echo "---- $f"
		rc=0
		REPRO_INPUT=$f run_session "$target" 10 "$WORK/repro.log" || rc=$?
		# gdb's own status says nothing about the backend
		if command -v gdb >/dev/null; then
			rc=0
			grep -q 'received signal' "$WORK/repro.log" && rc=1
		fi
		[ "$rc" -ne 0 ] && FOUND=1
		echo "$f: $([ "$rc" -eq 0 ] && echo "no crash" || echo "CRASH (status $rc)")"
	done
}

if [ -n "${PB_FUZZ_REPRO:-}" ]; then
	if [ -d "$PB_FUZZ_REPRO" ]; then
		run_repro "$PB_FUZZ_REPRO"/*
	else
		run_repro "$PB_FUZZ_REPRO"
	fi
	exit "$FOUND"
fi

for t in $TARGETS; do
	run_target "$t"
done
echo "---- summary ----"
printf '%s\n' "${SUMMARY[@]}"

# keep what was found and the corpus grown
if compgen -G "$WORK/findings/*" >/dev/null; then
	mkdir -p "$FINDINGS_OUT"
	cp "$WORK"/findings/* "$FINDINGS_OUT/"
	echo "findings (copied to $FINDINGS_OUT):"
	ls -l "$WORK/findings"
	FOUND=1
else
	echo "no findings"
fi
if [ -z "${PB_FUZZ_REPRO:-}" ]; then
	for t in $TARGETS; do
		mkdir -p "$CORPUS_KEEP/$t"
		cp "$WORK/corpus/$t"/* "$CORPUS_KEEP/$t/" 2>/dev/null
	done
fi
exit "$FOUND"
