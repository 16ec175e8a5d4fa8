# 060_pg_cron.pl: partback.backup_db scheduled through pg_cron (Debian's
# postgresql-15-cron, installed by test/lib.sh).
#
# shared_preload_libraries = 'partback,pg_cron'; cron.schedule runs
# `SELECT partback.backup_db(dir)`; the scheduled calls return at once, the
# backups complete, show in partback.jobs and list_backups, and the repeat is
# incremental.  pg_cron >= 1.5 takes '5 seconds'; Debian 12's 1.4 takes only
# cron syntax, so there two jobs fire in the same minute, the second 15 s
# after the first (a sleep before its call).

use strict;
use warnings;

use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $pkglib = `pg_config --pkglibdir 2>/dev/null` || '/usr/lib/postgresql/15/lib';
chomp $pkglib;
$pkglib = '/usr/lib/postgresql/15/lib' unless -d $pkglib;
plan skip_all => "pg_cron is not installed ($pkglib/pg_cron.so missing: package postgresql-15-cron)"
  unless -f "$pkglib/pg_cron.so";

my $node = PartbackTest::new_node('cron');
my $sock = $node->host;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'partback,pg_cron'
cron.database_name = 'postgres'
cron.host = '$sock'
});
$node->restart;
my $base = PartbackTest::backup_dir('cron');
my $dir  = "$base/nightly";
my $ldir = PartbackTest::sql_lit($dir);

sub sq
{
	my ($sql) = @_;
	return PartbackTest::query($node, 'postgres', $sql);
}

is(sq("SHOW shared_preload_libraries"), 'partback,pg_cron', 'partback and pg_cron are both preloaded');
ok(defined sq('CREATE EXTENSION pg_cron'), 'CREATE EXTENSION pg_cron');
my $cron_version = sq("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'") // '?';
note("pg_cron $cron_version");

sq(q{
	CREATE TABLE public.events (id integer NOT NULL, day date NOT NULL, v text) PARTITION BY RANGE (day);
	CREATE TABLE public.events_1 PARTITION OF public.events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
	CREATE TABLE public.events_2 PARTITION OF public.events FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
	INSERT INTO public.events SELECT i, date '2024-01-01' + (i % 59), md5(i::text) FROM generate_series(1, 5000) AS i;
	CREATE TABLE public.plain (id integer PRIMARY KEY, v text);
	INSERT INTO public.plain SELECT i, md5(i::text) FROM generate_series(1, 1000) AS i;
	VACUUM (FREEZE, ANALYZE) public.events, public.plain;});

my $cmd = "SELECT partback.backup_db($ldir)";
my @names;
my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT cron.schedule('pb_nightly', '5 seconds', \$pb\$$cmd\$pb\$)");
my $seconds = defined $ret && $ret == 0;
if ($seconds)
{
	note('pg_cron takes second intervals: pb_nightly every 5 seconds');
	@names = ('pb_nightly');
}
else
{
	note("pg_cron refuses '5 seconds' ($err); every minute, twice in the same minute");
	like(sq("SELECT cron.schedule('pb_nightly', '* * * * *', \$pb\$$cmd\$pb\$)") // '', qr/^\d+$/,
		"cron.schedule of backup_db every minute");
	like(sq("SELECT cron.schedule('pb_nightly_late', '* * * * *', \$pb\$SELECT pg_sleep(15); $cmd\$pb\$)") // '',
		qr/^\d+$/, "cron.schedule of a second backup_db 15 s later in the same minute");
	@names = ('pb_nightly', 'pb_nightly_late');
}
is(sq("SELECT count(*) FROM cron.job WHERE jobname LIKE 'pb_nightly%'"), scalar(@names), 'cron.job lists the schedule');

