
=pod

=head1 NAME

PartbackTest - small helpers for partback's TAP tests

=head1 SYNOPSIS

  use PostgreSQL::Test::Cluster;
  use PostgreSQL::Test::Utils;
  use Test::More;
  use PartbackTest;

  my $node = PartbackTest::new_node('main');      # started, extension created
  my $dir  = PartbackTest::backup_dir('nightly'); # empty dir the server can write
  my $md5  = PartbackTest::content_md5($node, 'postgres', 'testdb.quotes');

=head1 DESCRIPTION

test/run.sh puts test/perl on PERL5LIB.  It also points TEMP_CONFIG at a file
setting shared_preload_libraries = 'partback', so every node gets the
library; new_node() sets it again so that a test run by hand with prove works
as well.

=cut

package PartbackTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

=pod

=over

=item new_node($name, %params)

Creates, configures and starts a node with shared_preload_libraries =
'partback' and max_worker_processes = 16, and creates the extension in
database postgres (unless C<< create_extension => 0 >>).  C<< conf => "..." >>
appends more lines to postgresql.conf before the start; every other
parameter goes to C<< $node->init >>.

=cut

sub new_node
{
	my ($name, %params) = @_;
	my $create = exists $params{create_extension} ? delete $params{create_extension} : 1;
	my $conf   = delete $params{conf};

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%params);
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'partback'\nmax_worker_processes = 16\n");
	$node->append_conf('postgresql.conf', $conf) if defined $conf;
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION partback') if $create;
	return $node;
}

=pod

=item backup_dir($prefix)

A new, empty directory below tmp_check, owned by the OS user that runs the
servers (so the server can write into it); removed at the end of the test
unless PG_TEST_NOCLEAN is set.

=cut

sub backup_dir
{
	my ($prefix) = @_;
	return PostgreSQL::Test::Utils::tempdir($prefix // 'backup');
}

=pod

=item content_md5($node, $dbname, $relation)

md5 of every row of $relation as text, in a fixed order: two relations with
the same columns have equal values exactly when they hold the same rows.

=cut

sub content_md5
{
	my ($node, $dbname, $relation) = @_;
	return $node->safe_psql($dbname,
		"SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text COLLATE \"C\")), '')"
		  . " FROM $relation AS r");
}

=pod

=item wait_job($node, $dbname, $job_id, $timeout)

Waits through partback.wait_job and returns the job's final state.

=cut

sub wait_job
{
	my ($node, $dbname, $job_id, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	return $node->safe_psql($dbname,
		"SELECT partback.wait_job($job_id, interval '$timeout seconds')");
}

=pod

=item sql_lit($text)

$text as an SQL string literal.

=cut

sub sql_lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

=pod

=item run_sql($node, $dbname, $sql, %params)

Runs $sql with psql's VERBOSITY verbose, so that an error shows its SQLSTATE
("ERROR:  42501: ..."), and never dies.  C<< user => 'alice' >> connects as
that role; C<< timeout => N >> (default timeout_default).  Returns
($exit_code, $stdout, $stderr); the exit code is undef on a timeout.

=cut

# Runs SQL as the superuser; returns its output, or undef (after a diag)
# when it failed.
sub query
{
	my ($node, $dbname, $sql) = @_;
	my ($ret, $out, $err) = run_sql($node, $dbname, $sql);
	return $out if defined $ret && $ret == 0;
	Test::More::diag("SQL failed: $sql\n" . ($err // '(timed out)'));
	return undef;
}

sub run_sql
{
	my ($node, $dbname, $sql, %params) = @_;
	my ($out, $err, $timed_out) = ('', '', 0);
	my @extra = defined $params{user} ? ('-U', $params{user}) : ();
	my $ret = $node->psql($dbname, "\\set VERBOSITY verbose\n$sql",
		stdout => \$out, stderr => \$err, extra_params => \@extra,
		timeout => $params{timeout} // $PostgreSQL::Test::Utils::timeout_default,
		timed_out => \$timed_out);
	$ret = undef if $timed_out;
	return ($ret, $out, $err);
}

=pod

=item grant_sql(@roles)

The README's recipe that lets @roles use partback: USAGE on the schema and
EXECUTE on each public function, named (the internal C<_> functions are
executable by PUBLIC and refused outside partback's own calls).

=cut

our @PUBLIC_FUNCTIONS = qw(backup_db backup_table backup restore_db
  restore_table restore migrate check_backup get_backup_list get_backup_meta
  list_backups get_backup_status get_restore_partitions wait_job cancel_job
  purge_backups delete_backup);

sub grant_sql
{
	my $roles = join(', ', @_);
	return "GRANT USAGE ON SCHEMA partback TO $roles; GRANT EXECUTE ON FUNCTION "
	  . join(', ', map { "partback.$_" } @PUBLIC_FUNCTIONS) . " TO $roles;";
}

=pod

=item crash_backend($node, $pid)

Sends SIGKILL to server process $pid and waits until the postmaster has
reinitialised after the crash (restart_after_crash = on, the default) and
accepts connections again.  Returns true when it does.

=cut

sub crash_backend
{
	my ($node, $pid) = @_;
	my $offset = -s $node->logfile;
	kill('KILL', $pid) or return 0;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	my $seen = 0;
	while (time() < $deadline)
	{
		my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile, $offset);
		if ($log =~ /all server processes terminated; reinitializing/)
		{
			$seen = 1;
			last;
		}
		select(undef, undef, undef, 0.1);
	}
	return 0 unless $seen;
	return $node->poll_query_until('postgres', 'SELECT 1', '1');
}

=pod

=back

=cut

1;
