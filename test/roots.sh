# shellcheck shell=bash
# test/roots.sh: Debian roots for the PostgreSQL majors the host (Debian 12,
# PostgreSQL 15) does not package.  Source it after test/lib.sh; as root.
#
#   pb_root_suite MAJOR          the Debian suite that packages MAJOR
#   pb_root_ensure MAJOR         make (or reuse) the cached root for MAJOR:
#                                debootstrap --variant=minbase + the packages
#                                of pb_packages_for MAJOR; prints its path
#   pb_root_enter MAJOR DIR      a throwaway view of that root at DIR/root
#                                (overlayfs: the cache stays untouched, and
#                                two runs never share an installed
#                                partback.so), with /proc, /dev, /dev/shm,
#                                /dev/pts and the OS user partback (same uid
#                                and gid as on the host, so files in dirs
#                                bind-mounted from the host match)
#   pb_root_run DIR CMD...       run CMD as root inside DIR/root with a clean
#                                environment (add VAR=value words through
#                                env yourself)
#   pb_root_leave DIR [keep]     kill every process inside DIR/root, undo
#                                every mount below DIR, remove DIR (with
#                                keep: all but DIR/upper, what the run wrote)
#   pb_root_cleanup_stale        the same for the DIRs of runs that died
#
# The cache is $PB_ROOT_CACHE (default /var/cache/partback-test/roots), one
# dir per suite, marked complete by a file .partback-ready written last: a
# root is made under a temporary name and renamed only when complete, so a
# run killed halfway leaves nothing that looks ready.  Only one run makes
# roots at a time (flock on $PB_ROOT_CACHE/.lock).  A cached root that lacks
# a package (the package list changed) is made again.

PB_ROOT_CACHE=${PB_ROOT_CACHE:-/var/cache/partback-test/roots}
PB_DEBIAN_MIRROR=${PB_DEBIAN_MIRROR:-http://deb.debian.org/debian}

pb_root_suite()
{
	case $1 in
	17) echo trixie ;;
	18) echo sid ;;
	*) return 1 ;;
	esac
}

