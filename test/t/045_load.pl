# 045_load.pl: how a restore loads a partition (src/copyin.c).
#
# A leaf emptied by the restore is loaded in bulk: rows parsed by partback,
# checked against the target's constraints as COPY checks them, written
# frozen, indexes built once at the end.  A leaf with insert triggers goes
# through PostgreSQL's COPY FROM instead.  Checked here, as a DBA would see
# it:
#   1. after a bulk load every index holds exactly the heap's rows
#      (amcheck's bt_index_check with heapallindexed), queries through the
#      indexes give the same rows as sequential scans, and the rows are
#      frozen;
#   2. a target whose constraints the backup's rows break -- CHECK, NOT NULL,
#      UNIQUE (found while the index is built), an exclusion constraint --
#      makes the restore fail with the constraint's own SQLSTATE and name,
#      and the partition keeps its old content and valid indexes;
#   3. a leaf with a row trigger is loaded by COPY FROM: the trigger fires
#      for each row, as COPY fires it;
#   4. stored generated columns are computed, and a target with a column
#      order of its own (columns matched by name) gets the right values;
#   5. when no unit is left for the other copy workers, the index build
#      after a load is a parallel one.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('load',
	conf => "wal_level = replica\nmax_wal_senders = 2\n");
my $dir  = PartbackTest::backup_dir('load') . '/bk';
my $ldir = PartbackTest::sql_lit($dir);

sub psq { return $node->safe_psql('postgres', $_[0]); }

# Runs a restore expected to fail; returns its error text (verbose, so with
# the SQLSTATE).
sub restore_fails
{
	my ($sql) = @_;
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres', $sql);
	return defined $ret && $ret != 0 ? $err : "did not fail (exit " . ($ret // 'timeout') . ')';
}

psq(q{
	CREATE EXTENSION amcheck;
	CREATE EXTENSION pg_visibility;
	CREATE SCHEMA ld;
	CREATE TABLE ld.t (
		id      bigint NOT NULL,
		day     date NOT NULL,
		sym     text NOT NULL,
		price   numeric(12, 4),
		qty     integer,
		note    text,
		total   numeric GENERATED ALWAYS AS (price * qty) STORED
	) PARTITION BY RANGE (day);
	CREATE TABLE ld.t_1 PARTITION OF ld.t FOR VALUES FROM ('2024-01-01') TO ('2024-01-02');
	CREATE TABLE ld.t_2 PARTITION OF ld.t FOR VALUES FROM ('2024-01-02') TO ('2024-01-03');
	CREATE UNIQUE INDEX ON ld.t (id, day);
	CREATE INDEX ON ld.t (sym, id);
	CREATE INDEX ON ld.t (lower(note)) WHERE note IS NOT NULL;
	INSERT INTO ld.t (id, day, sym, price, qty, note)
	SELECT i, date '2024-01-01' + (i % 2), 'S' || (i * 7919 % 97), (i % 1000) / 7.0, i % 13,
		   CASE WHEN i % 5 = 0 THEN NULL WHEN i % 7 = 0 THEN repeat('long ' || i, 2000) ELSE 'n' || i END
	  FROM generate_series(1, 40000) AS i;
});
my $source = PartbackTest::content_md5($node, 'postgres', 'ld.t');
psq("SELECT partback.backup_table($ldir, 'ld.t', wait => true)");

# ---------------------------------------------------------------- 1. bulk load

psq('UPDATE ld.t SET qty = qty + 1 WHERE id % 3 = 0');
psq("SELECT partback.restore_table($ldir, 'ld.t', wait => true)");
is(PartbackTest::content_md5($node, 'postgres', 'ld.t'), $source, 'restore_table gives back the backed-up rows');
is(psq(q{SELECT count(*) FROM (SELECT bt_index_check(i.indexrelid, true)
							  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
							 WHERE c.relnamespace = 'ld'::regnamespace AND c.relkind = 'r') AS s}),
	'6', 'amcheck: all 6 leaf indexes are sound and hold every heap row');
is(psq(q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	   SELECT count(*) || ' ' || sum(id) FROM ld.t WHERE sym = 'S5' AND id > 100}),
	psq(q{SET enable_indexscan = off; SET enable_bitmapscan = off;
		SELECT count(*) || ' ' || sum(id) FROM ld.t WHERE sym = 'S5' AND id > 100}),
	'an index scan and a sequential scan find the same rows');