# wait (at most ~85 s: the next minute plus the second job's sleep) until two
# scheduled backups have succeeded
my $deadline = time() + ($seconds ? 60 : 100);
my $done = 0;
while (time() < $deadline)
{
	$done = sq("SELECT count(*) FROM partback.jobs WHERE job_type = 'backup_db' AND state = 'succeeded'"
		  . " AND backup_dir = $ldir") // 0;
	last if $done >= 2;
	sleep 1;
}
cmp_ok($done, '>=', 2, 'at least two backup_db jobs started by pg_cron succeeded (partback.jobs)')
  or diag(sq('SELECT * FROM partback.jobs') . "\n" . (sq('SELECT * FROM cron.job_run_details') // ''));
for my $name (@names)
{
	my $u = sq("SELECT cron.unschedule('$name')") // 'error';
	is($u, 't', "cron.unschedule('$name')");
}

is(sq("SELECT count(*) FROM partback.jobs WHERE backup_dir = $ldir AND state NOT IN ('succeeded', 'queued', 'running')"),
	'0', 'no scheduled job failed') or diag(sq("SELECT * FROM partback.jobs WHERE backup_dir = $ldir"));
my $runs = sq("SELECT count(*) FROM cron.job_run_details WHERE command LIKE '%partback.backup_db%' AND status = 'succeeded'");
cmp_ok($runs // 0, '>=', 2, 'cron.job_run_details shows at least two succeeded runs')
  or diag(sq('SELECT jobid, status, return_message, command FROM cron.job_run_details'));
is(sq("SELECT count(*) FROM cron.job_run_details WHERE command LIKE '%partback.backup_db%' AND status <> 'succeeded'"
		. " AND status NOT IN ('running', 'starting', 'connecting', 'sending')"), '0', 'no cron run failed')
  or diag(sq("SELECT status, return_message FROM cron.job_run_details WHERE status <> 'succeeded'"));
my $slowest = sq("SELECT max(extract(epoch FROM end_time - start_time)) FROM cron.job_run_details"
	  . " WHERE command = \$pb\$$cmd\$pb\$ AND status = 'succeeded'") // 99;
cmp_ok($slowest, '<', 5, "the scheduled backup_db call returns at once (slowest run ${slowest}s)");

# the backups: listed, healthy, the repeat incremental
my $n = sq("SELECT count(*) FROM partback.list_backups($ldir)") // 0;
cmp_ok($n, '>=', 2, 'list_backups shows at least two backups');
is(sq("SELECT count(*) FROM partback.check_backup($ldir)"), '0', 'check_backup finds them healthy');
is(sq("SELECT tables FROM partback.list_backups($ldir) ORDER BY backup_id DESC LIMIT 1"), '2',
	'the newest backup holds both tables');
my ($first, $second) = split /\n/, (sq("SELECT bytes || ':' || new_bytes FROM partback.list_backups($ldir) ORDER BY backup_id LIMIT 2") // '');
note("first backup bytes:new_bytes $first, second $second");
my ($fb) = split /:/, $first // '0:0';
my (undef, $snb) = split /:/, $second // '0:0';
cmp_ok($snb // -1, '<', $fb // 0, 'the repeated backup is incremental (its new_bytes below the first\'s bytes)');
like(sq("SELECT string_agg(DISTINCT state, ',') FROM partback.get_backup_status() WHERE job_id IN"
		  . " (SELECT job_id FROM partback.jobs WHERE backup_dir = $ldir)") // '', qr/^succeeded$/,
	'get_backup_status shows the scheduled jobs succeeded');

# a restore from the scheduled backups gives the tables back
sq('CREATE DATABASE check_restore');
$node->safe_psql('check_restore', 'CREATE EXTENSION partback');
my ($rret, undef, $rerr) = PartbackTest::run_sql($node, 'check_restore',
	"SELECT partback.restore_db($ldir, source_db => 'postgres', wait => true)");
ok(defined $rret && $rret == 0, 'restore_db of the newest scheduled backup') or diag($rerr);
for my $t ('public.events', 'public.plain')
{
	is(PartbackTest::content_md5($node, 'check_restore', $t), PartbackTest::content_md5($node, 'postgres', $t),
		"$t restored from the scheduled backup equals the source");
}

$node->stop;
done_testing();
