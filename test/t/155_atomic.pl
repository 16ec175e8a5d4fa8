# 155_atomic.pl: issue 13, item 7 -- an all-or-nothing restore, and a
# half-done one that says which partitions hold what.
#
# The live table public.ev has 10 partitions in the backup; since then its
# rows changed, ev_10 was dropped and ev_11 added.  Restores are throttled
# with partback.max_rate (MB/s per copy worker) so that they can be stopped
# half-way.
#
#   1. restore_table(..., atomic => true) cancelled (cancel_job) after it
#      loaded several partitions: every partition keeps its old content
#      (fingerprints), no partition was added or dropped, the job row
#      records atomic, get_restore_partitions lists every partition 'old'.
#   2. An atomic restore whose 7th partition breaks a CHECK of its target:
#      the caller's error names the backup file and row; all partitions old.
#   3. An immediate, then a fast shutdown during an atomic restore, then a
#      start: all partitions old, no partition added or dropped; and
#      pg_cancel_backend of a caller waiting for one (wait => true): the
#      job is cancelled, all partitions old.
#   4. A restore without atomic, cancelled half-way: a WARNING recorded in
#      the job says how many partitions hold the backup's content, and
#      get_restore_partitions says which -- checked against each
#      partition's fingerprint.
#   5. A successful atomic restore: the table equals the backup (its
#      partitions too: ev_10 back, ev_11 dropped).  One into a new table
#      (target_table) creates it whole.  An atomic restore_db of two
#      tables related by a foreign key (parallel => 2) puts the key back
#      valid.
#   6. A table with more partitions than the lock table can hold in one
#      transaction is refused up front (53400, naming
#      max_locks_per_transaction), and nothing changes.

use strict;
use warnings;

use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('atomic',
	conf => "log_min_messages = info\nmax_connections = 20\n");
my $dir  = PartbackTest::backup_dir('atomic');
my $ldir = PartbackTest::sql_lit($dir);

sub sq { return PartbackTest::query($node, 'postgres', $_[0]); }

my @parts = map { sprintf('ev_%02d', $_) } 1 .. 10;
my $ROWS = 12000;    # per partition

{
	my $sql = "CREATE TABLE public.ev (id int, v text) PARTITION BY RANGE (id);\n";
	for my $i (1 .. 10)
	{
		$sql .= sprintf("CREATE TABLE public.ev_%02d PARTITION OF public.ev FOR VALUES FROM (%d) TO (%d);\n",
			$i, $i * 100000, ($i + 1) * 100000);
	}
	$node->safe_psql('postgres', $sql);
	# hard to compress: a throttled restore reads about its data's size
	$node->safe_psql('postgres', qq{
		INSERT INTO public.ev SELECT p * 100000 + g, md5(g::text || p) || md5(p::text || g) || md5(random()::text)
		  FROM generate_series(1, 10) p, generate_series(1, $ROWS) g;
	});
}

# each partition's fingerprint, and the table's partitions
sub fingerprints
{
	my %fp;
	my $rows = sq("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
		  . " WHERE i.inhparent = 'public.ev'::regclass ORDER BY 1") // '';
	for my $p (split /\n/, $rows)
	{
		$fp{$p} = PartbackTest::content_md5($node, 'postgres', "public.$p");
	}
	return \%fp;
}

sub fp_text
{
	my ($fp) = @_;
	return join("\n", map { "$_ $fp->{$_}" } sort keys %$fp);
}

is(PartbackTest::wait_job($node, 'postgres', sq("SELECT partback.backup_table($ldir, 'public.ev')")),
	'succeeded', 'backup_table succeeds');
my $backup_fp = fingerprints();
is(scalar(keys %$backup_fp), 10, 'the table has 10 partitions when backed up');

# since the backup: every row changed, ev_10 gone, ev_11 holds rows
$node->safe_psql('postgres', q{
	UPDATE public.ev SET v = 'live ' || id;
	DROP TABLE public.ev_10;
	CREATE TABLE public.ev_11 PARTITION OF public.ev FOR VALUES FROM (1100000) TO (1200000);
	INSERT INTO public.ev_11 SELECT g, 'new ' || g FROM generate_series(1100000, 1100999) g;
	VACUUM public.ev;
});
my $old_fp = fingerprints();
ok(!exists $old_fp->{ev_10} && exists $old_fp->{ev_11}, 'the live table lacks ev_10 and has ev_11');

