# 010_roundtrip.pl: fidelity of backup and restore on one node.
#
# Loads test/t/fidelity_schema.sql (every built-in type at its extremes,
# NULLs, TOASTed MBs, dropped columns, identity/generated columns, zero-column
# and empty tables, odd names, three-level partitioning, partitions in
# another schema), backs the database up, and checks that restores give back
# exactly what was there -- content, structure, partition tree, names,
# sequence positions -- in place, into a fresh database, under a new name, by
# partition pattern, into existing tables, and with every compression.

use strict;
use warnings;

use Digest::SHA;
use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;
use FidelityTest;

my $TIMEOUT = $PostgreSQL::Test::Utils::timeout_default;

# ---------------------------------------------------------------- helpers


# The first bytes of the largest file below $dir.
sub largest_file_head
{
	my ($dir) = @_;
	my ($best, $size) = (undef, -1);
	find(sub { if (-f $_ && -s _ > $size) { $size = -s _; $best = $File::Find::name; } }, $dir);
	return '' unless defined $best;
	open my $fh, '<:raw', $best or return '';
	read($fh, my $head, 11);
	close $fh;
	return $head // '';
}

# README's promise: each data file of a partition, found by its checksum in
# the metadata, loads by hand with COPY ... FROM PROGRAM 'zstd -dc FILE'.
# Loads every chunk of one partition into $target; returns the number of
# files loaded, or an error text.
sub load_by_hand
{
	my ($node, $dir, $table, $partition, $target) = @_;
	my $meta = "partback.get_backup_meta(" . lit($dir) . ", 'postgres', " . lit($table) . ', ' . lit($partition) . ')';
	my $cols = $node->safe_psql('postgres',
		"SELECT string_agg(quote_ident(c), ', ') FROM jsonb_array_elements_text($meta->'columns') AS c");
	my %want = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
		"SELECT f->>'sha256', f->>'name' FROM jsonb_array_elements($meta->'files') AS f");
	return 'the metadata lists no file' unless %want;
	my %found;
	find(sub {
			return unless -f $_;
			my $sha = Digest::SHA->new(256)->addfile($_, 'b')->hexdigest;
			$found{$sha} = $File::Find::name if $want{$sha};
		}, $dir);
	for my $sha (sort keys %want)
	{
		return "no file has the checksum of $want{$sha}" unless $found{$sha};
		my ($ret, $out, $err) = $node->psql('postgres',
			"COPY $target ($cols) FROM PROGRAM " . lit("zstd -dc '$found{$sha}'") . ' WITH (FORMAT binary)');
		return "COPY of $found{$sha} failed: $err" if $ret;
	}
	return scalar(keys %want);
}

# ---------------------------------------------------------------- setup

my %sec = schema_sections();
my $node = PartbackTest::new_node('main',
	extra => [ '--encoding=UTF8', '--no-locale' ],
	conf  => "partback.chunk_size = '1MB'\nrestart_after_crash = on\n");
$node->safe_psql('postgres', $sec{cluster} . $sec{types} . $sec{helpers} . $sec{tables}, timeout => $TIMEOUT);

my $orig = snapshot($node, 'postgres');
my $orig_dump = schema_dump($node, 'postgres');
cmp_ok(scalar(() = $orig_dump =~ /^-- Name: [^;]*; Type: TABLE;/mg), '>=', 18,
	'pg_dump -s of the fidelity schema lists its tables');
my @tables = sort keys %$orig;
cmp_ok(scalar(@tables), '>=', 18, 'the fidelity schema has its tables');
my %orig_toast = map { split /\|/, $_, 2 } split /\n/, $node->safe_psql('postgres',
	'SELECT id, concat_ws(\',\', octet_length(t), md5(t), octet_length(b), md5(b), md5(j::text)) FROM fid.toasty');
is($node->safe_psql('postgres', "SELECT octet_length(t) || ',' || octet_length(b) FROM fid.toasty WHERE id = 1"),
	'3145728,2097154', 'the 3 MB text and the 2 MB bytea are in place');

