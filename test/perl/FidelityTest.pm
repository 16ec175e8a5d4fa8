=pod

=head1 NAME

FidelityTest - the fidelity checks shared by 010_roundtrip.pl and
020_new_cluster.pl

=head1 SYNOPSIS

  use PostgreSQL::Test::Cluster;
  use PostgreSQL::Test::Utils;
  use Test::More;
  use PartbackTest;
  use FidelityTest;

  my %sec  = schema_sections();    # test/t/fidelity_schema.sql
  $node->safe_psql('postgres', $sec{cluster} . $sec{types} . $sec{helpers} . $sec{tables});
  my $orig = snapshot($node, 'postgres');
  job_ok($node, 'postgres', "SELECT partback.backup_db(...)", 'backup');
  ...
  compare_all('in place', snapshot($node, 'postgres'), $orig);

=head1 DESCRIPTION

Loading the fidelity schema, running partback jobs as one assertion each,
and taking and comparing snapshots of every user table of a database
(content, structure, partition tree, names, column order, sequence
positions) through the pbtest helper functions of the schema.  Exports
schema_sections, lit, job_ok, job_fails, no_crash, snapshot, line_diff,
same_field, compare_all and drop_all_tables.

=cut

package FidelityTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(schema_sections lit job_ok job_fails no_crash snapshot line_diff
  same_field compare_all drop_all_tables schema_dump same_dump);

my $TIMEOUT = $PostgreSQL::Test::Utils::timeout_default;

# Test::More looks for the TODO of an assertion in the package that makes it
our $TODO;

# test/t/fidelity_schema.sql, next to this file's test/perl
my $SCHEMA_FILE = File::Spec->catfile(dirname(File::Spec->rel2abs(__FILE__)), File::Spec->updir, 't',
	'fidelity_schema.sql');

# The sections of fidelity_schema.sql: types, helpers, tables.
sub schema_sections
{
	my $text = slurp_file($SCHEMA_FILE);
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
	same_field($label, $_, $got, $exp, \%pairs) for qw(leaves struct names seqpos colorder);
}

# pg_dump -s of a database without partback's and the helpers' schemas, as
# the set of its entries (an object's header comment and its statements),
# so that two databases whose objects were made in another order compare
# equal.  Only the session settings and 17's \restrict keys are left out.
sub schema_dump
{
	my ($node, $db) = @_;
	my ($out, $err);
	IPC::Run::run([ $node->installed_command('pg_dump'), '-s', '-N', 'partback', '-N', 'pbtest',
			'-d', $node->connstr($db) ], '>', \$out, '2>', \$err)
	  or die "pg_dump -s of $db failed: $err";
	my @entries;
	for my $entry (split /^--\n(?=-- (?:Name|Data for Name): )/m, $out)
	{
		$entry =~ s/^(?:SET |SELECT pg_catalog\.set_config|\\(?:un)?restrict ).*\n//mg;
		$entry =~ s/\n+\z/\n/;
		push @entries, $entry if $entry =~ /^-- Name: /;
	}
	return join("--\n", sort @entries);
}

# One assertion: two schema_dump results are equal; the entries that differ
# are shown.
sub same_dump
{
	my ($label, $got, $exp) = @_;
	return 1 if is($got eq $exp ? 'same' : 'different', 'same', "$label: pg_dump -s equals the source's");
	my %g = map { $_ => 1 } split /^--\n/m, $got;
	my %e = map { $_ => 1 } split /^--\n/m, $exp;
	my @out = ((map { "  missing:\n$_" } grep { !$g{$_} } sort keys %e),
		(map { "  unexpected:\n$_" } grep { !$e{$_} } sort keys %g));
	diag(join('', @out));
	return 0;
}

sub drop_all_tables
{
	my ($node, $db) = @_;
	$node->safe_psql($db, q{
		DO $$
		DECLARE r record;
		BEGIN
			-- a parent's CASCADE drops its inheritance children
			FOR r IN SELECT rel FROM pbtest.roots() LOOP
				CONTINUE WHEN NOT EXISTS (SELECT FROM pg_class WHERE oid = r.rel);
				EXECUTE format('DROP TABLE %s CASCADE', r.rel);
			END LOOP;
		END $$});
	is($node->safe_psql($db, 'SELECT count(*) FROM pbtest.roots()'), '0', "every table of $db dropped");
}

1;
