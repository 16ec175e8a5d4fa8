# 020_new_cluster.pl: DolphinDB's "restore to a new cluster".
#
# Node A backs up the fidelity schema (test/t/fidelity_schema.sql); node B,
# a separate cluster that has only the extension and the enum/domain/
# composite types, restores it with restore_db and with migrate into an
# empty database, checks it, and must give back exactly what A had.  migrate
# refuses a database that already has one of the tables.  The backup holds
# the user types and the functions the tables call: migrate into a database
# that has none of them creates them; an enum that lacks a label of the
# backup's fails before anything changes, naming it.
#
# Node B creates decoy types before the fidelity types, so that their OIDs
# differ from node A's: arrays and composites of user types (written in
# their text form, FORMAT.md) must restore whatever the OIDs.  Also: the
# text-form columns are listed in the metadata, load through COPY FROM (a
# target with a trigger) and by hand as FORMAT.md says, and a text form the
# target's input function rejects fails naming file, row and column.  A
# foreign partition does not fail backup_db: a NOTICE names it and the
# other partitions are backed up.  Node A's backups are another cluster's
# for node B: restores name them with backup_id (a restore naming none is
# refused), migrate takes them as they are.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Digest::SHA;
use Test::More;
use PartbackTest;
use FidelityTest;

my $TIMEOUT = $PostgreSQL::Test::Utils::timeout_default;

# ---------------------------------------------------------------- node A: back up

my %sec = schema_sections();
my @initdb = (extra => [ '--encoding=UTF8', '--no-locale' ], conf => "restart_after_crash = on\n");
my $node_a = PartbackTest::new_node('a', @initdb);
$node_a->safe_psql('postgres', $sec{cluster} . $sec{types} . $sec{helpers} . $sec{tables}, timeout => $TIMEOUT);
my $orig = snapshot($node_a, 'postgres');
my $orig_dump = schema_dump($node_a, 'postgres');
my @tables = sort keys %$orig;

my $dir  = PartbackTest::backup_dir('newcluster') . '/repo';
my $ldir = lit($dir);
job_ok($node_a, 'postgres', "SELECT partback.backup_db($ldir, parallel => 3, wait => true)", 'node A: backup_db');
my $mood_oid_a = $node_a->safe_psql('postgres', "SELECT 'fidt.mood'::regtype::oid");
my @text_columns = qw(acl acls gts moods tg tgs nested mrs wa was);
is($node_a->safe_psql('postgres',
		"SELECT partback.get_backup_meta($ldir, 'postgres', 'fid.textforms', 'textforms')->>'text_columns'"),
	'[' . join(', ', map { "\"$_\"" } @text_columns) . ']',
	'node A: the metadata lists the columns in their text form');
is($node_a->safe_psql('postgres',
		"SELECT string_agg(c->>0, ',' ORDER BY c->>0) FROM jsonb_array_elements("
		  . "partback.get_backup_meta($ldir, 'postgres', 'fid.textforms', 'textforms')->'column_signature') c"
		  . " WHERE c->>4 = 'text'"),
	join(',', sort @text_columns), 'node A: the column signature marks them');

# a foreign partition: its data is skipped with a NOTICE, the rest backed up
my $fdir = PartbackTest::backup_dir('newcluster') . '/fdw';
$node_a->safe_psql('postgres', q{
	CREATE DATABASE fdw});
