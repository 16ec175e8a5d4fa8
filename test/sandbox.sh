#!/usr/bin/env bash
# test/sandbox.sh NAME COMMAND...: run COMMAND (typically "bash test/run.sh")
# with a PostgreSQL install tree and a /tmp of its own, so that several test
# runs can share one machine.  A developer's tool, not used by CI.
#
# Without it, two runs overwrite each other's installed partback.so and both
# use the regress tests' fixed /tmp/partback_regress.  The install tree is a
# copy of Debian's (PostgreSQL's binaries find their share and lib dirs
# relative to themselves) in /var/tmp/partback-sandbox/NAME/pg; the private
# /tmp is /var/tmp/partback-sandbox/NAME/tmp, bind-mounted in a mount
# namespace of the command's own.  Run as root, after test/lib.sh's packages
# are installed (bash test/run.sh once does that).
#
# Only PostgreSQL 15 (the host's) needs the copy: test/run.sh runs 17 and 18
# in overlays of the cached Debian roots made per run (test/roots.sh), under
# the private /tmp, so `test/sandbox.sh NAME bash test/run.sh` keeps every
# major of one run apart from every other run.  The roots' cache
# (/var/cache/partback-test/roots) is shared and only read, under a lock.

set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NAME COMMAND..." >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "$0: run as root" >&2; exit 1; }
name=$1
shift
case $name in
*[!A-Za-z0-9_-]*) echo "$0: NAME may only hold letters, digits, _ and -" >&2; exit 2 ;;
esac

root=/var/tmp/partback-sandbox/$name
pg=$root/pg
if [ ! -x "$pg/usr/lib/postgresql/15/bin/postgres" ]; then
	[ -x /usr/lib/postgresql/15/bin/postgres ] ||
		{ echo "$0: PostgreSQL 15 is not installed; run bash test/run.sh once" >&2; exit 1; }
	rm -rf "$pg"
	mkdir -p "$pg/usr/lib" "$pg/usr/share" "$pg/usr/include"
	cp -a /usr/lib/postgresql "$pg/usr/lib/"
	cp -a /usr/share/postgresql "$pg/usr/share/"
	cp -a /usr/include/postgresql "$pg/usr/include/"
fi
mkdir -p "$root/tmp"
chmod 1777 "$root/tmp"

export PB_PGBIN=$pg/usr/lib/postgresql/15/bin
export PG_CONFIG=$PB_PGBIN/pg_config
exec unshare --mount --propagation private -- \
	sh -c 'mount --bind "$0" /tmp && exec "$@"' "$root/tmp" "$@"
