# 130_roles.pl: roles cannot reach each other, nor raise their privileges
# through a restore (issue 12: "What was seen" 2, 3, 6, 7).
#
# 1. The owner's code runs as the owner.  A table owner's CHECK constraint
#    and an "IMMUTABLE" index-expression function call the owner's function,
#    which records current_user and tries ALTER ROLE ... SUPERUSER; a
#    superuser restores the table (into itself, and after DROP TABLE): the
#    function runs as the owner, in a security-restricted operation, and the
#    owner stays what it was.
# 2. The shared-dir hijack.  A role may not write backups into a database's
#    part of a dir that holds other roles' backups (42501 naming the dir);
#    where its backup got there first, a superuser's restore_db and
#    restore_table without backup_id never pick it, though named by
#    backup_id it is used.
# 3. Cross-role reads: list_backups, get_backup_list, get_backup_meta and
#    the status function and views show another role nothing of a role's
#    backups and jobs; members of pg_read_all_stats see every job; the
#    internal readers (_manifests, _manifest, _partition_meta, _live,
#    _queued) are refused to roles altogether (the gate, t/150_internal.pl).
# 4. Slot exhaustion: a role's jobs beyond partback.max_jobs_per_role wait
#    in the queue, so a superuser's job still gets a worker.
# 5. The 55006 veto is gone: a job of one role on its own table does not
#    make another role's backup_db fail at the call; where the conflict is
#    real, the leader waits partback.lock_wait_timeout and its error names
#    the job and the role it waited for (55P03); so does a backup waiting
#    for the backup dir another role's backup writes.

use strict;
use warnings;

use File::Path qw(make_path);
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('roles');
my $base = PartbackTest::backup_dir('roles');
make_path("$base/allowed");

sub lit { return PartbackTest::sql_lit(@_); }

sub run_as
{
	my ($user, $sql) = @_;
	return PartbackTest::run_sql($node, 'postgres', $sql, defined $user ? (user => $user) : ());
}

