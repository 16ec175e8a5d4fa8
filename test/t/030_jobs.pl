# 030_jobs.pl: background jobs that people can watch and stop.
#
# On one node with a ~100 MB table (1.5 M rows) and two small ones:
#   1. parallel copy: a backup with parallel => 2 shows one leader and two
#      copy workers in pg_stat_activity, splits the big table into chunks
#      that both copy workers work on (it takes clearly less time than the
#      same throttled backup with one copy worker), and restores to
#      identical content;
#   2. status that moves: get_backup_status() polled every 0.5 s during a
#      throttled job (partback.max_rate) shows rows and bytes growing, an
#      estimated end, 'running' and at the end 'succeeded' at 100 %;
#      partback.jobs and partback.backup_status agree; all of it survives a
#      restart;
#   3. cancel: cancel_job stops a running job within two seconds, leaves it
#      'cancelled', no '.tmp' file, no new backup, no worker; a caller of
#      wait => true whose statement is cancelled (statement_timeout,
#      pg_cancel_backend) cancels the job;
#   4. wait_job with and without a timeout;
#   5. conflicts: a backup of a table a running job of the same role copies
#      into the same dir, or a restore into it, fails at once with SQLSTATE
#      55006 naming the job; a backup of it into another dir, and a backup
#      of another table, run side by side;
#   6. interrupted: an immediate shutdown mid-job leaves it 'interrupted',
#      never 'running';
# and on a second node with max_worker_processes = 4:
#   7. queued: a job that finds no free worker slot is 'queued' -- at every
#      look, in get_backup_status, partback.jobs and wait_job -- until one
#      comes free, then runs and succeeds; the launcher does not spin
#      meanwhile; a queued job can be cancelled and then shows 'cancelled';
#      parallel above max_worker_processes is refused with SQLSTATE 22023
#      and a HINT.
#
# The tables live in schema public, named explicitly: the tests run as role
# "partback", so "$user" in the default search_path is the extension's own
# schema, and the extension rightly refuses to back up its catalog.
#
# Every section catches its own death (one failed assertion) and cancels
# whatever jobs it left running, so one broken feature does not hide the
# others.

use strict;
use warnings;

use File::Find;
use POSIX ();
use JSON::PP;
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $TIMEOUT  = $PostgreSQL::Test::Utils::timeout_default;
my $BIG_ROWS = 1_500_000;

# ---------------------------------------------------------------- helpers

# SQL string literal
sub lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# Runs SQL with VERBOSITY verbose (errors show their SQLSTATE) and never
# dies.  Returns ($exit_code, $stdout, $stderr, $seconds); exit code undef
# on a timeout.
sub try_sql
{
	my ($node, $sql, %o) = @_;
	my ($out, $err, $timed_out) = ('', '', 0);
	my $t0 = time;
	my $ret = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out, stderr => \$err,
		timeout => $o{timeout} // $TIMEOUT, timed_out => \$timed_out);
	$ret = undef if $timed_out;
	return ($ret, $out, $err, time - $t0);
}

sub q1
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql, timeout => $TIMEOUT);
}

# SETs for a throttled job: rate => MB/s per copy worker, chunk => size.
sub settings
{
	my (%g) = @_;
	my $s = '';
	$s .= "SET partback.max_rate = $g{rate};\n"       if defined $g{rate};
	$s .= "SET partback.chunk_size = '$g{chunk}';\n"  if defined $g{chunk};
	return $s;
}

# Submits a job (wait => false) and returns (job_id, seconds the call took);
# dies if the call fails.
sub submit
{
	my ($node, $call, %g) = @_;
	my ($ret, $out, $err, $secs) = try_sql($node, settings(%g) . "SELECT $call;");
	die "could not submit: SELECT $call\n$err\n" unless defined $ret && $ret == 0 && $out =~ /^\d+$/;
	note("job $out: $call " . join(' ', map { "$_=$g{$_}" } sort keys %g) . sprintf(' (%.2f s)', $secs));
	return ($out, $secs);
}

# (state, rows, bytes) of a job from get_backup_status(), summed over its
# tables
sub status_of
{
	my ($node, $job) = @_;
	my $r = q1($node,
		"SELECT string_agg(DISTINCT state, ','), coalesce(sum(rows), 0), coalesce(sum(bytes), 0)"
		  . " FROM partback.get_backup_status() WHERE job_id = $job");
	return split /\|/, $r, -1;
}

