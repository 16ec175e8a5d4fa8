# 118_untrusted_code.pl: a backup nobody authenticated hands a superuser's
# restore no code it would run with more rights than the backup's tables
# give (issue 12, "What to build" 1: functions are created "only by a role
# that could have created them anyway").
#
# Node A backs up a table whose default calls a function of its own (SQL)
# and one whose CHECK calls a SECURITY DEFINER function.  Whoever can write
# the dir changes the first function's definition into a C function (any
# library, any symbol) or into SECURITY DEFINER, recomputing the manifest's
# checksum as FORMAT.md describes; a partition bound is changed into a
# function call.  A superuser's restore_db into a fresh database refuses
# each before creating anything (42501 naming the function; the bound as
# an invalid definition), with a HINT.  The genuine SECURITY DEFINER
# function is refused too without a key, and restored with one (the
# backup then verifies).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Digest::SHA;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('untrusted_code');
my $base = PartbackTest::backup_dir('untrusted_code');

sub lit { return PartbackTest::sql_lit(@_); }

sub rewrite_manifest
{
	my ($dir, $pattern, $replacement) = @_;
	my ($file) = glob("$dir/postgres/manifests/*.json");
	my $text = slurp_file($file);
	$text =~ s/$pattern/$replacement/ or die "no $pattern in $file";
	$text =~ s/"manifest_sha256": "[0-9a-f]{64}"\}\n\z//s or die "no checksum at the end of $file";
	$text .= '"manifest_sha256": "' . Digest::SHA::sha256_hex($text) . "\"}\n";
	open(my $fh, '>', $file) or die "cannot write $file: $!";
	print $fh $text;
	close($fh);
}