# Output of SQL that must work; undef (after a diag) when it failed.
sub sq
{
	my ($user, $sql) = @_;
	my ($ret, $out, $err) = run_as($user, $sql);
	return $out if defined $ret && $ret == 0;
	diag('SQL as ' . ($user // 'superuser') . " failed: $sql\n" . ($err // '(timed out)'));
	return undef;
}

# One assertion: $sql as $user fails with $state and an error text matching
# every regexp in @res.  Returns the error text.
sub fails
{
	my ($name, $user, $state, $sql, @res) = @_;
	my ($ret, $out, $err) = run_as($user, $sql);
	my $ok = defined $ret && $ret != 0 && $err =~ /ERROR:\s+$state:/;
	$ok &&= $err =~ $_ for @res;
	ok($ok, $name)
	  or diag('SQL as ' . ($user // 'superuser') . ": $sql\n"
		  . (!defined $ret ? 'timed out' : $ret == 0 ? "succeeded, output: $out" : "stderr: $err")
		  . "\nwanted $state" . (@res ? ' and ' . join(', ', @res) : ''));
	return $err // '';
}

sub dir { return lit("$base/allowed/$_[0]"); }

# ---------------------------------------------------------------- setup

sq(undef, "ALTER SYSTEM SET partback.allowed_dirs = " . lit("$base/allowed"));
sq(undef, "ALTER SYSTEM SET partback.lock_wait_timeout = '3s'");
sq(undef, "ALTER SYSTEM SET partback.max_jobs_per_role = 2");
sq(undef, "SELECT pg_reload_conf()");
$node->poll_query_until('postgres', 'SHOW partback.allowed_dirs', "$base/allowed");

sq(undef, q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN;
	GRANT pg_read_all_stats TO carol;
} . PartbackTest::grant_sql('alice', 'bob', 'carol') . q{
	CREATE SCHEMA app AUTHORIZATION alice;
	CREATE TABLE public.su_t AS SELECT i AS id, md5(i::text) AS v FROM generate_series(1, 500) AS i;
	GRANT SELECT ON public.su_t TO bob;
});
sq('alice', q{
	CREATE TABLE app.spylog (kind text, who text, super text, escalated boolean);
	-- the owner's "trap": records who runs it and tries to make alice a superuser
	CREATE FUNCTION app.spy(kind text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
	DECLARE
		escalated boolean := false;
	BEGIN
		BEGIN
			EXECUTE 'ALTER ROLE alice SUPERUSER';
			escalated := true;
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
		INSERT INTO app.spylog VALUES (kind, current_user, current_setting('is_superuser'), escalated);
		RETURN true;
	END $$;
	CREATE FUNCTION app.ix(k integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
	BEGIN
		PERFORM app.spy('index');
		RETURN k;
	END $$;
	CREATE TABLE app.checked (id integer PRIMARY KEY, v text, CHECK (app.spy('check')));
	INSERT INTO app.checked SELECT i, md5(i::text) FROM generate_series(1, 20) AS i;
	CREATE TABLE app.indexed (id integer, v text);
	INSERT INTO app.indexed SELECT i, md5(i::text) FROM generate_series(1, 20) AS i;
	CREATE INDEX indexed_ix ON app.indexed (app.ix(id));
	CREATE FUNCTION app.trg() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM app.spy('trigger');
		RETURN NULL;
	END $$;
	CREATE TRIGGER indexed_trg AFTER INSERT ON app.indexed FOR EACH ROW EXECUTE FUNCTION app.trg();
	CREATE TABLE app.mine AS SELECT i AS id, md5(i::text) AS v FROM generate_series(1, 300) AS i;
});
for my $i (1 .. 15)
{
	sq('alice', "CREATE TABLE app.s$i AS SELECT i AS id FROM generate_series(1, 10) AS i");
}

# ---------------------------------------------------------------- 1. the owner's code

sub spylog { return sq(undef, "SELECT coalesce(string_agg(DISTINCT kind || ':' || who || ':' || escalated, ','), 'none') FROM app.spylog"); }
sub alice_is_superuser { return sq(undef, "SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'"); }

my $su = dir('su');
sq(undef, "SELECT partback.backup_table($su, 'app.checked', wait => true);"
	  . "SELECT partback.backup_table($su, 'app.indexed', wait => true)");

sq(undef, 'TRUNCATE app.spylog');
my ($ret, $out, $err) = run_as(undef, "SELECT partback.restore_table($su, 'app.checked', wait => true)");
ok(defined $ret && $ret == 0, 'a superuser restores alice\'s table with a CHECK calling her function') or diag($err);
is(alice_is_superuser(), 'f', '... the CHECK, run during the load, did not make alice a superuser');
is(spylog(), 'check:alice:false', '... it ran as alice, not as the superuser');
is(sq(undef, 'SELECT count(*) FROM app.checked'), '20', '... and the table holds its 20 rows');
sq(undef, 'ALTER ROLE alice NOSUPERUSER');

sq(undef, 'DROP TABLE app.indexed; TRUNCATE app.spylog');
($ret, $out, $err) = run_as(undef, "SELECT partback.restore_table($su, 'app.indexed', wait => true)");
ok(defined $ret && $ret == 0, 'a superuser restores alice\'s dropped table with an index on her IMMUTABLE function')
  or diag($err);
is(sq(undef, "SELECT relowner::regrole::text FROM pg_class WHERE oid = 'app.indexed'::regclass"), 'alice',
	'... the restored table belongs to alice again');
is(alice_is_superuser(), 'f', '... the index build did not make alice a superuser');
is(spylog(), 'index:alice:false', '... the index expression ran as alice');
is(sq(undef, 'SELECT count(*) FROM app.indexed WHERE app.ix(id) > 0'), '20', '... with its 20 rows');
sq(undef, 'ALTER ROLE alice NOSUPERUSER');

# into the table as it is, with its trigger: loaded row by row, each row's
# index entry computed and its trigger fired as it is inserted
sq(undef, 'TRUNCATE app.spylog');
($ret, $out, $err) = run_as(undef, "SELECT partback.restore_table($su, 'app.indexed', force => true, wait => true)");
ok(defined $ret && $ret == 0, 'a superuser restores alice\'s table with that index and a row trigger in place') or diag($err);
is(alice_is_superuser(), 'f', '... neither the index expression nor the trigger made alice a superuser');
is(spylog(), 'index:alice:false,trigger:alice:false', '... both ran as alice');
sq(undef, 'ALTER ROLE alice NOSUPERUSER');

# ---------------------------------------------------------------- 2. the shared-dir hijack

# the superuser's nightly dir: alice may not write into it
my $nightly = dir('nightly');
sq(undef, "SELECT partback.backup_db($nightly, wait => true)");
fails('alice cannot write a backup into a dir holding the superuser\'s backups (42501 naming the dir)',
	'alice', '42501', "SELECT partback.backup_db($nightly, schemas => ARRAY['app'], wait => true)",
	qr/nightly/, qr/HINT:/);
is(sq(undef, "SELECT count(*) FROM partback.list_backups($nightly)"), '1', '... and no backup of hers is there');

# where alice's backup got there first, the superuser's calls do not pick it
my $shared = dir('shared');
sq('alice', "SELECT partback.backup_db($shared, schemas => ARRAY['app'], wait => true)");
sq(undef, "SELECT partback.backup_table($shared, 'public.su_t', wait => true)");
($ret, $out, $err) = run_as(undef, "SELECT partback.restore_db($shared, wait => true)");
like($err, qr/restoring backup 2 of/, 'the superuser\'s restore_db without backup_id picks the superuser\'s backup 2, not alice\'s backup_db 1')
  or diag($err);
fails('the superuser\'s restore_table without backup_id does not take alice\'s table from her backup',
	undef, '42P01', "SELECT partback.restore_table($shared, 'app.mine', target_table => 'public.mine_copy', wait => true)");
($ret, $out, $err) = run_as(undef, "SELECT partback.restore_table($shared, 'app.mine', target_table => 'public.mine_copy', backup_id => 1, wait => true)");
ok(defined $ret && $ret == 0, '... named by backup_id, it restores from alice\'s backup') or diag($err);
is(sq(undef, 'SELECT count(*) FROM public.mine_copy'), '300', '... all 300 rows');
($ret, $out, $err) = run_as('alice', "SELECT partback.restore_db($shared, schemas => ARRAY['app'], wait => true)");
like($err, qr/restoring backup 1 of/, 'alice\'s restore_db without backup_id picks her own backup 1, not the superuser\'s newer one')
  or diag($err);
fails('bob cannot write into the dir holding alice\'s backups', 'bob', '42501',
	"SELECT partback.backup_table($shared, 'public.su_t', wait => true)", qr/shared/);

# ---------------------------------------------------------------- 3. cross-role reads

is(sq('bob', "SELECT count(*) FROM partback.list_backups($shared)"), '0',
	'bob sees none of the backups in the shared dir');
is(sq('alice', "SELECT string_agg(backup_id::text, ',') FROM partback.list_backups($shared)"), '1',
	'alice sees only her own backup there');
is(sq(undef, "SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM partback.list_backups($shared)"), '1,2',
	'the superuser sees both');
fails('bob may not read manifests through partback._manifests (internal)', 'bob', '42501',
	"SELECT count(*) FROM partback._manifests($shared, 'postgres')", qr/function partback\._manifests is internal to partback/);
fails('bob may not read a manifest through partback._manifest with a backup_id (internal)', 'bob', '42501',
	"SELECT partback._manifest($shared, 'postgres', 1)", qr/function partback\._manifest is internal to partback/);
fails('bob cannot get_backup_list alice\'s table', 'bob', '(42P01|42704)',
	"SELECT * FROM partback.get_backup_list($shared, 'postgres', 'app.mine', 1)");
fails('bob cannot get_backup_meta of alice\'s table', 'bob', '(42P01|42704)',
	"SELECT partback.get_backup_meta($shared, 'postgres', 'app.mine', 'mine', 1)");
{
	my $meta = sq(undef, "SELECT p->>'meta' || ' ' || (p->>'meta_sha256') FROM partback._manifest($shared, 'postgres', 1) m,"
		  . " jsonb_array_elements(m->'tables') t, jsonb_array_elements(t->'partitions') p WHERE t->>'name' = 'mine'");
	my ($file, $sha) = split / /, $meta // '';
	fails('bob cannot read alice\'s partition metadata through partback._partition_meta, even knowing file and checksum',
		'bob', '42501', "SELECT partback._partition_meta($shared, 'postgres', " . lit($file // '') . ', ' . lit($sha // '') . ')',
		qr/internal to partback/);
	fails('... nor can alice herself: she reads it through get_backup_meta', 'alice', '42501',
		"SELECT partback._partition_meta($shared, 'postgres', " . lit($file // '') . ', ' . lit($sha // '') . ')',
		qr/internal to partback/);
	like(sq('alice', "SELECT partback.get_backup_meta($shared, 'postgres', 'app.mine', 'mine', 1)->>'rows'") // '',
		qr/^300$/, '... which gives her the rows of her partition');
}

# check_backup, too, looks only at the caller's backups: a damaged data file
# of the superuser's backup is none of alice's business, and naming it by
# backup_id finds nothing for bob
my $checked = dir('checked');
sq('alice', "SELECT partback.backup_table($checked, 'app.mine', wait => true)");
sq(undef, "SELECT partback.backup_table($checked, 'public.su_t', wait => true)");
{
	my $file = sq(undef, "SELECT p->>'meta' FROM partback._manifest($checked, 'postgres', 2) m,"
		  . " jsonb_array_elements(m->'tables') t, jsonb_array_elements(t->'partitions') p") // '';
	$file =~ s{/[^/]*$}{};
	my @data = grep { !/\.meta\.json$/ } glob("$base/allowed/checked/postgres/$file/*");
	ok(@data == 1, 'the superuser\'s backup of public.su_t has one data file') or diag("$file: @data");
	append_to_file($data[0], 'x') if @data;
}
like(sq(undef, "SELECT string_agg(DISTINCT source_table, ',') FROM partback.check_backup($checked)") // '',
	qr/^public\.su_t$/, 'the superuser\'s check_backup reports the damaged data file of public.su_t');
is(sq('alice', "SELECT count(*) FROM partback.check_backup($checked)"), '0',
	'alice\'s check_backup of that dir checks her backup only, and reports nothing of the superuser\'s');
is(sq('bob', "SELECT count(*) FROM partback.check_backup($checked)"), '0',
	'bob\'s check_backup of that dir reports nothing of either backup');
fails('bob\'s check_backup naming alice\'s backup finds no such backup', 'bob', '42704',
	"SELECT * FROM partback.check_backup($checked, backup_id => 1)", qr/backup 1 .* does not exist/);

# a damaged manifest is nobody's backup: it does not stop alice writing
# beside it (it stopped every backup into the dir before)
my $mydir = dir('alice_damaged');
sq('alice', "SELECT partback.backup_table($mydir, 'app.mine', wait => true)");
open(my $fh, '>', "$base/allowed/alice_damaged/postgres/manifests/0000000001.json") or die;
print $fh '{"trunc';
close $fh;
($ret, $out, $err) = run_as('alice', "SELECT partback.backup_table($mydir, 'app.mine', wait => true)");
ok(defined $ret && $ret == 0, 'alice backs up into her dir beside a damaged manifest') or diag($err);
is(sq('alice', "SELECT string_agg(backup_id::text || ':' || (problem IS NULL), ',' ORDER BY backup_id) FROM partback.list_backups($mydir)"),
	'1:false,2:true', '... list_backups shows the damaged backup and her new one');

# an incremental backup builds only on the caller's backups: the superuser's
# backup of app.mine does not take over the data files of alice's backup 1
sq(undef, "SELECT partback.backup_table($shared, 'app.mine', wait => true)");
cmp_ok(sq(undef, "SELECT new_bytes FROM partback.list_backups($shared) WHERE backup_id = 3") // 0, '>', 0,
	'the superuser\'s backup of alice\'s table into the shared dir writes its own data files, not built on alice\'s backup');

# ---------------------------------------------------------------- 4, 5. jobs

my $alice_dir = dir('alice');
sq('alice', "SELECT partback.backup_table($alice_dir, 'app.s1', wait => true)");

# Jobs are held still by a gate: a session locks partback.chunk, which a
# leader reads once it has claimed its tables (as specs/two_jobs.spec does).
my $gate = $node->background_psql('postgres', on_error_stop => 0);
$gate->query_safe('BEGIN; LOCK TABLE partback.chunk IN ACCESS EXCLUSIVE MODE');

my $restore_job = sq('alice', "SELECT partback.restore_table($alice_dir, 'app.s1')");
($ret, $out, $err) = run_as('alice',
	"SELECT partback.backup_table(" . lit("$base/allowed/alice_") . " || i, ('app.s' || i)::regclass)"
	  . " FROM generate_series(2, 15) AS i");
ok(defined $ret && $ret == 0, 'alice submits 14 more jobs') or diag($err);
like($err // '', qr/waits in the queue: role alice runs 2 partback jobs/,
	'... those beyond partback.max_jobs_per_role are queued, with a NOTICE');

my $leaders = "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'partback job % leader' AND usename = 'alice'";
$node->poll_query_until('postgres', "SELECT ($leaders) >= 2");
usleep(500_000);
is(sq(undef, $leaders), '2', 'only 2 of alice\'s 15 jobs have a leader (partback.max_jobs_per_role = 2)');
is(sq(undef, "SELECT count(*) FROM partback._queued() WHERE user_name = 'alice'"), '13', '... the other 13 wait in the queue');

# the superuser's job gets a worker meanwhile
my $su_job = sq(undef, "SELECT partback.backup_table(" . dir('su2') . ", 'public.su_t')") // 0;
my $started = 0;
for (1 .. 150)
{
	$started = sq(undef, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'partback job $su_job leader'") // 0;
	last if $started;
	usleep(100_000);
}
is($started, 1, 'the superuser\'s backup gets a leader while alice\'s jobs wait');

# who sees what, through the status function and views (they read
# partback._live() and _queued(); a role may not call those itself).  They
# read partback.chunk too, which the gate's session alone may read now: it
# asks as each role in turn.
sub status_as
{
	my ($role, $sql) = @_;
	my $out = $gate->query_safe("SET ROLE $role; $sql; RESET ROLE");
	chomp $out;
	return $out;
}
my $waiting = "SELECT count(DISTINCT job_id) FROM partback.get_backup_status() WHERE user_name = 'alice' AND state IN ('queued', 'running')";
is(status_as('bob', 'SELECT count(*) FROM partback.get_backup_status()'), '0', 'bob sees none of alice\'s jobs in get_backup_status()');
is(status_as('bob', 'SELECT count(*) FROM partback.jobs'), '0', 'bob sees none of them in partback.jobs');
is(sq('bob', 'SELECT count(*) FROM partback.job'), '0', 'bob sees no job in partback.job');
fails('bob may not call partback._live() (internal)', 'bob', '42501', 'SELECT count(*) FROM partback._live()',
	qr/function partback\._live is internal to partback/);
fails('bob may not call partback._queued() (internal)', 'bob', '42501', 'SELECT count(*) FROM partback._queued()',
	qr/function partback\._queued is internal to partback/);
is(status_as('alice', $waiting), '15', 'alice sees her 15 running and queued jobs in get_backup_status()');
is(status_as('alice', "SELECT count(*) FROM partback.jobs WHERE state IN ('queued', 'running')"), '15',
	'... and in partback.jobs');
is(status_as('carol', $waiting), '15', 'carol, a member of pg_read_all_stats, sees all 15 of alice\'s waiting jobs');

# no veto: the superuser's backup_db of the database is accepted although
# alice's jobs claim her tables; its leader waits for alice's restore of
# app.s1 (a real conflict: both claim schema app, the backup_db for its
# tables, the restore for its existing target) at most
# partback.lock_wait_timeout (3 s), and says for whom it waited
my $t0 = time;
($ret, $out, $err) = run_as(undef, "SELECT partback.backup_db(" . dir('nightly2') . ")");
ok(defined $ret && $ret == 0 && $out =~ /^\d+$/,
	'the superuser\'s backup_db is accepted while alice\'s jobs claim her tables (no 55006 veto)')
  or diag($err);
my $db_job = ($out // '') =~ /^\d+$/ ? $out : 0;
is(PartbackTest::wait_job($node, 'postgres', $db_job, 30), 'failed',
	'... its leader gives up waiting for alice\'s restore into app.s1');
my $db_err = sq(undef, "SELECT error_code || ': ' || error FROM partback.job WHERE job_id = $db_job") // '';
like($db_err, qr/^55P03: .*waited 3000 ms for schema app, held by partback job $restore_job of role alice/,
	'... with 55P03 naming the job and the role it waited for');
cmp_ok(time - $t0, '<', 20, '... after a bounded wait');

# the backup dir, which one backup at a time writes, is waited for as long
my $s2_backup = sq(undef, "SELECT job_id FROM partback.job WHERE user_name = 'alice' AND state = 'running'"
	  . " AND job_type = 'backup_table'") // 0;
my $dir_job = sq(undef, "SELECT partback.backup_table(" . dir('alice_2') . ", 'public.su_t')") // 0;
is(PartbackTest::wait_job($node, 'postgres', $dir_job, 30), 'failed',
	'the superuser\'s backup into the dir alice\'s running backup writes gives up waiting');
like(sq(undef, "SELECT error_code || ': ' || error FROM partback.job WHERE job_id = $dir_job") // '',
	qr/^55P03: .*waited 3000 ms for backup directory ".*alice_2\/postgres", held by partback job $s2_backup of role alice/,
	'... with 55P03 naming the dir, the job and the role it waited for');

# two backups of one table into different dirs do not conflict
($ret, $out, $err) = run_as(undef, "SELECT partback.backup_table(" . dir('su3') . ", 'app.s2')");
ok(defined $ret && $ret == 0 && $out =~ /^\d+$/,
	'the superuser\'s backup of app.s2 is accepted while alice\'s backup of it into her dir runs')
  or diag($err);
my $s2_job = ($out // '') =~ /^\d+$/ ? $out : 0;
# the same role's conflicting call still fails at once
fails('alice\'s second restore into app.s1 fails at once with 55006 naming her job', 'alice', '55006',
	"SELECT partback.restore_table($alice_dir, 'app.s1')", qr/partback job $restore_job of role alice/);

$gate->query_safe('COMMIT');
$gate->quit;
is(PartbackTest::wait_job($node, 'postgres', $su_job, 60), 'succeeded', 'the superuser\'s backup of public.su_t succeeds');
is(PartbackTest::wait_job($node, 'postgres', $s2_job, 60), 'succeeded', 'the superuser\'s backup of app.s2 succeeds');
is(PartbackTest::wait_job($node, 'postgres', $restore_job, 60), 'succeeded', 'alice\'s restore succeeds');
# the queued ones may still be running: each gets a leader once one ends
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM partback.jobs WHERE user_name = 'alice' AND state IN ('queued', 'running')"),
	'alice\'s queued jobs all end');
is(sq(undef, "SELECT count(*) FROM partback.jobs WHERE user_name = 'alice' AND state = 'succeeded'"), '21',
	'all of alice\'s jobs, the 13 queued ones included, ran in turn and succeeded');

done_testing();
