# 005_upgrade.pl: ALTER EXTENSION partback UPDATE gives what a fresh
# CREATE EXTENSION gives, and keeps what the catalog holds (issue 10).
#
# For every upgrade script partback--X--Y.sql installed (in the share dir of
# the PostgreSQL under test, so future versions are covered without editing
# this test), in a database of its own:
#   1. CREATE EXTENSION partback VERSION 'X', then a backup of a small
#      partitioned table through the API (a job with its task and chunk rows
#      in X's catalog, made by the current library: between a package upgrade
#      and ALTER EXTENSION UPDATE the new library runs on the old catalog);
#   2. ALTER EXTENSION partback UPDATE TO 'Y'; if partback--Y.sql exists, the
#      schema equals a fresh install of Y; then ALTER EXTENSION partback
#      UPDATE (to default_version);
#   3. the schema equals a fresh CREATE EXTENSION partback: pg_dump -s -n
#      partback, after the objects are detached from the extension (pg_dump
#      never dumps an extension's member objects), and the list of member
#      objects compared on its own;
#   4. the job's rows in partback.job, task and chunk are still there with
#      the same values (new columns allowed), get_backup_status() and
#      partback.jobs show the job as succeeded, and the backup restores
#      under the new version to identical content.
# The dumps are normalized only for pg_dump's random \restrict keys.

use strict;
use warnings;

use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('upgrade', create_extension => 0);
my $base = PartbackTest::backup_dir('upgrade');

sub lit { return PartbackTest::sql_lit(@_); }

# ---------------------------------------------------------------- scripts
my $extdir = $node->config_data('--sharedir') . '/extension';
my $control = slurp_file("$extdir/partback.control");
my ($current) = $control =~ /^\s*default_version\s*=\s*'([^']+)'/m;
ok(defined $current, "partback.control names default_version ($extdir)")
  or BAIL_OUT('no default_version');

# Version names never contain "--", so splitting on it is unambiguous.
opendir(my $dh, $extdir) or die "opendir $extdir: $!";
my (@updates, %full);
for my $f (sort readdir $dh)
{
	next unless $f =~ /^partback--(.+)\.sql$/;
	my @v = split /--/, $1;
	push @updates, [@v] if @v == 2;
	$full{ $v[0] } = 1 if @v == 1;
}
closedir $dh;
ok($full{$current}, "the current version's script partback--$current.sql is installed");
ok(@updates > 0, 'at least one upgrade script is installed: '
	  . join(', ', map { "$_->[0]--$_->[1]" } @updates));

# ---------------------------------------------------------------- helpers

# The schema as pg_dump -s -n partback shows it.  Run on a database that is
# thrown away afterwards: it detaches every member from the extension.
sub schema_dump
{
	my ($db) = @_;
	$node->safe_psql($db, q{
DO $$
DECLARE r record;
BEGIN
	FOR r IN
		SELECT CASE WHEN o.type LIKE '%type' THEN 'TYPE' ELSE upper(o.type) END AS kind,
			   o.identity, d.classid, d.objid, d.refobjid
		  FROM pg_depend d, pg_identify_object(d.classid, d.objid, d.objsubid) o
		 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
		   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'partback')
		   -- a table's row type and its array follow the table (18 lists
		   -- them as members of their own)
		   AND NOT (d.classid = 'pg_type'::regclass AND EXISTS (
					SELECT FROM pg_type t LEFT JOIN pg_type el ON el.oid = t.typelem
					 WHERE t.oid = d.objid AND (t.typrelid <> 0 OR el.typrelid <> 0)))
	LOOP
		CONTINUE WHEN NOT EXISTS (SELECT FROM pg_depend e
								   WHERE e.classid = r.classid AND e.objid = r.objid
									 AND e.refobjid = r.refobjid AND e.deptype = 'e');
		EXECUTE format('ALTER EXTENSION partback DROP %s %s', r.kind, r.identity);
	END LOOP;
END $$});
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pg_dump', '-s', '-n', 'partback', '-d', $node->connstr($db) ],
		'>', \$out, '2>', \$err)
	  or die "pg_dump of $db failed: $err";
	# random per-dump keys (15.14+); nothing else is normalized
	$out =~ s/^\\(un)?restrict \S+$/\\$1restrict KEY/mg;
	return $out;
}

# The extension's member objects, one a line, sorted.
sub members
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
SELECT string_agg(o, E'\n' ORDER BY o COLLATE "C")
  FROM pg_depend d, pg_describe_object(d.classid, d.objid, d.objsubid) o
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'partback')});
}

