# 162_restore_pipeline.pl: how a restore of many tables shares its work
# (issue 14: "restore_db <= 0.5x pg_restore -j2").
#
# A plain table that needs nothing made besides itself is prepared,
# loaded and, unless what it adds at the end names another table, finished
# by its copy worker, in one transaction.  The leader prepares the other
# tables, in their order, once those exist, while the copy workers load
# the tables it prepared before.  A partition with columns loaded from
# text (reg* types name other tables) is loaded once every table exists.
#
#   1. restore_db of such a mix into a new database: what pg_dump shows of
#      the schema and every table's content are the source's; the tables
#      the copy workers finished have their identity position, NOT VALID
#      constraint and task figures.
#   2. A table whose finishing fails in its copy worker is not left
#      behind at all (its creation and load roll back with it); the job
#      fails naming it and only it; called again, the job restores it.
#   3. While the leader waits to prepare one table (a lock held on it),
#      the copy workers load a table it prepared before.
#
# (sql/006_hostile.sql has a role's restore_table into a table it does not
# own: the error, now raised by a copy worker, is the job's, not one from
# its report of mixed tables, which the role may not read.)

use strict;
use warnings;

use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('pipeline');
my $dir  = PartbackTest::backup_dir('pipeline');
my $ldir = PartbackTest::sql_lit($dir);

sub sq { return $node->safe_psql(@_ == 1 ? ('postgres', $_[0]) : @_); }

# the source: plain tables of every kind above, and two partitioned ones
sq('CREATE SCHEMA s');
sq(join('', map {
	my $n = sprintf('%02d', $_);
	"CREATE TABLE s.p$n (id integer PRIMARY KEY, v text);\n"
	  . "INSERT INTO s.p$n SELECT g, md5(g::text) FROM generate_series(1, $_ * 3) g;\n"
} 1 .. 20));
sq(q{
	CREATE TABLE s.ident (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
	INSERT INTO s.ident (v) SELECT 'i' || g FROM generate_series(1, 30) g;
	ALTER TABLE s.ident ADD CONSTRAINT ident_short CHECK (length(v) < 3) NOT VALID;
	CREATE TABLE s.trig (id integer PRIMARY KEY, v text);
	CREATE FUNCTION s.trig_fn() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
	CREATE TRIGGER trig_t BEFORE INSERT ON s.trig FOR EACH ROW EXECUTE FUNCTION s.trig_fn();
	INSERT INTO s.trig SELECT g, 't' || g FROM generate_series(1, 5) g;
	CREATE TABLE s.pol (id integer PRIMARY KEY, owner_id integer);
	ALTER TABLE s.pol ENABLE ROW LEVEL SECURITY;
	CREATE POLICY pol_p ON s.pol USING (EXISTS (SELECT 1 FROM s.p02 p WHERE p.id = owner_id));
	INSERT INTO s.pol SELECT g, g FROM generate_series(1, 4) g;
	CREATE TABLE s.a (k integer NOT NULL, v text) PARTITION BY RANGE (k);
	CREATE TABLE s.a_1 PARTITION OF s.a FOR VALUES FROM (0) TO (100);
	CREATE TABLE s.a_2 PARTITION OF s.a FOR VALUES FROM (100) TO (200);
	INSERT INTO s.a SELECT g, 'a' || g FROM generate_series(0, 199) g;
	CREATE TABLE s.z (k integer NOT NULL, v text) PARTITION BY RANGE (k);
	CREATE TABLE s.z_1 PARTITION OF s.z FOR VALUES FROM (0) TO (100);
	INSERT INTO s.z SELECT g, 'z' || g FROM generate_series(0, 99) g;
});
# reg* columns naming tables made later in the restore (s.zz after s.regs)
sq(q{
	CREATE TABLE s.zz (id integer);
	CREATE TABLE s.regs (id integer PRIMARY KEY, r regclass, t regtype);
	INSERT INTO s.regs VALUES (1, 's.zz', 's.zz'), (2, 's.p01', 's.a'), (3, 's.pol', 'integer');
	SELECT pg_catalog.setval('s.ident_id_seq', 77);
});
my @tables = ('s.ident', 's.trig', 's.pol', 's.a', 's.z', 's.zz', 's.regs',
	map { sprintf('s.p%02d', $_) } 1 .. 20);

is(sq("SELECT partback.wait_job(partback.backup_db($ldir))"), 'succeeded', 'backup_db of the mix');

# schema s as pg_dump -s shows it (its random per-dump keys aside)
sub schema_dump
{
	my ($db) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pg_dump', '-s', '-n', 's', '-d', $node->connstr($db) ], '>', \$out, '2>', \$err)
	  or die "pg_dump of $db failed: $err";
	$out =~ s/^\\(un)?restrict \S+$/\\$1restrict KEY/mg;
	return $out;
}

# 1. into a new database
sq("CREATE DATABASE r1");
sq('r1', 'CREATE EXTENSION partback');
is(sq('r1', "SELECT partback.restore_db($ldir, source_db => 'postgres', parallel => 2, wait => true)"),
	'1', 'restore_db of the mix into a new database');
is(schema_dump('r1'), schema_dump('postgres'), 'pg_dump shows the same schema');
for my $t (@tables)
{
	is(PartbackTest::content_md5($node, 'r1', $t), PartbackTest::content_md5($node, 'postgres', $t),
		"content of $t");
}
is(sq('r1', "SELECT last_value || ' ' || is_called FROM s.ident_id_seq"), '77 true',
	'the identity sequence of a table its copy worker finished is where the source\'s was');
is(sq('r1', "SELECT convalidated FROM pg_constraint WHERE conname = 'ident_short'"), 'f',
	'its NOT VALID constraint is there, not validated');
is(sq('r1', "SELECT string_agg(table_name || ' ' || state || ' ' || partitions || ' ' || completed || ' ' || rows, ', ' ORDER BY table_name)"
	  . " FROM partback.task WHERE table_name IN ('s.ident', 's.p05', 's.regs')"),
	's.ident succeeded 1 1 30, s.p05 succeeded 1 1 15, s.regs succeeded 1 1 3',
	'the tasks of tables finished by copy workers and by the leader');

# 2. finishing s.ident fails in its copy worker: an event trigger refuses
# an ALTER TABLE of it once it holds rows (finish_target's NOT VALID
# constraint; its primary key is added while it is empty)
sq("CREATE DATABASE r2");
sq('r2', q{
	CREATE EXTENSION partback;
	CREATE FUNCTION public.refuse_ident() RETURNS event_trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
					WHERE c.object_identity = 's.ident' AND c.command_tag = 'ALTER TABLE') THEN
			IF EXISTS (SELECT 1 FROM s.ident) THEN
				RAISE EXCEPTION 'refused: s.ident is being finished';
			END IF;
		END IF;
	END $$;
	CREATE EVENT TRIGGER refuse_ident ON ddl_command_end EXECUTE FUNCTION public.refuse_ident();
});
my ($ret, $out, $err) = PartbackTest::run_sql($node, 'r2',
	"SELECT partback.restore_db($ldir, source_db => 'postgres', parallel => 2, wait => true)");