my $base = PartbackTest::backup_dir('roundtrip');
my $dir  = "$base/full";
my $ldir = lit($dir);

# ---------------------------------------------------------------- backup

my $job = job_ok($node, 'postgres',
	"SELECT partback.backup_db($ldir, parallel => 4, wait => true)", 'backup_db of the fidelity schema');
like($job, qr/^\d+$/, 'backup_db returns a job id');
is($node->safe_psql('postgres', "SELECT count(*) FROM partback.check_backup($ldir)"), '0',
	'check_backup finds the new backup healthy');
is($node->safe_psql('postgres', "SELECT tables FROM partback.list_backups($ldir)"), scalar(@tables),
	'list_backups: the backup holds exactly the user tables');

# backup_db captures the definitions of plain tables in batches
# (_capture_tables): each is the one _capture_table gives the table alone
my ($nplain, $nbatched, $differ) = split /\|/, $node->safe_psql('postgres', q{
	WITH plain AS (
		SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'partback', 'pg_toast'))
	SELECT (SELECT count(*) FROM plain), count(*),
		   coalesce(string_agg(x.relid::regclass::text, ', ')
					  FILTER (WHERE x.definition IS DISTINCT FROM partback._capture_table(x.relid)), 'none')
	  FROM partback._capture_tables(ARRAY(SELECT oid FROM plain)) x});
cmp_ok($nplain, '>=', 20, "the fidelity schema has plain tables and leaves ($nplain)");
is($nbatched, $nplain, '_capture_tables captures all of them at once');
is($differ, 'none', 'each as _capture_table captures it alone');
# and the digests of their types (part of the column signature), read for
# all tables at once before the copy: as for each alone
my ($ntyped, $ndiffer) = split /\|/, $node->safe_psql('postgres', q{
	WITH t AS (
		SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'partback', 'pg_toast'))
	SELECT count(x.digest), count(*) FILTER (WHERE x.digest IS DISTINCT FROM partback._dep_types_digest(t.oid))
	  FROM t LEFT JOIN partback._dep_types_digests(ARRAY(SELECT oid FROM t)) x ON x.relid = t.oid});
cmp_ok($ntyped, '>=', 3, "the tables using user types have a digest ($ntyped)");
is($ndiffer, '0', 'each as read for the table alone');

# get_backup_list: partition paths as DESIGN.md defines them, with rows
for my $t ('fid.sales', "we\"ird sch.\x{c3}\x{bc}" . ('t' x 59) . '63')
{
	my $exp = $node->safe_psql('postgres',
		'SELECT string_agg(path || \' \' || split_part(fp, \' \', 1), E\'\n\' ORDER BY path COLLATE "C")'
		  . ' FROM pbtest.leaves((SELECT rel FROM pbtest.roots() WHERE name = ' . lit($t) . '))');
	my $got = $node->safe_psql('postgres',
		'SELECT string_agg(partition || \' \' || rows, E\'\n\' ORDER BY partition COLLATE "C")'
		  . " FROM partback.get_backup_list($ldir, 'postgres', " . lit($t) . ')');
	is($got, $exp, "get_backup_list: paths and rows of the leaves of $t");
}
is($node->safe_psql('postgres',
		"SELECT string_agg(partition || ' ' || rows, ',') FROM partback.get_backup_list($ldir, 'postgres', "
		  . lit("we\"ird sch.a/b..c \x{c3}\x{bc}") . ')'),
	"a/b..c \x{c3}\x{bc} 200", 'get_backup_list: a plain table is its own partition, named as itself');
is($node->safe_psql('postgres',
		"SELECT string_agg(partition || ' ' || rows, ',') FROM partback.get_backup_list($ldir, 'postgres', 'fid.z')"),
	'z 3', 'get_backup_list: the zero-column table has its 3 rows');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM partback.get_backup_list($ldir, 'postgres', 'fid.noparts')"),
	'0', 'get_backup_list: a partitioned table without partitions has none');

