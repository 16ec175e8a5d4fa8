# 140_restore_safety.pl: issue 13, "nothing a job sets aside stays set aside".
#
#   1. A restore_db interrupted by an immediate shutdown while it loads
#      (throttled with partback.max_rate) leaves the foreign keys it set
#      aside dropped; after the restart they are back without any call,
#      within a bounded wait: an orphan insert fails, and the job's
#      messages say what was put back.
#   2. A foreign key that is NOT VALID when a restore sets it aside (an
#      earlier failed or interrupted restore put it back so) is valid again
#      after a restore whose data satisfies it.
#   3. A restore whose partition a 10-second report reads does not sit in
#      the lock queue: new readers of that partition (lock_timeout = 1s)
#      still get through, the status says "waiting for lock on ... held by
#      pid N", and the restore completes after the report.
#   4. With partback.lock_wait_timeout = 2s (set for the database, which the
#      job's workers read) a restore waiting longer fails 55P03, naming the
#      partition and the pid holding it; the partition keeps its rows.

use strict;
use warnings;

use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('safety',
	conf => "restart_after_crash = on\nlog_min_messages = info\n");
my $dir  = PartbackTest::backup_dir('safety');
my $ldir = PartbackTest::sql_lit($dir);

sub sq { return PartbackTest::query($node, 'postgres', $_[0]); }

$node->safe_psql('postgres', q{
	CREATE TABLE public.parent (id int PRIMARY KEY, pad text) PARTITION BY RANGE (id);
	CREATE TABLE public.parent_1 PARTITION OF public.parent FOR VALUES FROM (0) TO (100000);
	CREATE TABLE public.parent_2 PARTITION OF public.parent FOR VALUES FROM (100000) TO (200000);
	CREATE TABLE public.parent_3 PARTITION OF public.parent FOR VALUES FROM (200000) TO (300000);
	CREATE TABLE public.parent_4 PARTITION OF public.parent FOR VALUES FROM (300000) TO (400000);
	INSERT INTO public.parent SELECT g, md5(g::text) || md5((g + 1)::text) FROM generate_series(0, 399999) g;
	CREATE TABLE public.child (id int PRIMARY KEY, parent_id int
		CONSTRAINT child_parent_fk REFERENCES public.parent);
	INSERT INTO public.child SELECT g, g * 3 FROM generate_series(1, 1000) g;
	CREATE TABLE public.rep (id int, v text) PARTITION BY RANGE (id);
	CREATE TABLE public.rep_1 PARTITION OF public.rep FOR VALUES FROM (0) TO (1000);
	CREATE TABLE public.rep_2 PARTITION OF public.rep FOR VALUES FROM (1000) TO (2000);
	INSERT INTO public.rep SELECT g, 'v' || g FROM generate_series(0, 1999) g;
});
is(PartbackTest::wait_job($node, 'postgres', sq("SELECT partback.backup_db($ldir)")),
	'succeeded', 'backup_db succeeds');

sub fk_state
{
	return sq("SELECT coalesce((SELECT CASE WHEN convalidated THEN 'valid' ELSE 'not valid' END"
		  . " FROM pg_constraint WHERE conrelid = 'public.child'::regclass"
		  . " AND conname = 'child_parent_fk'), 'absent')") // 'error';
}

# ---------------------------------------------------------------- 1. crash
{
	my $job = sq("SET partback.max_rate = 1; SELECT partback.restore_db($ldir, parallel => 1)");
	ok(defined $job && $job =~ /^\d+$/, 'a throttled restore_db starts');
	$job //= 0;
	# until the keys are set aside and the load has begun
	my $deadline = time() + 60;
	my $ready = 0;
	while (time() < $deadline)
	{
		my $r = sq("SELECT (SELECT dropped_foreign_keys IS NOT NULL FROM partback.job WHERE job_id = $job)"
			  . " AND EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'partback job $job copy')") // '';
		if ($r eq 't') { $ready = 1; last; }
		usleep(50_000);
	}
	ok($ready, 'the restore set the foreign key aside and loads');
	is(fk_state(), 'absent', 'while it loads, the foreign key is set aside');
	$node->stop('immediate');
	$node->start;

	# no call: the server puts it back by itself
	my $state = 'absent';
	$deadline = time() + 30;
	while (time() < $deadline)
	{
		$state = fk_state();
		last if $state ne 'absent';
		usleep(200_000);
	}
	isnt($state, 'absent', "after the restart the foreign key is back without any call ($state)");
	my ($ret, undef, $err) = PartbackTest::run_sql($node, 'postgres',
		'INSERT INTO public.child VALUES (100001, -5)');
	isnt($ret, 0, 'an orphan insert fails');
	like($err, qr/23503/, '... with foreign_key_violation');
	is(sq("SELECT dropped_foreign_keys IS NULL FROM partback.job WHERE job_id = $job"), 't',
		'the job no longer records keys set aside');
	like(sq("SELECT string_agg(level || ': ' || message, E'\\n' ORDER BY seq) FROM partback.job_message"
		  . " WHERE job_id = $job") // '',
		qr/foreign key child_parent_fk on (public\.)?child put back (NOT VALID )?after the interrupted restore/,
		'the job\'s messages say which key was put back, and how');
	is(sq("SELECT state FROM partback.jobs WHERE job_id = $job"), 'interrupted',
		'the job shows interrupted');
}