$node_a->safe_psql('fdw', q{
	CREATE EXTENSION partback;
	CREATE EXTENSION file_fdw;
	CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
	CREATE SCHEMA f;
	CREATE TABLE f.m (k integer, v text) PARTITION BY RANGE (k);
	CREATE TABLE f.m_local PARTITION OF f.m FOR VALUES FROM (0) TO (10);
	CREATE FOREIGN TABLE f.m_remote PARTITION OF f.m FOR VALUES FROM (10) TO (20)
		SERVER files OPTIONS (filename '/dev/null');
	CREATE TABLE f.m_sub PARTITION OF f.m FOR VALUES FROM (20) TO (40) PARTITION BY RANGE (k);
	CREATE FOREIGN TABLE f.m_sub_remote PARTITION OF f.m_sub FOR VALUES FROM (20) TO (30)
		SERVER files OPTIONS (filename '/dev/null');
	CREATE TABLE f.m_sub_local PARTITION OF f.m_sub FOR VALUES FROM (30) TO (40);
	CREATE FOREIGN TABLE f.lone (a integer) SERVER files OPTIONS (filename '/dev/null');
	INSERT INTO f.m VALUES (1, 'a'), (2, 'b'), (35, 'c');});
{
	my ($out, $err) = ('', '');
	my $ret = $node_a->psql('fdw', "SELECT partback.backup_db(" . lit($fdir) . ", wait => true)",
		stdout => \$out, stderr => \$err, timeout => $TIMEOUT);
	ok($ret == 0, 'backup_db of a database with foreign partitions succeeds') or diag($err);
	like($err, qr/NOTICE:  partition f\.m_remote of table f\.m is a foreign table: its data is not backed up/,
		'a NOTICE names the foreign partition');
	like($err, qr/NOTICE:  partition f\.m_sub_remote of table f\.m is a foreign table/,
		'a NOTICE names the foreign partition a level down');
	like($err, qr/NOTICE:  foreign table f\.lone is not backed up/, 'a NOTICE names the foreign table');
}
is($node_a->safe_psql('fdw',
		"SELECT string_agg(partition || ' ' || rows, ',' ORDER BY partition COLLATE \"C\")"
		  . " FROM partback.get_backup_list(" . lit($fdir) . ", 'fdw', 'f.m')"),
	'm_local 2,m_sub/m_sub_local 1', 'the other partitions are backed up');
job_fails($node_a, 'fdw', "SELECT partback.backup(" . lit($fdir) . ", 'f.m', ARRAY['m_remote'], wait => true)",
	qr/partition "m_remote" of table f\.m is a foreign table/, 'backup() of a foreign partition by name is refused, naming it');
$node_a->safe_psql('fdw', 'DELETE FROM f.m_local');
job_ok($node_a, 'fdw', "SELECT partback.restore_table(" . lit($fdir) . ", 'f.m', source_db => 'fdw', wait => true)",
	'restore_table of a table with foreign partitions');
is($node_a->safe_psql('fdw',
		"SELECT (SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) FROM pg_class c"
		  . " WHERE c.relnamespace = 'f'::regnamespace AND c.relkind IN ('r', 'p', 'f'))"
		  . " || ' ' || (SELECT string_agg(k || v, ',' ORDER BY k) FROM f.m WHERE k < 10 OR k >= 30)"),
	'lone:f,m:p,m_local:r,m_remote:f,m_sub:p,m_sub_local:r,m_sub_remote:f 1a,2b,35c',
	'the restore loaded the local partitions and kept the foreign ones');

my $sales_list_a = $node_a->safe_psql('postgres',
	"SELECT string_agg(partition || ' ' || bound || ' ' || rows, E'\\n' ORDER BY partition COLLATE \"C\")"
	  . " FROM partback.get_backup_list($ldir, 'postgres', 'fid.sales')");
no_crash($node_a);
$node_a->stop;    # node B must not need anything of node A but the files

# ---------------------------------------------------------------- node B: restore_db

my $node_b = PartbackTest::new_node('b', @initdb);
# decoys first, so that the user types get other OIDs than on node A
my $decoys = 'CREATE TYPE public.decoy_e AS ENUM (\'x\'); CREATE TYPE public.decoy_c AS (a integer);'
  . ' CREATE DOMAIN public.decoy_d AS integer; CREATE TYPE public.decoy_r AS RANGE (subtype = float8);';
$node_b->safe_psql('postgres', $sec{cluster} . $decoys . $sec{types} . $sec{helpers});
isnt($node_b->safe_psql('postgres', "SELECT 'fidt.mood'::regtype::oid"), $mood_oid_a,
	'node B: the user types have other OIDs than on node A');

is($node_b->safe_psql('postgres', "SELECT count(*) FROM partback.check_backup($ldir, source_db => 'postgres')"),
	'0', 'node B: check_backup finds the backup of node A healthy');
is($node_b->safe_psql('postgres', "SELECT count(*) || ' ' || max(tables) FROM partback.list_backups($ldir, 'postgres')"),
	'1 ' . scalar(@tables), 'node B: list_backups shows the one backup with every table');
