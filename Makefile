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
	src/storage.o \
	src/compress.o \
	src/checksum.o

EXTENSION = partback
DATA_built = partback--1.0.sql
PGFILEDESC = "partback - partition-by-partition backup and restore"

SHLIB_LINK += -lzstd -llz4 -lz -lcrypto

REGRESS = $(basename $(notdir $(wildcard sql/[0-9]*.sql)))
REGRESS_OPTS = --inputdir=.

# isolation specs (specs/*.spec, expected/*.out), run by installcheck after
# the regress tests
ISOLATION = restore_readers backup_ddl backup_writes two_jobs purge_beside_backup wait_job_leader_gone

EXTRA_CLEAN = results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

override CFLAGS += -I$(srcdir)/src

# The extension script is assembled from one file per concern.
partback--1.0.sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

# every module includes these headers: rebuild them all when they change
$(OBJS): src/partback.h src/compat.h
