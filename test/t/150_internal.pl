# 150_internal.pl: partback's internal functions (partback._*) are not
# executable by granted roles (issue 12, "What to build" 5; src/gate.c).
#
# Two roles: newr, granted by the README's recipe (USAGE on the schema,
# EXECUTE on the public functions by name), and oldr, granted by the
# recipe of old (EXECUTE ON ALL FUNCTIONS IN SCHEMA partback, internal ones
# included).
#   1. Each of them uses every public function: backs up, lists, inspects,
#      checks, restores (the background workers call the internal functions
#      as the role), waits, cancels, reads the status, purges, deletes.
#   2. Each calling an internal function directly gets 42501 "function
#      partback._x is internal to partback", with a hint naming the public
#      functions: C file readers (_manifest, _manifests, _partition_meta),
#      plpgsql (_def_create_root, _prepare_target), sql (_def_name_taken,
#      _db_tables), and then every internal function of the schema, each
#      with arguments not known at plan time.  A superuser's session after
#      SET ROLE is refused the same; the superuser itself may call them.  A
#      SECURITY DEFINER function of oldr's (an event trigger's) running in
#      newr's job is refused them: the gate is open for newr only.
#   3. A table owner's CHECK and index-expression function, evaluated while
#      a superuser's restore loads and indexes the owner's table (a
#      security-restricted operation, as the owner), is refused
#      partback._manifest though the owner (oldr) holds EXECUTE on it.
#   4. Without shared_preload_libraries, the first call of an internal C
#      function in a session loads the library after the hooks would have
#      looked at the call: the function refuses itself.

use strict;
use warnings;

use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('internal');
my $base = PartbackTest::backup_dir('internal');
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