is(psq(q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	   SELECT count(*) FROM ld.t WHERE lower(note) = 'n11'}), '1',
	'the expression index with a predicate finds its row');
# PostgreSQL 16 and later extend a relation in bulk: pages past the last
# row may stay empty and unmarked, as after a plain COPY FREEZE
is(psq(q{SELECT count(*) > 1 AND bool_and(v.all_visible AND v.all_frozen)
		   FROM pg_visibility_map('ld.t_1') AS v
		  WHERE v.blkno <= (SELECT max((ctid::text::point)[0]) FROM ld.t_1)}), 't',
	'the loaded pages holding rows are all-visible and all-frozen in the visibility map');

# ---------------------------------------------------------------- 2. constraints

# each case: a constraint on the target that some of the backup's rows break,
# and the leaves whose rows break it (each leaf is restored in a transaction
# of its own: the others may be restored)
my @cases = (
	[ 'CHECK', 'ALTER TABLE ld.t ADD CONSTRAINT qty_small CHECK (qty < 12)',
	  'ALTER TABLE ld.t DROP CONSTRAINT qty_small',
	  qr/23514: new row for relation "t_\d" violates check constraint "qty_small"/, 'ld.t_1', 'ld.t_2' ],
	[ 'NOT NULL', 'ALTER TABLE ld.t ALTER note SET NOT NULL',
	  'ALTER TABLE ld.t ALTER note DROP NOT NULL',
	  qr/23502: null value in column "note" of relation "t_\d" violates not-null constraint/, 'ld.t_1', 'ld.t_2' ],
	[ 'UNIQUE', 'CREATE UNIQUE INDEX sym_once ON ld.t_2 (sym)',
	  'DROP INDEX ld.sym_once',
	  qr/23505: could not create unique index "sym_once"/, 'ld.t_2' ],
	[ 'EXCLUDE', 'ALTER TABLE ld.t_2 ADD CONSTRAINT one_per_sym EXCLUDE USING btree (sym WITH =)',
	  'ALTER TABLE ld.t_2 DROP CONSTRAINT one_per_sym',
	  qr/23P01: could not create exclusion constraint "one_per_sym"/, 'ld.t_2' ]);
for my $c (@cases)
{
	my ($what, $add, $drop, $re, @broken) = @$c;
	psq('TRUNCATE ld.t');
	# rows that satisfy every constraint: the content the failed restore must keep
	psq(q{INSERT INTO ld.t (id, day, sym, price, qty, note)
		SELECT i, date '2024-01-01' + (i % 2), 'K' || i, 1, 1, 'kept' FROM generate_series(1, 10) AS i});
	psq($add);
	my %before = map { $_ => PartbackTest::content_md5($node, 'postgres', $_) } @broken;
	like(restore_fails("SELECT partback.restore_table($ldir, 'ld.t', wait => true)"), $re,
		"$what: the restore fails with the constraint's SQLSTATE and name");
	is(PartbackTest::content_md5($node, 'postgres', $_), $before{$_},
		"$what: $_ keeps its old content") for @broken;
	is(psq(q{SELECT count(*) FROM (SELECT bt_index_check(i.indexrelid, true)
								  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
								  JOIN pg_am a ON a.oid = (SELECT relam FROM pg_class WHERE oid = i.indexrelid)
								 WHERE c.relnamespace = 'ld'::regnamespace AND c.relkind = 'r'
								   AND a.amname = 'btree') AS s}) > 0 ? 'ok' : 'none',
		'ok', "$what: the old indexes are sound");
	psq($drop);
}
psq("SELECT partback.restore_table($ldir, 'ld.t', wait => true)");
is(PartbackTest::content_md5($node, 'postgres', 'ld.t'), $source, 'with the constraints gone, the restore succeeds');

