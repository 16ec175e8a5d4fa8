# 090_corruption.pl: the corruption matrix of issue 6 -- DESIGN.md's
# "Verification" and "Restore" (every file's checksum is verified; a
# mismatch aborts that partition's restore and leaves the target as it was).
#
# For every kind of file in a backup -- a data chunk, a partition's metadata,
# a manifest, the format marker -- and every kind of damage -- one byte
# flipped, truncated to half, emptied, deleted, garbage appended, swapped
# with the same file of another backup, and (for the JSON files) one digit
# changed so that the file still parses -- it asserts that
#   1. check_backup reports it: a row naming the damaged file (or, for a
#      deleted manifest, the files of the backup that has none), with the
#      fitting problem; a marker from a newer format is refused with an ERROR;
#   2. restore_table into the existing source table, changed since the
#      backup, fails with an ERROR naming the file (SQLSTATE XX001, or what
#      fits the marker/manifest damage) and the target keeps its content:
#      damage found before any partition is loaded (marker, manifest,
#      metadata) leaves every partition as it was; a damaged data chunk
#      leaves its partition as it was and every other one holding either its
#      old content or the backup's (partitions are replaced atomically, one
#      by one); a restore into a new table fails the same way and never
#      leaves the damaged partition with rows;
#   3. the server is still up and no server process crashed;
#   4. once the pristine file is back, check_backup is empty and a restore
#      gives the backup's content.
# Then a byte changed inside an uncompressed data file so that it still
# forms a valid COPY stream: only the checksum can tell.
#
# The backup corrupted is the newer one of two (the default of a restore);
# the second was taken with force => true after changes in every partition,
# so that each of its files has a distinct counterpart in the first backup.
#
# Tables are schema-qualified: the tests run as role "partback".

use strict;
use warnings;

use File::Copy qw(copy);
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $T0 = time();

# chunk_size = 1MB cuts the big partition (~2 MB of heap) into several chunks
my $node = PartbackTest::new_node('corruption',
	conf => "partback.chunk_size = '1MB'\nlog_min_messages = info\n");
my $base   = PartbackTest::backup_dir('corruption');
my $dir    = "$base/bk";
my $ldir   = PartbackTest::sql_lit($dir);
my $db_dir = "$dir/postgres";

sub sq { return PartbackTest::query($node, 'postgres', $_[0]); }

# Runs SQL that should fail; returns its stderr ('' if it succeeded).
sub sq_err
{
	my ($sql) = @_;
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres', $sql);
	return '' if defined $ret && $ret == 0;
	return $err // '(timed out)';
}

sub slurp_raw
{
	my ($file) = @_;
	open(my $fh, '<:raw', $file) or die "cannot read $file: $!";
	local $/;
	my $bytes = <$fh>;
	close($fh);
	return $bytes;
}

sub write_raw
{
	my ($file, $bytes) = @_;
	open(my $fh, '>:raw', $file) or die "cannot write $file: $!";
	print $fh $bytes;
	close($fh) or die "cannot write $file: $!";
	chmod(0600, $file);
}

