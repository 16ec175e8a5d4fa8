# 125_partial_jobs.pl: one bad table never sinks a job; nothing a restore
# drops or skips goes unsaid; a failure says where it happened (issue 11
# "What to build" 5, 6 and the reporting of 1 and 7; issue 13 item 4).
#
#   1. backup_db by a role that cannot read one table: the other tables are
#      backed up, the job ends 'failed' naming that table with its error
#      (SQLSTATE 42501 to the waiting caller, partback.job, partback.task,
#      partback.job_message); the manifest lists it in "failed_tables", so
#      list_backups and check_backup show the backup as partial, and its
#      good tables restore.  The same call again (once the table is
#      readable) backs up everything, copying only what it lacked.
#   2. restore_db where one table's rows break a CHECK of its target: the
#      other tables are restored, the failing one keeps its old content; the
#      caller's ERROR carries the copy worker's message and its CONTEXT
#      (backup file, row), and the job row keeps error_context.  The same
#      call again, once the CHECK is gone, loads only that table.
#   3. restore_db of the partial backup leaves the table it lacks alone and
#      says so in a WARNING recorded in the job.
#   4. A partition created after the backup is dropped by restore_table with
#      a NOTICE naming it and its row count (raised to the waiting caller
#      and recorded in the job); keep_new_partitions => true keeps it.
#   5. A WARNING of a restore (owner role missing) is recorded in the job
#      and raised again to the caller who waits (wait => true, wait_job).
#   6. backup_db records the foreign table it leaves out (a NOTICE); then
#      migrate into a fresh database that lacks what one table needs (a
#      text search configuration, which a backup does not hold): the other
#      tables are migrated, the job fails naming that one; the same migrate
#      again, once the configuration exists, goes on with
#      the tables it created and loads only the failed one.
#   7. restore_db where a referenced table fails: the referencing table's
#      foreign key no longer fits, and is put back NOT VALID with a WARNING;
#      the job's error names the table and the foreign keys.

use strict;
use warnings;

use File::Find;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('main');
my $dir  = PartbackTest::backup_dir('partial');
my $ldir = PartbackTest::sql_lit($dir);

sub sq
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

$node->safe_psql('postgres',
	"ALTER SYSTEM SET partback.allowed_dirs = $ldir; SELECT pg_reload_conf()");
ok($node->poll_query_until('postgres', 'SHOW partback.allowed_dirs', $dir),
	'allowed_dirs set');

sq(q{
	CREATE ROLE alice LOGIN;
} . PartbackTest::grant_sql('alice') . q{
	GRANT CREATE ON SCHEMA public TO alice;
	CREATE TABLE public.secret (id int);
	INSERT INTO public.secret VALUES (1), (2);
	SET ROLE alice;
	CREATE TABLE public.a (id int PRIMARY KEY, v int);
	INSERT INTO public.a SELECT g, g FROM generate_series(1, 1000) g;
	CREATE TABLE public.ev (id int, d date) PARTITION BY RANGE (d);
	CREATE TABLE public.ev_1 PARTITION OF public.ev FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
	CREATE TABLE public.ev_2 PARTITION OF public.ev FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
	INSERT INTO public.ev SELECT g, date '2024-01-01' + (g % 59) FROM generate_series(1, 500) g;
	RESET ROLE;
});

# ---------------------------------------------------------------- 1. backup_db

my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.backup_db($ldir, wait => true)", user => 'alice');
isnt($ret, 0, 'backup_db with an unreadable table fails');
like($err, qr/ERROR:  42501: permission denied for table secret/,
	'the caller gets the table\'s own error with its SQLSTATE');
