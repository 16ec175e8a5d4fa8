# shellcheck shell=bash
# test/lib.sh: shared helpers of test/suite.sh, test/run.sh, test/demo.sh and
# test/crossversion.sh.  Source it; everything here runs as root and runs
# PostgreSQL as the unprivileged OS user "partback".
#
# PB_PG_MAJOR (default 15) picks the PostgreSQL major: Debian's package names
# and /usr/lib/postgresql/$PB_PG_MAJOR follow it.  test/run.sh runs 15 on the
# host and the others in Debian roots (test/roots.sh), where this file is
# used the same way.
#
#   pb_install_deps                 apt-get install what is missing (quietly)
#   pb_ensure_user                  create the OS user partback if missing
#   pb_prepare_tree KIND            copy the repository to a fresh temp dir
#                                   owned by partback; sets PB_TREE
#   pb_build_install [DIR]          make -s && make -s install; fails on any
#                                   compiler warning
#   pb_start_cluster DIR PORT       initdb + start a cluster in DIR (data in
#                                   DIR/data, socket in DIR, log DIR/server.log)
#   pb_stop_cluster DIR             stop it (fast, then immediate)
#   pb_psql [psql args...]          psql as partback to the cluster last started
#   pb_as_user CMD...               run a command as partback
#   pb_cleanup_stale                stop postmasters and remove temp dirs left
#                                   behind by earlier runs that have ended
#   pb_mount_small_fs DIR SIZE      mount a tmpfs of SIZE owned by partback
#                                   at DIR (for disk-full tests)
#   pb_umount_under DIR             unmount every mount at or below DIR

PB_PG_MAJOR=${PB_PG_MAJOR:-15}
PB_PGBIN=${PB_PGBIN:-/usr/lib/postgresql/$PB_PG_MAJOR/bin}
PG_CONFIG=${PG_CONFIG:-$PB_PGBIN/pg_config}
PB_USER=${PB_USER:-partback}
PB_REPO=${PB_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PB_TMPROOT=${PB_TMPROOT:-/tmp}
export PG_CONFIG PB_PG_MAJOR

# what building and testing partback needs, for major $1
pb_packages_for()
{
	local v=$1
	echo "postgresql-$v postgresql-server-dev-$v libzstd-dev liblz4-dev" \
		"libssl-dev zlib1g-dev libipc-run-perl zstd lz4 make gcc perl" \
		"postgresql-$v-cron"
}
read -r -a PB_PACKAGES <<<"$(pb_packages_for "$PB_PG_MAJOR")"

pb_log() { printf '==> %s\n' "$*"; }
pb_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

pb_require_root()
{
	[ "$(id -u)" -eq 0 ] || pb_die "run this as root (it installs packages and runs PostgreSQL as user $PB_USER)"
}

# ---------------------------------------------------------------- packages
pb_install_deps()
{
	local missing=() p st log
	for p in "${PB_PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$st" = "install ok installed" ] || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		return 0
	fi
	pb_log "installing packages: ${missing[*]}"
	log=$(mktemp "$PB_TMPROOT/partback-apt.XXXXXX")
	if ! DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		pb_die "apt-get update failed"
	fi
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing[@]}" >>"$log" 2>&1; then
		tail -n 60 "$log" >&2
		rm -f "$log"
		pb_die "apt-get install failed"
	fi
	grep -E '^(E:|W:)' "$log" >&2 || true
	rm -f "$log"
}

# ---------------------------------------------------------------- OS user
pb_ensure_user()
{
	if ! id -u "$PB_USER" >/dev/null 2>&1; then
		pb_log "creating OS user $PB_USER"
		useradd --system --create-home --home-dir "/home/$PB_USER" \
			--shell /bin/bash "$PB_USER" || pb_die "useradd $PB_USER failed"
	fi
	local home
	home=$(getent passwd "$PB_USER" | cut -d: -f6)
	if [ -n "$home" ] && [ ! -d "$home" ]; then
		mkdir -p "$home" && chown "$PB_USER:" "$home" && chmod 0755 "$home"
	fi
}