# Waits until the job is 'running' and has copied at least $min bytes;
# dies after 60 s.
sub wait_copying
{
	my ($node, $job, $min) = @_;
	$min //= 1;
	my $deadline = time + 60;
	my ($st, $rows, $bytes);
	while (time < $deadline)
	{
		($st, $rows, $bytes) = status_of($node, $job);
		return 1 if ($st // '') eq 'running' && $bytes >= $min;
		die "job $job is '$st' before it copied $min bytes\n"
		  if defined $st && $st ne '' && $st !~ /^(queued|running)$/;
		sleep 0.1;
	}
	die "job $job did not get to copy $min bytes in 60 s (state '$st', bytes $bytes)\n";
}

# Number of pg_stat_activity rows of a job with backend type
# 'partback job <id> <kind>' ($kind undef: any).
sub workers_of
{
	my ($node, $job, $kind) = @_;
	my $pat = defined $kind ? lit("partback job $job $kind") : lit("partback job $job %");
	return q1($node, "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE $pat");
}

# wait_job through psql without dying: the final state, or the error
sub wait_state
{
	my ($node, $job, $secs) = @_;
	$secs //= $TIMEOUT;
	my ($ret, $out, $err) = try_sql($node, "SELECT partback.wait_job($job, interval '$secs seconds')");
	return (defined $ret && $ret == 0) ? $out : "ERROR: $err";
}

# Waits for the job's final state through get_backup_status(), which does
# not fail for a job it momentarily does not list; returns the state, or
# 'timeout'.
sub settle
{
	my ($node, $job, $secs) = @_;
	my $deadline = time + ($secs // $TIMEOUT);
	while (time < $deadline)
	{
		my ($st) = status_of($node, $job);
		return $st if defined $st && $st ne '' && $st !~ /(queued|running)/;
		sleep 0.2;
	}
	return 'timeout';
}

# pid of partback's launcher, a child of the node's postmaster, found in
# /proc (it has no database connection, so pg_stat_activity lacks it)
sub launcher_pid
{
	my ($node) = @_;
	my $pm = $node->{_pid} or return undef;
	for my $stat (glob('/proc/[0-9]*/stat'))
	{
		open(my $fh, '<', $stat) or next;
		my $line = <$fh> // '';
		close $fh;
		next unless $line =~ /^(\d+) \(.*\) \S+ (\d+) /s && $2 == $pm;
		my $pid = $1;
		my $cmd = eval { slurp_file("/proc/$pid/cmdline") } // '';
		return $pid if $cmd =~ /partback launcher/;
	}
	return undef;
}

# CPU seconds a process has used so far
sub cpu_seconds
{
	my ($pid) = @_;
	my $line = eval { slurp_file("/proc/$pid/stat") } // return undef;
	$line =~ s/^.*\) //s;
	my @f = split / /, $line;
	# after "pid (comm) ": state is $f[0], utime $f[11], stime $f[12]
	return ($f[11] + $f[12]) / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

# Polls until no process of the job is left; returns the seconds it took,
# or undef after $limit s.
sub wait_workers_gone
{
	my ($node, $job, $limit) = @_;
	my $t0 = time;
	while (time - $t0 < $limit)
	{
		return time - $t0 if workers_of($node, $job) == 0;
		sleep 0.1;
	}
	return undef;
}

# Files below $dir whose name ends in .tmp
sub tmp_files
{
	my ($dir) = @_;
	my @found;
	find({ wanted => sub { push @found, $File::Find::name if /\.tmp$/ }, no_chdir => 1 }, $dir)
	  if -d $dir;
	return @found;
}

# Manifest files (<db>/manifests/<backup_id>.json) below $dir: a backup
# exists if and only if its manifest does
sub manifests
{
	my ($dir) = @_;
	my @found;
	find({ wanted => sub { push @found, $File::Find::name if m{/manifests/[^/]+\.json$} }, no_chdir => 1 }, $dir)
	  if -d $dir;
	return @found;
}

# A fingerprint of a table's rows, ordered by i
sub content
{
	my ($node, $tbl) = @_;
	return q1($node, "SELECT count(*) || ':' || coalesce(md5(string_agg(i::text || ',' || t, E'\\n' ORDER BY i)), '')"
		  . " FROM $tbl");
}

# Cancels every job of the node still queued or running (cleanup after a
# section that died), and waits for them to end.
sub cancel_all
{
	my ($node) = @_;
	eval {
		my $left = q1($node,
			"SELECT string_agg(job_id::text, ',') FROM partback.jobs WHERE state IN ('queued', 'running')");
		return 1 unless $left;
		diag("cancelling jobs left running: $left");
		q1($node, "SELECT partback.cancel_job(job_id) FROM partback.jobs WHERE job_id IN ($left)");
		q1($node, "SELECT partback.wait_job(job_id, '30 s') FROM partback.jobs WHERE job_id IN ($left)");
		1;
	} or diag("cleanup failed: $@");
}

# Runs one section; its death is one failed assertion.
sub section
{
	my ($node, $name, $code) = @_;
	note("================ $name");
	my $t0 = time;
	my $ok = eval { $code->(); 1 };
	if (!$ok)
	{
		fail("$name: the section ran to its end");
		diag("$name died: $@");
		so_check();
		# restart_after_crash is on: after a crash, wait for the server
		if (!eval { q1($node, 'SELECT 1'); 1 })
		{
			diag('the server is not accepting connections; waiting for it');
			$node->poll_query_until('postgres', 'SELECT true');
		}
	}
	cancel_all($node);
	note(sprintf("%s took %.1f s", $name, time - $t0));
}

# test/run.sh installs partback into the one PostgreSQL installation of the
# machine; another run installing meanwhile swaps the library under a node
# that restarts.  Say so when it happened, since it explains odd failures.
my ($SO_PATH, $SO_STAMP);

sub so_stamp
{
	my @st = stat($SO_PATH);
	return @st ? "$st[7]/$st[9]" : 'missing';
}

sub so_check
{
	my ($when) = @_;
	return unless defined $SO_PATH;
	my $now = so_stamp();
	diag("$SO_PATH was replaced " . ($when // 'during this run')
		  . ' (by another test run?): a server started since runs a library that may not match the extension\'s SQL')
	  if $now ne $SO_STAMP;
}

# One assertion: no server process of the node died of a signal.
sub no_crash
{
	my ($node) = @_;
	my @crashes = grep { /terminated by signal|was terminated by exception/ } split /\n/, slurp_file($node->logfile);
	ok(!@crashes, 'no server process of node ' . $node->name . ' crashed') or diag(join("\n", @crashes));
}

# $sql touches the table that job $job copies: four assertions that it fails
# at once with SQLSTATE 55006 naming the job ("$what fails", then three
# "..." ones).  Returns the id of the job $sql started if it wrongly
# succeeded, else undef.
sub conflict_fails
{
	my ($node, $sql, $what, $job) = @_;
	my ($ret, $out, $err, $secs) = try_sql($node, $sql);
	ok(defined $ret && $ret != 0, "$what fails");
	like($err, qr/ERROR:\s+55006:/, '... with SQLSTATE 55006 (object_in_use)');
	like($err, qr/table .*big.* is being copied by partback job $job\b/, "... naming job $job");
	cmp_ok($secs, '<', 2, '... at once');
	note("the error was: $err");
	return (defined $ret && $ret == 0 && $out =~ /^\d+$/) ? $out : undef;
}

# ---------------------------------------------------------------- setup

my $T_START = time;
my $node = PartbackTest::new_node('jobs', conf => "max_parallel_workers_per_gather = 0\nrestart_after_crash = on\n");
$SO_PATH = q1($node, "SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'") . '/partback.so';
$SO_STAMP = so_stamp();
q1($node, qq{
	CREATE TABLE public.big AS SELECT i, md5(i::text) AS t FROM generate_series(1, $BIG_ROWS) AS i;
	CREATE TABLE public.u AS SELECT i, md5(i::text) AS t FROM generate_series(1, 200000) AS i;
	VACUUM ANALYZE public.big, public.u;});
my $big_content = content($node, 'public.big');
note('big: ' . q1($node, "SELECT pg_size_pretty(pg_table_size('public.big'))") . sprintf(', setup took %.1f s', time - $T_START));

my %dir = map { $_ => PartbackTest::backup_dir("jobs_$_") }
  qw(par one conflict_other conflict_u cancel stmt pgcancel crash q1 q2 q3 q3c toomany);
my ($job_par, $job_one, $dur_par, $dur_one);

# ---------------------------------------------------------------- 1 + 2: parallel copy, moving status

section($node, 'parallel copy and moving status', sub {
	my $secs;
	($job_par, $secs) = submit($node, "partback.backup_table(" . lit($dir{par}) . ", 'public.big', parallel => 2)",
		rate => 10, chunk => '8MB');
	cmp_ok($secs, '<', 3, 'a throttled backup_table returns its job id at once');

	my @polls;
	my $deadline = time + 120;
	while (time < $deadline)
	{
		my $r = q1($node, qq{
			SELECT s.state, s.completed, s.partitions, s.rows, s.bytes, s.percent,
				   s.estimated_end IS NOT NULL, coalesce(s.estimated_end >= s.started_at, true),
				   extract(epoch FROM s.estimated_end),
				   (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'partback job $job_par leader'),
				   (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'partback job $job_par copy'),
				   (SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'partback job $job_par %'),
				   j.state, j.tables, j.partitions, j.completed, j.rows, j.bytes,
				   extract(epoch FROM clock_timestamp())
			  FROM partback.get_backup_status() s JOIN partback.jobs j USING (job_id)
			 WHERE s.job_id = $job_par});
		my @lines = split /\n/, $r;
		my %p;
		@p{qw(state completed partitions rows bytes percent has_est est_ok est leader copy all
			  jstate jtables jpartitions jcompleted jrows jbytes t)} = split /\|/, ($lines[0] // ''), -1;
		$p{nrows} = scalar @lines;
		push @polls, \%p;
		last if defined $p{state} && $p{state} !~ /^(queued|running)$/;
		sleep 0.5;
	}
	note(join("\n", 'polls (state completed/partitions rows bytes percent est leader copy | jobs: state tables partitions completed rows bytes):',
		map { sprintf('  %.2f %s %s/%s %s %s %s %s %s %s | %s %s %s %s %s %s',
				($_->{t} // 0) - ($polls[0]{t} // 0), map { $_ // '-' } @$_{qw(state completed partitions rows bytes percent has_est leader copy jstate jtables jpartitions jcompleted jrows jbytes)}) } @polls));

	my @running = grep { ($_->{state} // '') eq 'running' } @polls;
	ok(scalar(@running) >= 3, 'get_backup_status shows the throttled job running for several polls')
	  or diag(scalar(@running) . ' polls saw it running');
	is(scalar(grep { $_->{nrows} != 1 } @polls), 0, 'get_backup_status has exactly one row for a one-table job at every poll');

	# the workers
	ok(scalar(grep { $_->{leader} == 1 && $_->{copy} == 2 } @running),
		"pg_stat_activity shows 'partback job $job_par leader' and two 'partback job $job_par copy' at once");
	is(scalar(grep { $_->{leader} > 1 || $_->{copy} > 2 || $_->{all} > $_->{leader} + $_->{copy} } @polls), 0,
		'never more than one leader and two copy workers, and no other partback process of the job');

	is(scalar(grep { ($_->{state} // '') eq 'queued' && $_->{leader} == 1 && $_->{copy} == 2 } @polls), 0,
		'the job is not shown queued while its leader and both copy workers run')
	  or diag('"queued" with every worker running in '
		  . scalar(grep { ($_->{state} // '') eq 'queued' && $_->{leader} == 1 && $_->{copy} == 2 } @polls) . ' polls');

	# progress moves
	for my $f (qw(rows bytes))
	{
		my @seq = map { $_->{$f} } @polls;
		is(scalar(grep { $seq[$_] < $seq[ $_ - 1 ] } 1 .. $#seq), 0, "status $f never decrease");
		my @prog = grep { $_->{$f} > 0 } @running;
		my ($last_change, $max_gap, $changes) = (undef, 0, 0);
		my $prev;
		for my $p (@prog)
		{
			if (!defined $prev || $p->{$f} > $prev)
			{
				$max_gap = $p->{t} - $last_change if defined $last_change && $p->{t} - $last_change > $max_gap;
				$last_change = $p->{t};
				$changes++;
			}
			$prev = $p->{$f};
		}
		ok($changes >= 3, "status $f grow in at least three polls while the job runs") or diag("$changes changes");
		cmp_ok($max_gap, '<=', 1.6, "status $f grow at least every ~1.2 s (longest stall seen between polls)");
	}
	my @pct = map { $_->{percent} } grep { defined $_->{percent} && $_->{percent} ne '' } @polls;
	is(scalar(grep { ($_ > 0 && $pct[$_] < $pct[ $_ - 1 ]) || $pct[$_] > 100 || $pct[$_] < 0 } 0 .. $#pct), 0,
		'percent stays within 0..100 and never decreases');
	my @done_some = grep { $_->{bytes} > 0 } @running;
	ok(@done_some && $done_some[-1]{has_est} eq 't',
		'estimated_end is set while running once something is done');
	is(scalar(grep { $_->{est_ok} ne 't' } @running), 0, 'estimated_end is never before started_at');
	my @late = grep { ($_->{est} // '') ne '' && $_->{est} < $_->{t} - 1 } @running;
	is(scalar(@late), 0, 'estimated_end of a running job is not in the past')
	  or diag(join("\n", map { sprintf('at %.2f: estimated end %.2f s ago', $_->{t}, $_->{t} - $_->{est}) } @late));
	is(scalar(grep { ($_->{jstate} // '') ne 'running' || $_->{jtables} != 1 || $_->{jpartitions} != 1 } @running), 0,
		'partback.jobs shows the job running with 1 table and 1 partition while status says running');

	# the end
	is(PartbackTest::wait_job($node, 'postgres', $job_par), 'succeeded', 'wait_job returns succeeded');
	$dur_par = q1($node, "SELECT extract(epoch FROM finished_at - started_at) FROM partback.jobs WHERE job_id = $job_par");
	my @est = grep { ($_->{est} // '') ne '' } @running;
	if (@est)
	{
		my $end = q1($node, "SELECT extract(epoch FROM finished_at) FROM partback.jobs WHERE job_id = $job_par");
		my $off = $est[-1]{est} - $end;
		my $tol = $dur_par * 0.4 > 2 ? $dur_par * 0.4 : 2;
		ok(abs($off) <= $tol, 'the last estimated_end is close to the real end')
		  or diag(sprintf('estimated %.2f s %s the real end (job took %.2f s)', abs($off), $off < 0 ? 'before' : 'after', $dur_par));
	}
	my $final = q1($node, "SELECT state, completed, partitions, percent = 100, rows, bytes > 0, finished_at IS NOT NULL, error IS NULL"
		  . " FROM partback.get_backup_status() WHERE job_id = $job_par");
	is($final, "succeeded|1|1|t|$BIG_ROWS|t|t|t", 'get_backup_status at the end: succeeded, 1/1, 100 %, every row, bytes');
	my ($fbytes) = (status_of($node, $job_par))[2];
	is(q1($node, "SELECT state, tables, partitions, completed, rows, bytes FROM partback.jobs WHERE job_id = $job_par"),
		"succeeded|1|1|1|$BIG_ROWS|$fbytes", 'partback.jobs at the end agrees with get_backup_status');
	ok(scalar(grep { ($_->{state} // '') eq 'running' && $_->{jbytes} > 0 && $_->{jbytes} < $fbytes } @polls),
		'partback.jobs shows bytes moving while the job runs (not only at the end)');
	is(q1($node, "SELECT * FROM partback.backup_status WHERE job_id = $job_par"),
		q1($node, "SELECT * FROM partback.get_backup_status() WHERE job_id = $job_par"),
		'partback.backup_status has the same row as get_backup_status()');
	is(workers_of($node, $job_par), 0, 'no worker of the finished job is left');

	# chunks, health, content
	my $files = q1($node, 'SELECT jsonb_array_length(partback.get_backup_meta(' . lit($dir{par})
		  . ", 'postgres', 'public.big', 'big')->'files')");
	cmp_ok($files, '>=', 5, 'the ~100 MB table is split into several chunks of 8MB') or diag("$files files");
	is(q1($node, 'SELECT count(*) FROM partback.check_backup(' . lit($dir{par}) . ')'), '0',
		'check_backup finds the parallel backup healthy');
	my ($rjob) = submit($node, 'partback.restore_table(' . lit($dir{par})
		  . ", 'public.big', target_table => 'public.big_r', parallel => 2)");
	is(PartbackTest::wait_job($node, 'postgres', $rjob), 'succeeded', 'a parallel restore of it succeeds');
	is(content($node, 'public.big_r'), $big_content, 'the restored table has exactly the rows of big');
	q1($node, 'DROP TABLE IF EXISTS public.big_r');
});

# ---------------------------------------------------------------- 5: conflicts (during a one-worker run)

section($node, 'conflicts and side by side', sub {
	($job_one) = submit($node, "partback.backup_table(" . lit($dir{one}) . ", 'public.big', parallel => 1)",
		rate => 10, chunk => '8MB');
	wait_copying($node, $job_one);
	is(workers_of($node, $job_one, 'copy'), 1, 'parallel => 1 runs one copy worker');

	if (defined(my $stray = conflict_fails($node,
				'SELECT partback.backup_table(' . lit($dir{one}) . ", 'public.big')",
				'a backup of a table a running job copies into the same dir', $job_one)))
	{
		q1($node, "SELECT partback.cancel_job($stray)");
	}

	{
		my ($ret, $out, $err) = try_sql($node,
			'SELECT partback.backup_table(' . lit($dir{conflict_other}) . ", 'public.big', parallel => 1, wait => true)");
		ok(defined $ret && $ret == 0, 'a backup of the same table into another dir runs beside it and succeeds')
		  or diag($err);
	}

	if (defined(my $stray = conflict_fails($node,
				'SELECT partback.restore_table(' . lit($dir{par}) . ", 'public.big')",
				'a restore into a table a running job copies', $job_one)))
	{
		q1($node, "SELECT partback.cancel_job($stray)");
		q1($node, "SELECT partback.wait_job($stray, '30 s')");
	}

	my ($ret, $out, $err) = try_sql($node,
		'SELECT partback.backup_table(' . lit($dir{conflict_u}) . ", 'public.u', parallel => 2, wait => true)");
	ok(defined $ret && $ret == 0, 'a backup of another table runs and succeeds meanwhile') or diag($err);
	is(q1($node, "SELECT state FROM partback.jobs WHERE job_id = $job_one"), 'running',
		"job $job_one is still running after the other table's backup ended");

	is(PartbackTest::wait_job($node, 'postgres', $job_one), 'succeeded', 'the one-worker backup succeeds');
	is(content($node, 'public.big'), $big_content, 'big is unchanged');
	$dur_one = q1($node, "SELECT extract(epoch FROM finished_at - started_at) FROM partback.jobs WHERE job_id = $job_one");
	if (defined $dur_par && $dur_par ne '')
	{
		cmp_ok($dur_par, '<', 0.75 * $dur_one,
			'with parallel => 2 both copy workers work on the one big table: it takes clearly less time than with one')
		  or diag("parallel => 2: $dur_par s, parallel => 1: $dur_one s, both at max_rate 10");
		note("parallel => 2: $dur_par s, parallel => 1: $dur_one s");
	}
});

# ---------------------------------------------------------------- 2: status survives a restart

section($node, 'status survives a restart', sub {
	my $status_sql = 'SELECT * FROM partback.get_backup_status() ORDER BY job_id, table_name';
	my $jobs_sql = 'SELECT * FROM partback.jobs ORDER BY job_id';
	my ($s, $j) = (q1($node, $status_sql), q1($node, $jobs_sql));
	$node->restart;
	so_check('before this restart');
	is(q1($node, $status_sql), $s, 'get_backup_status() is the same after a restart');
	is(q1($node, $jobs_sql), $j, 'partback.jobs is the same after a restart');
	like($s, qr/^$job_par\|/m, 'get_backup_status() still lists the first job') if defined $job_par;
});

# ---------------------------------------------------------------- 3 + 4: cancel, wait_job

section($node, 'cancel and wait_job', sub {
	my ($pre) = submit($node, 'partback.backup_table(' . lit($dir{cancel}) . ", 'public.u', wait => true)");
	my $before = q1($node, 'SELECT backup_id FROM partback.list_backups(' . lit($dir{cancel}) . ')');
	is($before, '1', 'a first backup is in the dir');

	my ($job) = submit($node, "partback.backup_table(" . lit($dir{cancel}) . ", 'public.big', force => true, parallel => 2)",
		rate => 4, chunk => '8MB');
	wait_copying($node, $job, 2 * 1024 * 1024);

	# wait_job with a timeout on a running job
	my $r = q1($node, qq{
		SELECT clock_timestamp() AS t0 \\gset
		SELECT partback.wait_job($job, '200 ms'), extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)});
	my ($st, $secs) = split /\|/, $r;
	is($st, 'running', "wait_job($job, '200 ms') on a running job returns running");
	ok($secs >= 0.18 && $secs < 1.0, '... after about 0.2 s') or diag("took $secs s");
	note("wait_job with '200 ms' took $secs s");

	# cancel
	$r = q1($node, qq{
		SELECT clock_timestamp() AS t0 \\gset
		SELECT partback.cancel_job($job);
		SELECT partback.wait_job($job, '30 s'), extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)});
	my ($cancelled, $final) = split /\n/, $r;
	is($cancelled, 't', 'cancel_job on a running job returns true');
	($st, $secs) = split /\|/, ($final // '');
	is($st, 'cancelled', 'wait_job then returns cancelled');
	cmp_ok($secs, '<=', 2, '... within two seconds of the cancel');
	note("cancel_job to wait_job's return: $secs s");
	is(q1($node, "SELECT string_agg(DISTINCT state, ',') FROM partback.get_backup_status() WHERE job_id = $job"),
		'cancelled', 'get_backup_status shows the job cancelled');
	is(q1($node, "SELECT state, finished_at IS NOT NULL FROM partback.jobs WHERE job_id = $job"),
		'cancelled|t', 'partback.jobs shows it cancelled, with finished_at');
	my $gone = wait_workers_gone($node, $job, 10);
	ok(defined $gone && $gone <= 0.5, "the job's workers are gone from pg_stat_activity when wait_job returns")
	  or diag(defined $gone ? sprintf('gone only %.2f s later', $gone) : 'still there after 10 s');
	my @tmp = tmp_files($dir{cancel});
	is(scalar(@tmp), 0, 'the cancelled job left no .tmp file') or diag(join("\n", @tmp));
	is(q1($node, 'SELECT backup_id FROM partback.list_backups(' . lit($dir{cancel}) . ')'), $before,
		'the cancelled job wrote no manifest (list_backups unchanged)');
	is(q1($node, "SELECT partback.cancel_job($job)"), 'f', 'cancel_job on the cancelled job returns false');
	is(q1($node, "SELECT partback.cancel_job($job_par)"), 'f', 'cancel_job on a succeeded job returns false')
	  if defined $job_par;
	is(q1($node, "SELECT partback.wait_job($job)"), 'cancelled', 'wait_job without timeout returns the final state');
	is(content($node, 'public.big'), $big_content, 'big is unchanged');
});

section($node, 'a cancelled wait => true cancels the job', sub {
	my $last = q1($node, 'SELECT coalesce(max(job_id), 0) FROM partback.job');
	my ($ret, $out, $err, $secs) = try_sql($node,
		settings(rate => 4, chunk => '8MB') . "SET statement_timeout = '1s';\n"
		  . 'SELECT partback.backup_table(' . lit($dir{stmt}) . ", 'public.big', wait => true);");
	ok(defined $ret && $ret != 0, 'a throttled backup_table(wait => true) under statement_timeout = 1s fails');
	like($err, qr/statement timeout|canceling statement/, '... with the statement timeout error') or diag($err);
	cmp_ok($secs, '<', 5, '... soon after the timeout');
	my $job = q1($node, "SELECT max(job_id) FROM partback.job WHERE job_id > $last");
	ok($job =~ /^\d+$/, 'the job was recorded') or die "no job\n";
	my $t0 = time;
	is(q1($node, "SELECT partback.wait_job($job, '30 s')"), 'cancelled', 'the job ends cancelled');
	cmp_ok(time - $t0, '<', 2.5, '... within two seconds');
	is(q1($node, "SELECT string_agg(DISTINCT state, ',') FROM partback.get_backup_status() WHERE job_id = $job"),
		'cancelled', 'get_backup_status shows it cancelled');
	ok(defined wait_workers_gone($node, $job, 3), "its workers are gone");
	my @tmp = tmp_files($dir{stmt});
	is(scalar(@tmp), 0, 'it left no .tmp file') or diag(join("\n", @tmp));
	my @manifests = manifests($dir{stmt});
	is(scalar(@manifests), 0, 'and no manifest') or diag(join("\n", @manifests));
});

section($node, 'pg_cancel_backend of a caller waiting with wait => true cancels the job', sub {
	my $last = q1($node, 'SELECT coalesce(max(job_id), 0) FROM partback.job');
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/submitting/, "SET application_name = 'pbtest_waiter';\n"
		  . settings(rate => 4, chunk => '8MB') . "\\echo submitting\n"
		  . 'SELECT partback.backup_table(' . lit($dir{pgcancel}) . ", 'public.big', wait => true);\n");
	my $job;
	my $deadline = time + 30;
	while (time < $deadline)
	{
		$job = q1($node, "SELECT max(job_id) FROM partback.job WHERE job_id > $last");
		last if $job =~ /^\d+$/ && (status_of($node, $job))[2] > 0;
		sleep 0.1;
	}
	die "the waiting caller's job did not start copying\n" unless $job =~ /^\d+$/;
	my $t0 = time;
	is(q1($node, "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'pbtest_waiter'"),
		't', 'pg_cancel_backend of the waiting caller');
	is(q1($node, "SELECT partback.wait_job($job, '30 s')"), 'cancelled', 'the job ends cancelled');
	cmp_ok(time - $t0, '<', 2.5, '... within two seconds');
	$bg->quit;
	like($bg->{stderr}, qr/canceling statement due to user request/, 'the caller gets the cancel error')
	  or diag("stderr: $bg->{stderr}");
	ok(defined wait_workers_gone($node, $job, 3), 'its workers are gone');
	my @tmp = tmp_files($dir{pgcancel});
	is(scalar(@tmp), 0, 'it left no .tmp file') or diag(join("\n", @tmp));
});

# ---------------------------------------------------------------- 7: interrupted

section($node, 'immediate shutdown mid-job', sub {
	my ($job) = submit($node, "partback.backup_table(" . lit($dir{crash}) . ", 'public.big', parallel => 2)",
		rate => 4, chunk => '8MB');
	wait_copying($node, $job, 2 * 1024 * 1024);
	my $others_sql = "SELECT * FROM partback.get_backup_status() WHERE job_id <> $job ORDER BY job_id, table_name";
	my $others = q1($node, $others_sql);
	$node->stop('immediate');
	$node->start;
	so_check('before this start');
	my @seen;
	for (1 .. 5)
	{
		push @seen, q1($node, "SELECT (SELECT string_agg(DISTINCT state, ',') FROM partback.get_backup_status() WHERE job_id = $job)"
			  . " || '/' || (SELECT state FROM partback.jobs WHERE job_id = $job)");
		sleep 0.4;
	}
	is(join(' ', @seen), join(' ', ('interrupted/interrupted') x 5),
		'after an immediate shutdown and start, get_backup_status and partback.jobs show interrupted, never running');
	my $t0 = time;
	is(q1($node, "SELECT partback.wait_job($job, '10 s')"), 'interrupted', 'wait_job returns interrupted');
	cmp_ok(time - $t0, '<', 2, '... at once');
	is(q1($node, "SELECT partback.wait_job($job)"), 'interrupted', 'wait_job without timeout returns interrupted');
	is(workers_of($node, $job), 0, 'no worker of the interrupted job runs after the start');
	is(q1($node, $others_sql), $others, 'the other jobs keep their status through the crash');
});

# ---------------------------------------------------------------- 6: parallel above max_worker_processes

section($node, 'parallel above max_worker_processes', sub {
	my ($ret, $out, $err) = try_sql($node,
		'SELECT partback.backup_table(' . lit($dir{toomany}) . ", 'public.u', parallel => 17)");
	ok(defined $ret && $ret != 0, 'parallel => 17 with max_worker_processes = 16 fails at the call');
	like($err, qr/ERROR:\s+22023:/, '... with SQLSTATE 22023');
	like($err, qr/HINT:.*max_worker_processes/s, '... and a HINT about max_worker_processes');
	note("the error was: $err");
});

no_crash($node);
$node->stop;

# ---------------------------------------------------------------- 6: queued (small max_worker_processes)

my $small = PartbackTest::new_node('small',
	conf => "max_worker_processes = 4\nmax_logical_replication_workers = 0\nmax_parallel_workers_per_gather = 0\n"
	  . "restart_after_crash = on\n");
so_check('before node small started');
section($small, 'queued until a worker slot is free', sub {
	q1($small, q{
		CREATE TABLE public.big2 AS SELECT i, md5(i::text) AS t FROM generate_series(1, 600000) AS i;
		CREATE TABLE public.u2 AS SELECT i, md5(i::text) AS t FROM generate_series(1, 10000) AS i;
		CREATE TABLE public.u3 AS SELECT i, md5(i::text) AS t FROM generate_series(1, 10000) AS i;
		CREATE TABLE public.u4 AS SELECT i, md5(i::text) AS t FROM generate_series(1, 10000) AS i;});
	is(q1($small, 'SHOW max_worker_processes'), '4', 'the second node has max_worker_processes = 4');
	note('background workers visible in pg_stat_activity: ' . q1($small, q{
		SELECT string_agg(backend_type, ', ') FROM pg_stat_activity
		 WHERE backend_type NOT IN ('client backend', 'autovacuum launcher', 'autovacuum worker',
									'background writer', 'checkpointer', 'walwriter', 'archiver',
									'startup', 'walsender', 'walreceiver', 'logger')}));

	# A job with parallel => 2 takes three of the four slots (leader and two
	# copy workers); partback's launcher, if it has one, takes the fourth.
	# Either way a second job cannot get both a leader and a copy worker.
	my ($q1) = submit($small, "partback.backup_table(" . lit($dir{q1}) . ", 'public.big2', parallel => 2)",
		rate => 2, chunk => '4MB');
	wait_copying($small, $q1);
	my $deadline = time + 10;
	sleep 0.1 while time < $deadline && workers_of($small, $q1) < 3;
	is(workers_of($small, $q1), 3, "the first job runs its leader and two copy workers");

	my ($q2, $secs) = submit($small, "partback.backup_table(" . lit($dir{q2}) . ", 'public.u2', parallel => 1)");
	cmp_ok($secs, '<', 3, 'submitting a job when no slot is free returns at once');
	# Watch the queued job closely (every ~10 ms for ~1.5 s, several rounds
	# of the launcher): it must stay visible as queued all the time.
	q1($small, q{
		CREATE FUNCTION public.pbtest_watch(q bigint, other bigint, n int) RETURNS text
		LANGUAGE plpgsql AS $f$
		DECLARE
			w text; s text; j text; o text; k text;
			counts jsonb := '{}';
		BEGIN
			FOR i IN 1 .. n LOOP
				BEGIN
					w := partback.wait_job(q, '0 s');
				EXCEPTION WHEN OTHERS THEN
					w := 'ERROR ' || SQLSTATE || ' ' || SQLERRM;
				END;
				SELECT coalesce(string_agg(DISTINCT state, ','), 'no row') INTO s
				  FROM partback.get_backup_status() WHERE job_id = q;
				SELECT coalesce(max(state), 'no row') INTO j FROM partback.jobs WHERE job_id = q;
				SELECT coalesce(max(state), 'no row') INTO o FROM partback.jobs WHERE job_id = other;
				k := s || ' | ' || j || ' | ' || o || ' | ' || w;
				counts := jsonb_set(counts, ARRAY[k], to_jsonb(coalesce((counts->>k)::int, 0) + 1));
				PERFORM pg_sleep(0.01);
			END LOOP;
			RETURN counts::text;
		END $f$;});
	my $lpid = launcher_pid($small);
	my ($cpu0, $t0) = (defined $lpid ? cpu_seconds($lpid) : undef, time);
	my $watch = JSON::PP->new->decode(q1($small, "SELECT public.pbtest_watch($q2, $q1, 150)"));
	if (defined $cpu0)
	{
		my $share = (cpu_seconds($lpid) - $cpu0) / (time - $t0);
		cmp_ok($share, '<', 0.2, "partback's launcher does not spin while a job waits for a slot (share of a CPU it used)");
	}
	else
	{
		diag("partback's launcher process not found below postmaster " . ($small->{_pid} // '?'));
	}
	my @keys = sort keys %$watch;
	note(join("\n", 'the queued job seen as get_backup_status | partback.jobs | first job in partback.jobs | wait_job(0 s): count',
		map { "  $_: $watch->{$_}" } @keys));
	my @while = grep { (split / \| /)[2] eq 'running' } @keys;
	ok(@while && !(grep { $_ ne 'queued | queued | running | queued' } @while),
		'while the first job holds the slots, the second shows queued in get_backup_status, partback.jobs and wait_job at every look')
	  or diag(join("\n", map { "  $_: $watch->{$_}" } @keys));

	# a queued job can be cancelled before it runs
	my ($q3) = submit($small, "partback.backup_table(" . lit($dir{q3c}) . ", 'public.u3', parallel => 1)");
	my ($ret, $out, $err) = try_sql($small, "SELECT partback.cancel_job($q3)");
	is($out, 't', 'cancel_job on a queued job returns true') or diag("stdout: $out\nstderr: $err");
	is(wait_state($small, $q3, 30), 'cancelled', 'the cancelled queued job ends cancelled (wait_job)');
	is(q1($small, "SELECT coalesce(string_agg(DISTINCT state, ','), 'no row') || '/' || coalesce(sum(rows), 0) FROM partback.get_backup_status() WHERE job_id = $q3"),
		'cancelled/0', 'get_backup_status shows it cancelled without a row copied');

	is(settle($small, $q2, 60), 'succeeded', 'the queued job runs and succeeds once slots free');
	is(settle($small, $q1, 60), 'succeeded', 'the first job succeeds');
	is(q1($small, "SELECT state, rows FROM partback.jobs WHERE job_id = $q2"), 'succeeded|10000',
		'the queued job copied every row');

	($ret, $out, $err) = try_sql($small,
		'SELECT partback.backup_table(' . lit($dir{q3}) . ", 'public.u4', parallel => 10)");
	ok(defined $ret && $ret != 0, 'parallel => 10 with max_worker_processes = 4 fails at the call');
	like($err, qr/ERROR:\s+22023:/, '... with SQLSTATE 22023');
	like($err, qr/HINT:.*max_worker_processes/s, '... and a HINT about max_worker_processes');
	note("the error was: $err");
});
no_crash($small);
$small->stop;

so_check();
note(sprintf('030_jobs took %.1f s', time - $T_START));
done_testing();
