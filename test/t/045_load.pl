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
#      after a load is a parallel one;
#   6. a leaf of several data files restored with parallel => 2 is loaded in
#      parts, by both copy workers at once, into a transient heap swapped in
#      at the end: same content, same relation, sound indexes, frozen rows;
#      the constraint cases of 2 and a damaged data file fail as there,
#      leaving the old content and no transient heap; after a crash, the
#      server's start drops the transient heap.

use strict;
use warnings;

use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('load',
	conf => "wal_level = replica\nmax_wal_senders = 2\nrestart_after_crash = on\n");
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
# Case $c of @cases: rows that satisfy every constraint (the content a
# failed restore must keep), the constraint added; $call must fail with the
# constraint's SQLSTATE and name and keep the broken leaves' content;
# $check->($label) checks more before the constraint goes again.
sub constraint_case
{
	my ($c, $call, $prefix, $check) = @_;
	my ($what, $add, $drop, $re, @broken) = @$c;
	psq('TRUNCATE ld.t');
	psq(q{INSERT INTO ld.t (id, day, sym, price, qty, note)
		SELECT i, date '2024-01-01' + (i % 2), 'K' || i, 1, 1, 'kept' FROM generate_series(1, 10) AS i});
	psq($add);
	my %before = map { $_ => PartbackTest::content_md5($node, 'postgres', $_) } @broken;
	like(restore_fails($call), $re, "$prefix$what: the restore fails with the constraint's SQLSTATE and name");
	is(PartbackTest::content_md5($node, 'postgres', $_), $before{$_},
		"$prefix$what: $_ keeps its old content") for @broken;
	$check->("$prefix$what");
	psq($drop);
}
constraint_case($_, "SELECT partback.restore_table($ldir, 'ld.t', wait => true)", '', sub {
	is(psq(q{SELECT count(*) FROM (SELECT bt_index_check(i.indexrelid, true)
								  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
								  JOIN pg_am a ON a.oid = (SELECT relam FROM pg_class WHERE oid = i.indexrelid)
								 WHERE c.relnamespace = 'ld'::regnamespace AND c.relkind = 'r'
								   AND a.amname = 'btree') AS s}) > 0 ? 'ok' : 'none',
		'ok', "$_[0]: the old indexes are sound");
}) for @cases;
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

# ---------------------------------------------------------------- 6. parts

# A partition of several data files, restored with parallel >= 2, is loaded
# in parts: each data file by whichever copy worker takes it, into a
# transient heap, which the worker that ends the last part swaps in as the
# partition's content (the same relation, its indexes rebuilt).
my $pdir  = PartbackTest::backup_dir('load') . '/parts';
my $lpdir = PartbackTest::sql_lit($pdir);
psq("SET partback.chunk_size = '1MB'; SELECT partback.backup_table($lpdir, 'ld.t', wait => true)");
is(psq(qq{SELECT string_agg(l.partition || ':' || (jsonb_array_length(
				partback.get_backup_meta($lpdir, 'postgres', 'ld.t', l.partition)->'files') >= 2), ',' ORDER BY 1)
			FROM partback.get_backup_list($lpdir, 'postgres', 'ld.t') AS l}),
	't_1:true,t_2:true', 'parts: with chunk_size = 1MB each leaf of ld.t has 2 data files or more');

