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

use File::Basename qw(dirname);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $TIMEOUT = $PostgreSQL::Test::Utils::timeout_default;
our $TODO;

# ---------------------------------------------------------------- helpers

# The sections of fidelity_schema.sql: types, helpers, tables.
sub schema_sections
{
	my $text = slurp_file(dirname(__FILE__) . '/fidelity_schema.sql');
	my %sec;
	my $cur = 'preamble';
	for my $line (split /^/, $text)
	{
		if ($line =~ /^-- \@\@(\w+)/)
		{
			$cur = $1;
			next;
		}
		$sec{$cur} .= $line;
	}
	die "fidelity_schema.sql lacks a section" unless $sec{types} && $sec{helpers} && $sec{tables};
	return %sec;
}

# SQL string literal
sub lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# After a server crash (restart_after_crash is on), wait until the node
# accepts connections again, so that one crash fails one assertion only.
sub recover_if_crashed
{
	my ($node, $err) = @_;
	return unless ($err // '') =~ /terminating connection|server closed the connection|connection to server was lost/;
	diag('the server crashed; waiting for it to restart');
	$node->poll_query_until('postgres', 'SELECT true');
}

# Runs SQL that is expected to succeed (a partback job with wait => true);
# one assertion.  Returns stdout.
sub job_ok
{
	my ($node, $db, $sql, $name) = @_;
	my ($out, $err, $timed_out);
	my $ret = $node->psql($db, $sql, stdout => \$out, stderr => \$err,
		timeout => $TIMEOUT, timed_out => \$timed_out);
	ok($ret == 0 && !$timed_out, $name)
	  or diag("SQL: $sql\nexit code $ret" . ($timed_out ? ' (timed out)' : '') . "\nstderr: $err");
	recover_if_crashed($node, $err);
	return $out;
}

# Runs SQL that is expected to fail; one assertion on the error text.
sub job_fails
{
	my ($node, $db, $sql, $re, $name) = @_;
	my ($out, $err, $timed_out);
	my $ret = $node->psql($db, $sql, stdout => \$out, stderr => \$err,
		timeout => $TIMEOUT, timed_out => \$timed_out);
	recover_if_crashed($node, $err);
	if ($ret == 0 || $timed_out)
	{
		fail($name);
		diag("SQL: $sql\n" . ($timed_out ? 'timed out' : 'succeeded, but should have failed'));
		return '';
	}
	like($err, $re, $name) or diag("SQL: $sql");
	note("the error was: $err");
	return $err;
}

# One assertion: no server process of the node died of a signal.
sub no_crash
{
	my ($node) = @_;
	my @crashes = grep { /terminated by signal|was terminated by exception/ } split /\n/, slurp_file($node->logfile);
	ok(!@crashes, 'no server process of node ' . $node->name . ' crashed') or diag(join("\n", @crashes));
}

# Everything we compare about every user table of a database.
sub snapshot
{
	my ($node, $db) = @_;
	my $json = $node->safe_psql($db, q{
		SELECT coalesce(json_object_agg(r.name, json_build_object(
				'fp', pbtest.fp(r.rel),
				'struct', pbtest.struct(r.rel),
				'names', pbtest.names(r.rel),
				'colorder', pbtest.colorder(r.rel),
				'seqpos', coalesce(pbtest.seqpos(r.rel), ''),
				'leaves', coalesce((SELECT string_agg(l.chain || ' => ' || l.path || ' => ' || l.fp, E'\n'
													  ORDER BY l.chain COLLATE "C")
									  FROM pbtest.leaves(r.rel) AS l), ''),
				'chainleaves', coalesce((SELECT string_agg(l.chain || ' => ' || l.fp, E'\n'
														   ORDER BY l.chain COLLATE "C")
										   FROM pbtest.leaves(r.rel) AS l), ''))), '{}')
		  FROM pbtest.roots() AS r}, timeout => $TIMEOUT);
	return JSON::PP->new->decode($json);
}

# Lines that differ between two multi-line strings, for diag.
sub line_diff
{
	my ($got, $exp) = @_;
	my %g = map { $_ => 1 } split /\n/, $got // '';
	my %e = map { $_ => 1 } split /\n/, $exp // '';
	my @out;
	push @out, map { "  - $_" } grep { !$g{$_} } split /\n/, $exp // '';
	push @out, map { "  + $_" } grep { !$e{$_} } split /\n/, $got // '';
	splice(@out, 30) if @out > 30;
	return join("\n", @out);
}

# One assertion: field $f of every listed table is equal; pairs maps the
# expected table's name to the name it has in $got.
sub same_field
{
	my ($label, $f, $got, $exp, $pairs) = @_;
	my @bad;
	for my $e (sort keys %$pairs)
	{
		my $g = $pairs->{$e};
		my $gv = defined $got->{$g} ? $got->{$g}{$f} : undef;
		push @bad, [ $e, $g, $gv, $exp->{$e}{$f} ]
		  unless defined $gv && $gv eq $exp->{$e}{$f};
	}
	ok(!@bad, "$label: $f of " . (keys %$pairs == 1 ? (keys %$pairs)[0] : 'every table'))
	  or diag(join("\n", map {
			"$_->[1] (expected as $_->[0]):"
			  . (defined $_->[2] ? "\n" . line_diff($_->[2], $_->[3]) : ' missing')
		} @bad));
	return !@bad;
}

# Content per table, then every other aspect in one assertion each.
sub compare_all
{
	my ($label, $got, $exp) = @_;
	is(join("\n", sort keys %$got), join("\n", sort keys %$exp), "$label: the same tables exist");
	for my $t (sort keys %$exp)
	{
		is($got->{$t} ? $got->{$t}{fp} : undef, $exp->{$t}{fp}, "$label: content of $t");
	}
	my %pairs = map { $_ => $_ } keys %$exp;
	same_field($label, $_, $got, $exp, \%pairs) for qw(leaves struct names seqpos);
	{
		# pg_dump of PostgreSQL 15 does not keep it either
		local $TODO = 'a partition whose column order differs from its parent\'s is recreated in the parent\'s order';
		same_field($label, 'colorder', $got, $exp, \%pairs);
	}
}

sub drop_all_tables
{
	my ($node, $db) = @_;
	$node->safe_psql($db, q{
		DO $$
		DECLARE r record;
		BEGIN
			FOR r IN SELECT rel FROM pbtest.roots() LOOP
				EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', r.rel);
			END LOOP;
		END $$});
	is($node->safe_psql($db, 'SELECT count(*) FROM pbtest.roots()'), '0', "every table of $db dropped");
}

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

no_crash($node_b);
$node_b->stop;
done_testing();
