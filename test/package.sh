#!/usr/bin/env bash
# test/package.sh: the test command's packaging check.  As root on Debian 12:
#
#     bash test/package.sh [VERSION...]        # default: 15 17 18
#
# For each PostgreSQL major VERSION it builds the Debian package
# postgresql-VERSION-partback from this checkout with dpkg-buildpackage and
# pg_buildext (debian/): 15 on the host (Debian 12), 17 in a Debian 13
# (trixie) root, 18 in a sid root.  Then it installs ONE of them, the
# version PB_PKG_INSTALL (default: the last VERSION given), into a clean
# root -- a minimal Debian of that suite with only PostgreSQL's server
# installed, no compiler, no make install -- with `apt-get install ./x.deb`
# and checks that the files are where that server looks for them and that a
# cluster with shared_preload_libraries = 'partback' creates the extension
# and round-trips a partitioned table through backup_db and restore_db.
#
# Prints "ok - ..." or "FAIL - ..." per check and ends with the line
# "N passed, N failed"; exits non-zero if anything failed.
#
# Environment:
#   PB_PKG_CACHE    cached roots (default /var/cache/partback-test): base-SUITE
#                   (debootstrap --variant=minbase), and overlay layers on it,
#                   clean-SUITE (+ postgresql-N) and build-SUITE-KEY (+ the
#                   build dependencies; KEY changes with their list).  Each is made under a temporary name and
#                   renamed when complete, so a killed run never leaves a half
#                   root that a later run takes as complete.  The first run
#                   makes them (a few minutes, from deb.debian.org); later
#                   runs reuse them.  Remove the directory to refresh them.
#   PB_PKG_OUT      where the built .deb files are put (default
#                   $PB_PKG_CACHE/debs, emptied at the start)
#   PB_PKG_INSTALL  the version installed into the clean root
#   PB_PKG_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#
# Every root is used through an overlay mount, in a mount namespace of this
# script's own: nothing is ever written into a cached root after it is
# complete, and no mount outlives the script.  It does not use the roots
# test/run.sh tests 17 and 18 in (a clean root must have no build tools).

set -uo pipefail

