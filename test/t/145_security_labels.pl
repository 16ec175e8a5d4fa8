# 145_security_labels.pl: security labels (pg_dump's dumpSecLabel) of
# tables, partitions and their columns are backed up and restored.
#
# Node A loads the test-only label provider "pbtest" (test/seclabel, built
# and installed by test/suite.sh) and labels a plain table, one of its
# columns (a label with a quote in it), a partitioned table, one partition
# and a column of another.  The labels come back with restore_table after a
# DROP and with restore_db into a fresh database.  Node B, a second cluster
# without the provider, restores the same backup: a WARNING per label names
# the table (and column), the provider and the label, and the tables and
# their rows are restored without the labels.  A label that the provider
# rejects fails the restore of its table only, naming the label.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Digest::SHA;
use Test::More;
use PartbackTest;
use FidelityTest;

my $probe = PostgreSQL::Test::Cluster->new('probe');
# test/run.sh always builds and installs the provider; `make installcheck`
# by hand may not have
if (!$ENV{PARTBACK_SRCDIR}
	&& !-e $probe->config_data('--pkglibdir') . '/pbtest_seclabel.so')
{
	plan skip_all => 'the test-only label provider is not installed (make -C test/seclabel install)';
}
my $node_a = PartbackTest::new_node('a',
	conf => "shared_preload_libraries = 'partback, pbtest_seclabel'\n");

$node_a->safe_psql('postgres', q{
	CREATE SCHEMA s;
	CREATE TABLE s.plain (id integer PRIMARY KEY, secret text, note text);
	INSERT INTO s.plain SELECT g, 'secret ' || g, 'note ' || g FROM generate_series(1, 50) g;
	CREATE TABLE s.m (k integer, v text) PARTITION BY RANGE (k);
	CREATE TABLE s.m_1 PARTITION OF s.m FOR VALUES FROM (0) TO (10);
	CREATE TABLE s.m_2 PARTITION OF s.m FOR VALUES FROM (10) TO (20);
	INSERT INTO s.m SELECT g, 'v' || g FROM generate_series(0, 19) g;
	CREATE TABLE s.unlabelled (a integer);
	INSERT INTO s.unlabelled VALUES (1), (2);
	SECURITY LABEL FOR pbtest ON TABLE s.plain IS 'classified';
	SECURITY LABEL FOR pbtest ON COLUMN s.plain.secret IS 'it''s secret';
	SECURITY LABEL FOR pbtest ON TABLE s.m IS 'parent';
	SECURITY LABEL FOR pbtest ON TABLE s.m_1 IS 'part one';
	SECURITY LABEL FOR pbtest ON COLUMN s.m_2.v IS 'part two v';
});

# every label on a relation of schema s: "relation column provider label"
my $labels_sql = q{
	SELECT string_agg(pg_catalog.format('%s %s %s %s', l.objoid::regclass, COALESCE(a.attname::text, '-'),
										l.provider, l.label), E'\n' ORDER BY l.objoid::regclass::text, l.objsubid)
	  FROM pg_seclabel l
	  JOIN pg_class c ON c.oid = l.objoid AND l.classoid = 'pg_class'::regclass
	  LEFT JOIN pg_attribute a ON a.attrelid = l.objoid AND a.attnum = l.objsubid AND l.objsubid > 0
	 WHERE c.relnamespace = 's'::regnamespace};
my $labels = "s.m - pbtest parent\ns.m_1 - pbtest part one\ns.m_2 v pbtest part two v\n"
  . "s.plain - pbtest classified\ns.plain secret pbtest it's secret";
is($node_a->safe_psql('postgres', $labels_sql), $labels, 'node A: the labels are set');

my %md5;
$md5{$_} = PartbackTest::content_md5($node_a, 'postgres', $_) for qw(s.plain s.m s.m_1 s.m_2 s.unlabelled);
sub contents_ok
{
	my ($node, $db, $what) = @_;
	for my $t (sort keys %md5)
	{
		is(PartbackTest::content_md5($node, $db, $t), $md5{$t}, "$what: the rows of $t");
	}
}

my $dir  = PartbackTest::backup_dir('seclabel') . '/repo';
my $ldir = lit($dir);
job_ok($node_a, 'postgres', "SELECT partback.backup_db($ldir, schemas => ARRAY['s'], wait => true)", 'backup_db');

# ------------------------------------------------------------ restore_table
$node_a->safe_psql('postgres', 'DROP TABLE s.plain, s.m CASCADE');
job_ok($node_a, 'postgres', "SELECT partback.restore_table($ldir, 's.plain', wait => true)",
	'restore_table of the plain table');