like($err, qr/table public\.secret of partback job \d+ \(1 of 3 tables failed/,
	'its CONTEXT names the table and says the others are done');

my $job1 = sq("SELECT max(job_id) FROM partback.job WHERE job_type = 'backup_db'");
is(sq("SELECT state || '|' || error_code || '|' || (backup_id IS NOT NULL)::int FROM partback.job WHERE job_id = $job1"),
	'failed|42501|1', 'the job is failed, with the SQLSTATE and the id of the partial backup');
is(sq("SELECT string_agg(table_name || '=' || state, ',' ORDER BY table_name) FROM partback.task WHERE job_id = $job1"),
	'public.a=succeeded,public.ev=succeeded,public.secret=failed',
	'each task shows whether its table was backed up');
like(sq("SELECT error FROM partback.task WHERE job_id = $job1 AND table_name = 'public.secret'"),
	qr/permission denied for table secret/, 'the failed task holds its error');
is(sq("SELECT level || '|' || table_name || '|' || sqlstate FROM partback.job_message WHERE job_id = $job1"),
	'ERROR|public.secret|42501', 'partback.job_message records the failed table');
is(sq("SELECT backup_id || '|' || tables || '|' || array_to_string(failed_tables, ',') FROM partback.list_backups($ldir)"),
	'1|2|public.secret', 'list_backups shows the backup of the other tables, and what it lacks');
like(sq("SELECT source_table || '|' || problem || '|' || actual FROM partback.check_backup($ldir)"),
	qr/^public\.secret\|not in the backup: its backup failed\|permission denied for table secret$/,
	'check_backup reports the partial backup');
is(sq("SELECT count(*) FROM partback.get_backup_list($ldir, current_database(), 'public.ev', backup_id => 1)"),
	'2', 'the partial backup holds the good tables');

# the same call again, once the table is readable, backs up everything
sq('GRANT SELECT ON public.secret TO alice');
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.backup_db($ldir, wait => true)", user => 'alice');
is($ret, 0, 'the same backup_db again succeeds') or diag($err);
my $job2 = sq("SELECT max(job_id) FROM partback.job WHERE job_type = 'backup_db'");
is(sq("SELECT string_agg(table_name || '=' || reused, ',' ORDER BY table_name) FROM partback.task WHERE job_id = $job2"),
	'public.a=1,public.ev=2,public.secret=0',
	'it copied only the table the first call failed on');
is(sq("SELECT backup_id || '|' || tables || '|' || coalesce(array_to_string(failed_tables, ','), '') FROM partback.list_backups($ldir) WHERE backup_id = 2"),
	'2|3|', 'the new backup is complete');

# a copy worker that cannot write a table's data file fails that table alone
my @adirs;
find(sub { push @adirs, $File::Find::name if -d $_ }, "$dir/postgres/data/public/a");
ok(@adirs > 0, 'the data dir of table public.a exists');
chmod 0500, @adirs;
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.backup_db($ldir, force => true, wait => true)", user => 'alice');
chmod 0700, @adirs;
isnt($ret, 0, 'backup_db whose copy worker cannot write one table\'s file fails');
like($err, qr/ERROR:  42501: could not create file ".*public\/a\/.*": Permission denied/,
	'with the copy worker\'s error');
my $job2b = sq("SELECT max(job_id) FROM partback.job WHERE job_type = 'backup_db'");
is(sq("SELECT string_agg(table_name || '=' || state, ',' ORDER BY table_name) FROM partback.task WHERE job_id = $job2b"),
	'public.a=failed,public.ev=succeeded,public.secret=succeeded',
	'the other tables are backed up');
is(sq("SELECT backup_id || '|' || tables || '|' || array_to_string(failed_tables, ',') FROM partback.list_backups($ldir) WHERE backup_id = 3"),
	'3|2|public.a', 'the backup of the others exists, naming what it lacks');
like(sq("SELECT manifest->'failed_tables'->0->>'error' FROM partback._manifest($ldir, 'postgres', 3) manifest"),
	qr/could not create file .*Permission denied/, 'its manifest records the error');

# The leader writes a partition's metadata file once its data files are
# done, while the copy workers go on: when a later partition of the table
# fails, the files it wrote for the earlier ones go with the table.
my @ev2dirs;
find(sub { push @ev2dirs, $File::Find::name if -d $_ }, "$dir/postgres/data/public/ev/ev_2");
ok(@ev2dirs > 0, 'the data dir of partition ev_2 exists');
chmod 0500, @ev2dirs;
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.backup_db($ldir, force => true, wait => true)", user => 'alice');
chmod 0700, @ev2dirs;
like($err, qr/ERROR:  42501: could not create file ".*public\/ev\/ev_2\/.*": Permission denied/,
	'backup_db fails the table one of whose partitions cannot be written');
my $bid4 = sq("SELECT max(backup_id) FROM partback.list_backups($ldir)");
is(sq("SELECT backup_id || '|' || tables || '|' || array_to_string(failed_tables, ',') FROM partback.list_backups($ldir) WHERE backup_id = $bid4"),
	"$bid4|2|public.ev", 'the backup of the others exists, naming the table it lacks');
my @ev_metas;
my $meta4 = sprintf('%010d.meta.json', $bid4);
find(sub { push @ev_metas, $File::Find::name if /^\Q$meta4\E/ }, "$dir/postgres/data/public/ev");
is(join(',', @ev_metas), '', 'no metadata file of that backup is left for the failed table');
my @a_metas;
find(sub { push @a_metas, $File::Find::name if $_ eq $meta4 }, "$dir/postgres/data/public/a");
is(scalar(@a_metas), 1, 'the table backed up has its metadata file');

# ---------------------------------------------------------------- 2. restore_db

sq(q{
	DELETE FROM public.a WHERE id > 100;
	ALTER TABLE public.a ADD CONSTRAINT a_small CHECK (v <= 300) NOT VALID;
	TRUNCATE public.ev;
	TRUNCATE public.secret;
});
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.restore_db($ldir, backup_id => 2, wait => true)");
isnt($ret, 0, 'restore_db with a table whose rows break a CHECK fails');
like($err, qr/ERROR:  23514: new row for relation "a" violates check constraint "a_small"/,
	'the caller gets the copy worker\'s error');
like($err, qr/DETAIL:  Failing row contains \(301, 301\)/, 'with its DETAIL');
like($err, qr/CONTEXT:  backup file "[^"]+\.copy[^"]*", row 301/,
	'and its CONTEXT naming the backup file and the row');
my $job3 = sq("SELECT max(job_id) FROM partback.job WHERE job_type = 'restore_db'");
like(sq("SELECT error_context FROM partback.job WHERE job_id = $job3"),
	qr/backup file ".*", row 301/, 'partback.job keeps the context');
like(sq("SELECT error_detail FROM partback.job WHERE job_id = $job3"),
	qr/Failing row contains/, 'and the detail');
is(sq('SELECT (SELECT count(*) FROM public.ev) || \'|\' || (SELECT count(*) FROM public.secret) || \'|\' || (SELECT count(*) FROM public.a)'),
	'500|2|100', 'the other tables are restored; the failing one keeps its old content');
is(sq("SELECT string_agg(table_name || '=' || state, ',' ORDER BY table_name) FROM partback.task WHERE job_id = $job3"),
	'public.a=failed,public.ev=succeeded,public.secret=succeeded',
	'the status names the failed table');
like(sq("SELECT context FROM partback.job_message WHERE job_id = $job3 AND level = 'ERROR'"),
	qr/row 301/, 'job_message keeps the failed table\'s context');

sq('ALTER TABLE public.a DROP CONSTRAINT a_small');
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.restore_db($ldir, backup_id => 2, wait => true)");
is($ret, 0, 'the same restore_db again succeeds') or diag($err);
my $job4 = sq("SELECT max(job_id) FROM partback.job WHERE job_type = 'restore_db'");
is(sq("SELECT string_agg(table_name || '=' || reused, ',' ORDER BY table_name) FROM partback.task WHERE job_id = $job4"),
	'public.a=0,public.ev=2,public.secret=1', 'it loaded only the table that failed');
is(sq('SELECT count(*) FROM public.a'), '1000', 'that table is restored now');

# ---------------------------------------------------------------- 3. partial backup

sq('DELETE FROM public.secret');
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.restore_db($ldir, backup_id => 1, wait => true)");
is($ret, 0, 'restore_db of a partial backup succeeds') or diag($err);
like($err, qr/WARNING:  01000: table public\.secret is not in backup 1: its backup failed; it is left as it is/,
	'a WARNING names the table the backup lacks');
my $job5 = sq("SELECT max(job_id) FROM partback.job WHERE job_type = 'restore_db'");
is(sq("SELECT level || '|' || table_name FROM partback.job_message WHERE job_id = $job5"),
	'WARNING|public.secret', 'and the job records it');
is(sq('SELECT count(*) FROM public.secret'), '0', 'that table is left alone');

# ---------------------------------------------------------------- 4. new partitions

sq(q{
	CREATE TABLE public.ev_3 PARTITION OF public.ev FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
	INSERT INTO public.ev SELECT g, date '2024-03-05' FROM generate_series(1, 7) g;
});
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.restore_table($ldir, 'public.ev', backup_id => 2, force => true, wait => true)");
is($ret, 0, 'restore_table over a partition the backup lacks succeeds') or diag($err);
like($err, qr/NOTICE:  00000: partition public\.ev_3 of table public\.ev is not in the backup: dropped with its 7 rows/,
	'a NOTICE names the dropped partition and its row count');
like($err, qr/HINT:  keep_new_partitions => true/, 'and says how to keep it');
is(sq("SELECT count(*) FROM pg_class WHERE relname = 'ev_3'"), '0', 'the partition is gone');
my $job6 = sq("SELECT max(job_id) FROM partback.job WHERE job_type = 'restore_table'");
like(sq("SELECT level || '|' || table_name || '|' || message FROM partback.job_message WHERE job_id = $job6"),
	qr/^NOTICE\|public\.ev\|partition public\.ev_3 .* 7 rows$/, 'the job records it');

sq(q{
	CREATE TABLE public.ev_3 PARTITION OF public.ev FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
	INSERT INTO public.ev SELECT g, date '2024-03-05' FROM generate_series(1, 7) g;
});
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.restore_table($ldir, 'public.ev', backup_id => 2, force => true, wait => true, keep_new_partitions => true)");
is($ret, 0, 'restore_table with keep_new_partitions succeeds') or diag($err);
unlike($err, qr/dropped with/, 'and drops nothing');
is(sq("SELECT count(*) FROM public.ev_3") . '|' . sq('SELECT count(*) FROM public.ev'),
	'7|507', 'the partition the backup lacks stays attached with its rows');

# ---------------------------------------------------------------- 5. warnings

sq(q{
	CREATE ROLE carol;
	CREATE TABLE public.c (id int);
	ALTER TABLE public.c OWNER TO carol;
	INSERT INTO public.c VALUES (1);
});
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.backup_table($ldir, 'public.c', wait => true)");
is($ret, 0, 'backup_table of a table owned by carol') or diag($err);
sq('DROP TABLE public.c; DROP ROLE carol');
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.restore_table($ldir, 'public.c', wait => true)");
is($ret, 0, 'restore_table without the owner role succeeds') or diag($err);
like($err, qr/WARNING:  01000: table public\.c is owned by \w+, not by its owner "carol" in the backup: the role does not exist/,
	'the WARNING is raised again to the waiting caller');
my $job7 = sq("SELECT max(job_id) FROM partback.job WHERE job_type = 'restore_table'");
like(sq("SELECT level || '|' || table_name || '|' || message FROM partback.job_message WHERE job_id = $job7"),
	qr/^WARNING\|public\.c\|table public\.c is owned by/, 'and recorded in the job');
is(sq('SELECT count(*) FROM public.c'), '1', 'the table is restored');
unlike($err, qr/partback\._/, 'the context shows none of partback\'s own functions');

# wait_job raises them again too
sq('DROP TABLE public.c');
my $job8 = sq("SELECT partback.restore_table($ldir, 'public.c')");
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.wait_job($job8)");
is($out, 'succeeded', 'wait_job sees the restore succeed');
like($err, qr/WARNING:  01000: table public\.c is owned by \w+, not by its owner "carol"/,
	'and raises its WARNING again');

# ---------------------------------------------------------------- 6. migrate

my $lmdir = PartbackTest::sql_lit("$dir/mig");
sq(q{
	CREATE TEXT SEARCH CONFIGURATION public.mycfg (COPY = pg_catalog.simple);
	CREATE TABLE public.coll (t text, v tsvector GENERATED ALWAYS AS (to_tsvector('public.mycfg'::regconfig, t)) STORED);
	INSERT INTO public.coll VALUES ('x'), ('y');
});
sq(q{
	CREATE EXTENSION file_fdw;
	CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
	CREATE FOREIGN TABLE public.lone (a int) SERVER files OPTIONS (filename '/dev/null');
});
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.backup_db($lmdir, wait => true)");
is($ret, 0, 'backup_db for the migration') or diag($err);
my @lone = ($err =~ /NOTICE:  00000: foreign table public\.lone is not backed up/g);
is(scalar(@lone), 1, 'a NOTICE, once, names the foreign table it leaves out');
my $jobf = sq("SELECT max(job_id) FROM partback.job WHERE job_type = 'backup_db'");
is(sq("SELECT level || '|' || message FROM partback.job_message WHERE job_id = $jobf"),
	'NOTICE|foreign table public.lone is not backed up', 'and the job records it');
sq('CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION partback');
($ret, $out, $err) = PartbackTest::run_sql($node, 'fresh',
	"SELECT partback.migrate($lmdir, 'postgres', wait => true)");
isnt($ret, 0, 'migrate with a table whose text search configuration is missing fails');
like($err, qr/ERROR:  42704: text search configuration .*mycfg.* does not exist/, 'with that table\'s error');
like($err, qr/table public\.coll of partback job \d+ \(1 of 5 tables failed; the others are done\)/,
	'naming the table');
is($node->safe_psql('fresh',
		'SELECT (SELECT count(*) FROM public.a) || \'|\' || (SELECT count(*) FROM public.ev) || \'|\' || (SELECT count(*) FROM public.c) || \'|\' || (to_regclass(\'public.coll\') IS NULL)'),
	'1000|507|1|true', 'the other tables are migrated');

$node->safe_psql('fresh', 'CREATE TEXT SEARCH CONFIGURATION public.mycfg (COPY = pg_catalog.simple)');
($ret, $out, $err) = PartbackTest::run_sql($node, 'fresh',
	"SELECT partback.migrate($lmdir, 'postgres', wait => true)");
is($ret, 0, 'the same migrate again goes on with the tables it made') or diag($err);
my $jobm = $node->safe_psql('fresh', "SELECT max(job_id) FROM partback.job WHERE job_type = 'migrate'");
is($node->safe_psql('fresh',
		"SELECT string_agg(table_name || '=' || reused, ',' ORDER BY table_name) FROM partback.task WHERE job_id = $jobm"),
	'public.a=1,public.c=1,public.coll=0,public.ev=3,public.secret=1',
	'and loads only the table that failed');
is($node->safe_psql('fresh', 'SELECT count(*) FROM public.coll'), '2', 'which is migrated now');
sq('CREATE DATABASE fresh2');
$node->safe_psql('fresh2', 'CREATE EXTENSION partback; CREATE TABLE public.a (id int, v int)');
($ret, $out, $err) = PartbackTest::run_sql($node, 'fresh2',
	"SELECT partback.migrate($lmdir, 'postgres', wait => true)");
like($err, qr/ERROR:  42P07: table "public\.a" already exists/,
	'migrate still refuses a table it did not make');

# ---------------------------------------------------------------- 7. foreign keys

my $lfdir = PartbackTest::sql_lit("$dir/fk");
sq(q{
	CREATE TABLE public.p (id int PRIMARY KEY);
	INSERT INTO public.p SELECT generate_series(1, 10);
	CREATE TABLE public.ch (id int, pid int REFERENCES public.p);
	INSERT INTO public.ch SELECT g, g FROM generate_series(1, 10) g;
});
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.backup_db($lfdir, wait => true)");
is($ret, 0, 'backup_db with a foreign key') or diag($err);
sq(q{
	DELETE FROM public.ch;
	DELETE FROM public.p WHERE id > 5;
	ALTER TABLE public.p ADD CONSTRAINT p_small CHECK (id <= 5) NOT VALID;
});
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.restore_db($lfdir, wait => true)");
isnt($ret, 0, 'restore_db where a referenced table fails');
like($err, qr/ERROR:  23514: partback job \d+: 1 of 7 tables failed: public\.p; and its foreign keys/,
	'the error names the table and the foreign keys');
like($err, qr/DETAIL:  public\.p: new row for relation "p" violates check constraint "p_small"\nforeign keys: insert or update on table "ch" violates foreign key constraint "ch_pid_fkey"/,
	'its DETAIL says why each failed');
like($err, qr/WARNING:  01000: foreign keys put back NOT VALID: ch_pid_fkey on public\.ch/,
	'a WARNING says which foreign keys are NOT VALID now');
is(sq("SELECT convalidated FROM pg_constraint WHERE conname = 'ch_pid_fkey'") . '|'
	  . sq('SELECT count(*) FROM public.ch') . '|' . sq('SELECT count(*) FROM public.p'),
	'f|10|5', 'the foreign key is there, NOT VALID; the referencing table is restored');
sq('ALTER TABLE public.p DROP CONSTRAINT p_small');
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	"SELECT partback.restore_db($lfdir, wait => true)");
is($ret, 0, 'the same restore_db again succeeds') or diag($err);
($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
	'ALTER TABLE public.ch VALIDATE CONSTRAINT ch_pid_fkey');
is($ret, 0, 'and the foreign key validates') or diag($err);

done_testing();