is($node->safe_psql('postgres',
		"SELECT jsonb_array_length(partback.get_backup_meta($ldir, 'postgres', 'fid.scalars', 'scalars')->'files') > 1"),
	't', 'fid.scalars (over partback.chunk_size) is split into several data files');

# by hand, as README.md shows: several chunks, and odd names
$node->safe_psql('postgres', 'CREATE TABLE fid.hand_scalars (LIKE fid.scalars);'
	  . qq{CREATE TABLE fid.hand_odd (LIKE "we""ird sch"."a/b..c \x{c3}\x{bc}")});
for my $h ([ 'fid.scalars', 'scalars', 'fid.hand_scalars' ],
	[ "we\"ird sch.a/b..c \x{c3}\x{bc}", "a/b..c \x{c3}\x{bc}", 'fid.hand_odd' ])
{
	my ($t, $p, $target) = @$h;
	my $n = load_by_hand($node, $dir, $t, $p, $target);
	like($n, qr/^\d+$/, "the data files of $t load by hand with COPY FROM PROGRAM 'zstd -dc'") or diag($n);
	is($node->safe_psql('postgres', "SELECT pbtest.fp('$target')"), $orig->{$t}{fp},
		"the data files of $t loaded by hand hold the table's rows");
}
$node->safe_psql('postgres', 'DROP TABLE fid.hand_scalars, fid.hand_odd');

# ---------------------------------------------------------------- (a) in place

drop_all_tables($node, 'postgres');
job_ok($node, 'postgres', "SELECT partback.restore_db($ldir, parallel => 4, wait => true)",
	'restore_db in place after dropping every table');
compare_all('in place', snapshot($node, 'postgres'), $orig);
same_dump('in place', schema_dump($node, 'postgres'), $orig_dump);

# restore_table of each table after DROP TABLE ... CASCADE, as a DBA would:
# inheritance parents before their children, and a table that a foreign key
# references before the table that has it (restore_table asks for both)
my @by_depth = split /\n/, $node->safe_psql('postgres', q{
	WITH RECURSIVE edge(parent, child) AS (
		SELECT inhparent, inhrelid FROM pg_inherits AS i
		 WHERE NOT (SELECT relispartition FROM pg_class WHERE oid = i.inhrelid)
		UNION
		SELECT coalesce(pg_partition_root(confrelid), confrelid), coalesce(pg_partition_root(conrelid), conrelid)
		  FROM pg_constraint
		 WHERE contype = 'f'
		   AND coalesce(pg_partition_root(confrelid), confrelid) <> coalesce(pg_partition_root(conrelid), conrelid)),
	d(rel, depth) AS (
		SELECT rel, 0 FROM pbtest.roots()
		UNION ALL
		SELECT e.child, d.depth + 1 FROM d JOIN edge AS e ON e.parent = d.rel)
	SELECT r.name FROM pbtest.roots() AS r JOIN d ON d.rel = r.rel
	 GROUP BY r.name ORDER BY max(d.depth), r.name COLLATE "C"});
drop_all_tables($node, 'postgres');
job_ok($node, 'postgres',
	join('', map { "SELECT partback.restore_table($ldir, " . lit($_) . ', wait => true);' } @by_depth),
	'restore_table of every table after DROP TABLE ... CASCADE');
compare_all('restore_table after DROP CASCADE', snapshot($node, 'postgres'), $orig);
same_dump('restore_table after DROP CASCADE', schema_dump($node, 'postgres'), $orig_dump);

# (f) details after the in-place restore
is($node->safe_psql('postgres', 'SELECT count(*) FROM fid.scalars AS t WHERE t IS NULL'), '1',
	'the row of all NULLs survives');
my %toast = map { split /\|/, $_, 2 } split /\n/, $node->safe_psql('postgres',
	'SELECT id, concat_ws(\',\', octet_length(t), md5(t), octet_length(b), md5(b), md5(j::text)) FROM fid.toasty');
