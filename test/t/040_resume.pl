# 040_resume.pl: DESIGN.md's "Resumption".
#
# A job interrupted by a SIGKILL of one of its copy workers, a SIGKILL of its
# leader, or an immediate shutdown shows 'interrupted' or 'failed' -- never a
# stale 'running' --, leaves nothing half-written that is taken for data and
# no manifest; calling the same function again resumes it: what was safely
# written is not written again (same inode and mtime of the data files,
# jobs.reused > 0; for a restore, completed partitions keep their
# relfilenode), and the result equals an uninterrupted run's.
#
# A last part interrupts jobs over 200 tiny partitions three times each, so
# that kills often land right after a unit of work is done (between its work
# and its record) or while the metadata is written.
#
# Jobs are slowed down with partback.max_rate (MB/s per copy worker) so that
# they can be interrupted at a chosen progress point; partback.chunk_size =
# 4MB splits the big plain table into many data files.

use strict;
use warnings;

use File::Find;
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $TIMEOUT = $PostgreSQL::Test::Utils::timeout_default;
# MB/s per copy worker while a job is to be interrupted
my $RATE_DB    = $ENV{PB_RESUME_RATE}       // 6;    # jobs over both tables (~130 MB)
my $RATE_SMALL = $ENV{PB_RESUME_RATE_SMALL} // 2;    # jobs over rs.parted only (~30 MB)
my $NPARTS     = 20;

my $node = PartbackTest::new_node('resume',
	conf => "partback.chunk_size = '4MB'\nrestart_after_crash = on\n"
	  . "max_worker_processes = 24\nlog_min_messages = info\n");
my $base = PartbackTest::backup_dir('resume');

sub lit { return PartbackTest::sql_lit(@_); }

# Runs SQL; returns its output, or undef (after a diag) when it failed.
sub sq
{
	my ($db, $sql) = @_;
	return PartbackTest::query($node, $db, $sql);
}

# Rows of a query as arrays of fields.
sub rows
{
	my ($db, $sql) = @_;
	my $out = sq($db, $sql) // return ();
	return map { [ split /\|/, $_, -1 ] } grep { length } split /\n/, $out;
}

# md5 of every row in a fixed order (PartbackTest::content_md5 with more
# work_mem, for the 100 MB table)
sub md5_of
{
	my ($db, $rel) = @_;
	return sq($db, "SET work_mem = '256MB';"
		  . "SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text COLLATE \"C\")), '')"
		  . " FROM $rel AS r") // "error reading $rel";
}

# The job's progress summed over its tables.
sub progress
{
	my ($db, $job) = @_;
	my ($r) = rows($db,
		"SELECT coalesce(sum(completed), 0), coalesce(sum(partitions), 0), coalesce(sum(rows), 0),"
		  . " coalesce(sum(bytes), 0), coalesce(string_agg(DISTINCT state, ','), '')"
		  . " FROM partback.get_backup_status() WHERE job_id = $job");
	return { completed => 0, partitions => 0, rows => 0, bytes => 0, states => 'unknown' } unless $r;
	return { completed => $r->[0], partitions => $r->[1], rows => $r->[2], bytes => $r->[3], states => $r->[4] };
}

sub fmt_progress
{
	my ($p) = @_;
	return "completed $p->{completed}/$p->{partitions}, rows $p->{rows}, bytes $p->{bytes}, states $p->{states}";
}

# Polls the job's progress until $cond->($p) holds; fails if the job ends
# first.  Returns the progress seen, or undef.
sub wait_progress
{
	my ($db, $job, $cond) = @_;
	my $deadline = time() + $TIMEOUT;
	my $p;
	while (time() < $deadline)
	{
		$p = progress($db, $job);
		return $p if $cond->($p);
		last if $p->{states} ne '' && $p->{states} !~ /queued|running/;
		usleep(50_000);
	}
	diag("job $job did not reach the kill point: " . fmt_progress($p));
	return undef;
}