sub job_rows
{
	my ($job) = @_;
	return sq("SELECT coalesce(sum(rows), 0) FROM partback.get_backup_status() WHERE job_id = $job") // 0;
}

# start a throttled restore; wait until it loaded $n partitions' rows
sub start_throttled
{
	my ($args, $n) = @_;
	my $job = sq("SET partback.max_rate = 1; SELECT partback.restore_table($ldir, 'public.ev', parallel => 1$args)");
	ok(defined $job && $job =~ /^\d+$/, "a throttled restore_table($args) starts");
	return wait_loaded($job // 0, $n);
}

sub wait_loaded
{
	my ($job, $n) = @_;
	my $deadline = time() + 120;
	my $rows = 0;
	while (time() < $deadline)
	{
		$rows = job_rows($job);
		last if $rows >= $n * $ROWS;
		last if (sq("SELECT state FROM partback.jobs WHERE job_id = $job") // '') ne 'running';
		usleep(50_000);
	}
	cmp_ok($rows, '>=', $n * $ROWS, "it loaded $n partitions' rows ($rows) before it is stopped");
	return $job;
}

# ---------------------------------------------------------------- 1. cancel
{
	my $job = start_throttled(', atomic => true', 4);
	is(sq("SELECT partback.cancel_job($job)"), 't', 'cancel_job');
	is(PartbackTest::wait_job($node, 'postgres', $job), 'cancelled', 'the atomic restore is cancelled');
	is(fp_text(fingerprints()), fp_text($old_fp),
		'after the cancel every partition holds its old content; none was added or dropped');
	is(sq("SELECT args->>'atomic' FROM partback.job WHERE job_id = $job"), 'true',
		'the job row records the restore as atomic');
	is(sq("SELECT string_agg(DISTINCT content || ' ' || atomic, ',') FROM partback.get_restore_partitions($job)"),
		'old true', 'get_restore_partitions: every partition old');
	is(sq("SELECT count(*) FROM partback.get_restore_partitions($job)"), 10,
		'... one row per partition of the backup');
	like(sq("SELECT string_agg(level || ': ' || message, E'\\n' ORDER BY seq)"
		  . " FROM partback.job_message WHERE job_id = $job") // '',
		qr/NOTICE: table public\.ev keeps its old content in every partition/,
		'a NOTICE recorded in the job says the table keeps its old content');
}

# ---------------------------------------------------------------- 2. CHECK
{
	$node->safe_psql('postgres',
		"ALTER TABLE public.ev_07 ADD CONSTRAINT ev_07_live CHECK (v LIKE 'live%')");
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT partback.restore_table($ldir, 'public.ev', parallel => 1, atomic => true, wait => true)");
	isnt($ret, 0, 'an atomic restore breaking a CHECK of ev_07 fails');
	like($err, qr/ev_07_live/, '... the error names the constraint');
	like($err, qr/CONTEXT:.*backup file "[^"]*ev_07[^"]*", row \d+/s,
		'... and the backup file and row') or diag($err);
	is(fp_text(fingerprints()), fp_text($old_fp),
		'every partition holds its old content; none was added or dropped');
	my $job = sq("SELECT max(job_id) FROM partback.job");
	my $msgs = sq("SELECT string_agg(level || ': ' || message, E'\\n' ORDER BY seq)"
		  . " FROM partback.job_message WHERE job_id = $job") // '';
	unlike($msgs, qr/dropped/, 'the job does not say it dropped ev_11, which it did not') or diag($msgs);
	like($msgs, qr/NOTICE: table public\.ev keeps its old content in every partition/,
		'a NOTICE recorded in the job says the table keeps its old content');
	$node->safe_psql('postgres', 'ALTER TABLE public.ev_07 DROP CONSTRAINT ev_07_live');
}

# ---------------------------------------------------------------- 3. crash
for my $mode ('immediate', 'fast')
{
	my $job = start_throttled(', atomic => true', 3);
	$node->stop($mode);
	$node->start;
	is(fp_text(fingerprints()), fp_text($old_fp),
		"after a $mode shutdown and a start every partition holds its old content");
	like(sq("SELECT state FROM partback.jobs WHERE job_id = $job") // '', qr/^(interrupted|failed|cancelled)$/,
		'the job shows it ended unfinished');
}

# ---------------------------------------------------------------- 3b. pg_cancel_backend
{
	# the new job, not one an earlier case's shutdown left 'running' in
	# partback.job (its effective state is interrupted)
	my $before = sq("SELECT coalesce(max(job_id), 0) FROM partback.job") // 0;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/started/,
		"SET application_name = 'atomic_waiter';\nSET partback.max_rate = 1;\n\\echo started\n"
		  . "SELECT partback.restore_table($ldir, 'public.ev', parallel => 1, atomic => true, wait => true);\n");
	my $job;
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		$job = sq("SELECT max(job_id) FROM partback.job WHERE state = 'running' AND job_id > $before");
		last if defined $job && $job ne '';
		usleep(50_000);
	}
	wait_loaded($job || 0, 3);
	is(sq("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'atomic_waiter'"),
		't', 'pg_cancel_backend of the caller waiting for an atomic restore');
	is(PartbackTest::wait_job($node, 'postgres', $job || 0), 'cancelled', '... cancels the job');
	$bg->quit;
	is(fp_text(fingerprints()), fp_text($old_fp), '... and every partition holds its old content');
}