# bound => "rows:md5" of every leaf of a table partitioned one level deep
sub part_md5
{
	my ($rel) = @_;
	my $out = sq(qq{
		WITH p AS (SELECT c.oid, pg_get_expr(c.relpartbound, c.oid) AS bound
					 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
					WHERE i.inhparent = '$rel'::regclass),
			 r AS (SELECT tableoid, count(*) AS n,
						  md5(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C")) AS m
					 FROM $rel t GROUP BY tableoid)
		SELECT p.bound, coalesce(r.n, 0) || ':' || coalesce(r.m, '')
		  FROM p LEFT JOIN r ON r.tableoid = p.oid}) // '';
	return map { split /\|/, $_, 2 } grep { length } split /\n/, $out;
}

# check_backup's rows as "file|problem|actual", or "ERROR: ..." when it fails
sub check_rows
{
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT concat_ws('|', coalesce(file, '-'), problem, coalesce(actual, '-'))"
		  . " FROM partback.check_backup($ldir) ORDER BY 1");
	return ("ERROR: " . ($err // 'timed out')) unless defined $ret && $ret == 0;
	return grep { length } split /\n/, $out;
}

my $log_offset = 0;

# Lines of the server log since the last call that show a crashed process.
sub new_crashes
{
	my $log = slurp_file($node->logfile, $log_offset);
	$log_offset += length($log);
	return grep { /terminated by signal|was terminated by exception|PANIC/ } split /\n/, $log;
}

# ---------------------------------------------------------------- data

# ct.parted: p_big (~20000 rows, ~2 MB of heap: several chunks), p_a, p_b
sq(q{
	CREATE SCHEMA ct;
	CREATE TABLE ct.parted (id integer NOT NULL, k integer NOT NULL, payload text) PARTITION BY LIST (k);
	CREATE TABLE ct.p_big PARTITION OF ct.parted FOR VALUES IN (0);
	CREATE TABLE ct.p_a PARTITION OF ct.parted FOR VALUES IN (1);
	CREATE TABLE ct.p_b PARTITION OF ct.parted FOR VALUES IN (2);
	INSERT INTO ct.parted SELECT i, 0, md5(i::text) || md5((-i)::text) FROM generate_series(1, 20000) AS i;
	INSERT INTO ct.parted SELECT i, 1 + i % 2, md5(i::text) FROM generate_series(20001, 21000) AS i;
	VACUUM ANALYZE ct.parted;});

my $job1 = sq("SELECT partback.backup_table($ldir, 'ct.parted', wait => true)");
ok(defined $job1, 'backup 1 of ct.parted succeeds');
# changes in every partition, in the big one all over its pages
sq(q{UPDATE ct.parted SET payload = 'changed ' || id WHERE id % 50 = 0 OR id > 20000 AND id % 7 = 0;
	VACUUM ct.parted;});
my $job2 = sq("SELECT partback.backup_table($ldir, 'ct.parted', force => true, wait => true)");
ok(defined $job2, 'backup 2 of ct.parted (force => true) succeeds');
is(sq("SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM partback.list_backups($ldir)") // '',
	'1,2', 'the dir holds backups 1 and 2');
my %backup_parts = part_md5('ct.parted');
my $backup_md5   = PartbackTest::content_md5($node, 'postgres', 'ct.parted');
is(join(',', check_rows()), '', 'check_backup finds the pristine backups healthy');

# the victims: chunk 00001 of p_big, p_big's metadata, the manifest, the
# marker -- each of backup 2 -- and their counterparts in backup 1
my %meta;
for my $id (1, 2)
{
	$meta{$id} = sq("SELECT partback.get_backup_meta($ldir, 'postgres', 'ct.parted', 'p_big', backup_id => $id)->'files'") // '';
}
my @chunks2 = $meta{2} =~ /"name": "([^"]+)"/g;
my @chunks1 = $meta{1} =~ /"name": "([^"]+)"/g;
cmp_ok(scalar(@chunks2), '>=', 2, 'p_big is cut into ' . scalar(@chunks2) . ' chunks in backup 2');
my $pdir = "$db_dir/data/ct/parted/p_big";
my %victim = (
	'data chunk' => {
		file  => "$pdir/" . ($chunks2[1] // 'none'),
		other => "$pdir/" . ($chunks1[1] // 'none') },
	'partition metadata' => {
		file  => "$pdir/0000000002.meta.json",
		other => "$pdir/0000000001.meta.json" },
	'manifest' => {
		file  => "$db_dir/manifests/0000000002.json",
		other => "$db_dir/manifests/0000000001.json" },
	'format marker' => {
		file  => "$dir/PARTBACK_FORMAT",
		# Every marker of format version 1 holds the same bytes, so swapping
		# in the marker of another backup dir of this version changes
		# nothing.  The one distinct marker another dir can have is that of
		# another format version: a dir written by a newer partback, which
		# every reader must refuse.  That is the "swapped" marker.
		other => "$base/newer_marker" },
);
write_raw("$base/newer_marker", qq({"format": "partback", "version": 2}\n));
for my $kind (sort keys %victim)
{
	my $v = $victim{$kind};
	ok(-f $v->{file} && -f $v->{other}, "$kind: $v->{file} and its counterpart exist");
	$v->{pristine} = slurp_raw($v->{file});
	$v->{name} = ($v->{file} =~ m{([^/]+)$})[0];
	isnt($v->{pristine}, slurp_raw($v->{other}), "$kind: its counterpart holds other bytes");
}

# ---------------------------------------------------------------- the matrix

my %damage = (
	'one byte flipped' => sub {
		my ($v) = @_;
		my $b = $v->{pristine};
		my $pos = int(length($b) / 2);
		substr($b, $pos, 1) = chr(ord(substr($b, $pos, 1)) ^ 0xFF);
		write_raw($v->{file}, $b);
	},
	'truncated' => sub { write_raw($_[0]{file}, substr($_[0]{pristine}, 0, int(length($_[0]{pristine}) / 2))); },
	'emptied'   => sub { write_raw($_[0]{file}, ''); },
	'deleted'   => sub { unlink($_[0]{file}) or die "cannot remove $_[0]{file}: $!"; },
	# a zero byte first: a reader that stops at it sees the pristine text
	'garbage appended' => sub { write_raw($_[0]{file}, $_[0]{pristine} . "\0\xff partback garbage \x01\n"); },
	'swapped with another backup\'s' => sub { copy($_[0]{other}, $_[0]{file}) or die "cannot copy: $!"; },
	# still valid JSON of the right shape: only a checksum (or, for the
	# marker, the check of its version) can tell
	'one digit changed' => sub {
		my ($v) = @_;
		my $b = $v->{pristine};
		$b =~ s/("(?:rows|version)": )(\d)/$1 . ($2 eq '1' ? '0' : '1')/e or die "no digit in $v->{file}";
		write_raw($v->{file}, $b);
	},
);
my @damages = ('one byte flipped', 'truncated', 'emptied', 'deleted', 'garbage appended',
	'swapped with another backup\'s', 'one digit changed');

# What check_backup must say: [ file shown (regex), problem (regex) ]
sub expected_report
{
	my ($kind, $how) = @_;
	my $deleted = $how eq 'deleted';
	return [ qr{^postgres/data/ct/parted/p_big/\Q$victim{$kind}{name}\E$},
		$deleted ? qr/^missing$/ : $how =~ /flipped|swapped/ ? qr/^(checksum|size) mismatch$/ : qr/^size mismatch$/ ]
	  if $kind eq 'data chunk';
	return [ qr{^postgres/data/ct/parted/p_big/0000000002\.meta\.json$},
		$deleted ? qr/^missing$/ : qr/^metadata damaged$/ ]
	  if $kind eq 'partition metadata';
	# without its manifest backup 2 does not exist: its files are extra
	return [ qr{^postgres/data/ct/parted/p_\w+/0000000002\.}, qr/^extra file$/ ]
	  if $kind eq 'manifest' && $deleted;
	return [ qr{^postgres/manifests/0000000002\.json$}, qr/^manifest damaged$/ ]
	  if $kind eq 'manifest';
	return [ qr{^PARTBACK_FORMAT$}, $deleted ? qr/^missing$/ : qr/^format marker damaged$/ ];
}

my $restore = "SELECT partback.restore_table($ldir, 'ct.parted', wait => true)";
my ($tried, $detected, $n_case) = (0, 0, 0);
my @undetected;

for my $kind ('data chunk', 'partition metadata', 'manifest', 'format marker')
{
	my $v = $victim{$kind};
	for my $how (@damages)
	{
		# a data chunk is compressed: see "checksum only" below
		next if $kind eq 'data chunk' && $how eq 'one digit changed';
		my $case = "$kind $how";
		my $case_ok = 1;
		$n_case++;
		$tried++;

		# every partition of the target differs from the backup
		sq("UPDATE ct.parted SET payload = 'target before case $n_case' WHERE id IN (SELECT min(id) FROM ct.parted GROUP BY k)");
		my %old = part_md5('ct.parted');
		$case_ok &= is(scalar(grep { $old{$_} ne $backup_parts{$_} } keys %old), 3,
			"$case: every partition of ct.parted differs from the backup");

		$damage{$how}->($v);
		isnt(-e $v->{file} ? slurp_raw($v->{file}) : 'deleted', $v->{pristine}, "$case: the file is damaged");

		# 1. check_backup
		my @rows = check_rows();
		my ($want_file, $want_problem) = @{ expected_report($kind, $how) };
		if ($kind eq 'format marker' && $how =~ /swapped/)
		{
			$case_ok &= like($rows[0] // '', qr/ERROR:  0A000: .*format version 2, newer than/,
				"$case: check_backup refuses a dir of a newer format version");
		}
		else
		{
			my @hits = grep { my ($f, $p) = split /\|/; $f =~ $want_file && $p =~ $want_problem } @rows;
			$case_ok &= ok(scalar(@hits), "$case: check_backup reports it")
			  or diag("check_backup said:\n" . join("\n", @rows));
		}

		# 2. restore_table into the changed source table
		my $err;
		if ($kind eq 'manifest' && $how eq 'deleted')
		{
			# without its manifest backup 2 is gone; the newest backup is 1
			$err = sq_err("SELECT partback.restore_table($ldir, 'ct.parted', backup_id => 2, wait => true)");
			$case_ok &= like($err, qr/ERROR:  42704: backup 2 of database "postgres" does not exist/,
				"$case: a restore of backup 2 fails: it does not exist");
		}
		else
		{
			$err = sq_err($restore);
			# a missing file is undefined_file, as for COPY FROM
			my $code = $how eq 'deleted' ? '58P01'
			  : $kind eq 'format marker' && $how =~ /swapped/ ? '0A000'
			  : 'XX001';
			$case_ok &= like($err, qr/ERROR:  $code:/, "$case: the restore fails with SQLSTATE $code");
			$case_ok &= like($err, qr/\Q$v->{name}\E/, "$case: the error names $v->{name}")
			  or diag($err);
		}
		my %now = part_md5('ct.parted');
		if ($kind eq 'data chunk')
		{
			my @torn = grep { ($now{$_} // '') ne $old{$_} && ($now{$_} // '') ne $backup_parts{$_} } keys %old;
			$case_ok &= is($now{'FOR VALUES IN (0)'}, $old{'FOR VALUES IN (0)'},
				"$case: the damaged partition p_big keeps its old content");
			$case_ok &= ok(!@torn, "$case: every other partition holds its old content or the backup's")
			  or diag("torn: @torn");
		}
		else
		{
			$case_ok &= is(join(',', map { "$_=$now{$_}" } sort keys %now), join(',', map { "$_=$old{$_}" } sort keys %old),
				"$case: ct.parted is unchanged");
		}

		# ... and into a new table
		unless ($kind eq 'manifest' && $how eq 'deleted')
		{
			my $err2 = sq_err("SELECT partback.restore_table($ldir, 'ct.parted', target_table => 'ct.fresh', wait => true)");
			$case_ok &= like($err2, qr/ERROR:  [0-9A-Z]{5}: .*\Q$v->{name}\E/s,
				"$case: a restore into a new table fails naming $v->{name}");
			my $big_rows = (sq("SELECT to_regclass('ct.fresh') IS NOT NULL") // '') eq 't'
			  ? sq("SELECT count(*) FROM ct.fresh WHERE k = 0") // 'error'
			  : 'absent';
			$case_ok &= like($big_rows, qr/^(absent|0)$/, "$case: the new table's damaged partition holds no rows ($big_rows)");
			sq("DROP TABLE IF EXISTS ct.fresh");
		}

		# 3. the server
		$case_ok &= is(sq('SELECT 1') // 'down', '1', "$case: the server is up");
		my @crashes = new_crashes();
		$case_ok &= ok(!@crashes, "$case: no server process crashed") or diag(join("\n", @crashes));

		# 4. repaired
		write_raw($v->{file}, $v->{pristine});
		my @after = check_rows();
		$case_ok &= is(join("\n", @after), '', "$case: check_backup is empty once the file is back");
		$case_ok &= ok(defined sq($restore), "$case: the restore from the repaired backup succeeds");
		$case_ok &= is(PartbackTest::content_md5($node, 'postgres', 'ct.parted'), $backup_md5,
			"$case: ct.parted equals backup 2");

		if ($case_ok) { $detected++; }
		else { push @undetected, $case; }
	}
}

# ---------------------------------------------------------------- checksum only

# An uncompressed data file in which one character of a value changes into
# another digit: the file still is a valid COPY stream of valid values.
{
	$tried++;
	my $pdir_plain = "$base/plain";
	my $lpdir      = PartbackTest::sql_lit($pdir_plain);
	sq(q{CREATE TABLE ct.plain (id integer NOT NULL, v text);
		INSERT INTO ct.plain SELECT i, 'value ' || i FROM generate_series(1, 1000) AS i;});
	my $plain_md5 = PartbackTest::content_md5($node, 'postgres', 'ct.plain');
	ok(defined sq("SELECT partback.backup_table($lpdir, 'ct.plain', compression => 'none', wait => true)"),
		'checksum only: backup of ct.plain with compression none');
	my $name = sq("SELECT partback.get_backup_meta($lpdir, 'postgres', 'ct.plain', 'plain')->'files'->0->>'name'") // 'none';
	my $file = "$pdir_plain/postgres/data/ct/plain/plain/$name";
	like($name, qr/^0000000001\.00000\.copy$/, 'checksum only: the data file is uncompressed');
	my $bytes = slurp_raw($file);
	my $pos   = index($bytes, 'value 500');
	cmp_ok($pos, '>', 0, 'checksum only: "value 500" is in the file');
	substr($bytes, $pos + 6, 1) = '7';    # value 700: another valid row
	write_raw($file, $bytes);

	my $case_ok = 1;
	my @rows = check_rows_dir($lpdir);
	$case_ok &= ok(scalar(grep { m{^postgres/data/ct/plain/plain/\Q$name\E\|checksum mismatch} } @rows),
		'checksum only: check_backup reports a checksum mismatch') or diag(join("\n", @rows));
	sq("UPDATE ct.plain SET v = 'changed' WHERE id = 1");
	my $old = PartbackTest::content_md5($node, 'postgres', 'ct.plain');
	my $err = sq_err("SELECT partback.restore_table($lpdir, 'ct.plain', wait => true)");
	$case_ok &= like($err, qr/ERROR:  XX001: .*\Q$name\E/, 'checksum only: the restore fails with XX001 naming the file');
	$case_ok &= is(PartbackTest::content_md5($node, 'postgres', 'ct.plain'), $old, 'checksum only: ct.plain is unchanged');
	my $err2 = sq_err("SELECT partback.restore_table($lpdir, 'ct.plain', target_table => 'ct.plain_new', wait => true)");
	$case_ok &= like($err2, qr/ERROR:  XX001: .*\Q$name\E/, 'checksum only: a restore into a new table fails too');
	$case_ok &= is(sq("SELECT to_regclass('ct.plain_new') IS NULL"), 't',
		'checksum only: the new table is not left behind (its copy worker made and loaded it in one transaction)');
	$case_ok &= is(sq('SELECT 1') // 'down', '1', 'checksum only: the server is up');
	substr($bytes, $pos + 6, 1) = '5';
	write_raw($file, $bytes);
	$case_ok &= is(join("\n", check_rows_dir($lpdir)), '', 'checksum only: check_backup is empty once repaired');
	$case_ok &= ok(defined sq("SELECT partback.restore_table($lpdir, 'ct.plain', wait => true)"),
		'checksum only: the restore from the repaired file succeeds');
	$case_ok &= is(PartbackTest::content_md5($node, 'postgres', 'ct.plain'), $plain_md5,
		'checksum only: ct.plain equals the backup');
	if ($case_ok) { $detected++; }
	else { push @undetected, 'uncompressed data file, one digit changed'; }
}

sub check_rows_dir
{
	my ($ld) = @_;
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT concat_ws('|', coalesce(file, '-'), problem) FROM partback.check_backup($ld) ORDER BY 1");
	return ("ERROR: " . ($err // 'timed out')) unless defined $ret && $ret == 0;
	return grep { length } split /\n/, $out;
}

# check_backup never takes a cancel for damage (issue 13): with a
# statement_timeout far shorter than the time it takes to checksum a large
# uncompressed data file, it raises 57014 instead of reporting the file.
{
	my $big = "$base/big";
	sq("CREATE TABLE public.big AS SELECT g, md5(g::text) || md5((g * 7)::text) AS t
	      FROM generate_series(1, 1500000) g");
	sq("SELECT partback.backup_table(" . PartbackTest::sql_lit($big) . ", 'public.big', compression => 'none', wait => true)");
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SET statement_timeout = '30ms'; SELECT count(*) FROM partback.check_backup(" . PartbackTest::sql_lit($big) . ")");
	ok($ret != 0 && $err =~ /canceling statement due to statement timeout/,
		'check_backup raises the statement timeout instead of reporting a file')
	  or diag("ret $ret out $out err $err");
	is(sq("SELECT count(*) FROM partback.check_backup(" . PartbackTest::sql_lit($big) . ")"), '0',
		'without the timeout the same backup is healthy');
	sq("DROP TABLE public.big");
}

my @crashes = new_crashes();
ok(!@crashes, 'no server process crashed') or diag(join("\n", @crashes));

note("corruptions detected: $detected of $tried tried");
note("not handled as required: $_") for @undetected;
is($detected, $tried, "corruptions detected: $detected of $tried tried");
note(sprintf('090_corruption took %.1f s', time() - $T0));
$node->stop;
done_testing();
