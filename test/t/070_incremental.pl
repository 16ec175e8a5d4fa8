# 070_incremental.pl: DESIGN.md's "Incremental by partition" and "Backups
# are immutable points in time" (issue 4, part 1 and 2).
#
# On schema inc -- inc.parted, range-partitioned into 20 partitions of 2000
# rows, and inc.plain, a plain table of 3000 rows -- every step makes one
# kind of change, runs backup_db(dir, schemas => '{inc}') into the same dir
# and checks:
#   - exactly the changed partitions were copied: their data files (as
#     get_backup_meta(...)->'files' names them) are new and carry the new
#     backup's id; every other partition keeps the previous backup's files;
#   - get_backup_list lists exactly the source's partitions;
#   - partback.jobs' reused = partitions - copied, list_backups' new_bytes =
#     the stored bytes of the copied partitions, reused_bytes + new_bytes =
#     bytes, get_backup_status()'s reused per table agrees;
#   - restore_table of the newest backup under a new name gives exactly the
#     source's rows (md5 of the ordered rows).
# Change kinds: nothing, UPDATE, DELETE, INSERT (partitioned and plain),
# TRUNCATE, VACUUM FULL, CLUSTER, ADD COLUMN with a default and DROP COLUMN
# on the parent, DETACH, ATTACH, CREATE and DROP of a partition, and rows of
# a transaction in progress at a backup's snapshot that commits afterwards;
# and nothing, after a backup whose reads set hint bits (wal_log_hints is on,
# as data checksums are by default on 18: a hint bit can give a page a newer
# LSN).
# Then force => true copies everything; restores with backup_id => an older
# id give the data as it was then; check_backup finds every backup healthy.
#
# A last part (schema inc_x, its own dir) tries changes the detection rule
# (same relfilenode, same column names, no newer page LSN, nothing in flight)
# may not see: an UPDATE of an unlogged table (no WAL, so no page LSN), two
# columns swapping names, and a column dropped and added again under the
# same name.
#
# autovacuum is off and every changed partition is vacuumed right after its
# change, so that no page of an unchanged partition gets a newer LSN (by
# pruning, freezing) between two backups: the copied set is then exactly the
# changed one.

use strict;
use warnings;

use File::Find ();
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $T0 = time();
my $node = PartbackTest::new_node('incr', conf => "autovacuum = off\nwal_log_hints = on\n");
my $base = PartbackTest::backup_dir('incr');

sub lit { return PartbackTest::sql_lit(@_); }