# ---------------------------------------------------------------- 4. not atomic
{
	my $job = start_throttled('', 3);
	# at least one partition committed, not all
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		last if (sq("SELECT count(*) FROM partback.chunk WHERE job_id = $job") // 0) >= 3;
		usleep(50_000);
	}
	is(sq("SELECT partback.cancel_job($job)"), 't', 'cancel_job');
	is(PartbackTest::wait_job($node, 'postgres', $job), 'cancelled', 'the restore is cancelled');
	my $now = fingerprints();
	my $listed = sq("SELECT string_agg(coalesce(target_partition::text, '-') || ' ' || content, E'\\n' ORDER BY path)"
		  . " FROM partback.get_restore_partitions($job)") // '';
	note($listed);
	my ($nb, $no, $wrong) = (0, 0, '');
	for my $line (split /\n/, $listed)
	{
		my ($rel, $content) = split / /, $line;
		$rel =~ s/^public\.//;
		my $want = $content eq 'backup' ? $backup_fp->{$rel} : ($old_fp->{$rel} // '0:');
		$content eq 'backup' ? $nb++ : $no++;
		$wrong .= "$rel is $content, but holds other rows\n" if ($now->{$rel} // 'absent') ne $want;
	}
	is($wrong, '', 'each partition holds what get_restore_partitions says');
	ok($nb >= 3 && $no >= 1, "some partitions from the backup ($nb), some old ($no)");
	like(sq("SELECT string_agg(message || ' ' || coalesce(detail, '') || ' ' || coalesce(hint, ''), E'\\n')"
		  . " FROM partback.job_message WHERE job_id = $job AND level = 'WARNING'") // '',
		qr/table public\.ev is restored in part: $nb of its \d+ partitions hold the backup's content.*Old content: .*get_restore_partitions\($job\)/s,
		'a WARNING recorded in the job says how many, which, and where to look');
}

# ---------------------------------------------------------------- 5. success
{
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT partback.restore_table($ldir, 'public.ev', atomic => true, wait => true)");
	is($ret, 0, 'an atomic restore succeeds') or diag($err);
	my $fp = fingerprints();
	is(fp_text($fp), fp_text($backup_fp), 'the table equals the backup, partitions and rows');
	my $job = sq("SELECT max(job_id) FROM partback.job");
	is(sq("SELECT string_agg(DISTINCT content, ',') FROM partback.get_restore_partitions($job)"),
		'backup', 'get_restore_partitions: every partition from the backup');
	is(sq("SELECT state || ' ' || completed || '/' || partitions FROM partback.get_backup_status() WHERE job_id = $job"),
		'succeeded 10/10', 'the status counts every partition');

	# a new table: created, partitions and all, in the transaction of its load
	($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT partback.restore_table($ldir, 'public.ev', target_table => 'public.ev_copy', atomic => true, wait => true)");
	is($ret, 0, 'an atomic restore into a new table succeeds') or diag($err);
	is(PartbackTest::content_md5($node, 'postgres', 'public.ev_copy'),
		PartbackTest::content_md5($node, 'postgres', 'public.ev'), '... which equals the backup');
	is(sq("SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.ev_copy'::regclass"), '10',
		'... with its 10 partitions');
}

# ---------------------------------------------------------------- 5b. restore_db
# tables related by a foreign key, each whole in its own worker's
# transaction: the key set aside during the load is back and valid
{
	my $dir2  = PartbackTest::backup_dir('atomic_db');
	my $ldir2 = PartbackTest::sql_lit($dir2);
	$node->safe_psql('postgres', q{
		CREATE SCHEMA fk;
		CREATE TABLE fk.parent (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE fk.parent_1 PARTITION OF fk.parent FOR VALUES FROM (0) TO (500);
		CREATE TABLE fk.parent_2 PARTITION OF fk.parent FOR VALUES FROM (500) TO (1000);
		CREATE TABLE fk.child (id int, parent_id int CONSTRAINT child_parent_fk REFERENCES fk.parent)
			PARTITION BY RANGE (id);
		CREATE TABLE fk.child_1 PARTITION OF fk.child FOR VALUES FROM (0) TO (500);
		CREATE TABLE fk.child_2 PARTITION OF fk.child FOR VALUES FROM (500) TO (1000);
		INSERT INTO fk.parent SELECT g FROM generate_series(0, 999) g;
		INSERT INTO fk.child SELECT g, 999 - g FROM generate_series(0, 999) g;
	});
	my $p_fp = PartbackTest::content_md5($node, 'postgres', 'fk.parent');
	my $c_fp = PartbackTest::content_md5($node, 'postgres', 'fk.child');
	is(PartbackTest::wait_job($node, 'postgres', sq("SELECT partback.backup_db($ldir2, schemas => '{fk}')")),
		'succeeded', 'backup_db of schema fk');
	$node->safe_psql('postgres', 'DELETE FROM fk.child WHERE id > 100; DELETE FROM fk.parent WHERE id < 500 AND id NOT IN (SELECT parent_id FROM fk.child)');
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT partback.restore_db($ldir2, schemas => '{fk}', parallel => 2, atomic => true, wait => true)");
	is($ret, 0, 'an atomic restore_db of two tables related by a foreign key succeeds') or diag($err);
	is(PartbackTest::content_md5($node, 'postgres', 'fk.parent') . ' ' . PartbackTest::content_md5($node, 'postgres', 'fk.child'),
		"$p_fp $c_fp", 'both tables equal the backup');
	is(sq("SELECT convalidated FROM pg_constraint WHERE conname = 'child_parent_fk' AND conrelid = 'fk.child'::regclass"),
		't', 'the foreign key is back and valid');
}

# ---------------------------------------------------------------- 6. lock table
{
	my $mc = sq('SHOW max_connections');
	my $mp = sq('SHOW max_prepared_transactions');
	my $n  = int(10 * ($mc + $mp) / 3) + 2;    # 3 locks each at least
	my $sql = "CREATE TABLE public.wide (id int) PARTITION BY LIST (id);\n";
	$sql .= "CREATE TABLE public.wide_$_ PARTITION OF public.wide FOR VALUES IN ($_);\n" for 1 .. $n;
	$sql .= "INSERT INTO public.wide SELECT g FROM generate_series(1, $n) g;\n";
	$node->safe_psql('postgres', $sql);
	is(PartbackTest::wait_job($node, 'postgres', sq("SELECT partback.backup_table($ldir, 'public.wide')")),
		'succeeded', "backup of a table of $n partitions");
	$node->safe_psql('postgres', 'DELETE FROM public.wide WHERE id % 2 = 0');
	my $before = PartbackTest::content_md5($node, 'postgres', 'public.wide');
	$node->append_conf('postgresql.conf', "max_locks_per_transaction = 10\n");
	$node->restart;
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT partback.restore_table($ldir, 'public.wide', atomic => true, wait => true)");
	isnt($ret, 0, 'an atomic restore of it with max_locks_per_transaction = 10 fails');
	like($err, qr/53400: table public\.wide cannot be restored atomically/, '... 53400, naming the table');
	like($err, qr/max_locks_per_transaction \(10\)/, '... the detail names the setting');
	like($err, qr/HINT:  Raise max_locks_per_transaction/, '... and the hint says what to do');
	is(PartbackTest::content_md5($node, 'postgres', 'public.wide'), $before, 'nothing changed');
	is(sq("SELECT count(*) FROM partback.chunk c JOIN partback.job j USING (job_id)"
		  . " WHERE j.job_id = (SELECT max(job_id) FROM partback.job)"), '0', 'nothing was loaded');
}

done_testing();