# ---------------------------------------------------------------- 3. triggers

psq(q{
	CREATE TABLE ld.fired (n bigint);
	CREATE FUNCTION ld.count_row() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO ld.fired VALUES (NEW.id); RETURN NEW; END$$;
	CREATE TRIGGER count_row AFTER INSERT ON ld.t_1 FOR EACH ROW EXECUTE FUNCTION ld.count_row();
});
psq("SELECT partback.restore_table($ldir, 'ld.t', force => true, wait => true)");
is(PartbackTest::content_md5($node, 'postgres', 'ld.t'), $source, 'a leaf with a row trigger restores');
is(psq('SELECT count(*) FROM ld.fired'), psq('SELECT count(*) FROM ld.t_1'),
	'its trigger fired once per row, as COPY fires it');
psq('DROP TRIGGER count_row ON ld.t_1');

# ---------------------------------------------------------------- 4. column order

# a new table with the same columns in another order: matched by name
psq(q{CREATE TABLE ld.r (note text, qty integer, price numeric(12, 4), sym text NOT NULL,
					  total numeric GENERATED ALWAYS AS (price * qty) STORED,
					  day date NOT NULL, id bigint NOT NULL) PARTITION BY RANGE (day);
	CREATE TABLE ld.r_1 PARTITION OF ld.r FOR VALUES FROM ('2024-01-01') TO ('2024-01-02');
	CREATE TABLE ld.r_2 PARTITION OF ld.r FOR VALUES FROM ('2024-01-02') TO ('2024-01-03')});
psq("SELECT partback.restore_table($ldir, 'ld.t', target_table => 'ld.r', wait => true)");
is(psq('SELECT md5(string_agg(format(\'%s %s %s %s %s %s %s\', id, day, sym, price, qty, note, total), \',\' ORDER BY id)) FROM ld.r'),
	psq('SELECT md5(string_agg(format(\'%s %s %s %s %s %s %s\', id, day, sym, price, qty, note, total), \',\' ORDER BY id)) FROM ld.t'),
	'a target with its own column order gets every value, generated column included');

# ---------------------------------------------------------------- 5. idle workers build indexes

# one big unpartitioned table, restored with parallel => 2: the second copy
# worker finds no unit and ends, so the first builds the index with a
# parallel btree build (trace_sort shows its sort worker), and the index is
# sound
psq(q{CREATE TABLE ld.big (id bigint, note text);
	INSERT INTO ld.big SELECT g, md5(g::text) FROM generate_series(1, 400000) AS g;
	CREATE INDEX big_note ON ld.big (note);
	ALTER SYSTEM SET trace_sort = on;
	ALTER SYSTEM SET maintenance_work_mem = '128MB';
	SELECT pg_reload_conf()});
my $big = psq('SELECT md5(string_agg(note, \',\' ORDER BY id)) FROM ld.big');
psq("SELECT partback.backup_table($ldir, 'ld.big', wait => true)");
my $log_at = -s $node->logfile;
psq("SELECT partback.restore_table($ldir, 'ld.big', force => true, parallel => 2, wait => true)");
my $log = substr(slurp_file($node->logfile), $log_at);
like($log, qr/performsort of worker 0 starting/,
	'the index of a table restored alone is built in parallel, with the idle copy worker\'s share');
is(psq('SELECT md5(string_agg(note, \',\' ORDER BY id)) FROM ld.big'), $big, '... the table holds its rows');
is(psq(q{SELECT bt_index_check('ld.big_note'::regclass, true)}), '', '... and amcheck finds its index sound, every row in it');
psq('ALTER SYSTEM RESET trace_sort; ALTER SYSTEM RESET maintenance_work_mem; SELECT pg_reload_conf()');

my @crashes = grep { /terminated by signal/ } split /\n/, slurp_file($node->logfile);
is(scalar(@crashes), 0, 'no server process crashed');

done_testing();