# Run a command as the partback user, with a clean, predictable environment.
pb_as_user()
{
	local home
	home=$(getent passwd "$PB_USER" | cut -d: -f6)
	# setpriv, not su/runuser: no PAM session, so resource limits (ulimit -c
	# for core dumps, see PB_CORES in run.sh) pass through unchanged
	setpriv --reuid "$PB_USER" --regid "$PB_USER" --init-groups -- \
		env HOME="${home:-/tmp}" USER="$PB_USER" \
		LOGNAME="$PB_USER" LANG=C.UTF-8 LC_ALL= \
		PATH="$PB_PGBIN:/usr/local/bin:/usr/bin:/bin" PG_CONFIG="$PG_CONFIG" \
		"$@"
}

# ---------------------------------------------------------------- temp trees
# Every temp dir we make is $PB_TMPROOT/partback-KIND.XXXXXX and carries the
# pid of the script that made it in .runner_pid, so that a later run can tell
# leftovers of a dead run from the dirs of a run still going.

pb_runner_alive()
{
	local dir=$1 pid
	pid=$(cat "$dir/.runner_pid" 2>/dev/null || true)
	[ -n "$pid" ] && [ "$pid" != "$$" ] && kill -0 "$pid" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE '(run|suite|demo|crossversion)\.sh'
}