isnt($ret, 0, 'restore_db fails when one table cannot be finished');
like($err, qr/s\.ident/, 'its error names the table');
is(sq('r2', "SELECT to_regclass('s.ident') IS NULL"), 't',
	'the table its copy worker made, loaded and could not finish is not there');
is(sq('r2', "SELECT string_agg(table_name, ', ') FROM partback.task WHERE state = 'failed'"), 's.ident',
	'only that table failed');
is(PartbackTest::content_md5($node, 'r2', 's.p20'), PartbackTest::content_md5($node, 'postgres', 's.p20'),
	'the other tables are restored');
sq('r2', 'DROP EVENT TRIGGER refuse_ident');
is(sq('r2', "SELECT partback.restore_db($ldir, source_db => 'postgres', parallel => 2, wait => true)"),
	'2', 'called again, restore_db succeeds');
is(PartbackTest::content_md5($node, 'r2', 's.ident'), PartbackTest::content_md5($node, 'postgres', 's.ident'),
	'and restores that table');

# 3. the leader waits for a lock on s.z (restored over the existing table);
# meanwhile s.a, prepared before it, is loaded
sq('r1', 'DELETE FROM s.a');
my $bg = $node->background_psql('r1', on_error_stop => 0);
$bg->query_safe('BEGIN; LOCK TABLE s.z IN ACCESS EXCLUSIVE MODE;');
my $job = sq('r1', "SELECT partback.restore_db($ldir, source_db => 'postgres', parallel => 2)");
my $loaded = 0;
my $deadline = time() + 60;
while (time() < $deadline)
{
	$loaded = sq('r1', 'SELECT count(*) FROM s.a');
	last if $loaded == 200;
	usleep(100_000);
}
is($loaded, 200, 's.a is loaded while the leader waits to prepare s.z');
is(sq('r1', "SELECT state FROM partback.task WHERE job_id = $job AND table_name = 's.z'"), 'queued',
	's.z is not restored meanwhile');
$bg->query_safe('ROLLBACK;');
$bg->quit;
is(PartbackTest::wait_job($node, 'r1', $job), 'succeeded', 'the job then succeeds');
is(PartbackTest::content_md5($node, 'r1', 's.z'), PartbackTest::content_md5($node, 'postgres', 's.z'),
	'content of s.z');

done_testing();