# Reports the first differing lines of two dumps.
sub same_text
{
	my ($got, $want, $name) = @_;
	return pass($name) if $got eq $want;
	my @g = split /\n/, $got;
	my @w = split /\n/, $want;
	my $i = 0;
	$i++ while $i < @g && $i < @w && $g[$i] eq $w[$i];
	fail($name);
	diag("first difference at line " . ($i + 1) . ":\n"
		  . "  upgraded: " . ($g[$i] // '(end)') . "\n"
		  . "  fresh:    " . ($w[$i] // '(end)'));
	return 0;
}

my %fresh;    # version => [dump, members]

sub fresh
{
	my ($version) = @_;
	return @{ $fresh{$version} } if $fresh{$version};
	my $db = "fresh_$version";
	$db =~ s/\W/_/g;
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
	$node->safe_psql($db, 'CREATE EXTENSION partback VERSION ' . lit($version));
	my $m = members($db);
	$fresh{$version} = [ schema_dump($db), $m ];
	return @{ $fresh{$version} };
}

my $content = q{SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM public.m t};

# ---------------------------------------------------------------- per script
my $n = 0;
for my $u (@updates)
{
	my ($from, $to) = @$u;
	my $db = 'upgrade_' . $n++;
	note("upgrade $from -> $to -> $current in database $db");
	eval {
		$node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
		$node->safe_psql($db, 'CREATE EXTENSION partback VERSION ' . lit($from));
		is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'partback'}),
			$from, "$from: installed as $from");

		# a job in the old catalog
		my $dir = "$base/$db";
		$node->safe_psql($db, q{
CREATE TABLE public.m (id int, day date, v text) PARTITION BY RANGE (day);
CREATE TABLE public.m_1 PARTITION OF public.m FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE public.m_2 PARTITION OF public.m FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
INSERT INTO public.m SELECT g, date '2024-01-01' + g % 50, 'row ' || g FROM generate_series(1, 1000) g;});
		my $before = $node->safe_psql($db, $content);
		my $job = $node->safe_psql($db,
			'SELECT partback.backup_table(' . lit($dir) . q{, 'public.m', wait => true)});
		like($job, qr/^\d+$/, "$from: backup job $job made under $from");
		$node->safe_psql($db, q{
CREATE TABLE public.saved_rows AS
	SELECT 'job' AS cat, to_jsonb(j) AS r FROM partback.job j
	UNION ALL SELECT 'task', to_jsonb(t) FROM partback.task t
	UNION ALL SELECT 'chunk', to_jsonb(c) FROM partback.chunk c;});
		my $saved = $node->safe_psql($db,
			q{SELECT string_agg(cat || '=' || n, ' ' ORDER BY cat) FROM
			  (SELECT cat, count(*) AS n FROM public.saved_rows GROUP BY cat) s});
		like($saved, qr/chunk=\d+ job=1 task=1/, "$from: the job left rows in job, task and chunk ($saved)");

		# up one step, then to the current version
		$node->safe_psql($db, 'ALTER EXTENSION partback UPDATE TO ' . lit($to));
		if ($full{$to} && $to ne $current)
		{
			my $copy = "${db}_at_to";
			$node->safe_psql('postgres', qq{CREATE DATABASE "$copy" TEMPLATE "$db"});
			my ($dump, $m) = fresh($to);
			is(members($copy), $m, "$from -> $to: same member objects as a fresh $to");
			same_text(schema_dump($copy), $dump, "$from -> $to: same pg_dump -s -n partback as a fresh $to");
		}
		$node->safe_psql($db, 'ALTER EXTENSION partback UPDATE');
		is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'partback'}),
			$current, "$from: ALTER EXTENSION partback UPDATE reaches $current");

		# the catalog's rows survived, and the new functions read them
		is($node->safe_psql($db, q{
SELECT count(*) FROM public.saved_rows s
 WHERE NOT EXISTS (SELECT FROM partback.job j WHERE s.cat = 'job' AND to_jsonb(j) @> s.r)
   AND NOT EXISTS (SELECT FROM partback.task t WHERE s.cat = 'task' AND to_jsonb(t) @> s.r)
   AND NOT EXISTS (SELECT FROM partback.chunk c WHERE s.cat = 'chunk' AND to_jsonb(c) @> s.r)}),
			'0', "$from -> $current: every job, task and chunk row is still there, unchanged");
		is($node->safe_psql($db,
			"SELECT job_type || ' ' || table_name || ' ' || state || ' ' || percent || ' ' || rows"
			  . " FROM partback.get_backup_status() WHERE job_id = $job"),
			'backup_table public.m succeeded 100.0 1000',
			"$from -> $current: get_backup_status() shows the old job");
		is($node->safe_psql($db,
			"SELECT state || ' ' || tables || ' ' || rows || ' ' || (backup_dir = " . lit($dir) . ')'
			  . " FROM partback.jobs WHERE job_id = $job"),
			'succeeded 1 1000 true', "$from -> $current: partback.jobs shows the old job");
		$node->safe_psql($db, q{TRUNCATE public.m});
		$node->safe_psql($db,
			'SELECT partback.restore_table(' . lit($dir) . q{, 'public.m', wait => true)});
		is($node->safe_psql($db, $content), $before,
			"$from -> $current: the backup made under $from restores to the same content");

		# and the schema is what a fresh install gives
		my ($dump, $m) = fresh($current);
		is(members($db), $m, "$from -> $current: same member objects as a fresh $current");
		same_text(schema_dump($db), $dump,
			"$from -> $current: same pg_dump -s -n partback as a fresh $current");
		1;
	} or fail("$from -> $to: $@");
}

$node->stop;
done_testing();
