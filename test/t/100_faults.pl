# 100_faults.pl: fault injection (issue 6): jobs hit by SIGKILLs at random
# points, a backup dir that fills up, turns read-only or disappears.
#
# Each time the job ends in a truthful state (interrupted or failed, never
# 'succeeded' for a job that did not finish nor 'running' for one that is
# gone) with a clear error, no file is left that could be taken for data,
# the same call again succeeds, and the restored content equals the source.
#
#   1. Random kill points: a seeded PRNG (PB_FAULT_SEED, else the time; the
#      seed is printed first so that a failure can be replayed) picks, for
#      each of PB_FAULT_POINTS (default 22) kill points, backup or restore,
#      the victim (SIGKILL of a copy worker or of the leader, an immediate
#      shutdown, SIGKILL of the postmaster, or pg_terminate_backend of a
#      copy worker or of the leader) and the moment (a random delay into a
#      job throttled with partback.max_rate).  A kill that lands after the
#      job ended does not count; at least 20 must land; about 40% of the
#      interrupted jobs are resumed and killed again at the next point.
#      After a backup is killed, FORMAT.md's rules hold on disk: every data
#      or metadata file is named by a finished backup's metadata or carries
#      the id of an unfinished backup's ".inprogress" marker (which only a
#      job that has not succeeded may leave); apart from that, only "*.tmp"
#      files.  After a restore is killed, every target partition holds its
#      old content or the backup's, and the backup dir is unchanged.  No
#      process of a killed job goes on working.
#      Then, every run: an interrupted job whose leader's pid now belongs to
#      another job's leader stays interrupted and cancel_job leaves the
#      other alone; pg_terminate_backend of a copy worker fails the job at
#      once (57000), of the leader interrupts it and stops its copy workers
#      after the units they are on.
#   2. Disk full: the backup dir on an 8 MB tmpfs (PB_SMALL_FS, mounted by
#      test/run.sh) nearly filled by another file: the job fails with 53100
#      "No space left on device", no *.tmp and no manifest remain; once the
#      space is freed, the same call succeeds.
#   3. Read-only: a backup dir made read-only before a job or during it, and
#      an unreadable data file during a restore: 42501 "Permission denied".
#   4. Removed: a backup dir removed during a backup (58P01 naming the
#      missing file, nothing left behind, the same call recreates it) and
#      during a restore (per-partition atomicity, clear error, a retry from
#      a recreated backup succeeds); removed again and again while a job
#      creates its directories (once a PANIC of the whole server).

use strict;
use warnings;

use File::Find;
use File::Path qw(rmtree);
use JSON::PP;
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $SEED = $ENV{PB_FAULT_SEED} // (int(time() * 1000) ^ $$) % 1_000_000_007;
srand($SEED);
diag("fault injection seed $SEED (replay with PB_FAULT_SEED=$SEED)");
my $NPOINTS  = $ENV{PB_FAULT_POINTS} // 22;
my $MIN_LAND = $NPOINTS < 20 ? $NPOINTS : 20;
my $RATE     = 1;    # MB/s per copy worker while a job is to be hit
my $TIMEOUT  = $PostgreSQL::Test::Utils::timeout_default;
my $T0       = time();

my $node = PartbackTest::new_node('faults',
	conf => "partback.chunk_size = '1MB'\nrestart_after_crash = on\n"
	  . "max_worker_processes = 24\nlog_min_messages = info\n");
my $base = PartbackTest::backup_dir('faults');

sub lit { return PartbackTest::sql_lit(@_); }

