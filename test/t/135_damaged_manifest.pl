# 135_damaged_manifest.pl: issue 13, items 1 and 2 -- each backup stands
# alone, and removing a backup waits for the jobs that read it.
#
#   1. a damaged metadata file of backup 2 (kept): purge_backups(dir, 4)
#      removes backup 1 with a WARNING naming the file and keeps the files
#      beside it; backup 3 (which does not share it) restores correctly;
#   2. manifests/0000000002.json truncated: list_backups shows backup 2 with
#      its problem and the others without one; a restore naming no backup
#      restores the newest, reading no older manifest (no WARNING); a restore
#      naming backup_id => 3 restores backup 3; one naming backup 2 fails
#      naming its manifest; purge_backups(dir, 2) removes backup 3 and leaves
#      the damaged backup 2 alone (WARNING); delete_backup(dir, 2) removes it,
#      after which check_backup finds nothing wrong (no stray file, none
#      missing) and backups 4 and 5 still restore; in a copy of the dir
#      with the newest manifest damaged, a restore naming no backup fails
#      naming it (never an older backup unasked), backup_id => 4 restores;
#      restore_db naming no backup, beside an older damaged manifest of two
#      whole-database backups, restores the newest without reading (or
#      warning about) the older one, and fails naming the newest once that
#      is damaged;
#   3. delete_backup during a throttled restore of that backup: with
#      partback.lock_wait_timeout = 200ms it fails with 55P03 naming the
#      job; with the default it waits until the restore has ended, the
#      restore succeeds and the table holds the backup's content; a
#      check_backup in an open transaction makes delete_backup fail with
#      55P03 naming its process, and no longer once it committed;
#   4. an earlier manifest of odd shape (arrays where tables and partitions
#      belong) is no base for an incremental backup, and does no harm;
#   5. the JSON reader (src/jsonread.c, which encodes each container as the
#      parser leaves it) makes of a metadata file byte for byte the jsonb
#      jsonb_in makes: keys of every length out of order, repeated keys,
#      escapes, numbers, nested and empty containers, containers and
#      numerics after strings of every length (padding), more members than
#      a JEntry stride, deep nesting, 3,000 objects; a file that is a
#      scalar or an array is no metadata file; bad escapes do not parse;
#      _concat_objects (a table's entry with its backup's id) is ||.

use strict;
use warnings;

use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $TIMEOUT = $PostgreSQL::Test::Utils::timeout_default;
my $NPARTS  = 8;

my $node = PartbackTest::new_node('damaged', conf => "log_min_messages = info\n",
	extra => ['--encoding=UTF8', '--locale=C']);
my $base = PartbackTest::backup_dir('damaged');
my $dir  = "$base/bk";
my $ldir = PartbackTest::sql_lit($dir);
my $db_dir = "$dir/postgres";

sub sq { return PartbackTest::query($node, 'postgres', $_[0]); }

# Runs SQL; returns (ok, stdout, stderr).
sub run
{
	my ($sql) = @_;
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres', $sql);
	return (defined $ret && $ret == 0, $out // '', $err // '(timed out)');
}

sub md5_of { return PartbackTest::content_md5($node, 'postgres', $_[0]); }

# Damages a backup file: cuts it to $size bytes.
sub truncate_file
{
	my ($file, $size) = @_;
	open(my $fh, '+<', $file) or die "open $file: $!";
	truncate($fh, $size) or die "truncate: $!";
	close($fh);
}

# the table: $NPARTS partitions of about 1 MB each, of hex text that does
# not compress much
sq(qq{CREATE SCHEMA dm;
	CREATE TABLE dm.t (id int, grp int, pad text) PARTITION BY LIST (grp);
	SELECT format('CREATE TABLE dm.t_%s PARTITION OF dm.t FOR VALUES IN (%s)', g, g)
	  FROM generate_series(1, $NPARTS) g \\gexec
	INSERT INTO dm.t SELECT i, i % $NPARTS + 1,
		   md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text) || md5((i * 31)::text)
	  FROM generate_series(1, 64000) i;})
  // BAIL_OUT('could not create the table');

# backups 1 to 5, one partition changed between each
my %at;    # content of dm.t as each backup holds it
for my $b (1 .. 5)
{
	if ($b > 1)
	{
		sq("UPDATE dm.t SET pad = md5(pad) WHERE grp = $b") // BAIL_OUT('update failed');
	}
	sq("SELECT partback.backup_table($ldir, 'dm.t', wait => true)")
	  // BAIL_OUT("backup $b failed");
	$at{$b} = md5_of('dm.t');
}
is(sq("SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM partback.list_backups($ldir)"),
	'1,2,3,4,5', 'five backups');