# pid of a process of the job with backend_type 'partback job <id> <kind>'
sub job_pid
{
	my ($job, $kind) = @_;
	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		my $pid = sq('postgres', "SELECT pid FROM pg_stat_activity"
			  . " WHERE backend_type = 'partback job $job $kind' ORDER BY pid LIMIT 1");
		return $pid if defined $pid && $pid =~ /^\d+$/;
		usleep(50_000);
	}
	my $bt = sq('postgres', "SELECT string_agg(DISTINCT backend_type, ', ') FROM pg_stat_activity") // '';
	diag("no process with backend_type 'partback job $job $kind'; backend types now: $bt");
	return undef;
}

# Interrupts job $job: 'copy' or 'leader' (SIGKILL of that process, then the
# crash restart) or 'immediate' (pg_ctl stop -m immediate, then start).
sub interrupt
{
	my ($job, $how) = @_;
	if ($how eq 'immediate')
	{
		$node->stop('immediate');
		$node->start;
		return 1;
	}
	my $pid = job_pid($job, $how) // return 0;
	note("SIGKILL to the $how process $pid of job $job");
	return PartbackTest::crash_backend($node, $pid);
}

# name => "inode:mtime" of every data file below $dir (not .tmp)
sub data_files
{
	my ($dir) = @_;
	my %f;
	return %f unless -d $dir;
	find({ no_chdir => 1, wanted => sub {
		return unless -f $_ && /\.copy/ && !/\.tmp$/;
		my @st = Time::HiRes::stat($_);
		$f{ substr($_, length($dir) + 1) } = "$st[1]:$st[9]";
	} }, $dir);
	return %f;
}

sub files_matching
{
	my ($dir, $re) = @_;
	my @f;
	return @f unless -d $dir;
	find({ no_chdir => 1, wanted => sub { push @f, substr($_, length($dir) + 1) if -f $_ && $_ =~ $re } }, $dir);
	return sort @f;
}

# The assertions on a job just interrupted: one per view of its state.
sub interrupted_ok
{
	my ($label, $db, $job) = @_;
	my $status = sq($db, "SELECT count(*) FILTER (WHERE state IN ('queued', 'running')) || '/' || count(*)"
		  . " FROM partback.get_backup_status() WHERE job_id = $job") // 'error';
	like($status, qr{^0/[1-9]}, "$label: get_backup_status shows no row of job $job queued or running")
	  or diag(sq($db, "SELECT * FROM partback.get_backup_status() WHERE job_id = $job"));
	like(sq($db, "SELECT state FROM partback.jobs WHERE job_id = $job") // 'error',
		qr/^(interrupted|failed)$/, "$label: partback.jobs shows job $job interrupted or failed");
	like(sq($db, "SELECT partback.wait_job($job, interval '2 seconds')") // 'error',
		qr/^(interrupted|failed)$/, "$label: wait_job($job) returns interrupted or failed at once");
}

# Makes every page of the tables of schema rs whose names match $names
# all-visible and frozen, on disk.  A backup's scan then sets no hint bits:
# with data checksums (18's default) a hint bit set on a page not written
# since the last checkpoint logs the page anew, with an LSN newer than the
# backup's snapshot, and a resume rightly copies that range again -- the
# checks of what a resume reuses would then depend on when checkpoints
# and crash restarts happened.  VACUUM cannot mark a page all-visible while
# an older snapshot is open, so it is repeated until it could.
sub settle
{
	my ($rels, $names) = @_;
	my $left;
	for my $try (1 .. 60)
	{
		sq('postgres', "VACUUM (FREEZE, ANALYZE) $rels");
		$left = sq('postgres', "SELECT count(*) FROM pg_class WHERE relnamespace = 'rs'::regnamespace"
			  . " AND relkind = 'r' AND relname ~ " . lit($names) . " AND relallvisible < relpages") // 'error';
		last if $left eq '0';
		usleep(500_000);
	}
	is($left, '0', "every page of $rels is all-visible after VACUUM (FREEZE)");
	sq('postgres', 'CHECKPOINT');
}

# ---------------------------------------------------------------- data