job_ok($node_a, 'postgres', "SELECT partback.restore_table($ldir, 's.m', wait => true)",
	'restore_table of the partitioned table');
is($node_a->safe_psql('postgres', $labels_sql), $labels,
	'restore_table after DROP: table, column and partition labels are back');
contents_ok($node_a, 'postgres', 'restore_table');

# ------------------------------------------------------------ restore_db
$node_a->safe_psql('postgres', 'CREATE DATABASE fresh');
$node_a->safe_psql('fresh', 'CREATE EXTENSION partback');
job_ok($node_a, 'fresh', "SELECT partback.restore_db($ldir, source_db => 'postgres', backup_id => 1, wait => true)",
	'restore_db into a fresh database');
is($node_a->safe_psql('fresh', $labels_sql), $labels,
	'restore_db into a fresh database: table, column and partition labels are there');
contents_ok($node_a, 'fresh', 'restore_db');

# ------------------------------------------------------------ a rejected label
# the backup dir is untrusted input: a label the provider rejects fails the
# restore of its table, naming it; the other tables are restored
{
	my $bad_dir = PartbackTest::backup_dir('seclabel') . '/bad';
	PostgreSQL::Test::RecursiveCopy::copypath($dir, $bad_dir);
	my @manifests = glob("$bad_dir/postgres/manifests/*.json");
	my $n = 0;
	for my $f (@manifests)
	{
		my $t = slurp_file($f);
		$n += ($t =~ s/"label": "part one"/"label": "invalid"/g);
		# the manifest ends with its own checksum
		$t =~ s/"manifest_sha256": "[0-9a-f]{64}"\}\n\z//s or die "no checksum at the end of $f";
		$t .= '"manifest_sha256": "' . Digest::SHA::sha256_hex($t) . "\"}\n";
		open(my $fh, '>', $f) or die "could not write $f: $!";
		print $fh $t;
		close($fh);
	}
	ok($n > 0, 'the manifest holds the partition label');
	$node_a->safe_psql('postgres', 'CREATE DATABASE rejected');
	$node_a->safe_psql('rejected', 'CREATE EXTENSION partback');
	my ($ret, $out, $err) = PartbackTest::run_sql($node_a, 'rejected',
		"SELECT partback.restore_db(" . lit($bad_dir) . ", source_db => 'postgres', backup_id => 1, wait => true)");
	isnt($ret, 0, 'a label the provider rejects fails the restore');
	like($err, qr/security label "invalid" is not valid for provider "pbtest"/,
		'the error names the rejected label');
	is($node_a->safe_psql('rejected', "SELECT count(*) FROM s.plain"), '50',
		'the other tables are restored');
}

# ------------------------------------------------------------ node B: no provider
my $node_b = PartbackTest::new_node('b');
{
	my ($out, $err) = ('', '');
	my $ret = $node_b->psql('postgres',
		"SELECT partback.restore_db($ldir, source_db => 'postgres', backup_id => 1, wait => true)",
		stdout => \$out, stderr => \$err, timeout => $PostgreSQL::Test::Utils::timeout_default);
	is($ret, 0, 'node B without the provider: restore_db succeeds') or diag($err);
	my $not_loaded = qr/not restored: security label provider "pbtest" is not loaded/;
	like($err, qr/WARNING:  security label 'classified' of provider "pbtest" on table s\.plain $not_loaded/,
		'a WARNING names the table, provider and label');
	like($err, qr/WARNING:  security label 'it''s secret' of provider "pbtest" on column secret of table s\.plain $not_loaded/,
		'a WARNING names the column');
	like($err, qr/WARNING:  security label 'parent' of provider "pbtest" on table s\.m $not_loaded/,
		'a WARNING names the partitioned table');
	like($err, qr/WARNING:  security label 'part one' of provider "pbtest" on table s\.m_1 $not_loaded/,
		'a WARNING names the partition');
	like($err, qr/WARNING:  security label 'part two v' of provider "pbtest" on column v of table s\.m_2 $not_loaded/,
		"a WARNING names the partition's column");
	is(scalar(() = $err =~ /WARNING:  security label/g), 5, 'one WARNING per label, none for the unlabelled table');
}
is($node_b->safe_psql('postgres', $labels_sql), '', 'node B: no label is set');
is($node_b->safe_psql('postgres',
		"SELECT string_agg(c.oid::regclass::text, ',' ORDER BY c.oid::regclass::text) FROM pg_class c"
		  . " WHERE c.relnamespace = 's'::regnamespace AND c.relkind IN ('r', 'p')"),
	's.m,s.m_1,s.m_2,s.plain,s.unlabelled', 'node B: the tables are restored');
contents_ok($node_b, 'postgres', 'node B');

done_testing();