# ---------------------------------------------------------------- 2. validity
{
	$node->safe_psql('postgres', q{
		ALTER TABLE public.child DROP CONSTRAINT IF EXISTS child_parent_fk;
		ALTER TABLE public.child ADD CONSTRAINT child_parent_fk
			FOREIGN KEY (parent_id) REFERENCES public.parent NOT VALID;
	});
	is(fk_state(), 'not valid', 'a key put back NOT VALID');
	is(PartbackTest::wait_job($node, 'postgres', sq("SELECT partback.restore_db($ldir)")),
		'succeeded', 'a restore_db whose data satisfies it succeeds');
	is(fk_state(), 'valid', '... and the key is valid again');
}

# ---------------------------------------------------------------- 3. locks
{
	my $rd = $node->background_psql('postgres', on_error_stop => 0);
	$rd->query_until(qr/reading/, "BEGIN;\nSELECT count(*) FROM public.rep_1;\n\\echo reading\n"
		  . "SELECT pg_sleep(10);\nCOMMIT;\n");
	my $reader = sq("SELECT pid FROM pg_locks WHERE locktype = 'relation' AND granted"
		  . " AND relation = 'public.rep_1'::regclass AND pid <> pg_backend_pid() LIMIT 1") // '?';
	my $t0 = time();
	my $job = sq("SELECT partback.restore_table($ldir, 'public.rep')") // 0;
	my ($seen, $readers_ok, $readers) = ('', 0, 0);
	while (time() - $t0 < 8)
	{
		my $st = sq("SELECT string_agg(error, '; ') FROM partback.get_backup_status() WHERE job_id = $job") // '';
		$seen = $st if $st =~ /waiting for lock/;
		if ($seen && $readers < 3)
		{
			my ($ret, undef, $err) = PartbackTest::run_sql($node, 'postgres',
				"SET lock_timeout = '1s'; SELECT count(*) FROM public.rep_1");
			$readers++;
			$readers_ok++ if defined $ret && $ret == 0;
			diag("reader failed: $err") unless defined $ret && $ret == 0;
		}
		last if $seen && $readers >= 3;
		usleep(100_000);
	}
	like($seen, qr/waiting for lock on public\.rep_1 held by pid \Q$reader\E/,
		'while the report reads the partition, the status says the restore waits for its lock, and who holds it');
	is($readers_ok, 3, 'new readers of the partition (lock_timeout = 1s) are not queued behind the restore');
	is(PartbackTest::wait_job($node, 'postgres', $job), 'succeeded', 'the restore succeeds after the report');
	cmp_ok(time() - $t0, '>=', 8, '... once the report ended');
	$rd->quit;
}

# ---------------------------------------------------------------- 4. lock wait bounded
{
	$node->safe_psql('postgres', "ALTER DATABASE postgres SET partback.lock_wait_timeout = '2s'");
	$node->safe_psql('postgres', "INSERT INTO public.rep VALUES (1500, 'new')");
	my $rd = $node->background_psql('postgres', on_error_stop => 0);
	$rd->query_until(qr/reading/, "BEGIN;\nSELECT count(*) FROM public.rep_2;\n\\echo reading\n"
		  . "SELECT pg_sleep(6);\nCOMMIT;\n");
	my $reader = sq("SELECT pid FROM pg_locks WHERE locktype = 'relation' AND granted"
		  . " AND relation = 'public.rep_2'::regclass AND pid <> pg_backend_pid() LIMIT 1") // '?';
	my $job = sq("SELECT partback.restore_table($ldir, 'public.rep')") // 0;
	is(PartbackTest::wait_job($node, 'postgres', $job), 'failed',
		'a restore waiting longer than partback.lock_wait_timeout fails');
	like(sq("SELECT concat_ws(' | ', j.error, (SELECT string_agg(m.sqlstate || ' ' || m.message || ' ' || coalesce(m.hint, ''), ' | ')"
		  . " FROM partback.job_message m WHERE m.job_id = j.job_id)) FROM partback.job j WHERE j.job_id = $job") // '',
		qr/55P03 partition public\.rep_2: waited 2000 ms for its lock, held by pid \Q$reader\E.*lock_wait_timeout/,
		'... with 55P03 naming the partition, the pid holding it and the setting');
	$rd->quit;
	is(sq("SELECT count(*) FROM public.rep_2 WHERE v = 'new'"), '1',
		'the partition it could not lock keeps its rows');
	$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET partback.lock_wait_timeout');
}

$node->stop;
done_testing();