# ---------- 1. a damaged metadata file of a kept backup ----------

# backup 2 changed partition grp = 2: its metadata file is backup 2's own
my ($meta2) = glob("$db_dir/data/dm/t/*/0000000002.meta.json");
ok(defined $meta2 && -f $meta2, 'backup 2 wrote a metadata file')
  or BAIL_OUT('no metadata file of backup 2');
truncate_file($meta2, 20);
my ($ok, $out, $err) = run("SELECT partback.purge_backups($ldir, 4)");
ok($ok, 'purge_backups works beside a damaged metadata file') or diag($err);
is($out, '1', 'it removed one backup');
like($err, qr/WARNING:.*0000000002\.meta\.json/, 'its WARNING names the damaged metadata file');
ok(-f $meta2, 'the damaged metadata file is kept');
is(sq("SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM partback.list_backups($ldir)"),
	'2,3,4,5', 'backups 2 to 5 remain');

($ok, $out, $err) = run("SELECT partback.restore_table($ldir, 'dm.t', target_table => 'dm.r3a', backup_id => 3, wait => true)");
ok($ok, 'backup 3 restores beside backup 2\'s damaged metadata') or diag($err);
is(md5_of('dm.r3a'), $at{3}, 'with backup 3\'s content');

# ---------- 2. a damaged manifest ----------