# rs.parted: 20 range partitions of ~1.5 MB; rs.big: a plain table of ~100 MB.
# The payload is 15 distinct md5s: it compresses about 2:1 like real data, so
# that max_rate slows restores too (they count the stored bytes they read).
my $payload = join(' || ', map { "md5((i * 15 + $_)::text)" } 0 .. 14);
sq('postgres', qq{
	CREATE SCHEMA rs;
	CREATE TABLE rs.parted (id bigint NOT NULL, k integer NOT NULL, payload text) PARTITION BY RANGE (k);
	DO \$\$ BEGIN
		FOR g IN 0 .. $NPARTS - 1 LOOP
			EXECUTE format('CREATE TABLE rs.parted_%s PARTITION OF rs.parted FOR VALUES FROM (%s) TO (%s)', g, g, g + 1);
		END LOOP;
	END \$\$;
	INSERT INTO rs.parted SELECT i, i % $NPARTS, $payload FROM generate_series(1, 60000) AS i;
	CREATE TABLE rs.big (id bigint NOT NULL, payload text);
	INSERT INTO rs.big SELECT -i, $payload FROM generate_series(1, 200000) AS i;});
settle('rs.parted, rs.big', '^(big|parted_[0-9]+)$');
cmp_ok(sq('postgres', "SELECT pg_relation_size('rs.big')") // 0, '>', 90_000_000, 'rs.big has ~100 MB');

my %src_md5 = map { $_ => md5_of('postgres', $_) } qw(rs.parted rs.big);
my %src_rows = map { @$_ } rows('postgres',
	"SELECT tableoid::regclass::text, count(*) FROM rs.parted GROUP BY 1");

# an uninterrupted backup: the reference, and the source of the restores
my $full = "$base/full";
my $t0 = time();
my $full_job = sq('postgres', "SELECT partback.backup_db(" . lit($full) . ", parallel => 2, wait => true)") // '';
like($full_job, qr/^\d+$/, 'an uninterrupted backup_db succeeds');
note(sprintf('uninterrupted backup_db of ~130 MB took %.1f s', time() - $t0));
# bytes as the status counts them (uncompressed)
my $total_bytes = ($full_job =~ /^\d+$/ && sq('postgres', "SELECT bytes FROM partback.jobs WHERE job_id = $full_job")) || 130_000_000;
note("the backup has $total_bytes bytes, "
	  . (sq('postgres', "SELECT bytes FROM partback.list_backups(" . lit($full) . ")") // '?') . ' stored');

# ---------------------------------------------------------------- backup

# Backs up the database into a fresh dir, interrupts the job ($how) at
# $point (early: something done; middle: about half done), checks the
# interrupted state, resumes with the same call and checks the result.
sub backup_case
{
	my ($name, $how, $point, $verify) = @_;
	my $dir  = "$base/$name";
	my $ldir = lit($dir);
	my $call = "SELECT partback.backup_db($ldir, parallel => 2)";
	my $label = "backup, $how killed $point";

	my $job = sq('postgres', "SET partback.max_rate = $RATE_DB; $call");
	unless (defined $job && $job =~ /^\d+$/)
	{
		fail("$label: backup_db starts");
		return;
	}
	# early: the first rows (of the big table's chunks); middle: half the
	# bytes and a partition done; late: half the partitions done
	my $cond = $point eq 'early' ? sub { $_[0]{completed} > 0 || $_[0]{rows} > 0 }
	  : $point eq 'middle' ? sub { $_[0]{completed} >= 1 && $_[0]{bytes} * 2 >= $total_bytes }
	  : sub { $_[0]{partitions} > 0 && $_[0]{completed} * 2 >= $_[0]{partitions} };
	my $p = wait_progress('postgres', $job, $cond);
	ok($p, "$label: job $job makes progress up to the kill point") or return;
	note("$label: interrupting at " . fmt_progress($p));
	ok(interrupt($job, $how), "$label: interrupted, and the server accepts connections again") or return;

	interrupted_ok($label, 'postgres', $job);
	is(sq('postgres', "SELECT count(*) FROM partback.list_backups($ldir)") // 'error', '0',
		"$label: list_backups shows no backup");
	is(join(',', files_matching($dir, qr{/manifests/[^/]*\.json$})), '', "$label: no manifest file exists");
	# the brief allowed only 'leftover temporary file'; the product also
	# reports the interrupted backup itself as 'unfinished backup'
	my $bad = sq('postgres', "SELECT count(*) FROM partback.check_backup($ldir)"
		  . " WHERE problem NOT IN ('leftover temporary file', 'unfinished backup')");
	is($bad // 'error', '0', "$label: check_backup reports nothing but leftover temporary files and the unfinished backup")
	  or diag(sq('postgres', "SELECT * FROM partback.check_backup($ldir)"));
	my $was_completed = (sq('postgres', "SELECT completed FROM partback.jobs WHERE job_id = $job") // 0);
	my %before = data_files($dir);
	my @tmp = files_matching($dir, qr/\.tmp$/);
	note("$label: after the kill: " . scalar(keys %before) . ' data files, '
		  . scalar(@tmp) . " .tmp files, $was_completed partitions completed");
	if ($point ne 'early')
	{
		ok(scalar(keys %before) > 0, "$label: data files written before the kill are there after it");
	}

	# resume: the same call again, unthrottled
	my $job2 = sq('postgres', $call);
	my $st = defined $job2 && $job2 =~ /^\d+$/ ? PartbackTest::wait_job($node, 'postgres', $job2) : 'did not start';
	is($st, 'succeeded', "$label: the same backup_db call again succeeds")
	  or diag(sq('postgres', "SELECT * FROM partback.jobs WHERE job_id = " . ($job2 // 0)));
	my $reused = sq('postgres', "SELECT reused FROM partback.jobs WHERE job_id = " . ($job2 // 0)) // 'error';
	if ($was_completed > 0 || $point ne 'early')
	{
		cmp_ok($reused, '>', 0, "$label: the resumed job reused partitions of the interrupted one (jobs.reused)");
	}
	else
	{
		like($reused, qr/^\d+$/, "$label: partback.jobs shows reused for the resumed job ($reused)");
	}
	my %after = data_files($dir);
	my @rewritten = grep { !defined $after{$_} || $after{$_} ne $before{$_} } sort keys %before;
	ok(!@rewritten, "$label: none of the " . scalar(keys %before)
		  . ' data files present after the kill was written again (same inode and mtime)')
	  or diag("rewritten or removed:\n  " . join("\n  ", @rewritten[0 .. ($#rewritten > 9 ? 9 : $#rewritten)]));
	is(sq('postgres', "SELECT count(*) FROM partback.list_backups($ldir)") // 'error', '1',
		"$label: list_backups shows exactly one backup");
	is(sq('postgres', "SELECT count(*) FROM partback.check_backup($ldir)") // 'error', '0',
		"$label: check_backup finds the resumed backup healthy")
	  or diag(sq('postgres', "SELECT * FROM partback.check_backup($ldir) LIMIT 10"));
	is(join(', ', files_matching($dir, qr/\.tmp$/)), '', "$label: no .tmp file is left");
	is(sq('postgres', "SELECT string_agg(partition, ',' ORDER BY partition) FROM partback.get_backup_list($ldir, 'postgres', 'rs.parted')"),
		sq('postgres', "SELECT string_agg(partition, ',' ORDER BY partition) FROM partback.get_backup_list(" . lit($full) . ", 'postgres', 'rs.parted')"),
		"$label: the resumed backup lists the same partitions as an uninterrupted one");

	# content: restore and compare with the source
	$verify->($dir, $label);
}

# restore_db of $dir into a fresh database; compares every table
sub verify_fresh_db
{
	my ($dir, $label) = @_;
	my $db = 'verify_' . ($label =~ s/\W+/_/gr);
	sq('postgres', "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db");
	sq($db, 'CREATE EXTENSION partback');
	my $ok = defined sq($db, "SELECT partback.restore_db(" . lit($dir) . ", source_db => 'postgres', parallel => 2, wait => true)");
	ok($ok, "$label: restore_db of the resumed backup into a fresh database");
	for my $t (sort keys %src_md5)
	{
		is(md5_of($db, $t), $src_md5{$t}, "$label: restored $t equals the source");
	}
	sq('postgres', "DROP DATABASE IF EXISTS $db");
}

# restore_table of $dir's tables under new names; compares them
sub verify_new_names
{
	my ($dir, $label) = @_;
	for my $t (sort keys %src_md5)
	{
		my $target = "${t}_chk";
		my $ok = defined sq('postgres', "SELECT partback.restore_table(" . lit($dir) . ", '$t',"
			  . " target_table => '$target', parallel => 2, wait => true)");
		ok($ok, "$label: restore_table of $t from the resumed backup under a new name");
		is(md5_of('postgres', $target), $src_md5{$t}, "$label: $target equals the source $t");
		sq('postgres', "DROP TABLE IF EXISTS $target");
	}
}

backup_case('b_copy_early',       'copy',      'early',  \&verify_fresh_db);
backup_case('b_leader_middle',    'leader',    'middle', \&verify_new_names);
backup_case('b_immediate_middle', 'immediate', 'middle', \&verify_new_names);
backup_case('b_copy_late',        'copy',      'late',   \&verify_new_names);

# ---------------------------------------------------------------- restore

# relname => "relfilenode" of every partition of $rel in $db whose row count
# equals the source's (so completely restored)
sub complete_partitions
{
	my ($db, $rel, $src_of) = @_;
	my %done;
	return %done unless (sq($db, "SELECT to_regclass('$rel') IS NOT NULL") // '') eq 't';
	for my $r (rows($db, "SELECT c.oid::regclass::text, pg_relation_filenode(c.oid) FROM pg_inherits i"
		  . " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '$rel'::regclass"))
	{
		my ($part, $node_) = @$r;
		my $n = sq($db, "SELECT count(*) FROM $part") // -1;
		my $want = $src_rows{ $src_of->($part) } // -2;
		$done{$part} = $node_ if $n == $want;
	}
	return %done;
}

# Starts $call in $db (throttled), interrupts it ($how) at $point, checks the
# interrupted state, calls it again and checks the result: the target tables
# equal the source, completely restored partitions were not loaded again.
sub restore_case
{
	my ($label, $db, $call, $how, $point, $rate, $targets) = @_;
	my $job = sq($db, "SET partback.max_rate = $rate; $call");
	unless (defined $job && $job =~ /^\d+$/)
	{
		fail("$label: the restore starts");
		return;
	}
	my $cond = $point eq 'early'
	  ? sub { $_[0]{completed} > 0 }
	  : sub { $_[0]{partitions} > 0 && $_[0]{completed} * 2 >= $_[0]{partitions} - 1 };
	my $p = wait_progress($db, $job, $cond);
	ok($p, "$label: job $job makes progress up to the kill point") or return;
	note("$label: interrupting at " . fmt_progress($p));
	ok(interrupt($job, $how), "$label: interrupted, and the server accepts connections again") or return;
	interrupted_ok($label, $db, $job);

	# the partitions the interrupted job had completely restored
	my %done;
	for my $t (@$targets)
	{
		my ($target, $src_of) = @$t;
		%done = (%done, complete_partitions($db, $target, $src_of));
	}
	note("$label: completely restored before the kill: " . join(', ', sort keys %done));
	ok(%done, "$label: some partitions were completely restored before the kill");

	my $job2 = sq($db, $call);
	my $st = defined $job2 && $job2 =~ /^\d+$/ ? PartbackTest::wait_job($node, $db, $job2) : 'did not start';
	is($st, 'succeeded', "$label: the same call again succeeds")
	  or diag(sq($db, "SELECT * FROM partback.jobs WHERE job_id = " . ($job2 // 0)));
	cmp_ok(sq($db, "SELECT reused FROM partback.jobs WHERE job_id = " . ($job2 // 0)) // -1, '>', 0,
		"$label: the resumed job reused partitions the interrupted one had restored (jobs.reused)");
	my @reloaded = grep {
		my $now = sq($db, "SELECT pg_relation_filenode('$_')") // 'gone';
		$now ne $done{$_};
	} sort keys %done;
	ok(!@reloaded, "$label: none of the " . scalar(keys %done)
		  . ' completely restored partitions was loaded again (same relfilenode)')
	  or diag('loaded again: ' . join(', ', @reloaded));
	for my $t (@$targets)
	{
		my ($target, undef, $src) = @$t;
		is(md5_of($db, $target), $src_md5{$src}, "$label: $target equals the backup's $src");
	}
	# rs.big's 25 data files are loaded in parts (restore.c): nothing of
	# them is left
	is(sq($db, "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'pg\\_temp\\_%' AND relkind = 'r')"
		  . " || ':' || (SELECT count(*) FROM partback.transient_heap)") // 'error',
		'0:0', "$label: no transient heap is left, none is recorded");
}

my $lfull = lit($full);
my $same = sub { $_[0] };

# restore_db into a fresh database; a copy worker killed in the middle
sq('postgres', 'CREATE DATABASE r_fresh');
sq('r_fresh', 'CREATE EXTENSION partback');
restore_case('restore_db, copy killed middle', 'r_fresh',
	"SELECT partback.restore_db($lfull, source_db => 'postgres', parallel => 2)",
	'copy', 'middle', $RATE_DB,
	[ [ 'rs.parted', $same, 'rs.parted' ], [ 'rs.big', $same, 'rs.big' ] ]);

# restore_table into a table that does not exist (dropped); leader killed early
# and an immediate shutdown in the middle
for my $c ([ 'r_lead', 'leader', 'early' ], [ 'r_imm', 'immediate', 'middle' ])
{
	my ($suffix, $how, $point) = @$c;
	my $target = "rs.parted_$suffix";
	my $src_of = sub { my $p = shift; $p =~ s/^rs\.parted_\Q$suffix\E_/rs.parted_/; $p };
	restore_case("restore_table into a dropped table, $how killed $point", 'postgres',
		"SELECT partback.restore_table($lfull, 'rs.parted', target_table => '$target', parallel => 2)",
		$how, $point, $RATE_SMALL, [ [ $target, $src_of, 'rs.parted' ] ]);
}

# ---------------------------------------------------------------- many small units

# 200 partitions of 100 rows: a unit of work takes a few milliseconds (a
# backup's, throttled, about 18), so a kill often falls right after a unit's
# work is done; work done must not be done again all the same (a unit's
# record should commit with its work).
sq('postgres', q{
	CREATE TABLE rs.many (k integer NOT NULL, v text) PARTITION BY LIST (k);
	DO $$ BEGIN
		FOR g IN 0 .. 199 LOOP
			EXECUTE format('CREATE TABLE rs.many_%s PARTITION OF rs.many FOR VALUES IN (%s)', g, g);
		END LOOP;
	END $$;
	INSERT INTO rs.many SELECT i % 200, repeat(md5(i::text), 4) FROM generate_series(1, 20000) AS i;});
settle('rs.many', '^many_[0-9]+$');
$src_md5{'rs.many'} = md5_of('postgres', 'rs.many');
%src_rows = (%src_rows, map { @$_ } rows('postgres', "SELECT tableoid::regclass::text, count(*) FROM rs.many GROUP BY 1"));
my $many_full = "$base/many_full";
sq('postgres', "SELECT partback.backup_table(" . lit($many_full) . ", 'rs.many', wait => true)");

# Starts $call, kills the $how process once $at units are done; returns the
# job id, or undef when the job ended before.
sub kill_at
{
	my ($call, $how, $at) = @_;
	my $job = sq('postgres', $call) // return undef;
	my $p = wait_progress('postgres', $job, sub { $_[0]{completed} >= $at }) // return undef;
	my $pid = sq('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'partback job $job $how' LIMIT 1");
	unless ($pid)
	{
		note("job $job: no $how process left at " . fmt_progress($p));
		return undef;
	}
	my $t0 = time();
	my $back = PartbackTest::crash_backend($node, $pid);
	diag(sprintf('job %d: the server took %.1f s to come back after the SIGKILL of its %s process %d',
		$job, time() - $t0, $how, $pid)) if time() - $t0 > 10;
	return undef unless $back;
	my $st = sq('postgres', "SELECT state FROM partback.jobs WHERE job_id = $job") // '?';
	note("job $job after the kill: $st");
	return $st eq 'succeeded' ? undef : $job;
}

my (@rewritten_many, @reloaded_many, @unhealthy_many);
my ($rounds_b, $rounds_r) = (0, 0);
for my $round (1 .. 3)
{
	my $how = $round == 2 ? 'copy' : 'leader';

	# backup
	my $dir = "$base/many_b$round";
	# 1 MB/s: about 18 ms a partition, so that the poll finds the job running
	my $call = "SET partback.max_rate = 1; SELECT partback.backup_table(" . lit($dir) . ", 'rs.many', parallel => 2)";
	if (my $job = kill_at($call, $how, $how eq 'copy' ? 10 : 60))
	{
		$rounds_b++;
		my %before = data_files($dir);
		note("many, backup round $round: after the kill job $job is "
			  . (sq('postgres', "SELECT state FROM partback.jobs WHERE job_id = $job") // '?') . ', the dir has '
			  . (sq('postgres', "SELECT count(*) FROM partback.list_backups(" . lit($dir) . ")") // '?') . ' backups');
		my $job2 = sq('postgres', $call) // 0;
		my $st = PartbackTest::wait_job($node, 'postgres', $job2);
		my %after = data_files($dir);
		my @re = grep { !defined $after{$_} || $after{$_} ne $before{$_} } sort keys %before;
		note("many, backup round $round ($how killed): " . scalar(keys %before) . ' files after the kill, '
			  . scalar(@re) . " written again; resumed job $st, reused "
			  . (sq('postgres', "SELECT reused FROM partback.jobs WHERE job_id = $job2") // '?'));
		push @rewritten_many, map { "round $round ($how): $_" } @re;
		# one data file per partition: each one present after the kill is a
		# partition to take over
		my $reused = sq('postgres', "SELECT reused FROM partback.jobs WHERE job_id = $job2") // -1;
		push @rewritten_many, "round $round ($how): " . scalar(keys %before)
		  . " data files present after the kill, but the resumed job took over only $reused partitions"
		  unless $reused == scalar(keys %before);
		my $problems = sq('postgres', "SELECT count(*) || ' problems: ' || coalesce(string_agg(problem || ' ' || coalesce(file, ''), '; '"
			  . " ORDER BY file), '') FROM (SELECT * FROM partback.check_backup(" . lit($dir) . ") LIMIT 5) p") // 'error';
		push @unhealthy_many, "round $round ($how): $problems" unless $problems =~ /^0 /;
		push @rewritten_many, "round $round: resumed job $st" unless $st eq 'succeeded';
	}

	# restore into a new table
	my $target = "rs.many_r$round";
	$call = "SELECT partback.restore_table(" . lit($many_full) . ", 'rs.many', target_table => '$target', parallel => 2)";
	if (kill_at($call, $how, 60))
	{
		$rounds_r++;
		my $src_of = sub { my $p = shift; $p =~ s/^rs\.many_r\d+_/rs.many_/; $p };
		my %done = complete_partitions('postgres', $target, $src_of);
		my $job2 = sq('postgres', $call) // 0;
		my $st = PartbackTest::wait_job($node, 'postgres', $job2);
		my @rl = grep { (sq('postgres', "SELECT pg_relation_filenode('$_')") // '') ne $done{$_} } sort keys %done;
		note("many, restore round $round ($how killed): " . scalar(keys %done) . ' partitions complete after the kill, '
			  . scalar(@rl) . " loaded again; resumed job $st, reused "
			  . (sq('postgres', "SELECT reused FROM partback.jobs WHERE job_id = $job2") // '?'));
		push @reloaded_many, map { "round $round ($how): $_" } @rl;
		push @reloaded_many, "round $round: resumed job $st" unless $st eq 'succeeded';
		is(md5_of('postgres', $target), $src_md5{'rs.many'}, "many, restore round $round: $target equals the backup's rs.many");
	}
}
ok($rounds_b > 0, "many small partitions: $rounds_b backups interrupted with units done");
ok(!@rewritten_many, "many small partitions: every data file present after a kill is taken over, none written again ($rounds_b rounds)")
  or diag(join("\n", @rewritten_many));
ok(!@unhealthy_many, "many small partitions: check_backup finds every resumed backup healthy"
	  . " (no file of the interrupted attempt left behind, $rounds_b rounds)")
  or diag(join("\n", @unhealthy_many));
ok($rounds_r > 0, "many small partitions: $rounds_r restores interrupted with partitions done");
ok(!@reloaded_many, "many small partitions: no partition completely restored before a kill was loaded again ($rounds_r rounds)")
  or diag(join("\n", @reloaded_many));

# no server process crashed other than the ones we killed
my @crashes = grep { /terminated by signal (?!9)|was terminated by exception/ } split /\n/, slurp_file($node->logfile);
ok(!@crashes, 'no server process crashed by itself') or diag(join("\n", @crashes));

$node->stop;
done_testing();