is_deeply(\%toast, \%orig_toast, 'the TOASTed 3 MB text, 2 MB byteas and 5 MB values survive byte for byte');
is($node->safe_psql('postgres',
		"SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute"
		  . " WHERE attrelid = 'fid.dropped'::regclass AND attnum > 0 AND NOT attisdropped"),
	'a,c,d,f,g', 'dropped columns stay dropped');
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE f = 'fast default' AND g = 42) || '/' || count(*) FROM fid.dropped"),
	'500/501', 'fast defaults (attmissingval) of old rows are restored as values');
is($node->safe_psql('postgres', 'SELECT count(*) FROM fid.z'), '3', 'the zero-column table has its 3 rows');
my $ids = $node->safe_psql('postgres', q{
	BEGIN;
	WITH m AS (SELECT max(id) AS id, max(id2) AS id2, max(ser) AS ser FROM fid.gen),
		 n AS (INSERT INTO fid.gen (a) VALUES (5) RETURNING id, id2, ser, g)
	SELECT (n.id > m.id)::text || ',' || (n.id2 > m.id2) || ',' || (n.ser > m.ser) || ',' || n.g
	  FROM m, n;
	ROLLBACK;});
is($ids, 'true,true,true,11', 'identity (ALWAYS, BY DEFAULT) and serial continue after the restored maximum');
job_fails($node, 'postgres', 'INSERT INTO fid.ref_child VALUES (100000, 424242, NULL)',
	qr/violates foreign key constraint/, 'foreign keys are enforced after the restore');

# an identical database: restore_db succeeds and changes nothing
job_ok($node, 'postgres', "SELECT partback.restore_db($ldir, wait => true)",
	'restore_db over an identical database');
my $again = snapshot($node, 'postgres');
same_field('restore over identical', 'fp', $again, $orig, { map { $_ => $_ } @tables });

# ---------------------------------------------------------------- compression

for my $comp (qw(zstd lz4 gzip none))
{
	my $cdir = lit("$base/c_$comp");
	job_ok($node, 'postgres',
		"SELECT partback.backup_table($cdir, 'fid.toasty', compression => '$comp', wait => true);"
		  . "SELECT partback.backup_table($cdir, 'fid.scalars', compression => '$comp', wait => true);",
		"$comp: backup_table of fid.toasty and fid.scalars");
	job_ok($node, 'postgres',
		"SELECT partback.restore_table($cdir, 'fid.toasty', target_table => 'fid.toasty_$comp', wait => true);"
		  . "SELECT partback.restore_table($cdir, 'fid.scalars', target_table => 'fid.scalars_$comp', wait => true);",
		"$comp: restore_table of both under new names");
	my $c = snapshot($node, 'postgres');
	same_field($comp, 'fp', $c, $orig, { 'fid.toasty' => "fid.toasty_$comp", 'fid.scalars' => "fid.scalars_$comp" });
	my %magic = (zstd => qr/^\x28\xb5\x2f\xfd/, lz4 => qr/^\x04\x22\x4d\x18/, gzip => qr/^\x1f\x8b/,
		none => qr/^PGCOPY\n\xff\r\n\0/);
	like(largest_file_head("$base/c_$comp"), $magic{$comp}, "$comp: the largest data file is in $comp format");
	if ($comp ne 'none')
	{
		is($node->safe_psql('postgres',
				"SELECT sum(stored_bytes) < sum(bytes) FROM partback.get_backup_list($cdir, 'postgres', 'fid.toasty')"),
			't', "$comp: stored bytes are fewer than raw bytes");
	}
	$node->safe_psql('postgres', "DROP TABLE IF EXISTS fid.toasty_$comp, fid.scalars_$comp");
}

# ---------------------------------------------------------------- COPY's own bytes