# One assertion: $sql as $user is refused as a call of internal function
# $fn (42501, the message naming it, the hint naming public functions).
sub refused
{
	my ($name, $user, $fn, $sql) = @_;
	my ($ret, $out, $err) = run_as($user, $sql);
	my $ok = defined $ret && $ret != 0
	  && $err =~ /ERROR:\s+42501: function partback\.\Q$fn\E is internal to partback/
	  && $err =~ /HINT:\s+Call partback's public functions \(backup_db, restore_db/;
	ok($ok, $name)
	  or diag('SQL as ' . ($user // 'superuser') . ": $sql\n"
		  . (!defined $ret ? 'timed out' : $ret == 0 ? "succeeded, output: $out" : "stderr: $err"));
	return $err // '';
}

sub dir { return lit("$base/allowed/$_[0]"); }

# ---------------------------------------------------------------- setup

sq(undef, "ALTER SYSTEM SET partback.allowed_dirs = " . lit("$base/allowed"));
sq(undef, 'SELECT pg_reload_conf()');
$node->poll_query_until('postgres', 'SHOW partback.allowed_dirs', "$base/allowed");

sq(undef, 'CREATE ROLE newr LOGIN; CREATE ROLE oldr LOGIN;'
	  . PartbackTest::grant_sql('newr')
	  . 'GRANT USAGE ON SCHEMA partback TO oldr; GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partback TO oldr;'
	  . 'CREATE SCHEMA n AUTHORIZATION newr; CREATE SCHEMA o AUTHORIZATION oldr;');
for my $r (['newr', 'n'], ['oldr', 'o'])
{
	my ($role, $s) = @$r;
	sq($role, qq{
		CREATE TABLE $s.t (id integer NOT NULL, v text) PARTITION BY RANGE (id);
		CREATE TABLE $s.t_1 PARTITION OF $s.t FOR VALUES FROM (0) TO (100);
		CREATE TABLE $s.t_2 PARTITION OF $s.t FOR VALUES FROM (100) TO (200);
		INSERT INTO $s.t SELECT i, md5(i::text) FROM generate_series(0, 199) AS i;
	});
}

is(sq(undef, "SELECT count(*) FILTER (WHERE NOT has_function_privilege('public', oid, 'EXECUTE'))"
		  . " FROM pg_proc WHERE pronamespace = 'partback'::regnamespace AND starts_with(proname, '_')"), '0',
	'every internal function is executable by PUBLIC (the public ones call them as the caller)');

# ---------------------------------------------------------------- 1. the public functions

for my $r (['newr', 'n'], ['oldr', 'o'])
{
	my ($role, $s) = @$r;
	my $d = dir($role);
	my $job = sq($role, "SELECT partback.backup_table($d, '$s.t', wait => true)") // 0;
	like($job, qr/^\d+$/, "$role: backup_table");
	is(sq($role, "SELECT count(*) FROM partback.list_backups($d)"), '1', "$role: list_backups");
	is(sq($role, "SELECT string_agg(partition || ':' || rows, ',' ORDER BY partition)"
			  . " FROM partback.get_backup_list($d, 'postgres', '$s.t')"), 't_1:100,t_2:100', "$role: get_backup_list");
	is(sq($role, "SELECT partback.get_backup_meta($d, 'postgres', '$s.t', 't_2')->>'rows'"), '100', "$role: get_backup_meta");
	is(sq($role, "SELECT count(*) FROM partback.check_backup($d)"), '0', "$role: check_backup finds the backup healthy");
	is(sq($role, "SELECT partback.wait_job($job)"), 'succeeded', "$role: wait_job");
	is(sq($role, "SELECT partback.cancel_job($job)"), 'f', "$role: cancel_job of a finished job");
	ok(defined sq($role, "SELECT partback.restore_table($d, '$s.t', target_table => '$s.t_copy', wait => true)"),
		"$role: restore_table into a new table");
	is(sq($role, "SELECT count(*) FROM $s.t_copy"), '200', "$role: ... with its 200 rows");
	sq($role, "DELETE FROM $s.t WHERE id < 10");
	ok(defined sq($role, "SELECT partback.restore($d, '$s.t', 't_1', wait => true)"), "$role: restore of one partition");
	is(sq($role, "SELECT count(*) FROM $s.t"), '200', "$role: ... puts its rows back");
	ok(defined sq($role, "SELECT partback.backup_db($d, schemas => ARRAY['$s'], wait => true)"), "$role: backup_db");
	ok(defined sq($role, "SELECT partback.restore_db($d, schemas => ARRAY['$s'], wait => true)"), "$role: restore_db");
	is(sq($role, "SELECT count(DISTINCT job_id) FROM partback.get_backup_status() WHERE state = 'succeeded'"),
		'5', "$role: get_backup_status shows its 5 jobs");
	is(sq($role, "SELECT count(*) FROM partback.jobs WHERE state = 'succeeded'"), '5',
		"$role: so does the view partback.jobs");
	is(sq($role, "SELECT partback.purge_backups($d, 1)"), '1', "$role: purge_backups removes the older backup");
	sq($role, "SELECT partback.delete_backup($d, 2)");
	is(sq($role, "SELECT count(*) FROM partback.list_backups($d)"), '0', "$role: delete_backup removes the other");
}

# ---------------------------------------------------------------- 2. direct calls

sq(undef, "SELECT partback.backup_table(" . dir('su') . ", 'o.t', wait => true)");
my $meta = sq(undef, "SELECT p->>'meta' FROM partback._manifest(" . dir('su') . ", 'postgres') m,"
	  . " jsonb_array_elements(m->'tables') t, jsonb_array_elements(t->'partitions') p LIMIT 1") // '';
like($meta, qr/\.json$/, 'the superuser may call partback._manifest');

for my $role ('newr', 'oldr')
{
	my $d = dir('su');
	refused("$role: _manifest (C) is refused", $role, '_manifest', "SELECT partback._manifest($d, 'postgres')");
	refused("$role: _manifests (C, set-returning) is refused", $role, '_manifests',
		"SELECT * FROM partback._manifests($d, 'postgres')");
	refused("$role: _partition_meta (C) is refused", $role, '_partition_meta',
		"SELECT partback._partition_meta($d, 'postgres', " . lit($meta) . ', NULL)');
	refused("$role: _live (C) is refused", $role, '_live', 'SELECT * FROM partback._live()');
	refused("$role: _dequeue (C) is refused", $role, '_dequeue', 'SELECT partback._dequeue(1)');
	refused("$role: _def_create_root (plpgsql) is refused", $role, '_def_create_root',
		"SELECT partback._def_create_root('{}', 'n', 'x')");
	refused("$role: _prepare_target (plpgsql) is refused", $role, '_prepare_target',
		"SELECT * FROM partback._prepare_target('{}', 'n', 'x', NULL, false, false)");
	refused("$role: _def_name_taken (sql) is refused", $role, '_def_name_taken',
		"SELECT partback._def_name_taken('n', 't')");
	refused("$role: _db_tables (sql) is refused", $role, '_db_tables', 'SELECT * FROM partback._db_tables(NULL)');
	refused("$role: an internal function in a public function's argument is refused", $role, '_manifest',
		"SELECT * FROM partback.list_backups((SELECT partback._manifest($d, 'postgres')->>'x'))");

	# every internal function, with arguments the planner cannot fold
	my ($ret, $out, $err) = run_as($role, q{
		DO $$
		DECLARE
			f record;
			n integer := 0;
			bad text[] := '{}';
		BEGIN
			FOR f IN SELECT p.proname,
							(SELECT string_agg(pg_catalog.format('(SELECT NULL::%s)', format_type(a.t, NULL)), ', ' ORDER BY a.i)
							   FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)) AS args
					   FROM pg_proc p
					  WHERE p.pronamespace = 'partback'::regnamespace AND starts_with(p.proname, '_')
						AND p.proname <> '_effective_state'
			LOOP
				n := n + 1;
				BEGIN
					EXECUTE pg_catalog.format('SELECT partback.%I(%s)', f.proname, coalesce(f.args, ''));
					bad := bad || (f.proname || ': ran');
				EXCEPTION WHEN OTHERS THEN
					IF SQLSTATE <> '42501' OR SQLERRM <> pg_catalog.format('function partback.%s is internal to partback', f.proname) THEN
						bad := bad || (f.proname || ': ' || SQLSTATE || ' ' || SQLERRM);
					END IF;
				END;
			END LOOP;
			RAISE NOTICE 'refused % of %: %', n - cardinality(bad), n, bad;
		END $$;
	});
	my $n = sq(undef, "SELECT count(*) - 1 FROM pg_proc WHERE pronamespace = 'partback'::regnamespace AND starts_with(proname, '_')");
	like($err // '', qr/NOTICE:\s+(?:00000: )?refused $n of $n: \{\}/, "$role: each of the $n internal functions is refused")
	  or diag($err);
}

refused('a superuser\'s session after SET ROLE newr is refused', undef, '_live',
	'SET ROLE newr; SELECT * FROM partback._live()');
ok(defined sq(undef, 'SELECT count(*) FROM partback._live()'), 'the superuser may call partback._live');
ok(defined sq(undef, "SELECT partback._def_name_taken('n', 't')"), 'and partback._def_name_taken');
# only the extension's own functions open the gate: not one a superuser
# created in schema partback
sq(undef, "CREATE FUNCTION partback.opener() RETURNS bigint LANGUAGE plpgsql AS 'BEGIN RETURN (SELECT count(*) FROM partback._live()); END';"
	  . 'GRANT EXECUTE ON FUNCTION partback.opener() TO newr');
refused('a function a superuser added to schema partback opens nothing', 'newr', '_live', 'SELECT partback.opener()');
sq(undef, 'DROP FUNCTION partback.opener()');
# _effective_state, which the status views call directly, may be called
is(sq('newr', "SELECT partback._effective_state('succeeded', 0, 0)"), 'succeeded',
	'the status views\' partback._effective_state may be called');

# a SECURITY DEFINER function reached inside partback's work runs as its
# owner, who called no partback function: here an event trigger's function
# owned by oldr fires on the DDL of newr's restore, in newr's job's worker
sq(undef, q{
	CREATE TABLE public.evlog (outcome text);
	GRANT INSERT ON public.evlog TO oldr;
	CREATE FUNCTION public.ev_probe() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog AS $$
	DECLARE
		detail text;
	BEGIN
		PERFORM partback._live();
		INSERT INTO public.evlog VALUES ('called by ' || current_user);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
		INSERT INTO public.evlog VALUES (SQLSTATE || ' ' || SQLERRM || ' / ' || detail);
	END $$;
	ALTER FUNCTION public.ev_probe() OWNER TO oldr;
});
sq('newr', "SELECT partback.backup_table(" . dir('newr_ev') . ", 'n.t', wait => true)");
sq(undef, 'CREATE EVENT TRIGGER ev_probe ON ddl_command_end EXECUTE FUNCTION public.ev_probe()');
ok(defined sq('newr', "SELECT partback.restore_table(" . dir('newr_ev') . ", 'n.t', target_table => 'n.t_ev', wait => true)"),
	'newr restores into a new table while an event trigger\'s SECURITY DEFINER function of oldr fires on its DDL');
sq(undef, 'DROP EVENT TRIGGER ev_probe');
is(sq(undef, "SELECT string_agg(DISTINCT outcome, ',') FROM public.evlog"),
	'42501 function partback._live is internal to partback / Internal functions run only as the role that called'
	  . ' partback\'s public function (newr), not as oldr.',
	'... where, run as oldr inside newr\'s job, it is refused partback._live');

# ---------------------------------------------------------------- 3. the owner's code

my $od = dir('oldr2');
sq('oldr', "SELECT partback.backup_table($od, 'o.t', wait => true)");
sq('oldr', qq{
	CREATE TABLE o.probelog (kind text, outcome text);
	CREATE FUNCTION o.probe(kind text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS \$\$
	BEGIN
		BEGIN
			PERFORM partback._manifest($od, 'postgres');
			INSERT INTO o.probelog VALUES (kind, 'called by ' || current_user);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO o.probelog VALUES (kind, SQLSTATE || ' ' || SQLERRM);
		END;
		RETURN true;
	END \$\$;
	CREATE FUNCTION o.ix(k integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS \$\$
	BEGIN
		PERFORM o.probe('index');
		RETURN k;
	END \$\$;
	CREATE TABLE o.checked (id integer PRIMARY KEY, v text, CHECK (o.probe('check')));
	INSERT INTO o.checked SELECT i, md5(i::text) FROM generate_series(1, 20) AS i;
	CREATE TABLE o.indexed (id integer, v text);
	INSERT INTO o.indexed SELECT i, md5(i::text) FROM generate_series(1, 20) AS i;
	CREATE INDEX indexed_ix ON o.indexed (o.ix(id));
});
sq(undef, "SELECT partback.backup_table(" . dir('su') . ", 'o.checked', wait => true);"
	  . "SELECT partback.backup_table(" . dir('su') . ", 'o.indexed', wait => true)");

sq(undef, 'TRUNCATE o.probelog');
ok(defined sq(undef, "SELECT partback.restore_table(" . dir('su') . ", 'o.checked', force => true, wait => true)"),
	'a superuser restores oldr\'s table whose CHECK calls oldr\'s function');
is(sq(undef, "SELECT string_agg(DISTINCT kind || ': ' || outcome, ',') FROM o.probelog"),
	'check: 42501 function partback._manifest is internal to partback',
	'... which, run during the load (security-restricted, as oldr), is refused partback._manifest');
is(sq(undef, 'SELECT count(*) FROM o.checked'), '20', '... and the table holds its 20 rows');

sq(undef, 'DROP TABLE o.indexed; TRUNCATE o.probelog');
ok(defined sq(undef, "SELECT partback.restore_table(" . dir('su') . ", 'o.indexed', wait => true)"),
	'a superuser restores oldr\'s dropped table with an index on oldr\'s function');
is(sq(undef, "SELECT string_agg(DISTINCT kind || ': ' || outcome, ',') FROM o.probelog"),
	'index: 42501 function partback._manifest is internal to partback',
	'... whose index expression, run during the index build, is refused partback._manifest');

# ---------------------------------------------------------------- 4. the library not preloaded

$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->restart;
is(sq(undef, "SELECT count(*) FROM pg_settings WHERE name = 'shared_preload_libraries' AND setting = ''"), '1',
	'the server runs without partback preloaded');
refused('without the library preloaded, oldr\'s first call of _live (which loads it) refuses itself', 'oldr', '_live',
	'SELECT * FROM partback._live()');
refused('... and so does _manifest', 'oldr', '_manifest', "SELECT partback._manifest(" . dir('su') . ", 'postgres')");

done_testing();