# Runs SQL; returns its output, or undef (after a diag) when it failed.
sub sq
{
	my ($sql, $db) = @_;
	return PartbackTest::query($node, $db // 'postgres', $sql);
}

sub rows
{
	my ($sql) = @_;
	my $out = sq($sql) // return ();
	return map { [ split /\|/, $_, -1 ] } grep { length } split /\n/, $out;
}

# md5 of every row of a relation (or a parenthesised query) in a fixed order
sub md5_of
{
	my ($rel) = @_;
	return sq("SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text COLLATE \"C\")), '')"
		  . " FROM $rel AS r") // "error reading $rel";
}

# The leaf partitions of $table in the source, sorted (a plain table is its
# own; in these tables every path is the leaf's name)
sub source_leaves
{
	my ($table) = @_;
	my $out = sq("SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_partition_tree('$table') t"
		  . " JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf") // '';
	# pg_partition_tree() shows nothing for a table outside any tree
	$out = sq("SELECT relname FROM pg_class WHERE oid = '$table'::regclass") // '' if $out eq '';
	return split /,/, $out;
}

# path => { stored, listed_id, files } of $table in backup $id of $dir;
# files: the data file names of its metadata, in order, joined by ','
sub backup_parts
{
	my ($dir, $id, $table) = @_;
	my $ldir = lit($dir);
	my %h;
	for my $r (rows("SELECT l.partition, l.stored_bytes, l.backup_id,"
		  . " coalesce((SELECT string_agg(f->>'name', ',' ORDER BY o)"
		  . "   FROM jsonb_array_elements(partback.get_backup_meta($ldir, 'postgres', '$table', l.partition, $id)->'files')"
		  . "        WITH ORDINALITY AS x(f, o)), '')"
		  . " FROM partback.get_backup_list($ldir, 'postgres', '$table', $id) AS l"))
	{
		$h{ $r->[0] } = { stored => $r->[1], listed_id => $r->[2], files => $r->[3] };
	}
	return \%h;
}

# A backup repository under test: its dir, the schema backup_db copies, its
# tables, the schema restores go to, and what each backup held.
sub new_repo
{
	my ($name, $schema, $chk, @tables) = @_;
	return { dir => "$base/$name", schema => $schema, chk => $chk, tables => \@tables,
		prev => undef, md5_at => {}, parts_at => {}, ids => [] };
}

# Backs up $repo's schema and checks the backup as the header says.
# %p: copied => { table => [paths expected to be copied] } (missing: none),
# force => 1, md5 => { table => md5 } (the source's content, when it must
# not be read now), after_restore => sub { ... } (runs while the restored tables
# exist, as <chk>.<table name>).  Returns the new backup id or undef.
sub backup_step
{
	my ($repo, $label, %p) = @_;
	my $dir  = $repo->{dir};
	my $ldir = lit($dir);
	my @tables = @{ $repo->{tables} };
	my %md5 = $p{md5} ? %{ $p{md5} } : map { $_ => md5_of($_) } @tables;
	my $force = $p{force} ? 'true' : 'false';

	my $job = sq("SELECT partback.backup_db($ldir, schemas => '{$repo->{schema}}', force => $force, wait => true)");
	ok(defined $job && $job =~ /^\d+$/, "$label: backup_db succeeds") or return undef;
	my $id = sq("SELECT backup_id FROM partback.jobs WHERE job_id = $job") // '';
	unless ($id =~ /^\d+$/)
	{
		fail("$label: partback.jobs names the backup id of job $job");
		return undef;
	}
	my $prev = $repo->{prev};
	my $idp = sprintf('%010d', $id);

	my ($total, $ncopied, $copied_stored) = (0, 0, 0);
	my (%now_all, @status_expected);
	for my $t (@tables)
	{
		my $now = backup_parts($dir, $id, $t);
		$now_all{$t} = $now;
		my $before = defined $prev ? $repo->{parts_at}{$prev}{$t} // {} : {};
		my @copied = grep { !$before->{$_} || $before->{$_}{files} ne $now->{$_}{files} } sort keys %$now;
		my @expected = sort @{ $p{copied}{$t} // [] };
		is(join(',', @copied), join(',', @expected),
			"$label: $t: the partitions copied (new data files) are exactly the changed ones")
		  or diag("files now: " . join('; ', map { "$_=$now->{$_}{files}" } sort keys %$now) . "\nfiles before: "
			  . join('; ', map { "$_=$before->{$_}{files}" } sort keys %$before));
		# a copied partition's files are this backup's own, a taken-over one's
		# are exactly the previous backup's
		my @badnames = grep {
			my $f = $now->{$_}{files};
			$f eq '' || grep { index($_, "$idp.") != 0 } split /,/, $f
		} @copied;
		ok(!@badnames, "$label: $t: every data file of a copied partition is named after backup $id")
		  or diag('not: ' . join('; ', map { "$_=$now->{$_}{files}" } @badnames));
		# get_backup_list's backup_id: the newest backup that wrote the
		# partition's data (FORMAT.md), i.e. the id its file names carry
		my @badid = grep {
			my ($fid) = sort { $b <=> $a } map { /^(\d+)\./ ? $1 + 0 : -1 } split /,/, $now->{$_}{files};
			($fid // -1) != $now->{$_}{listed_id}
		} sort keys %$now;
		ok(!@badid, "$label: $t: get_backup_list's backup_id of every partition is the backup that wrote its data files")
		  or diag('not: ' . join('; ', map { "$_: backup_id $now->{$_}{listed_id}, files $now->{$_}{files}" } @badid));
		is(join(',', sort keys %$now), join(',', source_leaves($t)),
			"$label: get_backup_list of $t lists exactly the source's partitions");
		$total += keys %$now;
		$ncopied += @copied;
		$copied_stored += $now->{$_}{stored} for @copied;
		push @status_expected, "$t:" . (keys(%$now) - @copied);
	}

	# the figures: jobs, list_backups, get_backup_status
	my ($j) = rows("SELECT reused, reused_bytes, partitions FROM partback.jobs WHERE job_id = $job");
	my ($lb) = rows("SELECT partitions, bytes, new_bytes FROM partback.list_backups($ldir) WHERE backup_id = $id");
	$j  //= [ '?', '?', '?' ];
	$lb //= [ '?', '?', '?' ];
	my $got = "jobs.partitions=$j->[2] jobs.reused=$j->[0] list_backups.partitions=$lb->[0]"
	  . " new_bytes=$lb->[2] reused_bytes+new_bytes="
	  . (($j->[1] =~ /^\d+$/ && $lb->[2] =~ /^\d+$/) ? $j->[1] + $lb->[2] : '?');
	my $want = "jobs.partitions=$total jobs.reused=" . ($total - $ncopied) . " list_backups.partitions=$total"
	  . " new_bytes=$copied_stored reused_bytes+new_bytes=$lb->[1]";
	is($got, $want, "$label: jobs.reused = partitions - copied, new_bytes = stored bytes of the copied"
		  . " partitions, reused_bytes + new_bytes = bytes");
	is(sq("SELECT string_agg(table_name || ':' || reused, ',' ORDER BY table_name)"
		  . " FROM partback.get_backup_status() WHERE job_id = $job") // 'error',
		join(',', sort @status_expected), "$label: get_backup_status() shows reused per table");
	if ($p{force})
	{
		is($lb->[2], $lb->[1], "$label: new_bytes = bytes ($lb->[1])");
		is($j->[0], 0, "$label: jobs.reused = 0");
	}
	if ($ncopied == 0)
	{
		is($lb->[2], 0, "$label: new_bytes = 0");
	}

	# content: restore the newest backup under new names
	for my $t (@tables)
	{
		my $target = "$repo->{chk}." . (split /\./, $t)[1];
		my $r = sq("SELECT partback.restore_table($ldir, '$t', target_table => '$target', wait => true)");
		ok(defined $r, "$label: restore_table of $t from the newest backup (id $id) under a new name succeeds");
		is(md5_of($target), $md5{$t}, "$label: the restored $t has exactly the source's rows");
	}
	$p{after_restore}->($id) if $p{after_restore};
	sq("DROP SCHEMA IF EXISTS $repo->{chk} CASCADE");

	$repo->{md5_at}{$id} = \%md5;
	$repo->{parts_at}{$id} = \%now_all;
	$repo->{prev} = $id;
	push @{ $repo->{ids} }, $id;
	return $id;
}

# Makes a change ($sql, which must succeed), then runs backup_step; one
# failure does not stop the others.
sub change_step
{
	my ($repo, $label, $sql, %p) = @_;
	my $id;
	my $ok = eval {
		ok(defined sq($sql), "$label: the change succeeds") or return 1;
		$id = backup_step($repo, $label, %p);
		1;
	};
	fail("$label: died: $@") unless $ok;
	return $id;
}

# ---------------------------------------------------------------- data

my $NPARTS = 20;
sq(qq{
	CREATE SCHEMA inc;
	CREATE SCHEMA inc_aside;
	CREATE TABLE inc.parted (id bigint NOT NULL, k integer NOT NULL, v text, note text DEFAULT 'n',
		PRIMARY KEY (k, id)) PARTITION BY RANGE (k);
	DO \$\$ BEGIN
		FOR g IN 0 .. $NPARTS - 1 LOOP
			EXECUTE format('CREATE TABLE inc.parted_p%s PARTITION OF inc.parted FOR VALUES FROM (%s) TO (%s)',
				lpad(g::text, 2, '0'), g * 100, (g + 1) * 100);
		END LOOP;
	END \$\$;
	INSERT INTO inc.parted (id, k, v) SELECT i, i % 2000, md5(i::text) FROM generate_series(1, 40000) AS i;
	CREATE TABLE inc.plain (id integer PRIMARY KEY, v text);
	INSERT INTO inc.plain SELECT i, repeat(md5(i::text), 2) FROM generate_series(1, 3000) AS i;
	VACUUM (FREEZE, ANALYZE) inc.parted, inc.plain;
});
is(sq("SELECT count(*) FROM inc.parted") // 'error', 40000, 'inc.parted has 40000 rows in 20 partitions');

my @ALL = map { sprintf('parted_p%02d', $_) } 0 .. $NPARTS - 1;
my $repo = new_repo('main', 'inc', 'inc_chk', 'inc.parted', 'inc.plain');
my $ldir = lit($repo->{dir});

# ---------------------------------------------------------------- steps

my $id_first = change_step($repo, 'first backup', 'SELECT 1',
	copied => { 'inc.parted' => [@ALL], 'inc.plain' => ['plain'] });

change_step($repo, 'nothing changed', 'SELECT 1');

# What a job that died while writing left -- "*.tmp" files in partition
# dirs at any depth and among the manifests -- goes at the next backup,
# nothing changed or not (storage.c's walk by descriptor).
{
	my (@dirs, @stale);
	File::Find::find({ no_chdir => 1, wanted => sub {
		push @dirs, $File::Find::dir if /\.meta\.json$/ } }, $repo->{dir});
	@dirs = sort @dirs;
	push @stale, "$dirs[0]/0000009999.00000.copy.tmp", "$dirs[-1]/0000009999.meta.json.tmp",
		glob("$repo->{dir}/*/manifests") . "/0000009999.json.tmp";
	foreach my $f (@stale)
	{
		open(my $fh, '>', $f) or die "could not write $f: $!";
		print $fh "stale\n";
		close($fh);
	}
	is(scalar(grep { -f $_ } @stale), 3, 'three stale .tmp files are planted, two in partition dirs');
	change_step($repo, 'nothing changed, stale .tmp files', 'SELECT 1');
	is(join(', ', grep { -e $_ } @stale), '', 'the backup removed the stale .tmp files');
}

my $md5_p05_before_delete = md5_of('inc.parted_p05');
my $id_before_delete = change_step($repo, 'UPDATE one row',
	"UPDATE inc.parted SET v = 'updated' WHERE id = 320; VACUUM inc.parted_p03;",
	copied => { 'inc.parted' => ['parted_p03'] },
	after_restore => sub {
		my ($id) = @_;
		# a partition by LIKE pattern, from the newest backup
		my $src = md5_of('(SELECT * FROM inc.parted WHERE k >= 300 AND k < 400)');
		my $r = sq("SELECT partback.restore($ldir, 'inc.parted', 'parted_p03', target_table => 'inc_chk.only_p03', wait => true)");
		ok(defined $r, 'UPDATE one row: restore() of partition parted_p03 by pattern succeeds');
		is(md5_of('inc_chk.only_p03'), $src, 'UPDATE one row: the restored partition has exactly the source rows of parted_p03');
	});

my $id_after_delete = change_step($repo, 'DELETE one row',
	"DELETE FROM inc.parted WHERE id = 520; VACUUM inc.parted_p05;",
	copied => { 'inc.parted' => ['parted_p05'] });

change_step($repo, 'INSERT one row',
	"INSERT INTO inc.parted (id, k, v) VALUES (100001, 750, 'inserted'); VACUUM inc.parted_p07;",
	copied => { 'inc.parted' => ['parted_p07'] });

my $id_before_plain = $repo->{prev};
change_step($repo, 'UPDATE one row of the plain table',
	"UPDATE inc.plain SET v = 'updated' WHERE id = 10; VACUUM inc.plain;",
	copied => { 'inc.plain' => ['plain'] });

change_step($repo, 'TRUNCATE a partition', 'TRUNCATE inc.parted_p09;',
	copied => { 'inc.parted' => ['parted_p09'] });

change_step($repo, 'VACUUM FULL a partition', 'VACUUM FULL inc.parted_p11;',
	copied => { 'inc.parted' => ['parted_p11'] });

change_step($repo, 'CLUSTER a partition', 'CLUSTER inc.parted_p13 USING parted_p13_pkey;',
	copied => { 'inc.parted' => ['parted_p13'] });

change_step($repo, 'ADD COLUMN with a default on the parent',
	'ALTER TABLE inc.parted ADD COLUMN extra integer DEFAULT 7;',
	copied => { 'inc.parted' => [@ALL] });

change_step($repo, 'DROP COLUMN on the parent', 'ALTER TABLE inc.parted DROP COLUMN note;',
	copied => { 'inc.parted' => [@ALL] });

{
	my $prev = $repo->{prev};
	change_step($repo, 'DETACH PARTITION',
		'ALTER TABLE inc.parted DETACH PARTITION inc.parted_p15; ALTER TABLE inc.parted_p15 SET SCHEMA inc_aside;',
		after_restore => sub {
			my ($id) = @_;
			is(sq("SELECT count(*) FROM partback.get_backup_list($ldir, 'postgres', 'inc.parted') WHERE partition = 'parted_p15'") // 'error',
				0, 'DETACH PARTITION: the newest backup does not list the detached partition');
			is(sq("SELECT count(*) FROM partback.get_backup_list($ldir, 'postgres', 'inc.parted', $prev) WHERE partition = 'parted_p15'") // 'error',
				1, "DETACH PARTITION: the previous backup ($prev) still lists it");
			is(sq("SELECT count(*) FROM partback.get_backup_list($ldir, 'postgres', 'inc.parted', $id) WHERE backup_id = $id") // 'error',
				0, "DETACH PARTITION: get_backup_list(..., $id) shows no partition as written by backup $id");
		});
}

change_step($repo, 'ATTACH PARTITION of a new table with data', q{
	CREATE TABLE inc.parted_p20 (LIKE inc.parted INCLUDING DEFAULTS);
	INSERT INTO inc.parted_p20 (id, k, v) SELECT 200000 + i, 2000 + i % 100, md5(i::text) FROM generate_series(1, 500) AS i;
	ALTER TABLE inc.parted ATTACH PARTITION inc.parted_p20 FOR VALUES FROM (2000) TO (2100);
	VACUUM (FREEZE) inc.parted_p20;},
	copied => { 'inc.parted' => ['parted_p20'] });

change_step($repo, 'CREATE a new partition', q{
	CREATE TABLE inc.parted_p21 PARTITION OF inc.parted FOR VALUES FROM (2100) TO (2200);
	INSERT INTO inc.parted (id, k, v) SELECT 300000 + i, 2100 + i % 100, md5(i::text) FROM generate_series(1, 700) AS i;
	VACUUM (FREEZE) inc.parted_p21;},
	copied => { 'inc.parted' => ['parted_p21'] });

{
	my $prev = $repo->{prev};
	change_step($repo, 'DROP a partition', 'DROP TABLE inc.parted_p19;',
		after_restore => sub {
			is(sq("SELECT count(*) FROM partback.get_backup_list($ldir, 'postgres', 'inc.parted') WHERE partition = 'parted_p19'") // 'error',
				0, 'DROP a partition: the newest backup does not list it');
			is(sq("SELECT count(*) FROM partback.get_backup_list($ldir, 'postgres', 'inc.parted', $prev) WHERE partition = 'parted_p19'") // 'error',
				1, "DROP a partition: the previous backup ($prev) still lists it");
		});
}

# ---------------------------------------------------------------- in progress

# Session A changes three partitions (UPDATE in p01, DELETE in p02, INSERT in
# p04) and keeps its transaction open while backup B runs; then commits, and
# backup C follows.  C's snapshot is newer than every page A wrote, so only
# B's record that a transaction was in flight can tell that those partitions
# changed.  Nothing may read the source between the commit and C (a read
# could prune A's dead row versions and give the pages a newer LSN, which
# would hide a missing in-flight check): C's expected content is computed by
# A itself before it commits, and pageinspect shows that no page of the
# three partitions is newer than B's snapshot when C starts.
my @INFLIGHT = qw(parted_p01 parted_p02 parted_p04);
my ($id_inflight, $id_after_commit);
my $have_pageinspect = defined sq('CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA public');
my $md5_sql = sub {
	my ($rel) = @_;
	return "SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text COLLATE \"C\")), '') FROM $rel AS r;";
};
{
	my %md5_after;
	my $ok = eval {
		my $a = $node->background_psql('postgres');
		$a->query_safe("BEGIN; UPDATE inc.parted SET v = 'in-flight' WHERE id = 150;"
			  . " DELETE FROM inc.parted WHERE id = 250;"
			  . " INSERT INTO inc.parted (id, k, v) VALUES (1000001, 450, 'in-flight insert');");
		$id_inflight = backup_step($repo, 'in progress: backup B while A is open',
			copied => { 'inc.parted' => [@INFLIGHT] },
			after_restore => sub {
				is(sq("SELECT coalesce(string_agg(id || '=' || v, ',' ORDER BY id), '') FROM inc_chk.parted WHERE id IN (150, 250, 1000001)") // 'error',
					'150=' . sq("SELECT md5('150')") . ',250=' . sq("SELECT md5('250')"),
					'in progress: backup B, taken while A is open, does not have its changes');
			});
		if (defined $id_inflight)
		{
			is(sq("SELECT string_agg(l.partition, ',' ORDER BY l.partition)"
				  . " FROM partback.get_backup_list($ldir, 'postgres', 'inc.parted', $id_inflight) l"
				  . " WHERE EXISTS (SELECT FROM jsonb_array_elements(partback.get_backup_meta($ldir, 'postgres', 'inc.parted',"
				  . "   l.partition, $id_inflight)->'files') f WHERE (f->>'inflight')::boolean)") // 'error',
				join(',', @INFLIGHT), 'in progress: backup B marks exactly the files of the partitions A wrote as inflight');
		}
		# the content after the commit, as A sees it
		for my $t ('inc.parted', 'inc.plain')
		{
			my $m = $a->query_safe($md5_sql->($t));
			chomp $m;
			$md5_after{$t} = $m;
		}
		$a->query_safe('COMMIT');
		$a->quit;
		1;
	};
	fail("in progress: died: $@") unless $ok;
	if ($have_pageinspect && defined $id_inflight)
	{
		my $snap = sq("SELECT snapshot_lsn FROM partback.list_backups($ldir) WHERE backup_id = $id_inflight") // '';
		is(sq("SELECT coalesce(string_agg(p, ',' ORDER BY p), '') FROM unnest(ARRAY['" . join("','", @INFLIGHT) . "']) AS p"
			  . " WHERE (SELECT max(h.lsn) FROM generate_series(0, pg_relation_size('inc.' || p) / 8192 - 1) AS b,"
			  . "        public.page_header(public.get_raw_page('inc.' || p, b::integer)) AS h) > '$snap'::pg_lsn") // 'error',
			'', "in progress: after A's commit no page of its partitions is newer than backup B's snapshot ($snap)");
	}
	$id_after_commit = change_step($repo, 'in progress: backup C after A committed', 'SELECT 1',
		md5 => \%md5_after,
		copied => { 'inc.parted' => [@INFLIGHT] },
		after_restore => sub {
			is(sq("SELECT coalesce(string_agg(id || '=' || v, ',' ORDER BY id), '') FROM inc_chk.parted WHERE id IN (150, 250, 1000001)") // 'error',
				'150=in-flight,1000001=in-flight insert',
				"in progress: a restore of backup C has A's update, delete and insert");
		});
}

# ---------------------------------------------------------------- force

change_step($repo, 'force => true', 'SELECT 1', force => 1,
	copied => { 'inc.parted' => [ source_leaves('inc.parted') ], 'inc.plain' => ['plain'] });

# ---------------------------------------------------------------- older backups

# restore_table with backup_id => an older id gives the rows as they were
sub restore_old_ok
{
	my ($label, $table, $id, $want) = @_;
	my $target = 'inc_old.' . (split /\./, $table)[1];
	my $r = sq("SELECT partback.restore_table($ldir, '$table', target_table => '$target', backup_id => $id, wait => true)");
	ok(defined $r, "$label: restore_table of $table with backup_id => $id succeeds");
	is(md5_of($target), $want, "$label: the restored $table equals the source at backup $id");
}

if (defined $id_before_delete)
{
	restore_old_ok('before the DELETE', 'inc.parted', $id_before_delete, $repo->{md5_at}{$id_before_delete}{'inc.parted'});
	is(sq("SELECT count(*) FROM inc_old.parted WHERE id = 520") // 'error', 1,
		'before the DELETE: the row deleted later is there');
	sq('DROP SCHEMA IF EXISTS inc_old CASCADE');
	my $r = sq("SELECT partback.restore($ldir, 'inc.parted', 'parted_p05', target_table => 'inc_old.only_p05',"
		  . " backup_id => $id_before_delete, wait => true)");
	ok(defined $r, "before the DELETE: restore() of parted_p05 with backup_id => $id_before_delete succeeds");
	is(md5_of('inc_old.only_p05'), $md5_p05_before_delete,
		'before the DELETE: the restored parted_p05 equals the partition before the DELETE');
	sq('DROP SCHEMA IF EXISTS inc_old CASCADE');
}
if (defined $id_first)
{
	for my $t ('inc.parted', 'inc.plain')
	{
		restore_old_ok('first backup', $t, $id_first, $repo->{md5_at}{$id_first}{$t});
	}
	like(sq("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns"
		  . " WHERE table_schema = 'inc_old' AND table_name = 'parted'") // 'error',
		qr/^id,k,v,note$/, 'first backup: the restored table has the columns of that time (note, no extra)');
	is(sq("SELECT count(*) FROM pg_partition_tree('inc_old.parted') WHERE isleaf") // 'error', $NPARTS,
		"first backup: the restored table has that time's $NPARTS partitions");
	sq('DROP SCHEMA IF EXISTS inc_old CASCADE');
}
if (defined $id_inflight)
{
	restore_old_ok('in progress', 'inc.parted', $id_inflight, $repo->{md5_at}{$id_inflight}{'inc.parted'});
	sq('DROP SCHEMA IF EXISTS inc_old CASCADE');
}
if (defined $id_before_plain)
{
	restore_old_ok('before the plain UPDATE', 'inc.plain', $id_before_plain, $repo->{md5_at}{$id_before_plain}{'inc.plain'});
	sq('DROP SCHEMA IF EXISTS inc_old CASCADE');
}

# ---------------------------------------------------------------- health

is(sq("SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM partback.list_backups($ldir)") // 'error',
	join(',', @{ $repo->{ids} }), 'list_backups lists every backup of the steps');
is(sq("SELECT count(*) FROM partback.check_backup($ldir)") // 'error', 0,
	'check_backup of the newest backup is empty')
  or diag(sq("SELECT * FROM partback.check_backup($ldir) LIMIT 20"));
is(sq("SELECT count(*) FROM partback.list_backups($ldir) b,"
	  . " LATERAL partback.check_backup($ldir, backup_id => b.backup_id) c") // 'error', 0,
	'check_backup of every backup id is empty')
  or diag(sq("SELECT b.backup_id, c.* FROM partback.list_backups($ldir) b,"
	  . " LATERAL partback.check_backup($ldir, backup_id => b.backup_id) c LIMIT 20"));

# ---------------------------------------------------------------- edge cases

# Changes that keep the relation file, the column names and every page LSN;
# each table in a schema and backup dir of its own, so that one missed change
# does not show again in the others.
sq(q{
	CREATE SCHEMA inc_u;
	CREATE UNLOGGED TABLE inc_u.unlogged_t (id integer PRIMARY KEY, v text);
	INSERT INTO inc_u.unlogged_t SELECT i, md5(i::text) FROM generate_series(1, 2000) AS i;
	CREATE SCHEMA inc_s;
	CREATE TABLE inc_s.swap_t (id integer, a integer, b integer);
	INSERT INTO inc_s.swap_t SELECT i, i, -i FROM generate_series(1, 2000) AS i;
	CREATE SCHEMA inc_d;
	CREATE TABLE inc_d.dropadd_t (id integer, v text);
	INSERT INTO inc_d.dropadd_t SELECT i, md5(i::text) FROM generate_series(1, 2000) AS i;
	VACUUM (FREEZE, ANALYZE) inc_u.unlogged_t, inc_s.swap_t, inc_d.dropadd_t;
});
for my $edge (
	[ 'inc_u', 'unlogged_t', 'UPDATE one row of an unlogged table',
	  "UPDATE inc_u.unlogged_t SET v = 'updated' WHERE id = 10; VACUUM inc_u.unlogged_t;" ],
	[ 'inc_s', 'swap_t', 'two columns swap names',
	  'ALTER TABLE inc_s.swap_t RENAME a TO tmp; ALTER TABLE inc_s.swap_t RENAME b TO a; ALTER TABLE inc_s.swap_t RENAME tmp TO b;' ],
	[ 'inc_d', 'dropadd_t', 'a column dropped and added again under its name',
	  "ALTER TABLE inc_d.dropadd_t DROP COLUMN v; ALTER TABLE inc_d.dropadd_t ADD COLUMN v text DEFAULT 'new';" ])
{
	my ($schema, $name, $what, $sql) = @$edge;
	my $r = new_repo("edge_$name", $schema, "${schema}_chk", "$schema.$name");
	change_step($r, "edge ($name): first backup", 'SELECT 1', copied => { "$schema.$name" => [$name] });
	change_step($r, "edge: $what", $sql, copied => { "$schema.$name" => [$name] });
}

# Hint bits: rows never read since they were written, and a checkpoint
# since.  The first backup's reads set their hint bits, and with
# wal_log_hints (or data checksums, 18's default) the first hint bit on a
# page logs the page anew: it gets an LSN newer than the backup's snapshot
# without any change of content.  The next backup must still take the
# range over: nothing changed.
sq(q{
	CREATE SCHEMA inc_h;
	CREATE TABLE inc_h.hint_t (id integer, v text);
	INSERT INTO inc_h.hint_t SELECT i, md5(i::text) FROM generate_series(1, 20000) AS i;
});
{
	my $r = new_repo('edge_hint_t', 'inc_h', 'inc_h_chk', 'inc_h.hint_t');
	# the expected content, computed without reading the table
	my $md5 = md5_of('(SELECT i AS id, md5(i::text) AS v FROM generate_series(1, 20000) AS i)');
	my $id = change_step($r, 'edge (hint_t): first backup of rows without hint bits', 'CHECKPOINT',
		copied => { 'inc_h.hint_t' => ['hint_t'] }, md5 => { 'inc_h.hint_t' => $md5 });

	# the case is there: block 0 (as the checkpoint wrote it) is newer than
	# the backup's snapshot
	sq('CHECKPOINT');
	my $file = $node->data_dir . '/' . sq("SELECT pg_relation_filepath('inc_h.hint_t')");
	open(my $fh, '<:raw', $file) or die "$file: $!";
	read($fh, my $header, 8) == 8 or die "$file: short read";
	close($fh);
	my ($hi, $lo) = unpack('LL', $header);
	my $snapshot = sq('SELECT snapshot_lsn FROM partback.list_backups(' . lit($r->{dir}) . ")"
		  . " WHERE backup_id = " . ($id // 0)) // '';
	is(sq(sprintf("SELECT '%X/%X'::pg_lsn > %s::pg_lsn", $hi, $lo, lit($snapshot))), 't',
		"edge (hint_t): block 0's LSN (${\ sprintf('%X/%X', $hi, $lo)}) is newer than the backup's snapshot ($snapshot)");

	change_step($r, 'edge: nothing changed after a backup that set hint bits', 'SELECT 1');
}

note(sprintf('070_incremental took %.1f s', time() - $T0));
done_testing();