# A private mount namespace: every mount below goes away with the script,
# however it ends.
if [ -z "${PB_PKG_UNSHARED:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "$0: run as root" >&2; exit 1; }
	PB_PKG_UNSHARED=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi

cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)
CACHE=${PB_PKG_CACHE:-/var/cache/partback-test}
OUT=${PB_PKG_OUT:-$CACHE/debs}
MIRROR=${PB_PKG_MIRROR:-http://deb.debian.org/debian}
if [ $# -gt 0 ]; then VERSIONS=("$@"); else VERSIONS=(15 17 18); fi
INSTALL=${PB_PKG_INSTALL:-${VERSIONS[${#VERSIONS[@]} - 1]}}
PASSED=0
FAILED=0
START=$(date +%s)
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

ok() { echo "ok - $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL - $*"; FAILED=$((FAILED + 1)); }
log() { printf '==> %s\n' "$*"; }

suite_of()
{
	case $1 in
	15) echo bookworm ;;
	17) echo trixie ;;
	18) echo sid ;;
	*) return 1 ;;
	esac
}

mkdir -p "$CACHE" || exit 1
WORK=$(mktemp -d /var/tmp/partback-pkg.XXXXXX) || exit 1
echo $$ >"$WORK/.runner_pid"
finish()
{
	local m
	# stop whatever runs in our roots, then unmount (deepest first)
	for m in "$WORK"/*/merged; do
		[ -d "$m" ] || continue
		stop_cluster "$m"
		umount_under "$m"
	done
	rm -rf "$WORK"
	echo "total time $(($(date +%s) - START)) s"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}
trap finish EXIT
trap 'echo interrupted; FAILED=$((FAILED + 1)); exit 1' INT TERM

# leftovers of killed runs (their mounts died with their namespace)
for d in /var/tmp/partback-pkg.*; do
	[ "$d" = "$WORK" ] && continue
	pid=$(cat "$d/.runner_pid" 2>/dev/null || true)
	if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
		rm -rf "$d"
	fi
done

umount_under()
{
	local m
	while IFS= read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
}

# mount_root NAME LAYER...: a writable root at $WORK/NAME/merged made of the
# cached layers (topmost first) with /proc, /dev, /dev/pts and /dev/shm;
# prints its path.
mount_root()
{
	local name=$1 lower m
	shift
	lower=$(printf '%s:' "$@")
	lower=${lower%:}
	mkdir -p "$WORK/$name/upper" "$WORK/$name/work" "$WORK/$name/merged"
	m=$WORK/$name/merged
	mount -t overlay overlay \
		-o "lowerdir=$lower,upperdir=$WORK/$name/upper,workdir=$WORK/$name/work" "$m" &&
		mount -t proc proc "$m/proc" &&
		mount --bind /dev "$m/dev" &&
		mount --bind /dev/pts "$m/dev/pts" &&
		mount -t tmpfs -o mode=1777 shm "$m/dev/shm" || return 1
	cp /etc/resolv.conf "$m/etc/resolv.conf" 2>/dev/null || true
	echo "$m"
}

# in_root ROOT COMMAND: run a shell command inside ROOT
in_root() { chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root bash -c "$2"; }

APT_INSTALL='apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold'

# ensure_base SUITE: $CACHE/base-SUITE, a debootstrap --variant=minbase root
ensure_base()
{
	local suite=$1 dst=$CACHE/base-$1 tmp
	[ -d "$dst" ] && return 0
	tmp=$CACHE/base-$suite.tmp.$$
	log "debootstrap --variant=minbase $suite (once; cached in $dst)"
	rm -rf "$tmp"
	if ! debootstrap --variant=minbase "$suite" "$tmp" "$MIRROR" >"$WORK/debootstrap-$suite.log" 2>&1; then
		tail -n 20 "$WORK/debootstrap-$suite.log"
		rm -rf "$tmp"
		return 1
	fi
	# a Debian release gets its minor PostgreSQL releases through -security
	# and -updates (a package built on an up-to-date host depends on them)
	case $suite in
	sid) ;;
	*) printf 'deb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
		"$MIRROR" "$suite" "$suite" >"$tmp/etc/apt/sources.list.d/updates.list" ;;
	esac
	# sid's Release file may have expired; never start services in a root
	echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99partback"
	printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
	chmod 0755 "$tmp/usr/sbin/policy-rc.d"
	mv -T "$tmp" "$dst" 2>/dev/null || rm -rf "$tmp"    # another run was faster
}

# ensure_layer NAME SCRIPT LOWER...: $CACHE/NAME, an overlay layer on LOWER
# (topmost first) holding what the shell SCRIPT, run in the root, changed.
ensure_layer()
{
	local name=$1 script=$2 dst=$CACHE/$1 tmp m
	shift 2
	[ -d "$dst" ] && return 0
	log "making root layer $name (once; cached in $dst)"
	m=$(mount_root "layer-$name" "$@") || return 1
	if ! in_root "$m" "$script" >"$WORK/layer-$name.log" 2>&1; then
		tail -n 30 "$WORK/layer-$name.log"
		umount_under "$m"
		return 1
	fi
	umount_under "$m"
	tmp=$CACHE/$name.tmp.$$
	rm -rf "$tmp"
	mv -T "$WORK/layer-$name/upper" "$tmp" &&
		{ mv -T "$tmp" "$dst" 2>/dev/null || rm -rf "$tmp"; }
	rm -rf "$WORK/layer-$name"
}

ensure_clean()
{
	local v=$1 suite
	suite=$(suite_of "$v")
	ensure_base "$suite" || return 1
	# no cluster "main": the test makes its own
	ensure_layer "clean-$suite" "mkdir -p /etc/postgresql-common &&
		echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf &&
		apt-get update -q && $APT_INSTALL postgresql-$v &&
		apt-get clean && rm -rf /var/lib/apt/lists/*" "$CACHE/base-$suite"
}

# The build dependencies of debian/control.in, and what dpkg-buildpackage
# itself needs.
BUILD_DEPS="build-essential dpkg-dev debhelper postgresql-server-dev-all libzstd-dev liblz4-dev zlib1g-dev libssl-dev"

# the build layer's name changes with the list, so a new list makes a new one
BUILD_KEY=$(echo "$BUILD_DEPS" | md5sum | cut -c1-8)

ensure_build()
{
	local v=$1 suite
	suite=$(suite_of "$v")
	ensure_clean "$v" || return 1
	ensure_layer "build-$suite-$BUILD_KEY" "apt-get update -q && $APT_INSTALL $BUILD_DEPS &&
		apt-get clean && rm -rf /var/lib/apt/lists/*" \
		"$CACHE/clean-$suite" "$CACHE/base-$suite"
}

# copy_source DIR: this checkout without build products, into DIR/partback
copy_source()
{
	mkdir -p "$1/partback" &&
		tar -C "$REPO" -cf - --exclude=./.git --exclude='*.o' --exclude='*.so' \
			--exclude='*.bc' --exclude=tmp_check --exclude='./build-*' \
			--exclude=./results --exclude=./output_iso --exclude='./tmp_check_*' \
			--exclude='./partback--*.sql' --exclude=./debian/.debhelper \
			--exclude='./debian/postgresql-*' --exclude=./debian/files \
			--exclude=./debian/debhelper-build-stamp . |
		tar -C "$1/partback" -xf -
}

# build VERSION: builds postgresql-VERSION-partback into $OUT
build()
{
	local v=$1 suite dir root t0 rc=0 deb missing p
	suite=$(suite_of "$v") || { fail "build $v: no Debian suite known for PostgreSQL $v"; return; }
	t0=$(date +%s)
	if [ "$v" = 15 ]; then
		# on the host: it needs debhelper and postgresql-server-dev-all there
		missing=$(for p in $BUILD_DEPS postgresql-server-dev-15; do
			[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || echo "$p"
		done)
		if [ -n "$missing" ]; then
			log "installing on the host: ${missing//$'\n'/ }"
			# shellcheck disable=SC2086
			$APT_INSTALL $missing >"$WORK/apt-host.log" 2>&1 ||
				{ tail -n 20 "$WORK/apt-host.log"; fail "build 15: could not install the build dependencies"; return; }
		fi
		root=/
		dir=$WORK/host-build
	else
		if ! ensure_build "$v"; then
			fail "build $v: could not make the $suite build root"
			return
		fi
		root=$(mount_root "build-$v" "$CACHE/build-$suite-$BUILD_KEY" "$CACHE/clean-$suite" "$CACHE/base-$suite") ||
			{ fail "build $v: could not mount the $suite build root"; return; }
		dir=$root/build
	fi
	copy_source "$dir" || { fail "build $v: could not copy the source"; return; }
	# debian/control lists the packages for the versions the build machine
	# supports (debian/pgversions); regenerate it for this one
	log "building postgresql-$v-partback ($([ "$root" = / ] && echo host || echo "$suite root"))"
	if [ "$root" = / ]; then
		(cd "$dir/partback" && pg_buildext updatecontrol &&
			dpkg-buildpackage -b -us -uc) >"$WORK/build-$v.log" 2>&1 || rc=$?
	else
		in_root "$root" "cd /build/partback && pg_buildext updatecontrol &&
			dpkg-buildpackage -b -us -uc" >"$WORK/build-$v.log" 2>&1 || rc=$?
	fi
	deb=$(find "$dir" -maxdepth 1 -name "postgresql-$v-partback_*.deb" | head -n 1)
	if [ "$rc" -ne 0 ] || [ -z "$deb" ]; then
		tail -n 40 "$WORK/build-$v.log"
		fail "postgresql-$v-partback builds ($suite, dpkg-buildpackage exited with $rc)"
		return
	fi
	# compiler warnings (gcc's and clang's file:line:col: warning: ...)
	if grep -qE ':[0-9]+:[0-9]+: warning:' "$WORK/build-$v.log"; then
		grep -E ':[0-9]+:[0-9]+: warning:' "$WORK/build-$v.log" | head -n 20
		fail "postgresql-$v-partback builds without compiler warnings"
	fi
	cp "$dir"/postgresql-"$v"-partback_*.deb "$OUT/"
	ok "postgresql-$v-partback builds ($suite, $(($(date +%s) - t0)) s): $(basename "$deb")"
	# the package depends on its server
	if dpkg-deb -f "$deb" Depends | grep -qE "(^|, )postgresql-$v( |,|$)"; then
		ok "postgresql-$v-partback depends on postgresql-$v"
	else
		fail "postgresql-$v-partback depends on postgresql-$v (Depends: $(dpkg-deb -f "$deb" Depends))"
	fi
	[ "$root" != / ] && umount_under "$root"
	rm -rf "$WORK/build-$v"
}

# psql_in ROOT SQL...: psql as postgres in ROOT's cluster; one -c per SQL
psql_in()
{
	local root=$1 db=$2 args=() s
	shift 2
	for s in "$@"; do args+=(-c "$s"); done
	chroot --userspec=postgres:postgres "$root" /usr/bin/env -i PATH=/usr/bin:/bin \
		LC_ALL=C.UTF-8 "/usr/lib/postgresql/$INSTALL/bin/psql" -X -q -A -t \
		-v ON_ERROR_STOP=1 -h /tmp -d "$db" "${args[@]}"
}

stop_cluster()
{
	local root=$1 v
	for v in "$root"/usr/lib/postgresql/*/bin/pg_ctl; do
		if [ ! -x "$v" ] || [ ! -f "$root/var/tmp/pbdata/postmaster.pid" ]; then
			continue
		fi
		chroot --userspec=postgres:postgres "$root" "${v#"$root"}" -D /var/tmp/pbdata \
			-m immediate -w -t 30 stop >/dev/null 2>&1 || true
	done
}

# install_check VERSION: the package in a clean root
install_check()
{
	local v=$1 suite root deb bin libdir sharedir f sum_src sum_dst t0
	suite=$(suite_of "$v")
	t0=$(date +%s)
	deb=$(find "$OUT" -maxdepth 1 -name "postgresql-$v-partback_*.deb" | head -n 1)
	[ -n "$deb" ] || { fail "install $v: no package postgresql-$v-partback was built"; return; }
	ensure_clean "$v" || { fail "install $v: could not make the clean $suite root"; return; }
	root=$(mount_root "clean-$v" "$CACHE/clean-$suite" "$CACHE/base-$suite") ||
		{ fail "install $v: could not mount the clean $suite root"; return; }
	if in_root "$root" "command -v gcc || command -v cc || command -v make" >/dev/null; then
		fail "the $suite root is clean (it has a compiler or make)"
		return
	fi
	cp "$deb" "$root/tmp/" || return
	# apt-get install ./x.deb: the package's dependencies come from the archive
	# (without apt-get update when the root has every dependency already)
	if in_root "$root" "$APT_INSTALL /tmp/$(basename "$deb") ||
		{ apt-get update -q && $APT_INSTALL /tmp/$(basename "$deb"); }" >"$WORK/install-$v.log" 2>&1; then
		ok "apt-get install ./$(basename "$deb") in a clean $suite root with postgresql-$v"
	else
		tail -n 30 "$WORK/install-$v.log"
		fail "apt-get install ./$(basename "$deb") in a clean $suite root with postgresql-$v"
		return
	fi
	bin=/usr/lib/postgresql/$v/bin
	chroot --userspec=postgres:postgres "$root" "$bin/initdb" -D /var/tmp/pbdata -A trust \
		>"$WORK/initdb-$v.log" 2>&1 || { cat "$WORK/initdb-$v.log"; fail "initdb in the clean root"; return; }
	cat >>"$root/var/tmp/pbdata/postgresql.conf" <<-'EOF'
		shared_preload_libraries = 'partback'
		max_worker_processes = 16
		listen_addresses = ''
		unix_socket_directories = '/tmp'
	EOF
	if chroot --userspec=postgres:postgres "$root" "$bin/pg_ctl" -D /var/tmp/pbdata \
		-l /var/tmp/pbdata/server.log -w -t 60 start >/dev/null 2>&1; then
		ok "PostgreSQL $v starts with shared_preload_libraries = 'partback'"
	else
		tail -n 20 "$root/var/tmp/pbdata/server.log"
		fail "PostgreSQL $v starts with shared_preload_libraries = 'partback'"
		return
	fi
	# where this server looks for extension files
	libdir=$(psql_in "$root" postgres "SELECT setting FROM pg_config() WHERE name = 'PKGLIBDIR'")
	sharedir=$(psql_in "$root" postgres "SELECT setting FROM pg_config() WHERE name = 'SHAREDIR'")
	for f in "$libdir/partback.so" "$sharedir/extension/partback.control"; do
		if [ -n "$libdir" ] && [ -n "$sharedir" ] && [ -f "$root$f" ] &&
			in_root "$root" "dpkg -S $f" | grep -q "^postgresql-$v-partback:"; then
			ok "$f is installed by postgresql-$v-partback"
		else
			fail "$f is installed by postgresql-$v-partback"
		fi
	done
	f=$(psql_in "$root" postgres "SELECT string_agg(version, ' ' ORDER BY version) FROM pg_available_extension_versions WHERE name = 'partback'")
	if [ "$f" = "1.0 1.1" ] || [[ $f == 1.0\ * ]]; then
		ok "the server offers partback versions $f"
	else
		fail "the server offers partback versions 1.0 and later (got '$f')"
	fi
	if psql_in "$root" postgres "CREATE DATABASE src" "CREATE DATABASE dst" >/dev/null &&
		psql_in "$root" src "CREATE EXTENSION partback" >/dev/null &&
		psql_in "$root" dst "CREATE EXTENSION partback" >/dev/null; then
		ok "CREATE EXTENSION partback"
	else
		fail "CREATE EXTENSION partback"
		return
	fi
	psql_in "$root" src "CREATE TABLE public.m (id int, day date, v text) PARTITION BY RANGE (day)" \
		"CREATE TABLE public.m_1 PARTITION OF public.m FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')" \
		"CREATE TABLE public.m_2 PARTITION OF public.m FOR VALUES FROM ('2024-02-01') TO ('2024-03-01')" \
		"INSERT INTO public.m SELECT g, date '2024-01-01' + g % 59, md5(g::text) FROM generate_series(1, 20000) g" >/dev/null
	local content="SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM public.m t"
	sum_src=$(psql_in "$root" src "$content")
	if psql_in "$root" src "SELECT partback.backup_db('/var/tmp/pbbackup', wait => true)" >"$WORK/backup-$v.log" 2>&1; then
		ok "backup_db(..., wait => true)"
	else
		cat "$WORK/backup-$v.log"
		fail "backup_db(..., wait => true)"
		return
	fi
	if psql_in "$root" dst "SELECT partback.restore_db('/var/tmp/pbbackup', source_db => 'src', wait => true)" \
		>"$WORK/restore-$v.log" 2>&1; then
		ok "restore_db(..., wait => true) into another database"
	else
		cat "$WORK/restore-$v.log"
		fail "restore_db(..., wait => true) into another database"
		return
	fi
	sum_dst=$(psql_in "$root" dst "$content" 2>&1)
	if [ -n "$sum_src" ] && [ "$sum_src" = "$sum_dst" ] &&
		[ "$(psql_in "$root" dst "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.m'::regclass")" = 2 ]; then
		ok "the restored partitioned table has the same content ($sum_dst)"
	else
		fail "the restored partitioned table has the same content (source $sum_src, restored $sum_dst)"
	fi
	stop_cluster "$root"
	log "install check of $v: $(($(date +%s) - t0)) s"
}

rm -rf "$OUT"
mkdir -p "$OUT"
for v in "${VERSIONS[@]}"; do
	build "$v"
done
install_check "$INSTALL"