# Stop the postmaster whose data directory is $1, whoever started it.
pb_kill_postmaster()
{
	local pgdata=$1 pid
	[ -f "$pgdata/postmaster.pid" ] || return 0
	pid=$(head -n 1 "$pgdata/postmaster.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		pb_as_user "$PB_PGBIN/pg_ctl" -D "$pgdata" -m immediate \
			-w -t 30 stop >/dev/null 2>&1 || true
		if kill -0 "$pid" 2>/dev/null &&
			tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q postgres; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
}

# Stop every postmaster whose data directory lies below $1.
pb_kill_postmasters_under()
{
	local f
	[ -d "$1" ] || return 0
	while IFS= read -r f; do
		pb_kill_postmaster "$(dirname "$f")"
	done < <(find "$1" -name postmaster.pid -type f 2>/dev/null)
}

# Kill the processes of $PB_USER (test scripts, prove, psql) left working in
# directory $1 or below it by a run that has ended.
pb_kill_procs_in()
{
	local dir=$1 p cwd uid want
	want=$(id -u "$PB_USER")
	for p in /proc/[0-9]*; do
		uid=$(awk '/^Uid:/ { print $2 }' "$p/status" 2>/dev/null) || continue
		[ "$uid" = "$want" ] || continue
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		case "$cwd" in
		"$dir" | "$dir"/*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;;
		esac
	done
}

pb_cleanup_stale()
{
	local d
	for d in "$PB_TMPROOT"/partback-test.* "$PB_TMPROOT"/partback-demo.* \
		"$PB_TMPROOT"/partback-xv.*; do
		[ -d "$d" ] || continue
		pb_runner_alive "$d" && continue
		pb_kill_postmasters_under "$d"
		pb_kill_procs_in "$d"
		pb_umount_under "$d"
		rm -rf "$d"
	done
}

# A small tmpfs at $1 of size $2 (e.g. 8m) that the server can write, for
# the disk-full tests; prints why on failure.
pb_mount_small_fs()
{
	local dir=$1 size=$2 err
	mkdir -p "$dir" || return 1
	if ! err=$(mount -t tmpfs -o "size=$size,mode=0700,uid=$(id -u "$PB_USER"),gid=$(id -g "$PB_USER")" \
		partback-small "$dir" 2>&1); then
		echo "could not mount a $size tmpfs at $dir: $err"
		return 1
	fi
}

# Unmount whatever is mounted at or below $1, deepest first.
pb_umount_under()
{
	local m
	while IFS= read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
}

# Copy the repository (without build products and test output) into a fresh
# temp dir owned by $PB_USER: pg_regress and the TAP tests write into it, and
# a fresh tree always builds every file, so no compiler warning goes unseen.
pb_prepare_tree()
{
	local kind=${1:-test}
	PB_TREE=$(mktemp -d "$PB_TMPROOT/partback-$kind.XXXXXX") || pb_die "mktemp failed"
	echo $$ >"$PB_TREE/.runner_pid"
	(cd "$PB_REPO" && tar -cf - \
		--exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./results --exclude=./regression.diffs \
		--exclude=./regression.out --exclude=tmp_check --exclude=./log \
		--exclude=./test/tmp --exclude='./partback--*.sql' .) |
		(cd "$PB_TREE" && tar -xf -) || pb_die "could not copy $PB_REPO to $PB_TREE"
	chown -R "$PB_USER:" "$PB_TREE"
	chmod 0755 "$PB_TREE"
	export PB_TREE
}

# ---------------------------------------------------------------- build
pb_build_install()
{
	local dir=${1:-$PB_TREE} log rc=0
	log=$(mktemp "$PB_TMPROOT/partback-build.XXXXXX")
	(cd "$dir" && make -s PG_CONFIG="$PG_CONFIG" all) >"$log" 2>&1 || rc=$?
	if [ $rc -eq 0 ]; then
		(cd "$dir" && make -s PG_CONFIG="$PG_CONFIG" install) >>"$log" 2>&1 || rc=$?
	fi
	if [ -s "$log" ]; then
		cat "$log"
	fi
	if [ $rc -ne 0 ]; then
		rm -f "$log"
		echo "build failed (make exited with $rc)" >&2
		return 1
	fi
	if grep -q 'warning:' "$log"; then
		rm -f "$log"
		echo "build failed: the compiler printed warnings" >&2
		return 1
	fi
	rm -f "$log"
	# the build ran as root; hand the tree back to the test user
	chown -R "$PB_USER:" "$dir"
	return 0
}

# ---------------------------------------------------------------- clusters
pb_port_free()
{
	local port=$1 hex
	hex=$(printf '%04X' "$port")
	# anything listening on TCP with that port, on any address?
	if grep -qiE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:0000 0A" \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null; then
		return 1
	fi
	return 0
}

# pb_free_port START: the first port from START up that nothing listens on
pb_free_port()
{
	local p=$1
	while ! pb_port_free "$p"; do
		p=$((p + 1))
	done
	echo "$p"
}

pb_start_cluster()
{
	local dir=$1 port=$2
	[ -n "$dir" ] && [ -n "$port" ] || pb_die "usage: pb_start_cluster DIR PORT"
	mkdir -p "$dir"
	chown "$PB_USER:" "$dir"
	chmod 0700 "$dir"
	if [ -f "$dir/data/postmaster.pid" ]; then
		pb_kill_postmaster "$dir/data"
	fi
	rm -rf "$dir/data"
	if ! pb_as_user "$PB_PGBIN/initdb" -D "$dir/data" --auth=trust -E UTF8 \
		--locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		echo "initdb failed" >&2
		return 1
	fi
	cat >>"$dir/data/postgresql.conf" <<-EOF

		# added by partback test/lib.sh
		shared_preload_libraries = 'partback'
		listen_addresses = ''
		unix_socket_directories = '$dir'
		port = $port
		max_worker_processes = 16
		logging_collector = off
		log_line_prefix = '%m [%p] %q%a '
		log_min_messages = info
	EOF
	if ! pb_as_user "$PB_PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
		-w -t 120 start >/dev/null 2>"$dir/pg_ctl.err"; then
		cat "$dir/pg_ctl.err" >&2
		tail -n 40 "$dir/server.log" >&2 2>/dev/null || true
		echo "could not start the cluster in $dir" >&2
		return 1
	fi
	PB_HOST=$dir
	PB_PORT=$port
	export PB_HOST PB_PORT
}

pb_stop_cluster()
{
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	pb_as_user "$PB_PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop \
		>/dev/null 2>&1 || true
	pb_kill_postmaster "$dir/data"
}

# psql as partback to the cluster last started; stops at the first error.
pb_psql()
{
	pb_as_user "$PB_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PB_HOST" \
		-p "$PB_PORT" "$@"
}