# DESIGN.md "Files": a data file is the stream COPY ... TO (FORMAT binary)
# writes.  copyout.c writes the common types itself instead of calling their
# send functions; every leaf of every table, backed up in one chunk without
# compression, must have the checksum of COPY's own output for it.  A column
# of the metadata's text_columns is, as FORMAT.md says, what COPY writes for
# the column cast to text.
{
	my $bdir = "$base/bytes";
	my $lbdir = lit($bdir);
	job_ok($node, 'postgres',
		"SET partback.chunk_size = '1GB'; SELECT partback.backup_db($lbdir, compression => 'none', wait => true)",
		'backup_db in single-chunk uncompressed files');
	my @leaves = split /\n/, $node->safe_psql('postgres',
		"SELECT r.name || '|' || coalesce(t.path, pbtest.path(r.rel, r.rel)) || '|' || t.rel::text
		   FROM pbtest.roots() AS r, pbtest.tree(r.rel) AS t
		  WHERE t.isleaf ORDER BY 1");
	cmp_ok(scalar(@leaves), '>=', scalar(@tables), 'every table has a leaf or is one');
	my ($same, @differ) = (0);
	for my $leaf (@leaves)
	{
		my ($t, $p, $rel) = split /\|/, $leaf, 3;
		my $copy = "$bdir.copy";
		my $meta = "partback.get_backup_meta($lbdir, 'postgres', " . lit($t) . ', ' . lit($p) . ')';
		my $list = $node->safe_psql('postgres',
			"SELECT coalesce(string_agg(quote_ident(c) || CASE WHEN $meta->'text_columns' ? c"
			  . " THEN '::text' ELSE '' END, ', ' ORDER BY n), '')"
			  . " FROM jsonb_array_elements_text($meta->'columns') WITH ORDINALITY AS x(c, n)");
		my $r = $node->safe_psql('postgres',
			"COPY (SELECT $list FROM ONLY $rel) TO " . lit($copy) . " (FORMAT binary);
			 SELECT (partback.get_backup_meta($lbdir, 'postgres', " . lit($t) . ', ' . lit($p) . ")->'files'->0->>'sha256')
			      = encode(sha256(pg_read_binary_file(" . lit($copy) . ")), 'hex')");
		if ($r eq 't') { $same++ } else { push @differ, "$t $p" }
	}
	is(join(', ', @differ), '', "each of the $same leaves' data file is byte for byte COPY's binary output");
}

# ---------------------------------------------------------------- (b) fresh database

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', $sec{types} . 'CREATE EXTENSION partback;' . $sec{helpers});
job_ok($node, 'fresh', "SELECT partback.restore_db($ldir, source_db => 'postgres', parallel => 3, wait => true)",
	'restore_db into a fresh database');
compare_all('fresh database', snapshot($node, 'fresh'), $orig);
same_dump('fresh database', schema_dump($node, 'fresh'), $orig_dump);
is($node->safe_psql('fresh', 'SELECT count(*) FROM fid.scalars AS t WHERE t IS NULL'), '1',
	'fresh database: the row of all NULLs survives');

# ---------------------------------------------------------------- (c) new table names

my $long = "we\"ird sch.\x{c3}\x{bc}" . ('t' x 59) . '63';
job_ok($node, 'postgres',
	"SELECT partback.restore_table($ldir, 'fid.sales', target_table => 'fid.sales_copy', wait => true)",
	'restore_table of the three-level table to a new name');
job_ok($node, 'postgres',
	"SELECT partback.restore_table($ldir, " . lit("we\"ird sch.a/b..c \x{c3}\x{bc}")
	  . ", target_table => 'fid.odd_copy', wait => true)",
	'restore_table of the oddly named plain table to a new name');
job_ok($node, 'postgres',
	"SELECT partback.restore_table($ldir, " . lit($long) . ", target_table => 'fid.long_copy', wait => true)",
	'restore_table of the 63-byte partitioned table to a new name');
my $copies = snapshot($node, 'postgres');
my %copy_pairs = ('fid.sales' => 'fid.sales_copy', "we\"ird sch.a/b..c \x{c3}\x{bc}" => 'fid.odd_copy',
	$long => 'fid.long_copy');
same_field('copy', $_, $copies, $orig, \%copy_pairs) for qw(fp chainleaves struct);
same_field('copy leaves the source alone', 'fp', $copies, $orig, { map { $_ => $_ } keys %copy_pairs });

# under a 60-byte new name, partitions keep what tells them apart: the
# source's suffix, the new name cut to make room
my $longnew = 'fid.' . ('n' x 60);
job_ok($node, 'postgres',
	"SELECT partback.restore_table($ldir, 'fid.sales', target_table => '$longnew', wait => true)",
	'restore_table of the three-level table to a 60-byte name');
is($node->safe_psql('postgres', "SELECT string_agg(DISTINCT substr(c.relname, 1, 3) || '..' || regexp_replace(c.relname, '^n+', ''),
			',' ORDER BY substr(c.relname, 1, 3) || '..' || regexp_replace(c.relname, '^n+', ''))
		  FROM pg_partition_tree('$longnew') t JOIN pg_class c ON c.oid = t.relid
		 WHERE t.relid <> '$longnew'::regclass AND c.relname ~ '^n'"),
	'nnn.._2024_01,nnn.._2024_01_eu,nnn.._2024_01_eu_h0,nnn.._2024_01_eu_h1,nnn.._2024_01_other,nnn.._2024_01_us,'
	  . 'nnn.._2024_02,nnn.._2024_02_eu,nnn.._2024_02_eu_h0,nnn.._2024_02_eu_h1,nnn.._2024_02_eu_h2,nnn.._2024_02_other,'
	  . 'nnn.._2024_02_us,nnn.._2024_03,nnn.._2024_03_eu,nnn.._2024_03_eu_h0,nnn.._2024_03_eu_h1,nnn.._2024_03_other,'
	  . 'nnn.._2024_04,nnn.._rest',
	'partitions under a long new name keep their suffixes');
$node->safe_psql('postgres', "DROP TABLE $longnew");

# ---------------------------------------------------------------- (d) by partition pattern

for my $p ([ 'sales_2024_02/%', 'fid.sales_feb' ], [ 'fid_parts.%', 'fid.sales_mar' ],
	[ '%_h1', 'fid.sales_h1' ])
{
	my ($pattern, $target) = @$p;
	job_ok($node, 'postgres',
		"SELECT partback.restore($ldir, 'fid.sales', " . lit($pattern) . ", target_table => '$target', wait => true)",
		"restore of partitions '$pattern' into $target");
	my $exp = $node->safe_psql('postgres',
		"SELECT pbtest.fp('fid.sales', format('pbtest.path(%L, t.tableoid) LIKE %L', 'fid.sales', "
		  . lit($pattern) . '))');
	unlike($exp, qr/^0 rows/, "the pattern '$pattern' selects rows");
	is($node->safe_psql('postgres', "SELECT pbtest.fp('$target')"), $exp,
		"$target holds exactly the rows of the partitions '$pattern'");
}

# in place: only the matching partitions go back to the backup's content
$node->safe_psql('postgres', "UPDATE fid.sales SET amount = amount + 1 WHERE sale_date < '2024-03-01'");
my $modified = snapshot($node, 'postgres')->{'fid.sales'}{leaves};
job_ok($node, 'postgres', "SELECT partback.restore($ldir, 'fid.sales', 'sales_2024_01/%', wait => true)",
	'restore of the January partitions in place');
{
	my %o = map { (split / => /)[0] => $_ } split /\n/, $orig->{'fid.sales'}{leaves};
	my %m = map { (split / => /)[0] => $_ } split /\n/, $modified;
	my $exp = join("\n", map { $_ =~ /^FOR VALUES FROM \('2024-01-01'\)/ ? $o{$_} : $m{$_} }
		  sort { $a cmp $b } keys %o);
	my $got = join("\n", sort { $a cmp $b } split /\n/, snapshot($node, 'postgres')->{'fid.sales'}{leaves});
	is($got, $exp, 'January is back to the backup, February keeps its changes')
	  or diag(line_diff($got, $exp));
}

# ---------------------------------------------------------------- (e) existing targets

# changed data, a missing partition, an extra partition
$node->safe_psql('postgres', q{
	DELETE FROM fid.sales WHERE id % 10 = 0;
	UPDATE fid.sales SET note = 'changed' WHERE id % 10 = 1;
	INSERT INTO fid.sales VALUES (20001, '2024-02-02', 'eu', 1, 'new');
	DROP TABLE fid.sales_2024_04;
	CREATE TABLE fid.sales_2025 PARTITION OF fid.sales FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
	INSERT INTO fid.sales VALUES (20002, '2025-01-02', 'eu', 1, 'in an extra partition');
	UPDATE fid.scalars SET t = 'changed' WHERE id < 10;
	DELETE FROM fid.scalars WHERE id > 5000;
	DELETE FROM fid.z;
	TRUNCATE fid.toasty;});
job_ok($node, 'postgres',
	"SELECT partback.restore_table($ldir, 'fid.sales', wait => true);"
	  . "SELECT partback.restore_table($ldir, 'fid.scalars', wait => true);"
	  . "SELECT partback.restore_table($ldir, 'fid.z', wait => true);"
	  . "SELECT partback.restore_table($ldir, 'fid.toasty', wait => true);",
	'restore_table into existing tables with changed data');
my $now = snapshot($node, 'postgres');
same_field('existing target', $_, $now, $orig,
	{ map { $_ => $_ } ('fid.sales', 'fid.scalars', 'fid.z', 'fid.toasty') }) for qw(fp leaves names);
is($node->safe_psql('postgres', "SELECT to_regclass('fid.sales_2025') IS NULL"), 't',
	'a partition absent from the backup is dropped');

# a leaf whose physical column order (and dropped columns) differ from the
# backup's
$node->safe_psql('postgres', q{
	ALTER TABLE fid.hashed DETACH PARTITION fid.hashed_2;
	DROP TABLE fid.hashed_2;
	CREATE TABLE fid.hashed_2 (junk1 integer, v text, junk2 integer, w numeric DEFAULT 0, k integer NOT NULL);
	ALTER TABLE fid.hashed_2 DROP COLUMN junk1, DROP COLUMN junk2;
	ALTER TABLE fid.hashed ATTACH PARTITION fid.hashed_2 FOR VALUES WITH (MODULUS 4, REMAINDER 2);
	INSERT INTO fid.hashed SELECT i, 'new', 1 FROM generate_series(1001, 1100) AS i;
	UPDATE fid.hashed SET v = 'changed' WHERE k % 3 = 0;});
job_ok($node, 'postgres', "SELECT partback.restore_table($ldir, 'fid.hashed', wait => true)",
	'restore_table into a table whose leaf has another physical column order');
same_field('other column order', $_, snapshot($node, 'postgres'), $orig, { 'fid.hashed' => 'fid.hashed' })
  for qw(fp leaves);

# renamed partitions match by bound
$node->safe_psql('postgres', q{
	ALTER TABLE fid.sales_2024_01_us RENAME TO us_jan_renamed;
	ALTER TABLE fid_parts.sales_2024_03 RENAME TO mar_renamed;
	UPDATE fid.sales SET note = 'changed again' WHERE sale_date >= '2024-03-01' OR region = 'us';});
job_ok($node, 'postgres', "SELECT partback.restore_table($ldir, 'fid.sales', wait => true)",
	'restore_table into a table whose partitions were renamed');
$now = snapshot($node, 'postgres');
same_field('renamed partitions', $_, $now, $orig, { 'fid.sales' => 'fid.sales' }) for qw(fp chainleaves);
is($node->safe_psql('postgres',
		"SELECT to_regclass('fid.us_jan_renamed') IS NOT NULL AND to_regclass('fid_parts.mar_renamed') IS NOT NULL"
		  . " AND to_regclass('fid.sales_2024_01_us') IS NULL AND to_regclass('fid_parts.sales_2024_03') IS NULL"),
	't', 'renamed partitions keep their names (matched by bound, not recreated)');

# a different column set fails, naming the difference, and changes nothing
for my $case (
	[ 'fid.texts', 'ALTER TABLE fid.texts ADD COLUMN extra_col integer', qr/extra_col/, 'an extra column' ],
	[ "we\"ird sch.a/b..c \x{c3}\x{bc}", "ALTER TABLE \"we\"\"ird sch\".\"a/b..c \x{c3}\x{bc}\" DROP COLUMN \"select\"",
		qr/select/, 'a missing column' ],
	[ 'fid.gen', 'ALTER TABLE fid.gen ALTER COLUMN created TYPE timestamp', qr/created/,
		'a column of another type' ])
{
	my ($t, $ddl, $re, $what) = @$case;
	$node->safe_psql('postgres', $ddl);
	my $before = $node->safe_psql('postgres',
		'SELECT pbtest.fp(rel) FROM pbtest.roots() WHERE name = ' . lit($t));
	job_fails($node, 'postgres', "SELECT partback.restore_table($ldir, " . lit($t) . ', wait => true)',
		$re, "restore into a table with $what fails naming the column");
	is($node->safe_psql('postgres', "SELECT count(*) FROM partback.jobs WHERE state IN ('queued', 'running')"),
		'0', "no job is left queued or running after the restore into a table with $what");
	is($node->safe_psql('postgres', 'SELECT pbtest.fp(rel) FROM pbtest.roots() WHERE name = ' . lit($t)),
		$before, "the table with $what is unchanged");
}

# ---------------------------------------------------------------- which backup restore_db takes

# A whole-database backup, then a newer one of one schema: restore_db
# without backup_id takes the newest backup that covers what it is asked
# for, and says which, with its point in time.
my $cdir = lit("$base/cover");
job_ok($node, 'postgres', "SELECT partback.backup_db($cdir, wait => true)", 'cover: backup_db of everything');
job_ok($node, 'postgres', "SELECT partback.backup_db($cdir, schemas => ARRAY['public'], wait => true)",
	'cover: a newer backup_db of one schema');
is($node->safe_psql('postgres', "SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM partback.list_backups($cdir)"),
	'1,2', 'cover: two backups');
for my $case (
	[ 'whole', '', qr/NOTICE:  restoring backup 1 of database "postgres" in ".*cover"\nDETAIL:  It holds the database as of snapshot LSN [0-9A-F]+\/[0-9A-F]+, finished at \d{4}-\d\d-\d\d [0-9:.]+\+00\.\n/,
		'the whole database comes from the older, whole backup' ],
	[ 'oneschema', ", schemas => ARRAY['public']", qr/NOTICE:  restoring backup 2 of database "postgres" in ".*cover"\nDETAIL:  .*; it holds the schemas public only\./,
		'one schema comes from the newer backup of that schema' ])
{
	my ($db, $args, $re, $what) = @$case;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, $sec{types} . 'CREATE EXTENSION partback;' . $sec{helpers});
	my ($out, $err) = ('', '');
	my $ret = $node->psql($db, "SELECT partback.restore_db($cdir, source_db => 'postgres'$args, wait => true)",
		stdout => \$out, stderr => \$err);
	ok($ret == 0 && $err =~ $re, "cover: $what, and restore_db says so") or diag($err);
}
is($node->safe_psql('whole', 'SELECT count(*) FROM pbtest.roots()'),
	$node->safe_psql('postgres', "SELECT tables FROM partback.list_backups($cdir) WHERE backup_id = 1"),
	'cover: the whole database has every table of the whole backup');
is($node->safe_psql('oneschema', "SELECT string_agg(DISTINCT split_part(name, '.', 1), ',') FROM pbtest.roots()"),
	'public', 'cover: the one schema has its tables only');

no_crash($node);
$node->stop;
done_testing();