my $m2 = "$db_dir/manifests/0000000002.json";
truncate_file($m2, (-s $m2) / 2);
($ok, $out, $err) = run("SELECT backup_id, tables, problem IS NOT NULL, problem FROM partback.list_backups($ldir) ORDER BY 1");
ok($ok, 'list_backups works with a damaged manifest') or diag($err);
my @rows = split /\n/, $out;
is(scalar(@rows), 4, 'it lists four backups');
like($rows[0] // '', qr/^2\|\|t\|.*0000000002\.json.*does not parse as JSON/, 'backup 2 with its problem, naming the file');
is(join(';', map { (split /\|/)[2] // '' } @rows[1 .. 3]), 'f;f;f', 'backups 3, 4 and 5 without one');

($ok, $out, $err) = run("SELECT partback.restore_table($ldir, 'dm.t', target_table => 'dm.rnew', wait => true)");
ok($ok, 'a restore naming no backup works') or diag($err);
unlike($err, qr/WARNING/, 'without reading the damaged older manifest (the table is in the newest)');
is(md5_of('dm.rnew'), $at{5}, 'it restored the newest backup');

($ok, $out, $err) = run("SELECT partback.restore_table($ldir, 'dm.t', target_table => 'dm.r3', backup_id => 3, wait => true)");
ok($ok, 'a restore naming backup_id => 3 works') or diag($err);
is(md5_of('dm.r3'), $at{3}, 'it restored backup 3');

($ok, $out, $err) = run("SELECT partback.restore_table($ldir, 'dm.t', target_table => 'dm.r2', backup_id => 2, wait => true)");
ok(!$ok, 'a restore naming the damaged backup fails');
like($err, qr/0000000002\.json/, 'naming its manifest');
is(sq("SELECT to_regclass('dm.r2') IS NULL"), 't', 'and creates nothing');

($ok, $out, $err) = run("SELECT partback.purge_backups($ldir, 2)");
ok($ok, 'purge_backups works with a damaged manifest') or diag($err);
is($out, '1', 'it removed one backup (3: keep counts the backups that restore)');
like($err, qr/WARNING:.*backup 2 .*left alone.*0000000002\.json/, 'it leaves backup 2 alone with a WARNING naming its manifest');
ok(-f $m2, 'the damaged manifest is still there');

($ok, $out, $err) = run("SELECT partback.delete_backup($ldir, 2)");
ok($ok, 'delete_backup removes the damaged backup') or diag($err);
ok(!-e $m2, 'its manifest is gone');
is(sq("SELECT string_agg(backup_id::text || ':' || (problem IS NULL), ',' ORDER BY backup_id) FROM partback.list_backups($ldir)"),
	'4:true,5:true', 'backups 4 and 5 remain, intact');
is(sq("SELECT count(*) || coalesce(': ' || string_agg(concat_ws(' ', file, problem), '; '), '') FROM partback.check_backup($ldir)"),
	'0', 'check_backup: no file missing, none left over');
for my $b (4, 5)
{
	($ok, $out, $err) = run("SELECT partback.restore_table($ldir, 'dm.t', target_table => 'dm.r${b}b', backup_id => $b, wait => true)");
	ok($ok, "backup $b restores after the removals") or diag($err);
	is(md5_of("dm.r${b}b"), $at{$b}, "with backup $b's content");
}

# the newest manifest damaged (in a copy of the dir): a reader that picks
# the newest never falls back to an older backup unasked
{
	my $copy = PartbackTest::backup_dir('damaged') . '/copy';
	PostgreSQL::Test::RecursiveCopy::copypath($dir, $copy);
	truncate_file("$copy/postgres/manifests/0000000005.json", 10);
	my $lcopy = PartbackTest::sql_lit($copy);
	($ok, $out, $err) = run("SELECT partback.restore_table($lcopy, 'dm.t', target_table => 'dm.rx', wait => true)");
	ok(!$ok, 'with the newest manifest damaged, a restore naming no backup fails');
	like($err, qr/XX001:.*0000000005\.json/, 'naming it');
	is(sq("SELECT to_regclass('dm.rx') IS NULL"), 't', 'and creates nothing');
	($ok, $out, $err) = run("SELECT partback.restore_table($lcopy, 'dm.t', target_table => 'dm.r4c', backup_id => 4, wait => true)");
	ok($ok, 'naming backup 4 restores it') or diag($err);
	is(md5_of('dm.r4c'), $at{4}, 'with backup 4\'s content');
	is(sq("SELECT string_agg(backup_id || ':' || (problem IS NULL), ',' ORDER BY backup_id) FROM partback.list_backups($lcopy)"),
		'4:true,5:false', 'list_backups shows backup 5 damaged');
}

# restore_db naming no backup reads the manifests newest first, and no
# further than the backup it takes: an older damaged manifest is not read
# (no WARNING); the newest damaged is an error naming it
{
	my $rdir  = "$base/whole";
	my $lrdir = PartbackTest::sql_lit($rdir);
	my $want  = md5_of('dm.t');
	for my $b (1 .. 2)
	{
		sq("SELECT partback.backup_db($lrdir, wait => true)") // BAIL_OUT("backup_db $b failed");
	}
	truncate_file("$rdir/postgres/manifests/0000000001.json", 10);
	sq('CREATE DATABASE whole1');
	PartbackTest::query($node, 'whole1', 'CREATE EXTENSION partback') // BAIL_OUT('no extension');
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'whole1',
		"SELECT partback.restore_db($lrdir, source_db => 'postgres', wait => true)");
	ok(defined $ret && $ret == 0, 'restore_db naming no backup works beside an older damaged manifest')
	  or diag($err);
	like($err, qr/NOTICE:.*restoring backup 2 /, 'it restores the newest backup');
	unlike($err, qr/WARNING/, 'and does not read the older one');
	is(PartbackTest::content_md5($node, 'whole1', 'dm.t'), $want, 'the table holds the content backed up');

	truncate_file("$rdir/postgres/manifests/0000000002.json", 10);
	sq('CREATE DATABASE whole2');
	PartbackTest::query($node, 'whole2', 'CREATE EXTENSION partback') // BAIL_OUT('no extension');
	($ret, $out, $err) = PartbackTest::run_sql($node, 'whole2',
		"SELECT partback.restore_db($lrdir, source_db => 'postgres', wait => true)");
	ok(defined $ret && $ret != 0, 'with the newest manifest damaged, restore_db naming no backup fails');
	like($err, qr/XX001:.*0000000002\.json/, 'naming it');
	is(PartbackTest::query($node, 'whole2', "SELECT to_regclass('dm.t') IS NULL"), 't',
		'and creates nothing');
}

# ---------- 3. delete_backup during a throttled restore ----------

# Starts a throttled restore of backup 5 into $target; returns the job id
# once it has restored a partition.
sub throttled_restore
{
	my ($target) = @_;
	my $job = sq("SET partback.max_rate = 1; SELECT partback.restore_table($ldir, 'dm.t', target_table => '$target', backup_id => 5, parallel => 1)");
	my $progress = '';
	for (1 .. $TIMEOUT * 20)
	{
		$progress = sq("SELECT state || ' ' || completed FROM partback.jobs WHERE job_id = $job") // '';
		last if $progress =~ /^running (\d+)/ && $1 >= 1;
		last if $progress =~ /^(succeeded|failed|cancelled|interrupted)/;
		usleep(50_000);
	}
	like($progress, qr/^running/, "the throttled restore into $target is running ($progress)");
	return $job;
}

my $job = throttled_restore('dm.rdel1');
($ok, $out, $err) = run("SET partback.lock_wait_timeout = '200ms'; SELECT partback.delete_backup($ldir, 5)");
ok(!$ok, 'with lock_wait_timeout = 200ms, delete_backup of the backup being restored fails');
like($err, qr/55P03:.*backup 5 .*partback job $job\b/, 'with 55P03 naming the restore job');
ok(-f "$db_dir/manifests/0000000005.json", 'backup 5 is still there');
is(PartbackTest::wait_job($node, 'postgres', $job), 'succeeded', 'the restore succeeds');
is(md5_of('dm.rdel1'), $at{5}, 'the restored table holds the backup\'s content');

$job = throttled_restore('dm.rdel2');
($ok, $out, $err) = run("SELECT partback.delete_backup($ldir, 5)");
ok($ok, 'delete_backup waits for the restore, then removes the backup') or diag($err);
# (a job lets go of its claims just before its end commits, so that a call
# made once it shows ended finds them free: its state may still read
# running for that moment; the data it loaded is committed before)
is(md5_of('dm.rdel2'), $at{5}, 'the restore had loaded the whole table when delete_backup went on');
is(PartbackTest::wait_job($node, 'postgres', $job), 'succeeded', 'the restore succeeded');
ok(!-e "$db_dir/manifests/0000000005.json", 'backup 5 is gone');

# a check_backup holds what it checks to the end of its transaction
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_safe("BEGIN; SELECT count(*) FROM partback.check_backup($ldir)");
my $bgpid = $bg->query_safe('SELECT pg_backend_pid()');
($ok, $out, $err) = run("SET partback.lock_wait_timeout = '200ms'; SELECT partback.delete_backup($ldir, 4)");
ok(!$ok, 'delete_backup of a backup a check_backup reads fails');
like($err, qr/55P03:.*backup 4 .*process $bgpid\b/, 'with 55P03 naming the checking process');
$bg->query_safe('COMMIT');
$bg->quit;
($ok, $out, $err) = run("SELECT partback.delete_backup($ldir, 4)");
ok($ok, 'once the check has ended, delete_backup removes the backup') or diag($err);
is(sq("SELECT count(*) FROM partback.list_backups($ldir)"), '0', 'no backup is left');

# ---------- 4. an earlier manifest of odd shape ----------

# An incremental backup reads an earlier manifest's index (its tables'
# names and their partitions' files) from the JSON parser's events, before
# the checksum is checked: arrays where a table or a partition belongs, a
# member "partitions" of the wrong type, do no harm.  It is no base, so
# the table is copied anew.
my $odd  = "$base/odd";
my $lodd = PartbackTest::sql_lit($odd);
($ok, $out, $err) = run("SELECT partback.backup_table($lodd, 'dm.t', wait => true)");
ok($ok, 'a backup into a new dir') or diag($err);
{
	open(my $fh, '>', "$odd/postgres/manifests/0000000001.json") or die $!;
	print $fh '{"format": "partback", "version": 1, "backup_id": 1, "database": "postgres", '
	  . '"tables": [[[{"x": 1}]], {"schema": "dm", "name": "t", "definition": [[[{"y": 2}]]], '
	  . '"partitions": [[[{"path": "p"}]], {"partitions": {"path": "q"}}, "r"]}]}' . "\n";
	close($fh);
}
($ok, $out, $err) = run("SELECT partback.backup_table($lodd, 'dm.t', wait => true)");
ok($ok, 'a backup beside an earlier manifest of odd shape succeeds') or diag($err);
is(sq("SELECT sum(rows) FROM partback.chunk WHERE job_id = (SELECT max(job_id) FROM partback.job)"),
	'64000', 'it copied every row anew (that manifest is no base)');
($ok, $out, $err) = run("SELECT partback.restore_table($lodd, 'dm.t', target_table => 'dm.rodd', backup_id => 2, wait => true)");
ok($ok, 'and it restores') or diag($err);
is(md5_of('dm.rodd'), md5_of('dm.t'), 'with the table\'s content');

# ---------- 5. the JSON reader makes jsonb_in's jsonb ----------

my $probe = 0;
my $head  = '"format": "partback", "version": 1';
# Writes $json as a metadata file; returns its name in the database dir.
sub probe_file
{
	my ($json) = @_;
	my $name = 'probe_' . ++$probe . '.json';
	$json =~ s/HEAD/$head/;
	open(my $fh, '>:raw', "$odd/postgres/$name") or die $!;
	print $fh $json;
	close($fh);
	return $name;
}

my %docs = (
	'keys of every length, out of order, repeated' =>
	  q({"zz": 1, "a": 2, "": 3, "bbb": [4], "a": "again", "yy": {"k": 1, "k": 2}, "\u00e9t\u00e9": 5, "\u00c5": 6, HEAD}),
	'escapes and strings' =>
	  q({HEAD, "s": ["", "\"", "\\\\", "\n\t\r\b\f\/", "\u00e9", "\ud83d\ude00", "caf\u00e9 \u6f22\u5b57"]}),
	'numbers' =>
	  qq({$head, "n": [0, -0, 1.50, 1e3, -1.5E-7, 123456789012345678901234567890.125, 1e300, 7]}),
	'literals and empty containers' =>
	  qq({$head, "l": [true, false, null, [], {}, [[]], [{}], {"e": {}}, {"f": []}], "t": true, "u": null}),
	'padding after strings of every length' =>
	  '{' . $head . ', "p": [' . join(', ', map { '"' . ('x' x $_) . '", ' . ($_ * 1.5) . ', [' . $_ . '], {"' . ('k' x $_) . '": ' . $_ . '}' } 0 .. 40) . ']}',
	'more members than a stride' =>
	  '{' . $head . ', ' . join(', ', map { '"m' . ('y' x ($_ % 7)) . $_ . '": ' . ($_ % 3 ? $_ : '"s' . $_ . '"') } 1 .. 140) . '}',
	'deep nesting' => '{' . $head . ', "d": ' . ('[{"x": ' x 200) . '1' . ('}]' x 200) . '}',
	'3,000 objects' =>
	  '{' . $head . ', "a": [' . join(', ', map { qq({"path": "data/p$_", "bytes": $_, "ok": true, "sha": "@{[ 'f' x ($_ % 64) ]}"}) } 1 .. 3000) . ']}',
);
for my $what (sort keys %docs)
{
	my $name = probe_file($docs{$what});
	my $lname = PartbackTest::sql_lit($name);
	is( sq( "SELECT (x *= y) || ' ' || (x = y) FROM "
			  . "(SELECT partback._partition_meta($lodd, 'postgres', $lname, NULL) AS j) x, "
			  . "(SELECT pg_catalog.pg_read_file(" . PartbackTest::sql_lit("$odd/postgres/$name") . ")::jsonb AS j) y"),
		'true true', "JSON reader: $what -- byte for byte jsonb_in's jsonb");
}
is( sq( "SELECT partback._partition_meta($lodd, 'postgres', " . PartbackTest::sql_lit(probe_file($docs{'keys of every length, out of order, repeated'})) . ", NULL)->>'a'"),
	'again', 'a repeated key takes its last value');
# _concat_objects, which adds a backup's id to a table's entry without
# decoding it, is ||
for my $pair (['3,000 objects', 'keys of every length, out of order, repeated'],
	['more members than a stride', 'padding after strings of every length'])
{
	my ($a, $b) = map { PartbackTest::sql_lit($docs{$_} =~ s/HEAD/$head/r) } @$pair;
	is(sq("SELECT (x *= y) || ' ' || (x = y) FROM (SELECT partback._concat_objects($a, $b) AS j) x, (SELECT ${a}::jsonb || $b AS j) y"),
		'true true', "_concat_objects of \"$pair->[0]\" and \"$pair->[1]\" is ||, byte for byte");
}
for my $case (['a scalar' => '5', qr/is not a partback metadata file/],
	['a string' => '"partback"', qr/is not a partback metadata file/],
	['an array' => qq([{$head}]), qr/is not a partback metadata file/],
	['a lone surrogate' => q({HEAD, "s": "\ud800"}), qr/does not parse as JSON/],
	['a NUL escape' => q({HEAD, "s": "a\u0000b"}), qr/does not parse as JSON/],
	['a missing brace' => qq({$head, "s": [1, 2}), qr/does not parse as JSON/])
{
	my ($what, $json, $re) = @$case;
	($ok, $out, $err) = run("SELECT partback._partition_meta($lodd, 'postgres', " . PartbackTest::sql_lit(probe_file($json)) . ", NULL)");
	ok(!$ok && $err =~ $re, "a metadata file that is $what is refused") or diag($err);
}

done_testing();