# Kill every process whose root directory is $1 or below it (a chroot's
# servers, psql, prove), whoever owns it.  Processes already gone are fine.
pb_root_kill_procs()
{
	local dir=$1 p root pass
	# twice: a postmaster killed first may have forked meanwhile
	for pass in 1 2; do
		for p in /proc/[0-9]*; do
			root=$(readlink "$p/root" 2>/dev/null) || continue
			case "$root" in
			"$dir" | "$dir"/*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;;
			esac
		done
		[ "$pass" = 1 ] && sleep 0.2
	done
	return 0
}

# Mount what PostgreSQL and apt need inside root $1: /proc, /dev (the host's
# device nodes), a private /dev/shm (dynamic shared memory; private, so two
# roots never see each other's segments) and /dev/pts.
pb_root_mount_fs()
{
	local r=$1
	mkdir -p "$r/proc" "$r/dev"
	mount -t proc proc "$r/proc" &&
		mount --bind /dev "$r/dev" &&
		mount -t tmpfs -o mode=1777,size=1g shm "$r/dev/shm" &&
		mount --bind /dev/pts "$r/dev/pts"
}

# Run a command in root $1 with a clean environment.
pb_chroot()
{
	local r=$1
	shift
	chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
}

# Are all of major $2's packages installed in root $1?
pb_root_has_packages()
{
	local r=$1 v=$2 p st
	for p in $(pb_packages_for "$v"); do
		# shellcheck disable=SC2016 # dpkg-query's format, not ours
		st=$(chroot "$r" dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || return 1
		[ "$st" = "install ok installed" ] || return 1
	done
}

# Make root of major $2 in dir $1 from nothing; output to $3.
pb_root_make()
{
	local tmp=$1 v=$2 log=$3 suite rc=0
	suite=$(pb_root_suite "$v")
	# a sid release file may be expired; apt must not refuse it
	if ! debootstrap --variant=minbase "$suite" "$tmp" "$PB_DEBIAN_MIRROR" >"$log" 2>&1; then
		tail -n 30 "$log"
		echo "debootstrap $suite failed"
		return 1
	fi
	cp /etc/resolv.conf "$tmp/etc/resolv.conf"
	echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99partback-no-valid-until"
	pb_root_mount_fs "$tmp" || rc=1
	if [ "$rc" -eq 0 ]; then
		# shellcheck disable=SC2046 # one word per package
		{ pb_chroot "$tmp" apt-get -q update &&
			pb_chroot "$tmp" apt-get -q install -y --no-install-recommends \
				$(pb_packages_for "$v") &&
			pb_chroot "$tmp" apt-get clean; } >>"$log" 2>&1 || rc=$?
	fi
	pb_root_kill_procs "$tmp"
	pb_umount_under "$tmp"
	if [ "$rc" -ne 0 ]; then
		tail -n 30 "$log"
		echo "installing PostgreSQL $v's packages in the $suite root failed"
		return 1
	fi
	if ! pb_root_has_packages "$tmp" "$v"; then
		echo "the $suite root lacks packages after apt-get install"
		return 1
	fi
	date -u +%FT%TZ >"$tmp/.partback-ready"
}

pb_root_ensure()
{
	local v=$1 suite dir tmp log t0 rc=0 d
	suite=$(pb_root_suite "$v") || { echo "no Debian suite known for PostgreSQL $v" >&2; return 1; }
	dir=$PB_ROOT_CACHE/$suite
	mkdir -p "$PB_ROOT_CACHE"
	exec 9>"$PB_ROOT_CACHE/.lock"
	flock 9
	if [ -f "$dir/.partback-ready" ] && pb_root_has_packages "$dir" "$v"; then
		exec 9>&-
		echo "$dir"
		return 0
	fi
	# leftovers of a run killed while making a root (we hold the lock, so
	# nobody is making one now)
	for d in "$PB_ROOT_CACHE"/.*.tmp.*; do
		[ -d "$d" ] || continue
		pb_root_kill_procs "$d"
		pb_umount_under "$d"
		rm -rf "$d"
	done
	tmp=$PB_ROOT_CACHE/.$suite.tmp.$$
	log=$PB_ROOT_CACHE/$suite.log
	t0=$(date +%s)
	pb_log "making the Debian $suite root for PostgreSQL $v in $dir (debootstrap + apt-get)" >&2
	pb_root_make "$tmp" "$v" "$log" >&2 || rc=1
	if [ "$rc" -eq 0 ]; then
		# an incomplete or outdated root: out of the way, then the new one in
		if [ -e "$dir" ]; then
			mv "$dir" "$PB_ROOT_CACHE/.$suite.tmp.old$$" &&
				rm -rf "$PB_ROOT_CACHE/.$suite.tmp.old$$"
		fi
		mv "$tmp" "$dir" || rc=1
	else
		rm -rf "$tmp"
	fi
	exec 9>&-
	[ "$rc" -eq 0 ] || return 1
	pb_log "made the $suite root in $(($(date +%s) - t0)) s" >&2
	echo "$dir"
}

pb_root_enter()
{
	local v=$1 run=$2 cache r uid gid
	cache=$(pb_root_ensure "$v") || return 1
	mkdir -p "$run/upper" "$run/work" "$run/root"
	r=$run/root
	if ! mount -t overlay "partback-root-$v" \
		-o "lowerdir=$cache,upperdir=$run/upper,workdir=$run/work" "$r"; then
		echo "could not mount an overlay of $cache at $r"
		return 1
	fi
	pb_root_mount_fs "$r" || { echo "could not mount /proc, /dev in $r"; return 1; }
	uid=$(id -u "$PB_USER")
	gid=$(id -g "$PB_USER")
	if ! pb_chroot "$r" id -u "$PB_USER" >/dev/null 2>&1; then
		if ! { pb_chroot "$r" groupadd --gid "$gid" "$PB_USER" &&
			pb_chroot "$r" useradd --system --uid "$uid" --gid "$gid" --create-home \
				--home-dir "/home/$PB_USER" --shell /bin/bash "$PB_USER"; }; then
			echo "could not create user $PB_USER in $r"
			return 1
		fi
	fi
	chmod 1777 "$r/tmp"
}

pb_root_run()
{
	local run=$1
	shift
	pb_chroot "$run/root" "$@"
}

pb_root_leave()
{
	local run=$1 keep=${2:-}
	[ -n "$run" ] && [ -d "$run" ] || return 0
	pb_root_kill_procs "$run/root"
	pb_umount_under "$run"
	if awk -v d="$run" 'index($2, d) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
		echo "could not unmount everything below $run; left in place"
		return 1
	fi
	if [ -n "$keep" ]; then
		# what the run wrote into the root (its test trees and logs under
		# tmp/) is the overlay's upper dir; a later run removes it
		rm -rf "$run/work" "$run/root"
		echo "files written in the root kept in $run/upper (test trees in $run/upper/tmp)"
		return 0
	fi
	rm -rf "$run"
}

# The run dirs ($PB_TMPROOT/partback-root.*) of runs that died.
pb_root_cleanup_stale()
{
	local d
	for d in "$PB_TMPROOT"/partback-root.*; do
		[ -d "$d" ] || continue
		pb_runner_alive "$d" && continue
		pb_root_leave "$d"
	done
}