# Runs SQL; returns its output, or undef (after a diag) when it failed.
sub sq
{
	my ($sql, $db) = @_;
	return PartbackTest::query($node, $db // 'postgres', $sql);
}

sub md5_of
{
	my ($rel) = @_;
	return PartbackTest::content_md5($node, 'postgres', $rel);
}

# "k => count:md5" of each partition key value of $rel
sub md5_by_k
{
	my ($rel) = @_;
	my %m;
	for my $line (split /\n/, sq("SELECT k, count(*) || ':' || md5(string_agg(r::text, E'\\n' ORDER BY r::text COLLATE \"C\"))"
		  . " FROM $rel AS r GROUP BY k") // '')
	{
		my ($k, $v) = split /\|/, $line, 2;
		$m{$k} = $v;
	}
	return %m;
}

sub job_field
{
	my ($job, $field) = @_;
	return sq("SELECT coalesce(${field}::text, '') FROM partback.jobs WHERE job_id = $job") // 'error';
}

sub wait_job
{
	my ($job) = @_;
	return 'no job' unless defined $job && $job =~ /^\d+$/;
	return PartbackTest::wait_job($node, 'postgres', $job);
}

# Polls the job's progress until $cond->(completed, rows) holds; false if it
# ends before.
sub wait_progress
{
	my ($job, $cond) = @_;
	my $deadline = time() + $TIMEOUT;
	while (time() < $deadline)
	{
		my $r = sq("SELECT coalesce(sum(completed), 0) || '|' || coalesce(sum(rows), 0) || '|'"
			  . " || coalesce(string_agg(DISTINCT state, ','), '')"
			  . " FROM partback.get_backup_status() WHERE job_id = $job") // '';
		my ($completed, $rows, $states) = split /\|/, $r, -1;
		return 1 if defined $rows && $cond->($completed, $rows);
		last if defined $states && $states ne '' && $states !~ /queued|running/;
		usleep(20_000);
	}
	return 0;
}

# relative path => "size" of every file below $dir
sub file_list
{
	my ($dir) = @_;
	my %f;
	return %f unless -d $dir;
	find({ no_chdir => 1, wanted => sub { $f{ substr($_, length($dir) + 1) } = -s $_ if -f $_ } }, $dir);
	return %f;
}

sub read_json
{
	my ($path) = @_;
	my $text = eval { slurp_file($path) };
	return undef unless defined $text;
	return eval { JSON::PP->new->decode($text) };
}

# FORMAT.md's rules for the database's part of backup dir $dir, checked on
# disk without partback.  Returns (problems, number of *.tmp files, number
# of .inprogress markers, number of manifests).
sub dir_state
{
	my ($dir) = @_;
	my $db = "$dir/postgres";
	my (@problems, %markers, %referenced);
	my ($ntmp, $nmanifests) = (0, 0);
	return ([], 0, 0, 0) unless -d $db;

	my %manifest_files = file_list("$db/manifests");
	for my $f (sort keys %manifest_files)
	{
		my $path = "$db/manifests/$f";
		if ($f =~ /\.tmp$/)
		{
			$ntmp++;
		}
		elsif ($f =~ /^(\d{10})\.inprogress$/)
		{
			my $id = $1;
			my $m = read_json($path);
			my $job = $m && $m->{job_id};
			unless (defined $job && $job =~ /^\d+$/)
			{
				push @problems, "marker $f does not parse";
				next;
			}
			$markers{$id} = 1;
			my $st = job_field($job, 'state');
			push @problems, "marker $f of job $job, which is $st" if $st eq 'succeeded';
		}
		elsif ($f =~ /^\d{10}\.json$/)
		{
			$nmanifests++;
			my $m = read_json($path);
			unless ($m && ref $m->{tables} eq 'ARRAY')
			{
				push @problems, "manifest $f does not parse";
				next;
			}
			for my $t (@{ $m->{tables} })
			{
				for my $p (@{ $t->{partitions} })
				{
					$referenced{ $p->{meta} } = 1;
					my $meta = read_json("$db/$p->{meta}");
					unless ($meta)
					{
						push @problems, "metadata $p->{meta} of manifest $f is missing or does not parse";
						next;
					}
					(my $rel_dir = $p->{meta}) =~ s{/[^/]+$}{};
					$referenced{"$rel_dir/$_->{name}"} = 1 for @{ $meta->{files} };
				}
			}
		}
		else
		{
			push @problems, "unexpected file manifests/$f";
		}
	}
	my %data = file_list("$db/data");
	for my $f (sort keys %data)
	{
		if ($f =~ /\.tmp$/)
		{
			$ntmp++;
		}
		elsif (!$referenced{"data/$f"})
		{
			my ($id) = $f =~ m{(?:^|/)(\d{10})\.[^/]*$};
			push @problems, "data/$f belongs to no backup and no unfinished backup"
			  unless defined $id && $markers{$id};
		}
	}
	return (\@problems, $ntmp, scalar(keys %markers), $nmanifests);
}

# The job has ended truthfully: partback.jobs shows one of @states, no
# status row of it is queued or running, wait_job returns at once.
sub ended_ok
{
	my ($label, $job, @states) = @_;
	my $re = join('|', @states);
	my $st = job_field($job, 'state');
	like($st, qr/^($re)$/, "$label: job $job shows $st")
	  or diag(sq("SELECT * FROM partback.jobs WHERE job_id = $job"));
	is(sq("SELECT count(*) FROM partback.get_backup_status() WHERE job_id = $job"
		  . " AND state IN ('queued', 'running')") // 'error', '0',
		"$label: no status row of job $job is queued or running");
	my $t = time();
	is(sq("SELECT partback.wait_job($job, interval '5 seconds')") // 'error', $st,
		"$label: wait_job($job) returns $st at once");
	cmp_ok(time() - $t, '<', 4, "$label: wait_job did not wait");
	return $st;
}

# The backup dir holds no file that could be taken for data; with $no_tmp,
# no *.tmp file either.  Returns the number of *.tmp files.
sub dir_clean_ok
{
	my ($label, $dir, $no_tmp) = @_;
	my ($problems, $ntmp, $nmarkers, $nmanifests) = dir_state($dir);
	ok(!@$problems, "$label: every file on disk belongs to a finished or an unfinished backup")
	  or diag(join("\n", @$problems));
	if ($no_tmp)
	{
		is($ntmp, 0, "$label: no *.tmp file is left");
	}
	return ($ntmp, $nmarkers, $nmanifests);
}

# After the same call again succeeded: one more finished backup, nothing
# else on disk, healthy for check_backup, and its restore equals the source.
sub backup_retry_ok
{
	my ($label, $dir, $call, $manifests_before, $job2) = @_;
	$job2 //= sq($call);
	my $st = wait_job($job2);
	is($st, 'succeeded', "$label: the same call again succeeds")
	  or diag(sq("SELECT * FROM partback.jobs WHERE job_id = " . ($job2 // 0)));
	my ($problems, $ntmp, $nmarkers, $nmanifests) = dir_state($dir);
	ok(!@$problems && $ntmp == 0 && $nmarkers == 0 && $nmanifests == $manifests_before + 1,
		"$label: after the retry the dir holds one more backup and nothing else")
	  or diag("problems: @$problems; $ntmp .tmp files, $nmarkers markers, $nmanifests manifests (before: $manifests_before)");
	is(sq("SELECT count(*) FROM partback.check_backup(" . lit($dir) . ")") // 'error', '0',
		"$label: check_backup finds the dir healthy")
	  or diag(sq("SELECT * FROM partback.check_backup(" . lit($dir) . ") LIMIT 10"));
	restored_ok($label, $dir);
}

my %src_md5;

# restore_table of both tables under new names equals the source
sub restored_ok
{
	my ($label, $dir) = @_;
	for my $t (sort keys %src_md5)
	{
		my $target = "${t}_v";
		sq("DROP TABLE IF EXISTS $target");
		my $job = sq("SELECT partback.restore_table(" . lit($dir) . ", '$t', target_table => '$target', parallel => 2)");
		my $st = wait_job($job);
		is($st eq 'succeeded' ? md5_of($target) : "restore $st", $src_md5{$t},
			"$label: $t restored from the backup equals the source");
		sq("DROP TABLE IF EXISTS $target");
	}
}

# ---------------------------------------------------------------- data

# fx.parted: 6 range partitions of ~0.5 MB; fx.plain: ~2.4 MB, 3 chunks.
# The payload (4 md5s) compresses about 2:1, so max_rate slows restores too.
my $payload = join(' || ', map { "md5((i * 4 + $_)::text)" } 0 .. 3);
sq(qq{
	CREATE SCHEMA fx;
	CREATE TABLE fx.parted (id bigint NOT NULL, k integer NOT NULL, payload text) PARTITION BY RANGE (k);
	CREATE TABLE fx.parted_t (id bigint NOT NULL, k integer NOT NULL, payload text) PARTITION BY RANGE (k);
	DO \$\$ BEGIN
		FOR g IN 0 .. 5 LOOP
			EXECUTE format('CREATE TABLE fx.parted_%s PARTITION OF fx.parted FOR VALUES FROM (%s) TO (%s)', g, g, g + 1);
			EXECUTE format('CREATE TABLE fx.parted_t_%s PARTITION OF fx.parted_t FOR VALUES FROM (%s) TO (%s)', g, g, g + 1);
		END LOOP;
	END \$\$;
	INSERT INTO fx.parted SELECT i, i % 6, $payload FROM generate_series(1, 18000) AS i;
	CREATE TABLE fx.plain (id bigint NOT NULL, payload text);
	CREATE TABLE fx.plain_t (id bigint NOT NULL, payload text);
	INSERT INTO fx.plain SELECT -i, $payload FROM generate_series(1, 14000) AS i;
	VACUUM ANALYZE fx.parted, fx.plain;});
cmp_ok(sq("SELECT pg_relation_size('fx.plain')") // 0, '>', 2 * 1024 * 1024, 'fx.plain spans 3 chunks of 1 MB');
%src_md5 = map { $_ => md5_of($_) } qw(fx.parted fx.plain);
my %src_by_k = md5_by_k('fx.parted');

# restore targets hold "old" content, different from the backup's
sub reset_targets
{
	sq(q{TRUNCATE fx.parted_t, fx.plain_t;
		INSERT INTO fx.parted_t SELECT -id, k, reverse(payload) FROM fx.parted WHERE id % 5 = 0;
		INSERT INTO fx.plain_t SELECT -id, reverse(payload) FROM fx.plain WHERE id % 5 = 0;});
}
reset_targets();
my %old_by_k = md5_by_k('fx.parted_t');
is(join(',', map { ($old_by_k{$_} // '') ne '' && $old_by_k{$_} ne $src_by_k{$_} ? $_ : "($_)" } sort keys %src_by_k),
	'0,1,2,3,4,5', 'each partition of the restore target holds old content, other than the backup\'s');
my $old_plain = md5_of('fx.plain_t');

# The relations of schema fx, but for the transient table of a partition a
# killed job was loading in parts (restore.c), recorded for the next
# restore or the server's start to drop (restore_done_ok checks it went).
sub relations_in_fx
{
	return sq("SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class c"
		  . " WHERE relnamespace = 'fx'::regnamespace AND NOT (relname LIKE 'pg\\_temp\\_%'"
		  . " AND EXISTS (SELECT FROM partback.transient_heap t WHERE t.relid = c.oid))") // 'error';
}
my $fx_relations = relations_in_fx();

# The target of an interrupted or failed restore: every partition holds its
# old content or the backup's, and no relation came or went.
sub restore_target_ok
{
	my ($label, $target) = @_;
	if ($target eq 'fx.plain_t')
	{
		my $m = md5_of($target);
		ok($m eq $old_plain || $m eq $src_md5{'fx.plain'},
			"$label: $target holds its old content or the backup's")
		  or diag("content $m");
	}
	else
	{
		my %now = md5_by_k($target);
		my (@torn, @old);
		for my $k (sort keys %src_by_k)
		{
			my $v = $now{$k} // 'empty';
			push @old, $k if $v eq $old_by_k{$k};
			push @torn, $k if $v ne $old_by_k{$k} && $v ne $src_by_k{$k};
		}
		ok(!@torn, "$label: every partition of $target holds its old content or the backup's ("
			  . scalar(@old) . ' of ' . scalar(keys %src_by_k) . ' old)')
		  or diag('torn partitions (k): ' . join(', ', @torn));
	}
	is(relations_in_fx(), $fx_relations, "$label: no relation was left behind or lost in schema fx");
}

# ---------------------------------------------------------------- victims

# pids of the processes whose parent is $ppid
sub children_of
{
	my ($ppid) = @_;
	my @kids;
	for my $stat (glob('/proc/[0-9]*/stat'))
	{
		my $s = eval { slurp_file($stat) } // next;
		# "pid (comm) state ppid ...": comm may hold spaces and parentheses
		next unless $s =~ /^(\d+) \(.*\) \S+ (\d+) /s;
		push @kids, $1 if $2 == $ppid;
	}
	return @kids;
}

# Kills $victim of job $job: 'copy' or 'leader' (SIGKILL, then the crash
# restart), 'immediate' (pg_ctl stop -m immediate, then start) or
# 'postmaster' (SIGKILL of the postmaster; its children must exit by
# themselves before the start).  Returns what it killed, or undef.
sub kill_victim
{
	my ($job, $victim) = @_;
	if ($victim =~ /^(term-)?(copy|leader)$/)
	{
		my ($term, $want) = ($1, $2);
		my ($kind, @pids);
		for my $k ($want eq 'copy' ? ('copy', 'leader') : ('leader'))
		{
			@pids = grep { /^\d+$/ } split /\n/, (sq("SELECT pid FROM pg_stat_activity"
				  . " WHERE backend_type = 'partback job $job $k' ORDER BY pid") // '');
			if (@pids)
			{
				$kind = $k;
				last;
			}
		}
		return undef unless @pids;
		my $pid = $pids[ int(rand(@pids)) ];
		if ($term)
		{
			# pg_terminate_backend: a FATAL in that process, no crash restart
			return (sq("SELECT pg_terminate_backend($pid)") // '') eq 't' ? "with SIGTERM the $kind process $pid" : undef;
		}
		return PartbackTest::crash_backend($node, $pid) ? "the $kind process $pid" : undef;
	}
	if ($victim eq 'immediate')
	{
		$node->stop('immediate');
		$node->start;
		return 'the server (immediate shutdown)';
	}
	my $pm = $node->{_pid};
	my @kids = children_of($pm);
	$node->kill9;
	my $deadline = time() + 60;
	my @alive = @kids;
	while (@alive && time() < $deadline)
	{
		usleep(50_000);
		@alive = grep { kill(0, $_) } @alive;
	}
	ok(!@alive, "job $job: every child of the SIGKILLed postmaster $pm exits by itself")
	  or do { diag("still alive: @alive"); kill('KILL', @alive); sleep(1); };
	$node->start;
	return "the postmaster $pm";
}

# ---------------------------------------------------------------- 1. random kill points

my $bcall_tmpl = "SELECT partback.backup_db(%s, schemas => '{fx}', parallel => 2)";

# how long the throttled jobs take: the kill delays are drawn from that
my $full = "$base/full";
my $t = time();
my $job = sq("SET partback.max_rate = $RATE; " . sprintf($bcall_tmpl, lit($full)));
is(wait_job($job), 'succeeded', 'a throttled backup_db succeeds');
my $backup_secs = time() - $t;
$t = time();
$job = sq("SET partback.max_rate = $RATE; SELECT partback.restore_table(" . lit($full)
	  . ", 'fx.parted', target_table => 'fx.parted_t', parallel => 2)");
is(wait_job($job), 'succeeded', 'a throttled restore_table succeeds');
my $restore_secs = time() - $t;
is(md5_of('fx.parted_t'), $src_md5{'fx.parted'}, 'the restored table equals the source');
note(sprintf('throttled: backup_db %.1f s, restore_table %.1f s', $backup_secs, $restore_secs));
reset_targets();
# "name=size" of every file below $dir
sub dir_listing
{
	my %f = file_list(@_);
	return join(', ', map { "$_=$f{$_}" } sort keys %f);
}
my $full_files = dir_listing($full);

my @victims = qw(copy copy leader leader immediate postmaster term-copy term-leader);
my %landed = (backup => 0, restore => 0);
my @kinds = ((map { 'backup' } 1 .. int($NPOINTS / 2)), (map { 'restore' } 1 .. $NPOINTS - int($NPOINTS / 2)));
for (my $i = $#kinds; $i > 0; $i--)
{
	my $j = int(rand($i + 1));
	@kinds[ $i, $j ] = @kinds[ $j, $i ];
}

my $attempts = 0;
my $point    = 0;
my $chained  = 0;
my $interrupted_job;
# a killed job left for the next point of its kind to resume and kill again:
# [ $call, $dir or $target ]
my %chain;

# The interrupted backup in $dir resumed and succeeded (by the same call
# again, or by a resumed call that the next kill came too late for).
sub backup_done_ok
{
	my ($label, $dir, $call, $manifests_before, $job2) = @_;
	backup_retry_ok($label, $dir, $call, $manifests_before, $job2);
}

sub restore_done_ok
{
	my ($label, $target, $call, $job2) = @_;
	$job2 //= sq($call);
	my $st2 = wait_job($job2);
	is($st2, 'succeeded', "$label: the same call again succeeds")
	  or diag(sq("SELECT * FROM partback.jobs WHERE job_id = " . ($job2 // 0)));
	my $src = $target =~ s/_t$//r;
	is(md5_of($target), $src_md5{$src}, "$label: $target equals the source $src");
	# fx.plain's 3 data files are loaded in parts: what a killed job left of
	# them is gone
	is(sq("SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'fx'::regnamespace"
		  . " AND relname LIKE 'pg\\_temp\\_%') || ':' || (SELECT count(*) FROM partback.transient_heap)"),
		'0:0', "$label: no transient heap is left, none is recorded");
	reset_targets();
}

while (@kinds && $attempts < 2 * $NPOINTS + 10)
{
	my $kind   = $kinds[0];
	my $victim = $victims[ int(rand(@victims)) ];
	my $delay  = 0.02 + rand() * ($kind eq 'backup' ? $backup_secs : $restore_secs);
	my $plain  = rand() < 0.4;    # restores: fx.plain (one partition of 3 chunks)
	my $again  = delete $chain{$kind};
	$attempts++;
	my $what_job = $again ? "$kind resumed" : $kind;
	my $label  = sprintf('point %d (%s, %s after %.2f s)', $point + 1, $what_job, $victim, $delay);

	my ($call, $dir, $target);
	if ($again)
	{
		$call = $again->[0];
		($kind eq 'backup' ? $dir : $target) = $again->[1];
	}
	elsif ($kind eq 'backup')
	{
		$dir  = "$base/b$attempts";
		$call = sprintf($bcall_tmpl, lit($dir));
	}
	else
	{
		$target = $plain ? 'fx.plain_t' : 'fx.parted_t';
		my $src = $plain ? 'fx.plain' : 'fx.parted';
		$call = "SELECT partback.restore_table(" . lit($full) . ", '$src', target_table => '$target', parallel => 2)";
	}
	my $manifests_before = $kind eq 'backup' ? (dir_state($dir))[3] : 0;
	my $job = sq("SET partback.max_rate = $RATE; $call");
	unless (defined $job && $job =~ /^\d+$/)
	{
		fail("$label: the job starts");
		shift @kinds;
		next;
	}
	Time::HiRes::sleep($delay);
	my $what;
	if (job_field($job, 'state') !~ /^(queued|running)$/)
	{
		note("$label: job $job ended before the kill, not counted");
	}
	else
	{
		$what = kill_victim($job, $victim);
		note("$label: nothing to kill (job $job is " . job_field($job, 'state') . '), not counted')
		  unless $what;
	}
	unless ($what)
	{
		# a resumed job that ended must have finished the work
		if ($kind eq 'backup')
		{
			$again ? backup_done_ok($label, $dir, $call, $manifests_before, $job) : wait_job($job);
		}
		else
		{
			$again ? restore_done_ok($label, $target, $call, $job) : (wait_job($job), reset_targets());
		}
		next;
	}
	$point++;
	shift @kinds;
	$label = sprintf('point %d (%s, %s after %.2f s)', $point, $what_job, $victim, $delay);
	$label .= ", $target" if $kind eq 'restore';
	note("$label: killed $what of job $job");
	# after a SIGTERM the leader takes a moment to notice and record it
	PartbackTest::wait_job($node, 'postgres', $job, 30) if $victim =~ /^term-/;
	my $st = ended_ok($label, $job, qw(interrupted failed succeeded));
	# and the job's other processes do not go on with it
	my $left = '';
	my $deadline = time() + 20;
	while (time() < $deadline)
	{
		$left = sq("SELECT string_agg(backend_type || ' ' || pid, ', ') FROM pg_stat_activity"
			  . " WHERE backend_type LIKE 'partback job $job %'") // 'error';
		last if $left eq '';
		usleep(100_000);
	}
	is($left, '', "$label: no process of job $job is left");
	if ($st eq 'succeeded')
	{
		# the kill came right after the job's end was recorded
		note("$label: job $job had finished, not counted");
	}
	else
	{
		$landed{$kind}++;
		$chained++ if $again;
		$interrupted_job //= $job if $st eq 'interrupted';
	}
	# resume and kill again at the next point of the kind, sometimes
	my $chain_next = $st ne 'succeeded' && !$again && grep({ $_ eq $kind } @kinds) && rand() < 0.4;

	if ($kind eq 'backup')
	{
		my ($ntmp, $nmarkers, $nmanifests) = dir_clean_ok($label, $dir, 0);
		if ($st eq 'succeeded')
		{
			is($nmanifests, $manifests_before + 1, "$label: the succeeded job's backup exists");
		}
		else
		{
			note("$label: after the kill: $ntmp .tmp files, $nmarkers markers, $nmanifests manifests");
			my $bad = sq("SELECT count(*) FROM partback.check_backup(" . lit($dir) . ")"
				  . " WHERE problem NOT IN ('unfinished backup', 'leftover temporary file')") // 'error';
			$bad = 0 unless -d $dir;
			is($bad, '0', "$label: check_backup reports nothing but the unfinished backup and *.tmp files")
			  or diag(sq("SELECT * FROM partback.check_backup(" . lit($dir) . ") LIMIT 10"));
		}
		if ($chain_next)
		{
			$chain{backup} = [ $call, $dir ];
		}
		else
		{
			backup_done_ok($label, $dir, $call, $nmanifests);
		}
	}
	else
	{
		restore_target_ok($label, $target);
		is(dir_listing($full), $full_files, "$label: the backup dir is unchanged");
		if ($chain_next)
		{
			$chain{restore} = [ $call, $target ];
		}
		else
		{
			restore_done_ok($label, $target, $call);
		}
	}
}
# a chain left open: finish it
if (my $c = delete $chain{backup})
{
	backup_done_ok('last chained backup', $c->[1], $c->[0], (dir_state($c->[1]))[3]);
}
if (my $c = delete $chain{restore})
{
	restore_done_ok('last chained restore', $c->[1], $c->[0]);
}
my $nlanded = $landed{backup} + $landed{restore};
diag("seed $SEED: $nlanded kill points landed in running jobs ($landed{backup} backups, "
	  . "$landed{restore} restores, $chained of them in resumed jobs) out of $attempts attempts");
cmp_ok($nlanded, '>=', $MIN_LAND, "at least $MIN_LAND kill points hit running jobs");
ok($landed{backup} > 0 && $landed{restore} > 0, 'kill points hit both backups and restores');
note(sprintf('random kill points took %.0f s', time() - $T0));

# A killed leader's pid may be taken by another process after the restart,
# another job's leader included: the killed job stays interrupted, and
# cancel_job of it cancels nothing.  (Its pid is set to a live leader's.)
if (ok(defined $interrupted_job, 'a kill point left a job interrupted'))
{
	my $other = sq("SET partback.max_rate = $RATE; " . sprintf($bcall_tmpl, lit("$base/pid_reuse")));
	ok(wait_progress($other, sub { $_[1] > 0 }), "pid reuse: job $other is running");
	my $pid = sq("SELECT pid FROM pg_stat_activity WHERE backend_type = 'partback job $other leader'") // '';
	like($pid, qr/^\d+$/, "pid reuse: job $other has a leader ($pid)");
	sq("UPDATE partback.job SET worker_pid = $pid WHERE job_id = $interrupted_job") if $pid =~ /^\d+$/;
	ended_ok("pid reuse: job $interrupted_job with the pid of job ${other}'s leader", $interrupted_job, 'interrupted');
	is(sq("SELECT partback.cancel_job($interrupted_job)") // 'error', 'f',
		"pid reuse: cancel_job($interrupted_job) returns false");
	is(wait_job($other), 'succeeded', "pid reuse: job $other was not cancelled and succeeds");
}

# pg_terminate_backend, every run (the random points may not pick it): of a
# copy worker, the job fails at once naming the cause (it used to wait for
# the lost unit of work forever, showing 'queued'); of the leader, the job
# is interrupted and its copy workers finish no more than the units they
# are on (they used to do all the rest of the job's work).
for my $kind ('copy', 'leader')
{
	my $label = "pg_terminate_backend of the $kind";
	my $dir   = "$base/term_$kind";
	my $call  = sprintf($bcall_tmpl, lit($dir));
	my $job   = sq("SET partback.max_rate = $RATE; $call");
	ok(wait_progress($job, sub { $_[0] > 0 }), "$label: job $job writes a chunk first");
	my $pid = sq("SELECT pid FROM pg_stat_activity WHERE backend_type = 'partback job $job $kind' LIMIT 1") // '';
	my $units = sq("SELECT count(*) FROM partback.chunk WHERE job_id = $job") // 0;
	is(sq("SELECT pg_terminate_backend($pid)") // 'error', 't', "$label: $pid terminated");
	my $t = time();
	my $st = PartbackTest::wait_job($node, 'postgres', $job, 30);
	note(sprintf("$label: job $job is $st after %.1f s", time() - $t));
	ended_ok($label, $job, $kind eq 'copy' ? 'failed' : 'interrupted');
	error_ok($label, $job, '57000', qr/copy worker of partback job $job exited before finishing its work/)
	  if $kind eq 'copy';
	my $left = 'error';
	my $deadline = time() + 20;
	while (time() < $deadline)
	{
		$left = sq("SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'partback job $job %'") // 'error';
		last if $left eq '0';
		usleep(50_000);
	}
	is($left, '0', "$label: no process of job $job is left");
	my $units_after = sq("SELECT count(*) FROM partback.chunk WHERE job_id = $job") // 0;
	my $total = sq("SELECT sum(units) FROM partback.task WHERE job_id = $job") // 0;
	cmp_ok($units_after - $units, '<=', 2, "$label: at most the 2 units in progress were finished after it"
		  . " ($units of $total before, $units_after after)");
	dir_clean_ok($label, $dir, 0);
	backup_retry_ok("$label, same call again", $dir, $call, 0);
}

# ---------------------------------------------------------------- shared by 2-4

# Starts a throttled backup_db into $dir, runs $fault->() once a chunk is
# written, waits for the job's end; returns the job id.
sub backup_with_fault
{
	my ($dir, $fault) = @_;
	my $job = sq("SET partback.max_rate = $RATE; " . sprintf($bcall_tmpl, lit($dir)));
	return undef unless defined $job && $job =~ /^\d+$/;
	ok(wait_progress($job, sub { $_[0] > 0 }), "job $job writes a chunk before the fault");
	$fault->();
	wait_job($job);
	return $job;
}

sub error_ok
{
	my ($label, $job, $code, $re) = @_;
	my $err = job_field($job, 'error_code') . ': ' . job_field($job, 'error');
	like($err, qr/^$code: .*$re/, "$label: the job's error has SQLSTATE $code and says what failed") or return;
	note("$label: $err");
}

# ---------------------------------------------------------------- 2. disk full

SKIP:
{
	my $fs = $ENV{PB_SMALL_FS};
	skip('PB_SMALL_FS is not set (test/run.sh mounts a small tmpfs for the disk-full tests and says why it could not)', 1)
	  unless defined $fs && $fs ne '' && -d $fs && -w $fs;

	my $filler = "$fs/filler";

	# Fills the file system with $filler, then frees $free bytes (a
	# multiple of the page size: tmpfs allocates whole pages).
	my $fill = sub {
		my ($free) = @_;
		open(my $fh, '>', $filler) or die "could not create $filler: $!";
		my $block = "\xa5" x 65536;
		my $size  = 0;
		while (defined(my $w = syswrite($fh, $block)))
		{
			last if $w == 0;
			$size += $w;
		}
		close($fh);
		truncate($filler, $size > $free ? $size - $free : 0) or die "could not truncate $filler: $!";
		note("the small file system took $size bytes of filler; $free bytes are free now");
	};

	# (a) while the data is written: 256 kB free, the data takes ~2.5 MB
	# (b) while the metadata is written: room for the data files and the
	#     markers (the sizes of the full backup's files: same data, same
	#     compression), but not for the metadata files
	my $page = 4096;
	my %full_files = file_list($full);
	my $data_pages = 0;
	$data_pages += int(($full_files{$_} + $page - 1) / $page) for grep { /\.copy/ } keys %full_files;
	for my $case ([ 'data', 262144, qr/\.copy[^"]*\.tmp"/ ],
		[ 'metadata', ($data_pages + 3) * $page, qr/\.(json|inprogress)\.tmp"/ ])
	{
		my ($what, $free, $file_re) = @$case;
		my $label = "disk full while writing the $what";
		my $dir   = "$fs/full_$what";
		$fill->($free);

		my $call = sprintf($bcall_tmpl, lit($dir));
		my $job = sq($call);
		my $st = wait_job($job);
		is($st, 'failed', "$label: the backup fails");
		next unless defined $job && $job =~ /^\d+$/;
		ended_ok($label, $job, 'failed');
		error_ok($label, $job, '53100', qr/\Q$dir\E.*No space left on device/);
		like(job_field($job, 'error'), $file_re, "$label: the error names a $what file");
		my (undef, undef, $nmanifests) = dir_clean_ok($label, $dir, 1);
		is($nmanifests, 0, "$label: no manifest exists");

		unlink($filler) or die "could not remove $filler: $!";
		backup_retry_ok("$label, space freed", $dir, $call, 0);
		rmtree($dir);
	}
}

# ---------------------------------------------------------------- 3. read-only

sub chmod_tree
{
	my ($dir, $mode) = @_;
	my @dirs;
	find({ no_chdir => 1, wanted => sub { push @dirs, $_ if -d $_ } }, $dir);
	chmod($mode, @dirs);
}

{
	# before the job: a dir with a backup becomes read-only
	my $dir  = "$base/ro_before";
	my $call = sprintf($bcall_tmpl, lit($dir));
	is(wait_job(sq($call)), 'succeeded', 'read-only: a first backup succeeds');
	sq("UPDATE fx.parted SET payload = payload WHERE id = 1");    # something to copy
	chmod_tree($dir, 0500);
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres', $call);
	my $job = $out =~ /^(\d+)$/m ? $1 : undef;
	if (defined $job)
	{
		is(wait_job($job), 'failed', 'read-only before the job: the backup fails');
		error_ok('read-only before the job', $job, '42501', qr/\Q$dir\E.*Permission denied/);
		ended_ok('read-only before the job', $job, 'failed');
	}
	else
	{
		like($err, qr/ERROR:  42501: .*\Q$dir\E.*Permission denied/,
			'read-only before the job: the call fails with 42501 naming the file');
	}
	my (undef, undef, $nmanifests) = dir_clean_ok('read-only before the job', $dir, 1);
	chmod_tree($dir, 0700);
	backup_retry_ok('read-only before the job, writable again', $dir, $call, $nmanifests);

	# during the job
	$dir  = "$base/ro_during";
	$call = sprintf($bcall_tmpl, lit($dir));
	$job  = backup_with_fault($dir, sub { chmod_tree($dir, 0500) });
	is(job_field($job, 'state'), 'failed', 'read-only during the job: the backup fails');
	error_ok('read-only during the job', $job, '42501', qr/\Q$dir\E.*Permission denied/);
	ended_ok('read-only during the job', $job, 'failed');
	# a *.tmp file in a read-only dir cannot be removed; the next job does
	my ($ntmp) = dir_clean_ok('read-only during the job', $dir, 0);
	note("read-only during the job: $ntmp *.tmp files could not be removed");
	chmod_tree($dir, 0700);
	backup_retry_ok('read-only during the job, writable again', $dir, $call, 0);

	# a restore meets an unreadable data file
	my %files = file_list($dir);
	my ($file) = sort grep { m{/fx/parted/parted_3/.*\.copy} } keys %files;
	ok($file, "the backup has a data file of fx.parted_3 ($file)");
	chmod(0000, "$dir/$file");
	my $rcall = "SELECT partback.restore_table(" . lit($dir) . ", 'fx.parted', target_table => 'fx.parted_t', parallel => 2)";
	$job = sq($rcall);
	is(wait_job($job), 'failed', 'unreadable data file: the restore fails');
	error_ok('unreadable data file', $job, '42501', qr/\Q$file\E.*Permission denied/);
	restore_target_ok('unreadable data file', 'fx.parted_t');
	my %now = md5_by_k('fx.parted_t');
	is($now{3}, $old_by_k{3}, 'unreadable data file: its partition keeps its old content');
	chmod(0600, "$dir/$file");
	is(wait_job(sq($rcall)), 'succeeded', 'unreadable data file, readable again: the same restore succeeds');
	is(md5_of('fx.parted_t'), $src_md5{'fx.parted'}, 'unreadable data file, readable again: the target equals the source');
	reset_targets();
}

# ---------------------------------------------------------------- 4. removed

{
	my $dir  = "$base/rm_backup";
	my $call = sprintf($bcall_tmpl, lit($dir));
	my $job  = backup_with_fault($dir, sub { rmtree($dir) });
	is(job_field($job, 'state'), 'failed', 'dir removed during a backup: the job fails');
	error_ok('dir removed during a backup', $job, '58P01', qr/\Q$dir\E.*No such file or directory/);
	ended_ok('dir removed during a backup', $job, 'failed');
	my %left = file_list($dir);
	ok(!%left, 'dir removed during a backup: nothing was written into it again')
	  or diag(join("\n", sort keys %left));
	backup_retry_ok('dir removed during a backup, same call again', $dir, $call, 0);

	# a restore from it, removed midway
	reset_targets();
	my $rcall = "SELECT partback.restore_table(" . lit($dir) . ", 'fx.parted', target_table => 'fx.parted_t', parallel => 2)";
	$job = sq("SET partback.max_rate = $RATE; $rcall");
	ok(wait_progress($job, sub { $_[0] > 0 }), 'dir removed during a restore: a partition is restored before');
	rmtree($dir);
	is(wait_job($job), 'failed', 'dir removed during a restore: the job fails');
	error_ok('dir removed during a restore', $job, '58P01', qr/\Q$dir\E.*No such file or directory/);
	ended_ok('dir removed during a restore', $job, 'failed');
	restore_target_ok('dir removed during a restore', 'fx.parted_t');
	ok(!-e $dir, 'dir removed during a restore: the restore did not create it again');
	is(wait_job(sq(sprintf($bcall_tmpl, lit($dir)))), 'succeeded', 'dir removed during a restore: a new backup into it');
	is(wait_job(sq($rcall)), 'succeeded', 'dir removed during a restore: the same restore again succeeds');
	is(md5_of('fx.parted_t'), $src_md5{'fx.parted'}, 'dir removed during a restore: the target equals the source');
}

# A backup dir removed again and again while the leader creates a
# directory per partition (200 of them): a directory gone between its
# mkdir and its fsync once made the server PANIC.  A job hit must fail with
# 58P01 and the server stay up.  A race: each round has a fair chance.
{
	sq(q{CREATE SCHEMA fx_many;
		CREATE TABLE fx_many.many (k integer NOT NULL, v text) PARTITION BY LIST (k);
		DO $$ BEGIN
			FOR g IN 0 .. 199 LOOP
				EXECUTE format('CREATE TABLE fx_many.many_%s PARTITION OF fx_many.many FOR VALUES IN (%s)', g, g);
			END LOOP;
		END $$;
		INSERT INTO fx_many.many SELECT i % 200, md5(i::text) FROM generate_series(1, 2000) AS i;});
	my $log_offset = -s $node->logfile;
	my ($rounds, $finished, @bad) = (0, 0);
	my $t0 = time();
	while ($rounds < 8 && time() - $t0 < 15)
	{
		$rounds++;
		my $dir = "$base/rm_race$rounds";
		my $job = sq("SELECT partback.backup_table(" . lit($dir) . ", 'fx_many.many')") // next;
		# two processes remove it as fast as they can until the job ends
		my @removers;
		for (1 .. 2)
		{
			my $pid = fork();
			die "fork failed: $!" unless defined $pid;
			if ($pid == 0)
			{
				rmtree("$dir/postgres/data", { error => \my $ignored }) while 1;
			}
			push @removers, $pid;
		}
		my $st = 'running';
		while ($st =~ /^(queued|running)$/)
		{
			usleep(50_000);
			$st = job_field($job, 'state');
		}
		kill('KILL', @removers);
		waitpid($_, 0) for @removers;
		my $err = job_field($job, 'error_code') . ': ' . job_field($job, 'error');
		# The directories appear late in a job of 100-200 ms, so a job may
		# end before a remover's rmtree takes effect (about one round in
		# 100): no failure, but most rounds must be hit.
		if ($st eq 'succeeded')
		{
			$finished++;
		}
		elsif ($st ne 'failed' || $err !~ /^58P01: .*\Q$dir\E/)
		{
			push @bad, "job $job: $st, $err";
		}
	}
	note(sprintf('dir removed repeatedly: %d rounds in %.1f s, %d jobs finished before the removal',
		$rounds, time() - $t0, $finished));
	ok(!@bad, "dir removed repeatedly while the job creates its directories: every job hit fails with 58P01 ($rounds rounds)")
	  or diag(join("\n", @bad));
	cmp_ok($rounds - $finished, '>=', $rounds / 2, 'dir removed repeatedly: most jobs were hit');
	my @crashes = grep { /PANIC|reinitializing/ } split /\n/, slurp_file($node->logfile, $log_offset);
	ok(!@crashes, 'dir removed repeatedly: no PANIC, no crash restart') or diag(join("\n", @crashes));
}

# no server process crashed other than the ones we killed
my @crashes = grep { /terminated by signal (?!9)|was terminated by exception/ } split /\n/, slurp_file($node->logfile);
ok(!@crashes, 'no server process crashed by itself') or diag(join("\n", @crashes));
note(sprintf('100_faults.pl took %.0f s', time() - $T0));

$node->stop;
done_testing();
