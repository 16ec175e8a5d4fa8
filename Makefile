# partback: PGXS build
MODULE_big = partback
OBJS = \
	src/partback.o \
	src/api.o \
	src/job.o \
	src/worker.o \
	src/shmem.o \
	src/backup.o \
	src/restore.o \
	src/purge.o \
	src/inspect.o \
	src/copyout.o \
	src/copyin.o \
	src/repo.o \
	src/jsonread.o \
	src/storage.o \
	src/compress.o \
	src/checksum.o \
	src/ddl.o \
	src/auth.o \
	src/cluster.o \
	src/message.o \
	src/claims.o \
	src/roles.o \
	src/recover.o \
	src/gate.o \
	src/history.o

EXTENSION = partback
# The version being developed is partback.control's default_version.
EXTVERSION = $(shell sed -n "s/^default_version *= *'\\(.*\\)'/\\1/p" $(srcdir)/partback.control)

# Extension SQL, one script per version and per upgrade step:
#  - partback--$(EXTVERSION).sql, the current version's full script, is
#    built by concatenating sql/install/*.sql: one file per concern (catalog,
#    definition capture, API, status) keeps every change a small, reviewable
#    diff of the file it concerns.
#  - sql/versions/partback--X.sql are the full scripts of released versions,
#    frozen (never edited), so that CREATE EXTENSION partback VERSION 'X'
#    works and the upgrade test can start from every released version.
#  - sql/versions/partback--X--Y.sql are the upgrade scripts.  Every change
#    to sql/install/ after a release goes into the upgrade script to the
#    current version as well; test/t/005_upgrade.pl fails until it does.
# Releasing version X: copy partback--X.sql (as built) to sql/versions/,
# set default_version to the next version Y and start
# sql/versions/partback--X--Y.sql.
DATA_built = partback--$(EXTVERSION).sql
DATA = $(patsubst $(srcdir)/%,%,$(sort $(wildcard $(srcdir)/sql/versions/partback--*.sql)))
PGFILEDESC = "partback - partition-by-partition backup and restore"

SHLIB_LINK += -lzstd -llz4 -lz -lcrypto

REGRESS = $(basename $(notdir $(wildcard sql/[0-9]*.sql)))
# make installcheck runs on a cluster of its own (--temp-instance, as
# pg_cron does): partback needs shared_preload_libraries, which a running
# server rarely has.  test/regress.conf is that cluster's configuration.
REGRESS_OPTS = --inputdir=. --temp-config=$(srcdir)/test/regress.conf --temp-instance=tmp_check_regress

# isolation specs (specs/*.spec, expected/*.out), run by installcheck after
# the regress tests
ISOLATION = restore_readers backup_ddl backup_writes two_jobs purge_beside_backup wait_job_leader_gone
ISOLATION_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=tmp_check_isolation

# The regress tests and specs keep their backups below /tmp/partback_regress,
# which must exist, empty, before they run; the temp instances run as the
# user running make, who thus owns it.
REGRESS_PREP = partback_regress_dir

# TAP tests (test/t/*.pl, PostgreSQL::Test::Cluster): each starts its own
# nodes; they need PostgreSQL configured with --enable-tap-tests (Debian's
# is) and IPC::Run.  `make installcheck TAP_TESTS=` skips them (test/run.sh
# runs them itself, one by one with a time limit).
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = results regression.diffs regression.out output_iso \
	tmp_check_regress tmp_check_isolation

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

override CFLAGS += -I$(srcdir)/src
# after the include, which empties PROVE_FLAGS: the TAP tests' own modules
PROVE_FLAGS += -I test/perl -I test

# The current version's script, assembled from one file per concern.
partback--$(EXTVERSION).sql: $(sort $(wildcard $(srcdir)/sql/install/*.sql))
	cat $^ > $@

.PHONY: partback_regress_dir
partback_regress_dir:
	rm -rf /tmp/partback_regress
	mkdir -m 0700 /tmp/partback_regress

# 095_fuzz_findings.pl finds fuzz/regress/ through it
installcheck: export PARTBACK_SRCDIR = $(abspath $(srcdir))

# out-of-tree builds (make -f SRC/Makefile VPATH=SRC, as Debian's pg_buildext
# does): the objects go to src/ below the build directory
ifdef VPATH
$(shell mkdir -p src)
endif

# every module includes these headers: rebuild them all when they change
$(OBJS): src/partback.h src/compat.h src/gate.h
