# 020_new_cluster.pl: DolphinDB's "restore to a new cluster".
#
# Node A backs up the fidelity schema (test/t/fidelity_schema.sql); node B,
# a separate cluster that has only the extension and the enum/domain/
# composite types, restores it with restore_db and with migrate into an
# empty database, checks it, and must give back exactly what A had.  migrate
# refuses a database that already has one of the tables; a restore into a
# database lacking the user types fails naming the type.

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
$node_a->safe_psql('postgres', $sec{types} . $sec{helpers} . $sec{tables}, timeout => $TIMEOUT);
my $orig = snapshot($node_a, 'postgres');
my @tables = sort keys %$orig;

my $dir  = PartbackTest::backup_dir('newcluster') . '/repo';
my $ldir = lit($dir);
job_ok($node_a, 'postgres', "SELECT partback.backup_db($ldir, parallel => 3, wait => true)", 'node A: backup_db');
my $sales_list_a = $node_a->safe_psql('postgres',
	"SELECT string_agg(partition || ' ' || bound || ' ' || rows, E'\\n' ORDER BY partition COLLATE \"C\")"
	  . " FROM partback.get_backup_list($ldir, 'postgres', 'fid.sales')");
no_crash($node_a);
$node_a->stop;    # node B must not need anything of node A but the files

# ---------------------------------------------------------------- node B: restore_db

my $node_b = PartbackTest::new_node('b', @initdb);
$node_b->safe_psql('postgres', $sec{types} . $sec{helpers});

is($node_b->safe_psql('postgres', "SELECT count(*) FROM partback.check_backup($ldir, source_db => 'postgres')"),
	'0', 'node B: check_backup finds the backup of node A healthy');
is($node_b->safe_psql('postgres', "SELECT count(*) || ' ' || max(tables) FROM partback.list_backups($ldir, 'postgres')"),
	'1 ' . scalar(@tables), 'node B: list_backups shows the one backup with every table');
is($node_b->safe_psql('postgres',
		"SELECT string_agg(partition || ' ' || bound || ' ' || rows, E'\\n' ORDER BY partition COLLATE \"C\")"
		  . " FROM partback.get_backup_list($ldir, 'postgres', 'fid.sales')"),
	$sales_list_a, 'node B: get_backup_list shows what node A showed');

job_ok($node_b, 'postgres', "SELECT partback.restore_db($ldir, source_db => 'postgres', parallel => 3, wait => true)",
	'node B: restore_db of node A\'s database');
compare_all('new cluster, restore_db', snapshot($node_b, 'postgres'), $orig);
is($node_b->safe_psql('postgres', 'SELECT count(*) FROM fid.scalars AS t WHERE t IS NULL'), '1',
	'new cluster: the row of all NULLs survives');
is($node_b->safe_psql('postgres', q{
	WITH m AS (SELECT max(id) AS id, max(id2) AS id2, max(ser) AS ser FROM fid.gen),
		 n AS (INSERT INTO fid.gen (a) VALUES (5) RETURNING id, id2, ser)
	SELECT (n.id > m.id)::text || ',' || (n.id2 > m.id2) || ',' || (n.ser > m.ser) FROM m, n}),
	'true,true,true', 'new cluster: identity and serial continue after the restored maximum');

# ---------------------------------------------------------------- node B: migrate

$node_b->safe_psql('postgres', 'CREATE DATABASE mig');
$node_b->safe_psql('mig', $sec{types} . 'CREATE EXTENSION partback;' . $sec{helpers});
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
	"SELECT partback.restore_db($ldir, source_db => 'postgres', schemas => ARRAY['we\"ird sch'], wait => true)",
	'restore_db of one oddly named schema (a partition of it lives in another schema)');
my $part = snapshot($node_b, 'part');
my @weird = grep { /^we"ird sch\./ } @tables;
is(join("\n", sort keys %$part), join("\n", @weird), 'only the tables of that schema are restored');
same_field('one schema', $_, $part, $orig, { map { $_ => $_ } @weird }) for qw(fp leaves struct names);

# ---------------------------------------------------------------- node B: types missing

$node_b->safe_psql('postgres', 'CREATE DATABASE notypes');
$node_b->safe_psql('notypes', 'CREATE EXTENSION partback;' . $sec{helpers});
job_fails($node_b, 'notypes',
	"SELECT partback.restore_table($ldir, 'fid.usertypes', source_db => 'postgres', wait => true)",
	qr/fidt\.|mood|posint|short_text|pair|tagged/, 'a restore needing a type the target lacks fails naming the type');
is($node_b->safe_psql('notypes', "SELECT to_regclass('fid.usertypes') IS NULL"), 't',
	'the failed restore left no table behind');
job_ok($node_b, 'notypes', "SELECT partback.restore_table($ldir, 'fid.sales', source_db => 'postgres', wait => true)",
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
	"partback.restore_db($lnewer, source_db => 'postgres', wait => true)",
	"partback.restore_db($lnewer, source_db => 'postgres', schemas => ARRAY['fid'], wait => true)",
	"partback.restore_table($lnewer, 'fid.sales', source_db => 'postgres', force => true, wait => true)",
	"partback.restore($lnewer, 'fid.sales', '%', source_db => 'postgres', force => true, wait => true)",
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
	"SELECT partback.restore_table(" . lit($meta_dir) . ", 'fid.z', source_db => 'postgres', wait => true)",
	stdout => \$mout, stderr => \$merr, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
ok($mret != 0 && $merr =~ /ERROR:  0A000: metadata file ".*\.meta\.json" has format version 2, newer than this partback's version 1/,
	'a metadata file of a newer format version is refused, naming the file')
  or diag($merr);
is($node_b->safe_psql('newer', "SELECT to_regclass('fid.z') IS NULL"), 't',
	'the refused restore created no table');

no_crash($node_b);
$node_b->stop;
done_testing();