# restore_db of $dir into a fresh database $db; returns (exit, stderr)
sub restore_into
{
	my ($db, $dir) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION partback');
	my ($ret, $out, $err) = PartbackTest::run_sql($node, $db,
		"SELECT partback.restore_db(" . lit($dir) . ", source_db => 'postgres', backup_id => 1, wait => true)");
	return ($ret // -1, $err // 'timed out');
}

sub nothing_created
{
	my ($db) = @_;
	return $node->safe_psql($db,
		"SELECT to_regnamespace('app') IS NULL AND NOT EXISTS (SELECT FROM pg_proc WHERE proname IN ('next_code', 'audit_ok'))");
}

$node->safe_psql('postgres', q{
	CREATE SCHEMA app;
	CREATE FUNCTION app.next_code() RETURNS integer LANGUAGE sql AS 'SELECT 7';
	CREATE TABLE app.codes (id integer, code integer DEFAULT app.next_code()) PARTITION BY RANGE (id);
	CREATE TABLE app.codes_1 PARTITION OF app.codes FOR VALUES FROM (0) TO (100);
	CREATE TABLE app.codes_2 PARTITION OF app.codes FOR VALUES FROM (100) TO (200);
	INSERT INTO app.codes (id) SELECT generate_series(0, 199);
});
my $plain = "$base/plain";
$node->safe_psql('postgres', "SELECT partback.backup_db(" . lit($plain) . ", wait => true)");

# ---------- tampered: the function becomes a C function
{
	my $dir = "$base/c_function";
	PostgreSQL::Test::RecursiveCopy::copypath($plain, $dir);
	rewrite_manifest($dir, qr/ LANGUAGE sql\\nAS \$function\$SELECT 7\$function\$/,
		q{ LANGUAGE c\\nAS '$libdir/partback', 'partback_live'});
	my ($ret, $err) = restore_into('c_fn', $dir);
	ok($ret != 0 && $err =~ /ERROR:\s+42501:\s+refusing to create function app\.next_code\(\) from a backup that is not authenticated/,
		'a function turned into LANGUAGE c is refused, naming it') or diag($err);
	like($err, qr/DETAIL:.*language "c", which is not trusted/s, '... saying why');
	like($err, qr/HINT:.*partback\.auth_key_file/s, '... with a HINT');
	is(nothing_created('c_fn'), 't', '... and nothing of the backup was created');
}

# ---------- tampered: the function becomes SECURITY DEFINER
{
	my $dir = "$base/definer";
	PostgreSQL::Test::RecursiveCopy::copypath($plain, $dir);
	rewrite_manifest($dir, qr/ LANGUAGE sql\\nAS/, q{ LANGUAGE sql\\n SECURITY DEFINER\\nAS});
	my ($ret, $err) = restore_into('definer', $dir);
	ok($ret != 0 && $err =~ /ERROR:\s+42501:\s+refusing to create function app\.next_code\(\) from a backup that is not authenticated/,
		'a function turned SECURITY DEFINER is refused, naming it') or diag($err);
	like($err, qr/DETAIL:.*SECURITY DEFINER/s, '... saying why');
	is(nothing_created('definer'), 't', '... and nothing of the backup was created');
}

# ---------- tampered: a partition bound calls a function
{
	my $dir = "$base/bound";
	PostgreSQL::Test::RecursiveCopy::copypath($plain, $dir);
	rewrite_manifest($dir, qr/FOR VALUES FROM \(100\) TO \(200\)/,
		q{FOR VALUES FROM (pg_catalog.lo_export(1, '/tmp/partback_pwned')) TO (200)});
	my ($ret, $err) = restore_into('bound', $dir);
	ok($ret != 0 && $err =~ /ERROR:\s+42P17:\s+invalid bound of partition app\.codes_2 in the backup/,
		'a partition bound that calls a function is refused, naming the partition') or diag($err);
	is($node->safe_psql('bound', "SELECT to_regclass('app.codes') IS NULL"), 't', '... and the table was not created');
}

# the untampered backup restores as it was
{
	my ($ret, $err) = restore_into('plain', $plain);
	is($ret, 0, 'the untampered backup restores') or diag($err);
	is($node->safe_psql('plain', "SELECT count(*) || ' ' || sum(code) FROM app.codes"), '200 1400',
		'... with its rows');
	is($node->safe_psql('plain', "INSERT INTO app.codes (id) VALUES (5) RETURNING code"), '7',
		'... and its default calls the restored function');
}

# ---------- a genuine SECURITY DEFINER function: needs an authenticated backup
$node->safe_psql('postgres', q{
	CREATE FUNCTION app.audit_ok(integer) RETURNS boolean LANGUAGE sql SECURITY DEFINER AS 'SELECT $1 >= 0';
	CREATE TABLE app.audited (id integer CHECK (app.audit_ok(id)));
	INSERT INTO app.audited SELECT generate_series(1, 10);
});
my $definer = "$base/genuine";
$node->safe_psql('postgres', "SELECT partback.backup_db(" . lit($definer) . ", wait => true)");
{
	my ($ret, $err) = restore_into('genuine', $definer);
	ok($ret != 0 && $err =~ /ERROR:\s+42501:\s+refusing to create function app\.audit_ok\(integer\) from a backup that is not authenticated/,
		'without a key, a superuser\'s restore refuses even a genuine SECURITY DEFINER function') or diag($err);
}
# with a key, the same table and function are backed up authenticated and restored
{
	my $keyfile = "$base/partback.key";
	open(my $fh, '<', '/dev/urandom') or die;
	binmode $fh;
	read($fh, my $key, 32) == 32 or die;
	close($fh);
	open($fh, '>', $keyfile) or die;
	binmode $fh;
	print $fh $key;
	close($fh);
	chmod(0600, $keyfile);
	$node->safe_psql('postgres', "ALTER SYSTEM SET partback.auth_key_file = " . lit($keyfile));
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	$node->poll_query_until('postgres', "SELECT current_setting('partback.auth_key_file') = " . lit($keyfile));
	my $signed = "$base/signed";
	$node->safe_psql('postgres', "SELECT partback.backup_db(" . lit($signed) . ", wait => true)");
	my ($ret, $err) = restore_into('signed', $signed);
	is($ret, 0, 'with a key, the authenticated backup restores its SECURITY DEFINER function') or diag($err);
	is($node->safe_psql('signed', "SELECT prosecdef FROM pg_proc WHERE proname = 'audit_ok'"), 't',
		'... SECURITY DEFINER as it was');
	is($node->safe_psql('signed', 'SELECT count(*) FROM app.audited'), '10', '... and the table its 10 rows');
}

done_testing();