# Slowed down so that both copy workers are seen loading one partition's
# transient heap (a pg_temp_<oid> relation in schema ld) at once: ld.big,
# 8 data files of 4 MB read at 2 MB/s by each worker.
psq("SET partback.chunk_size = '4MB'; SELECT partback.backup_table($lpdir, 'ld.big', wait => true)");
my $job = psq("SET partback.max_rate = 2; SELECT partback.restore_table($lpdir, 'ld.big', parallel => 2)");
my ($seen_transient, $max_loaders) = (0, 0);
for (my $i = 0; $i < 1200; $i++)
{
	my ($n, $loaders) = split /\|/, psq(q{
		SELECT count(DISTINCT c.oid), coalesce(max(l.n), 0)
		  FROM pg_class c
		  LEFT JOIN (SELECT relation, count(DISTINCT pid) AS n FROM pg_locks
					  WHERE mode = 'RowExclusiveLock' AND granted GROUP BY relation) l
				 ON l.relation = c.oid
		 WHERE c.relnamespace = 'ld'::regnamespace AND c.relname LIKE 'pg\_temp\_%'});
	$seen_transient = 1 if $n > 0;
	$max_loaders = $loaders if $loaders > $max_loaders;
	last if $max_loaders >= 2
	  || psq("SELECT state FROM partback.jobs WHERE job_id = $job") !~ /^(queued|running)$/;
	usleep(50_000);
}
ok($seen_transient, 'parts: a transient heap is made for a table loaded in parts');
is($max_loaders, 2, 'parts: two copy workers load one table\'s transient heap at the same time');
is(PartbackTest::wait_job($node, 'postgres', $job), 'succeeded', 'parts: the restore of ld.big succeeds');
is(psq('SELECT md5(string_agg(note, \',\' ORDER BY id)) FROM ld.big'), $big, 'parts: ld.big holds its rows');
is(psq(q{SELECT bt_index_check('ld.big_note'::regclass, true)}), '', 'parts: amcheck finds its index sound, every row in it');

# ld.t's leaves, with constraints, generated and TOASTed columns
my %oid_before = map { $_ => psq("SELECT '$_'::regclass::oid") } qw(ld.t_1 ld.t_2);
psq('UPDATE ld.t SET qty = qty + 1 WHERE id % 3 = 0');
psq("SELECT partback.restore_table($lpdir, 'ld.t', parallel => 2, wait => true)");
is(PartbackTest::content_md5($node, 'postgres', 'ld.t'), $source, 'parts: ld.t holds the backed-up rows');
is(psq("SELECT '$_'::regclass::oid"), $oid_before{$_}, "parts: $_ is the same relation (OID)")
  for sort keys %oid_before;
is(psq(q{SELECT string_agg(c.relname || ':' || (t.relname = 'pg_toast_' || c.oid), ',' ORDER BY c.relname)
		   FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid
		  WHERE c.oid IN ('ld.t_1'::regclass, 'ld.t_2'::regclass)}),
	't_1:true,t_2:true', 'parts: each leaf\'s TOAST table is named after it again');
is(psq(q{SELECT count(*) FROM (SELECT bt_index_check(i.indexrelid, true)
							  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
							 WHERE c.relnamespace = 'ld'::regnamespace AND c.relname IN ('t_1', 't_2')) AS s}),
	'6', 'parts: amcheck: the 6 leaf indexes are sound and hold every heap row');
# (each part extends the relation on its own: from 16 on, pages one part's
# bulk extension left empty may lie between pages of rows)
is(psq(q{SELECT count(*) > 1 AND bool_and(v.all_visible AND v.all_frozen)
		   FROM pg_visibility_map('ld.t_1') AS v
		  WHERE v.blkno IN (SELECT DISTINCT (ctid::text::point)[0]::bigint FROM ld.t_1)}), 't',
	'parts: the pages holding rows are all-visible and all-frozen');
is(psq(q{SELECT relfrozenxid <> '0' FROM pg_class WHERE oid = 'ld.t_1'::regclass}), 't',
	'parts: the leaf has a relfrozenxid');

# rewrites a file in place (same inode, owner and mode)
sub write_raw
{
	my ($file, $bytes) = @_;
	open(my $fh, '+<:raw', $file) or die "cannot write $file: $!";
	print $fh $bytes;
	truncate($fh, length($bytes));
	close($fh) or die "cannot write $file: $!";
}

# what is left of parts: nothing, after a success and after each failure
sub no_transient_left
{
	my ($label) = @_;
	is(psq(q{SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'ld'::regnamespace
								   AND relname LIKE 'pg\_temp\_%')
				  || ':' || (SELECT count(*) FROM partback.transient_heap)}),
		'0:0', "$label: no transient heap is left, none is recorded");
}
no_transient_left('parts');