is($node_b->safe_psql('postgres',
		"SELECT string_agg(partition || ' ' || bound || ' ' || rows, E'\\n' ORDER BY partition COLLATE \"C\")"
		  . " FROM partback.get_backup_list($ldir, 'postgres', 'fid.sales', 1)"),
	$sales_list_a, 'node B: get_backup_list shows what node A showed');
{
	my ($ret, $out, $err) = PartbackTest::run_sql($node_b, 'postgres',
		"SELECT * FROM partback.get_backup_list($ldir, 'postgres', 'fid.sales')");
	ok($ret != 0 && $err =~ /ERROR:  42P01: table "fid\.sales" is not in any backup of database "postgres" in ".*" made by this cluster/
		  && $err =~ /HINT:  Name one with backup_id/,
		'node B: get_backup_list naming no backup says node A\'s are another cluster\'s') or diag($err);
}

# node A's backups are another cluster's: a restore naming none is refused
{
	my ($ret, $out, $err) = PartbackTest::run_sql($node_b, 'postgres',
		"SELECT partback.restore_db($ldir, source_db => 'postgres', wait => true)");
	ok($ret != 0 && $err =~ /ERROR:  42704: backup directory ".*" holds no backup of database "postgres" made by this cluster/
		  && $err =~ /HINT:  Name the backup to restore with backup_id, or move the database with partback\.migrate\(\)/,
		'node B: restore_db naming no backup refuses node A\'s, saying how to name it')
	  or diag($err);
}
job_ok($node_b, 'postgres', "SELECT partback.restore_db($ldir, source_db => 'postgres', backup_id => 1, parallel => 3, wait => true)",
	'node B: restore_db of node A\'s database');
compare_all('new cluster, restore_db', snapshot($node_b, 'postgres'), $orig);
is($node_b->safe_psql('postgres', 'SELECT count(*) FROM fid.scalars AS t WHERE t IS NULL'), '1',
	'new cluster: the row of all NULLs survives');
is($node_b->safe_psql('postgres', q{
	WITH m AS (SELECT max(id) AS id, max(id2) AS id2, max(ser) AS ser FROM fid.gen),
		 n AS (INSERT INTO fid.gen (a) VALUES (5) RETURNING id, id2, ser)
	SELECT (n.id > m.id)::text || ',' || (n.id2 > m.id2) || ',' || (n.ser > m.ser) FROM m, n}),
	'true,true,true', 'new cluster: identity and serial continue after the restored maximum');

# text-form columns through COPY FROM: a target with a trigger is not
# loaded in bulk
$node_b->safe_psql('postgres', q{
	CREATE FUNCTION public.pass() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
	CREATE TRIGGER pass BEFORE INSERT ON fid.textforms FOR EACH ROW EXECUTE FUNCTION public.pass();});
job_ok($node_b, 'postgres',
	"SELECT partback.restore_table($ldir, 'fid.textforms', source_db => 'postgres', backup_id => 1, force => true, wait => true)",
	'node B: restore_table of the text-form columns into a table with a trigger (COPY FROM)');
is($node_b->safe_psql('postgres', "SELECT pbtest.fp('fid.textforms')"), $orig->{'fid.textforms'}{fp},
	'node B: their content through COPY FROM');
$node_b->safe_psql('postgres', 'DROP TRIGGER pass ON fid.textforms; DROP FUNCTION public.pass()');

# by hand, as FORMAT.md says: text-form columns into text, then cast
{
	my $meta = $node_b->safe_psql('postgres',
		"SELECT partback.get_backup_meta($ldir, 'postgres', 'fid.textforms', 'textforms', 1)->'files'->0->>'name'");
	my $file = "$dir/postgres/data/fid/textforms/textforms/$meta";
	$node_b->safe_psql('postgres', 'CREATE DATABASE hand');
	$node_b->safe_psql('hand', $sec{types} . $sec{helpers} . qq{
		CREATE SCHEMA fid;
		CREATE TEMP TABLE stage (id integer, acl text, acls text, gts text, moods text, tg text, tgs text,
								 nested text, mr fidt.moodrange, mrs text, wa text, was text, plain text);
		COPY stage FROM PROGRAM 'zstd -dc $file' WITH (FORMAT binary);
		CREATE TABLE fid.textforms AS
		SELECT id, acl::aclitem, acls::aclitem[], gts::gtsvector, moods::fidt.mood[], tg::fidt.tagged,
			   tgs::fidt.tagged[], nested::fidt.tagged[], mr, mrs::fidt.moodrange[], wa::fidt.withacl,
			   was::fidt.withacl[], plain
		  FROM stage;});
	is($node_b->safe_psql('hand', "SELECT pbtest.fp('fid.textforms')"), $orig->{'fid.textforms'}{fp},
		'a data file with text-form columns loads by hand through a staging table');
}