# the constraint cases of 2, each part checked against the target's
# constraints; UNIQUE and EXCLUDE fail when the swap rebuilds the indexes
constraint_case($_, "SELECT partback.restore_table($lpdir, 'ld.t', parallel => 2, wait => true)",
	'parts, ', \&no_transient_left) for @cases;

# a damaged data file of the second part: the checksum error names it, the
# partition keeps its content, and the transient heap goes
{
	my $file = $node->safe_psql('postgres', qq{
		SELECT partback.get_backup_meta($lpdir, 'postgres', 'ld.t', 't_1')->'files'->1->>'name'});
	my ($path) = grep { m{/\Q$file\E$} } split /\n/, `find $pdir -type f`;
	ok(defined $path, "parts, damaged file: found $file");
	my $saved = slurp_file($path);
	my $bytes = $saved;
	substr($bytes, length($bytes) / 2, 1) = chr(ord(substr($bytes, length($bytes) / 2, 1)) ^ 0xff);
	write_raw($path, $bytes);
	my $before = PartbackTest::content_md5($node, 'postgres', 'ld.t_1');
	like(restore_fails("SELECT partback.restore_table($lpdir, 'ld.t', parallel => 2, wait => true)"),
		qr/\Q$file\E/, 'parts, damaged file: the restore fails naming the file');
	is(PartbackTest::content_md5($node, 'postgres', 'ld.t_1'), $before, 'parts, damaged file: t_1 keeps its old content');
	no_transient_left('parts, damaged file');
	write_raw($path, $saved);
}
psq("SELECT partback.restore_table($lpdir, 'ld.t', parallel => 2, wait => true)");
is(PartbackTest::content_md5($node, 'postgres', 'ld.t'), $source, 'parts: with the file repaired, the restore succeeds');
no_transient_left('parts, after the repair');

# a crash while ld.big is loaded in parts: the transient heap, committed
# before the load, is dropped when the server starts again (recover.c),
# with no other restore; ld.big holds its rows and sound indexes
{
	my $log_at = -s $node->logfile;
	# (force: ld.big holds this content already, a restore would skip it)
	psq("SET partback.max_rate = 2; SELECT partback.restore_table($lpdir, 'ld.big', force => true, parallel => 2)");
	my $loader = '';
	for (my $i = 0; $i < 1200 && $loader eq ''; $i++)
	{
		$loader = psq(q{SELECT coalesce(min(l.pid)::text, '') FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
						 WHERE c.relnamespace = 'ld'::regnamespace AND c.relname LIKE 'pg\_temp\_%'
						   AND l.mode = 'RowExclusiveLock' AND l.granted});
		usleep(50_000) if $loader eq '';
	}
	isnt($loader, '', 'parts, crash: a copy worker loads ld.big\'s transient heap');
	ok(PartbackTest::crash_backend($node, $loader), 'parts, crash: the copy worker is killed, the server restarts');
	ok($node->poll_query_until('postgres', q{
			SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'ld'::regnamespace
											   AND relname LIKE 'pg\_temp\_%')
				 + (SELECT count(*) FROM partback.transient_heap)}, '0'),
		'parts, crash: the transient heap is dropped when the server starts, none is recorded');
	like(slurp_file($node->logfile, $log_at), qr/partback: dropped 1 transient table\(s\) that interrupted restores of database "postgres"/,
		'parts, crash: the server log says so');
	is(psq('SELECT md5(string_agg(note, \',\' ORDER BY id)) FROM ld.big'), $big, 'parts, crash: ld.big holds its rows');
	is(psq(q{SELECT bt_index_check('ld.big_note'::regclass, true)}), '', 'parts, crash: its index is sound');
}

# (but for the copy worker killed above)
my @crashes = grep { /terminated by signal/ && !/signal 9: Killed/ } split /\n/, slurp_file($node->logfile);
is(scalar(@crashes), 0, 'no server process crashed');

done_testing();