# a text form the target's input function rejects: the error names the
# backup file, the row and the column.  The backup's types are checked
# first: an enum lacking a label fails before anything changes, naming it.
# A backup without "dependencies" (written before they were recorded)
# reaches the load, whose input function rejects the label.
$node_b->safe_psql('postgres', 'CREATE DATABASE badmood');
{
	my $types = $sec{types};
	$types =~ s/'happy ü', // or die 'no happy mood in the types section';
	$node_b->safe_psql('badmood', $types . 'CREATE EXTENSION partback;' . $sec{helpers});
	my ($out, $err) = ('', '');
	my $ret = $node_b->psql('badmood',
		"SELECT partback.restore_table($ldir, 'fid.textforms', source_db => 'postgres', backup_id => 1, wait => true)",
		stdout => \$out, stderr => \$err, extra_params => [ '-v', 'VERBOSITY=verbose' ], timeout => $TIMEOUT);
	ok($ret != 0
		  && $err =~ /ERROR:  42804: enum type fidt\.mood needed by table fid\.textforms differs from the one in the backup/
		  && $err =~ /DETAIL:  labels: \["sad", "ok", "happy ü", .*\] in the backup, \["sad", "ok", .*\] here\./,
		'an enum lacking a label of the backup\'s fails with 42804 before the load, naming the labels')
	  or diag($err);
	is($node_b->safe_psql('badmood', "SELECT to_regclass('fid.textforms') IS NULL"), 't',
		'and creates no table');

	my $old_dir = PartbackTest::backup_dir('newcluster') . '/nodeps';
	PostgreSQL::Test::RecursiveCopy::copypath($dir, $old_dir);
	for my $m (glob("$old_dir/postgres/manifests/*.json"))
	{
		rewrite($m, sub {
			my ($t) = @_;
			$t =~ s/"dependencies": (?<arr>\[(?:[^\[\]"]++|"(?:[^"\\]++|\\.)*+"|(?&arr))*+\]), //g
			  or die "no dependencies in $m";
			return $t;
		});
	}
	($out, $err) = ('', '');
	$ret = $node_b->psql('badmood',
		"SELECT partback.restore_table(" . lit($old_dir) . ", 'fid.textforms', source_db => 'postgres', backup_id => 1, wait => true)",
		stdout => \$out, stderr => \$err, extra_params => [ '-v', 'VERBOSITY=verbose' ], timeout => $TIMEOUT);
	ok($ret != 0
		  && $err =~ /ERROR:  22P02: invalid input value for enum fidt\.mood: "happy ü"/
		  && $err =~ m{CONTEXT:  backup file ".*/fid/textforms/textforms/\d+\.\d+\.copy[.a-z0-9]*", row \d+, column \w+},
		'a text form the target rejects fails with 22P02 naming the file, row and column')
	  or diag($err);
}

# ---------------------------------------------------------------- node B: migrate

$node_b->safe_psql('postgres', 'CREATE DATABASE mig');
$node_b->safe_psql('mig', $decoys . $sec{types} . 'CREATE EXTENSION partback;' . $sec{helpers});
job_ok($node_b, 'mig', "SELECT partback.migrate($ldir, source_db => 'postgres', parallel => 3, wait => true)",
	'node B: migrate into an empty database');
compare_all('new cluster, migrate', snapshot($node_b, 'mig'), $orig);

job_fails($node_b, 'mig', "SELECT partback.migrate($ldir, source_db => 'postgres', wait => true)",
	qr/exist/i, 'migrate into a database that has the tables already fails');
same_field('after the refused migrate', 'fp', snapshot($node_b, 'mig'), $orig, { map { $_ => $_ } @tables });

# one table in the way: refused before anything is created
$node_b->safe_psql('postgres', 'CREATE DATABASE mig2');
$node_b->safe_psql('mig2', $sec{types} . 'CREATE EXTENSION partback;' . $sec{helpers}
	  . 'CREATE SCHEMA fid; CREATE TABLE fid.z (); INSERT INTO fid.z DEFAULT VALUES;');
job_fails($node_b, 'mig2', "SELECT partback.migrate($ldir, source_db => 'postgres', wait => true)",
	qr/fid\.z|"z"/, 'migrate refuses a database holding one of the tables, naming it');
is($node_b->safe_psql('mig2', "SELECT string_agg(name, ',') || ' ' || (SELECT count(*) FROM fid.z) FROM pbtest.roots()"),
	'fid.z 1', 'the refused migrate created no table and left the existing one alone');

# ---------------------------------------------------------------- node B: one schema

$node_b->safe_psql('postgres', 'CREATE DATABASE part');
$node_b->safe_psql('part', $sec{types} . 'CREATE EXTENSION partback;' . $sec{helpers});
job_ok($node_b, 'part',
	"SELECT partback.restore_db($ldir, source_db => 'postgres', backup_id => 1, schemas => ARRAY['we\"ird sch'], wait => true)",
	'restore_db of one oddly named schema (a partition of it lives in another schema)');
my $part = snapshot($node_b, 'part');
my @weird = grep { /^we"ird sch\./ } @tables;
is(join("\n", sort keys %$part), join("\n", @weird), 'only the tables of that schema are restored');
same_field('one schema', $_, $part, $orig, { map { $_ => $_ } @weird }) for qw(fp leaves struct names);

# ---------------------------------------------------------------- node B: types missing

# the backup holds the types: a restore creates those the target lacks
$node_b->safe_psql('postgres', 'CREATE DATABASE notypes');
$node_b->safe_psql('notypes', 'CREATE EXTENSION partback;' . $sec{helpers});
job_ok($node_b, 'notypes',
	"SELECT partback.restore_table($ldir, 'fid.usertypes', source_db => 'postgres', backup_id => 1, wait => true)",
	'a restore needing types the target lacks creates them');
same_field('types created by the restore', $_, snapshot($node_b, 'notypes'), $orig,
	{ 'fid.usertypes' => 'fid.usertypes' }) for qw(fp leaves struct names);

# migrate into a database with nothing of the types section (but the
# publication, which a backup does not hold)
$node_b->safe_psql('postgres', 'CREATE DATABASE bare');
$node_b->safe_psql('bare', 'CREATE EXTENSION partback;' . $sec{helpers}
	  . 'SET client_min_messages = error; CREATE PUBLICATION fid_pub;');
job_ok($node_b, 'bare', "SELECT partback.migrate($ldir, source_db => 'postgres', parallel => 3, wait => true)",
	'node B: migrate into a database without the user types and functions');
compare_all('new cluster, migrate without the types', snapshot($node_b, 'bare'), $orig);
same_dump('new cluster, migrate without the types', schema_dump($node_b, 'bare'), $orig_dump);
job_ok($node_b, 'notypes', "SELECT partback.restore_table($ldir, 'fid.sales', source_db => 'postgres', backup_id => 1, wait => true)",
	'a table of built-in types restores into the database without the user types');
same_field('without user types', $_, snapshot($node_b, 'notypes'), $orig, { 'fid.sales' => 'fid.sales' })
  for qw(fp leaves struct names);

# ---------------------------------------------------------------- node B: a newer major's backup

# The same backup, as if taken by the next PostgreSQL major: its manifest
# says so, with a checksum recomputed as FORMAT.md describes.  Every restore
# call refuses it at call time and changes nothing.
my $newer_dir = PartbackTest::backup_dir('newcluster') . '/newer';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $newer_dir);
my $own_num = $node_b->safe_psql('postgres', 'SHOW server_version_num');
my $newer_major = int($own_num / 10000) + 1;
# Rewrite a file; a manifest gets its checksum recomputed as FORMAT.md says.
sub rewrite
{
	my ($file, $edit) = @_;
	my $text = slurp_file($file);
	$text = $edit->($text);
	if ($file =~ m{/manifests/})
	{
		$text =~ s/"manifest_sha256": "[0-9a-f]{64}"\}\n\z//s or die "no checksum at the end of $file";
		$text .= '"manifest_sha256": "' . Digest::SHA::sha256_hex($text) . "\"}\n";
	}
	open(my $fh, '>', $file) or die "cannot write $file: $!";
	print $fh $text;
	close($fh);
}
my ($manifest) = glob("$newer_dir/postgres/manifests/*.json");
rewrite($manifest, sub {
	my ($text) = @_;
	$text =~ s/("server_version_num": )\d+/$1${newer_major}0001/ or die "no server_version_num in $manifest";
	return $text;
});
my $lnewer = lit($newer_dir);
is($node_b->safe_psql('postgres', "SELECT count(*) FROM partback.check_backup($lnewer, source_db => 'postgres')"),
	'0', 'a newer major\'s backup is intact for check_backup');
$node_b->safe_psql('postgres', 'CREATE DATABASE newer');
$node_b->safe_psql('newer', $sec{types} . 'CREATE EXTENSION partback;' . $sec{helpers}
	  . 'CREATE SCHEMA fid; CREATE TABLE fid.sales (x int); INSERT INTO fid.sales VALUES (7);');
my $refused = qr/ERROR:  0A000: backup \d+ of database "postgres" in ".*" was taken on PostgreSQL $newer_major, newer than this server's PostgreSQL \d+/;
for my $call (
	"partback.restore_db($lnewer, source_db => 'postgres', backup_id => 1, wait => true)",
	"partback.restore_db($lnewer, source_db => 'postgres', backup_id => 1, schemas => ARRAY['fid'], wait => true)",
	"partback.restore_table($lnewer, 'fid.sales', source_db => 'postgres', backup_id => 1, force => true, wait => true)",
	"partback.restore($lnewer, 'fid.sales', '%', source_db => 'postgres', backup_id => 1, force => true, wait => true)",
	"partback.migrate($lnewer, source_db => 'postgres', wait => true)")
{
	my ($ret, $out, $err) = (0, '', '');
	$ret = $node_b->psql('newer', "SELECT $call", stdout => \$out, stderr => \$err,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	ok($ret != 0 && $err =~ $refused, "a newer major's backup is refused at call time: $call")
	  or diag($err);
}
is($node_b->safe_psql('newer',
		"SELECT (SELECT string_agg(x::text, ',') FROM fid.sales) || ' ' || count(*) FROM partback.jobs"),
	'7 0', 'the refused calls submitted no job and left the table alone');

# A collation the backup makes is built from its fields, never run as text:
# a provider other than libc, icu or builtin is refused, and a locale
# holding SQL is only a locale (quoted), before any table is created.
for my $case ([ 'provider', '"provider": "icu"', '"provider": "icu) CREATE TABLE public.pwned ("',
		qr/ERROR:  42P17: invalid "dependencies" in the backup of table fid\.misc_coll/ ],
	[ 'locale', '"locale": "und-u-ks-level2"', '"locale": "x\u0027); CREATE TABLE public.pwned (a int"',
		qr/ERROR:  .*collation.*|ERROR:  .*locale/ ])
{
	my ($what, $from, $to, $re) = @$case;
	my $cdir = PartbackTest::backup_dir('newcluster') . "/coll_$what";
	PostgreSQL::Test::RecursiveCopy::copypath($dir, $cdir);
	for my $m (glob("$cdir/postgres/manifests/*.json"))
	{
		rewrite($m, sub {
			my ($text) = @_;
			$text =~ s/\Q$from\E/$to/g or die "no $from in $m";
			return $text;
		});
	}
	$node_b->safe_psql('postgres', "CREATE DATABASE coll_$what");
	$node_b->safe_psql("coll_$what", 'CREATE EXTENSION partback;' . $sec{helpers});
	my ($ret, $out, $err) = (0, '', '');
	$ret = $node_b->psql("coll_$what",
		"SELECT partback.restore_table(" . lit($cdir) . ", 'fid.misc_coll', source_db => 'postgres', backup_id => 1, wait => true)",
		stdout => \$out, stderr => \$err, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	ok($ret != 0 && $err =~ $re, "a collation with a tampered $what is refused") or diag($err);
	is($node_b->safe_psql("coll_$what",
			"SELECT count(*) FROM pg_class WHERE relname IN ('misc_coll', 'pwned')"
			  . " OR (relnamespace = 'public'::regnamespace AND relkind = 'r')"),
		'0', "and no table was created ($what)");
}

# A metadata file of a newer format version (its checksum in the manifest
# updated to match) is refused, not misread.
my $meta_dir = PartbackTest::backup_dir('newcluster') . '/newer_meta';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $meta_dir);
($manifest) = glob("$meta_dir/postgres/manifests/*.json");
my ($meta) = glob("$meta_dir/postgres/data/fid/z/z/*.meta.json");
my $old_sha = Digest::SHA::sha256_hex(slurp_file($meta));
rewrite($meta, sub { my ($t) = @_; $t =~ s/("version": )1\b/${1}2/ or die "no version in $meta"; return $t; });
my $new_sha = Digest::SHA::sha256_hex(slurp_file($meta));
rewrite($manifest, sub { my ($t) = @_; $t =~ s/$old_sha/$new_sha/ or die "no $old_sha in $manifest"; return $t; });
my ($mret, $mout, $merr) = (0, '', '');
$mret = $node_b->psql('newer',
	"SELECT partback.restore_table(" . lit($meta_dir) . ", 'fid.z', source_db => 'postgres', backup_id => 1, wait => true)",
	stdout => \$mout, stderr => \$merr, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
ok($mret != 0 && $merr =~ /ERROR:  0A000: metadata file ".*\.meta\.json" has format version 2, newer than this partback's version 1/,
	'a metadata file of a newer format version is refused, naming the file')
  or diag($merr);
is($node_b->safe_psql('newer', "SELECT to_regclass('fid.z') IS NULL"), 't',
	'the refused restore made nothing of the table (its metadata is read before)');

# A trigger definition with a second statement appended (the manifest's
# checksum recomputed, as whoever can write the dir could) is refused
# before anything of it runs.
my $evil_dir = PartbackTest::backup_dir('newcluster') . '/evil';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $evil_dir);
($manifest) = glob("$evil_dir/postgres/manifests/*.json");
rewrite($manifest, sub {
	my ($t) = @_;
	$t =~ s/(CREATE TRIGGER props_keep [^"]*EXECUTE FUNCTION fidt\.keep\(\))"/$1; CREATE TABLE public.pwned ()"/
	  or die "no trigger props_keep in $manifest";
	return $t;
});
$node_b->safe_psql('postgres', 'CREATE DATABASE evil');
$node_b->safe_psql('evil', $sec{types} . 'CREATE EXTENSION partback;' . $sec{helpers});
my ($eret, $eout, $eerr) = (0, '', '');
$eret = $node_b->psql('evil',
	"SELECT partback.restore_table(" . lit($evil_dir) . ", 'fid.props', source_db => 'postgres', backup_id => 1, wait => true)",
	stdout => \$eout, stderr => \$eerr, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
ok($eret != 0 && $eerr =~ /ERROR:  42P17: invalid definition of trigger "props_keep" of table fid\.props in the backup/,
	'a trigger definition holding a second statement is refused, naming the trigger')
  or diag($eerr);
is($node_b->safe_psql('evil', "SELECT to_regclass('public.pwned') IS NULL"), 't',
	'the appended statement did not run');

# Every stored piece of a table's definition is parsed on its own before it
# is put into a statement: a second statement, or a second item of a list,
# appended to a default, a generated expression, a CHECK, an index body, a
# partition bound or a partition key is refused, naming the item, and
# nothing of the table is created.
my @pieces = (
	[ 'fid.gen', qr/("default": "7)"/, '$1; CREATE TABLE public.pwned ()"',
		qr/invalid default of column "a" of table fid\.gen in the backup/ ],
	[ 'fid.gen', qr/("default": "7)"/, '$1, pwned text"',
		qr/invalid default of column "a" of table fid\.gen in the backup/ ],
	[ 'fid.gen', qr/("generated": "[^"]+)"/, '$1); CREATE TABLE public.pwned (x int"',
		qr/(invalid generated expression of column "\w+" of table fid\.gen in the backup|checking generated expression of column)/ ],
	[ 'fid.sales', qr/("definition": "CHECK \(\(amount >= [^"]+)"/, '$1, ADD COLUMN pwned text"',
		qr/invalid constraint "\w+" of table fid\.sales in the backup/ ],
	[ 'fid.sales', qr/("definition": "USING btree \(lower\(note\)\)[^"]*)"/, '$1; CREATE TABLE public.pwned ()"',
		qr/invalid index "sales_note_lower" of table fid\.sales in the backup/ ],
	[ 'fid.sales', qr/("bound": "FOR VALUES FROM \('2024-04-01'\) TO \('2024-05-01'\))"/,
		'$1; CREATE TABLE public.pwned ()"',
		qr/invalid bound of partition fid\.sales_2024_04 in the backup/ ],
	[ 'fid.sales', qr/("partition_key": "RANGE \(sale_date\))"/, '$1 WITH (fillfactor=10)"',
		qr/invalid partition key of table fid\.sales in the backup/ ]);
my $n = 0;
foreach my $case (@pieces)
{
	my ($table, $pattern, $replacement, $refused) = @$case;
	$n++;
	my $piece_dir = PartbackTest::backup_dir('newcluster') . "/piece$n";
	PostgreSQL::Test::RecursiveCopy::copypath($dir, $piece_dir);
	($manifest) = glob("$piece_dir/postgres/manifests/*.json");
	rewrite($manifest, sub {
		my ($t) = @_;
		$t =~ s/$pattern/"qq{$replacement}"/ee or die "no $pattern in $manifest";
		return $t;
	});
	$node_b->safe_psql('evil', 'DROP TABLE IF EXISTS fid.gen, fid.sales CASCADE');
	my ($pret, $pout, $perr) = (0, '', '');
	$pret = $node_b->psql('evil',
		"SELECT partback.restore_table(" . lit($piece_dir) . ", " . lit($table)
		  . ", source_db => 'postgres', backup_id => 1, wait => true)",
		stdout => \$pout, stderr => \$perr, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	ok($pret != 0 && $perr =~ $refused, "tampered piece $n of $table is refused, naming it")
	  or diag($perr);
	is($node_b->safe_psql('evil', "SELECT to_regclass('public.pwned') IS NULL AND to_regclass('$table') IS NULL"),
		't', "tampered piece $n: nothing of it ran and the table was not created");
}

# A tablespace the target lacks: the table is made in the default one, with
# a WARNING naming the table and the tablespace.
{
	my $ts_dir = PartbackTest::backup_dir('newcluster') . '/nots';
	PostgreSQL::Test::RecursiveCopy::copypath($dir, $ts_dir);
	($manifest) = glob("$ts_dir/postgres/manifests/*.json");
	rewrite($manifest, sub { my ($t) = @_; $t =~ s/"tablespace": "fid_ts"/"tablespace": "no_such_ts"/g or die; return $t; });
	$node_b->safe_psql('evil', 'DROP TABLE IF EXISTS fid.spaced');
	my ($tret, $tout, $terr) = (0, '', '');
	$tret = $node_b->psql('evil',
		"SELECT partback.restore_table(" . lit($ts_dir) . ", 'fid.spaced', source_db => 'postgres', backup_id => 1, wait => true)",
		stdout => \$tout, stderr => \$terr);
	is($tret, 0, 'a restore into a missing tablespace succeeds') or diag($terr);
	like($terr, qr/WARNING:  table fid\.spaced is in the default tablespace, not in tablespace "no_such_ts" as in the backup: the tablespace does not exist/,
		'a missing tablespace is a WARNING, raised to the caller, naming the table and the tablespace');
	like($terr, qr/WARNING:  index "spaced_v" of table fid\.spaced is in the default tablespace/,
		'and one naming the index');
	is($node_b->safe_psql('evil',
			"SELECT count(*) || ' ' || (SELECT reltablespace FROM pg_class WHERE oid = 'fid.spaced'::regclass) FROM fid.spaced"),
		'2 0', 'the table is restored, in the default tablespace');
}

no_crash($node_b);
$node_b->stop;
done_testing();
