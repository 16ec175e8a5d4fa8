# 110_untrusted_fs.pl: a backup dir is untrusted input (issue 12, the file
# system): whoever can write the backup storage must not make partback read,
# list, write or delete outside the dir, nor hang it.
#
#   1. a symbolic link below the dir (data/, a metadata file, a data file)
#      pointing into another backup outside partback.allowed_dirs: a granted
#      role's restore_table and check_backup, and a superuser's
#      partback._partition_meta, are refused (naming the link); no row of the
#      other backup is read
#   2. a link planted below the dir: delete_backup and purge_backups delete
#      nothing outside the dir
#   3. the dir swapped for a link out of allowed_dirs while the role's job
#      waits in the queue (before its leader starts, or while its leader
#      waits for a copy worker): the leader or the copy worker refuses it,
#      and nothing is written there
#   4. a FIFO in place of a data file: check_backup and a restore fail at
#      once (42809) instead of hanging; cancel_job ends a restore at once;
#      pg_ctl stop -m fast takes seconds
#   5. a 5-level partition tree of 62-byte non-ASCII names (paths longer than
#      1,024 bytes) backs up and restores
#   6. error messages about checksums do not show the expected value
#
# Every attack is run as the granted non-superuser alice, as 050 sets roles
# and partback.allowed_dirs up.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Copy qw(copy);
use File::Find;
use File::Path qw(make_path);
use POSIX qw(mkfifo);
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('untrusted',
	conf => "max_worker_processes = 4\nmax_logical_replication_workers = 0\n"
	  . "max_parallel_workers_per_gather = 0\npartback.max_workers_per_job = 1\n");
my $base = PartbackTest::backup_dir('untrusted');
make_path("$base/allowed", "$base/outside");

sub lit { return PartbackTest::sql_lit(@_); }

sub run_as
{
	my ($user, $sql, %p) = @_;
	return PartbackTest::run_sql($node, 'postgres', $sql, (defined $user ? (user => $user) : ()), %p);
}

sub sq
{
	my ($user, $sql) = @_;
	my ($ret, $out, $err) = run_as($user, $sql);
	return $out if defined $ret && $ret == 0;
	diag('SQL as ' . ($user // 'superuser') . " failed: $sql\n" . ($err // '(timed out)'));
	return undef;
}

# $sql as $user fails with SQLSTATE $code, and its error matches @res
sub fails_with
{
	my ($name, $code, $user, $sql, @res) = @_;
	my ($ret, $out, $err) = run_as($user, $sql, timeout => 60);
	my $ok = defined $ret && $ret != 0 && $err =~ /ERROR:\s+$code:/;
	$ok &&= $err =~ $_ for @res;
	ok($ok, $name)
	  or diag("SQL as " . ($user // 'superuser') . ": $sql\n"
		  . (!defined $ret ? 'timed out' : $ret == 0 ? "succeeded, output: $out" : "stderr: $err")
		  . "\nwanted $code" . (@res ? ' and ' . join(', ', @res) : ''));
	note("error: $err") if $ok;
	return $err // '';
}

sub files_under
{
	my ($dir) = @_;
	my @f;
	find({ wanted => sub { push @f, $File::Find::name if -f $_ || -l $_ }, no_chdir => 1 }, $dir) if -d $dir;
	return sort @f;
}

# copy a backup dir as real files and dirs (no link)
sub copy_tree
{
	my ($from, $to) = @_;
	find({ no_chdir => 1, wanted => sub {
		(my $rel = $File::Find::name) =~ s/^\Q$from\E//;
		if (-d $File::Find::name) { make_path("$to$rel"); }
		else { copy($File::Find::name, "$to$rel") or die "copy $File::Find::name: $!"; }
	} }, $from);
}

# Make a copied manifest claim to be made by $role, its checksum recomputed
# as FORMAT.md describes (as anyone who can write the storage can).
sub claim_manifests
{
	my ($dir, $role) = @_;
	for my $m (grep { /\.json$/ } files_under("$dir/postgres/manifests"))
	{
		open(my $fh, '<', $m) or die;
		my $text = do { local $/; <$fh> };
		close($fh);
		$text =~ s/"user": "[^"]*"/"user": "$role"/ or die "no user in $m";
		my $member = '"manifest_sha256": "';
		my $at = rindex($text, $member);
		die "no checksum in $m" if $at < 0;
		my $head = substr($text, 0, $at);
		unlink($m);
		open($fh, '>', $m) or die;
		print $fh $head . $member . sha256_hex($head) . "\"}\n";
		close($fh);
	}
}

# ---------------------------------------------------------------- setup

sq(undef, q{
	CREATE ROLE alice LOGIN;
	CREATE SCHEMA app;
	GRANT USAGE, CREATE ON SCHEMA app TO alice;
	CREATE TABLE app.secret (id integer PRIMARY KEY, v text);
	INSERT INTO app.secret SELECT i, 'secret ' || i FROM generate_series(1, 100) AS i;
	CREATE TABLE app.alice_own (id integer NOT NULL, v text) PARTITION BY RANGE (id);
	CREATE TABLE app.alice_own_1 PARTITION OF app.alice_own FOR VALUES FROM (0) TO (1000);
	CREATE TABLE app.alice_own_2 PARTITION OF app.alice_own FOR VALUES FROM (1000) TO (2000);
	INSERT INTO app.alice_own SELECT i, md5(i::text) FROM generate_series(0, 1999) AS i;
	ALTER TABLE app.alice_own OWNER TO alice;
	ALTER TABLE app.alice_own_1 OWNER TO alice;
	ALTER TABLE app.alice_own_2 OWNER TO alice;
	CREATE TABLE public.big AS SELECT i, repeat(md5(i::text), 4) AS t FROM generate_series(1, 300000) AS i;
} . PartbackTest::grant_sql('alice') . q{
});

# the victim: a superuser's backup of app.secret outside allowed_dirs
my $victim = "$base/outside/victim";
ok(defined sq(undef, "SELECT partback.backup_table(" . lit($victim) . ", 'app.secret', wait => true)"),
	'a superuser backs up app.secret outside what alice may use');

sq(undef, "ALTER SYSTEM SET partback.allowed_dirs = " . lit("$base/allowed") . "; SELECT pg_reload_conf()");
ok($node->poll_query_until('postgres', 'SHOW partback.allowed_dirs', "$base/allowed"),
	'partback.allowed_dirs set');

my @victim_meta = grep { m{/data/.*\.json$} } files_under("$victim/postgres");
my @victim_data = grep { m{/data/.*\.copy} } files_under("$victim/postgres");
ok(@victim_meta && @victim_data, 'the victim backup has metadata and data files');

# ---------------------------------------------------------------- 1: links out of the dir

# alice's dir: the victim's manifests (copied, as anyone who can read the
# storage could), and the rest reached through a link of some kind
my %evil;
{
	# data/ itself a link
	my $d = "$base/allowed/evil_data";
	make_path("$d/postgres");
	copy("$victim/PARTBACK_FORMAT", "$d/PARTBACK_FORMAT") or die;
	copy_tree("$victim/postgres/manifests", "$d/postgres/manifests");
	symlink("$victim/postgres/data", "$d/postgres/data") or die "symlink: $!";
	claim_manifests($d, 'alice');
	$evil{'data/ a link'} = $d;

	# a metadata file a link
	$d = "$base/allowed/evil_meta";
	copy_tree($victim, $d);
	(my $m = $victim_meta[0]) =~ s/^\Q$victim\E/$d/;
	unlink($m) or die;
	symlink($victim_meta[0], $m) or die;
	claim_manifests($d, 'alice');
	$evil{'a metadata file a link'} = $d;

	# a data file a link
	$d = "$base/allowed/evil_file";
	copy_tree($victim, $d);
	(my $f = $victim_data[0]) =~ s/^\Q$victim\E/$d/;
	unlink($f) or die;
	symlink($victim_data[0], $f) or die;
	claim_manifests($d, 'alice');
	$evil{'a data file a link'} = $d;

	# a partition's dir a link
	$d = "$base/allowed/evil_part";
	copy_tree($victim, $d);
	(my $vp = $victim_meta[0]) =~ s{/[^/]+$}{};
	(my $p = $vp) =~ s/^\Q$victim\E/$d/;
	system('rm', '-rf', $p) == 0 or die;
	symlink($vp, $p) or die;
	claim_manifests($d, 'alice');
	$evil{'a partition dir a link'} = $d;
}

for my $what (sort keys %evil)
{
	my $d = lit($evil{$what});
	(my $tbl = "app.stolen_$what") =~ s/\W+/_/g;
	$tbl =~ s/^app_/app./;
	my $err = fails_with("$what: alice's restore_table reading through it is refused (42501, naming a link)", '42501', 'alice',
		"SELECT partback.restore_table($d, 'app.secret', target_table => '$tbl', wait => true)",
		qr/symbolic link/);
	unlike($err, qr/[0-9a-f]{64}/, "$what: the error shows no checksum");
	my $rows = sq(undef, "SELECT CASE WHEN to_regclass('$tbl') IS NULL THEN 'no table' ELSE (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM $tbl', false, true, '')))[1]::text END");
	ok(defined $rows && ($rows eq 'no table' || $rows eq '0'), "$what: no row of the victim reached alice")
	  or diag("$tbl: $rows");
	fails_with("$what: check_backup is refused (42501)", '42501', 'alice',
		"SELECT * FROM partback.check_backup($d)", qr/symbolic link/);
}

# the internal function: a role may not call it at all (the gate), and a
# superuser's call does not follow the links either
{
	(my $rel = $victim_meta[0]) =~ s/^\Q$victim\E\/postgres\///;
	fails_with('alice may not call partback._partition_meta herself (42501, internal)', '42501', 'alice',
		"SELECT partback._partition_meta(" . lit($evil{'data/ a link'}) . ", 'postgres', " . lit($rel) . ", NULL)",
		qr/function partback\._partition_meta is internal to partback/);
	fails_with('a superuser\'s partback._partition_meta through a linked data/ is refused', '\w{5}', undef,
		"SELECT partback._partition_meta(" . lit($evil{'data/ a link'}) . ", 'postgres', " . lit($rel) . ", NULL)",
		qr/symbolic link/);
	fails_with('a superuser\'s partback._partition_meta of a linked metadata file is refused', '\w{5}', undef,
		"SELECT partback._partition_meta(" . lit($evil{'a metadata file a link'}) . ", 'postgres', " . lit($rel) . ", NULL)",
		qr/symbolic link/);
}

# ---------------------------------------------------------------- 6: no checksum in errors

{
	my $d = "$base/allowed/sums";
	ok(defined sq('alice', "SELECT partback.backup_table(" . lit($d) . ", 'app.alice_own', wait => true)"),
		'alice backs up her table');
	my @meta = grep { m{/data/.*\.json$} } files_under("$d/postgres");
	open(my $fh, '>>', $meta[0]) or die;
	print $fh ' ';
	close($fh);
	my $err = fails_with('a changed metadata file is refused (XX001)', 'XX001', 'alice',
		"SELECT partback.restore_table(" . lit($d) . ", 'app.alice_own', wait => true)",
		qr/checksum mismatch/);
	unlike($err, qr/[0-9a-f]{64}/, 'the checksum error shows neither the expected nor the computed SHA-256');
}

# ---------------------------------------------------------------- 2: links planted for delete and purge

for my $fn ('delete_backup', 'purge_backups')
{
	my $d = "$base/allowed/planted_$fn";
	my $precious = "$base/outside/precious_$fn";
	make_path($precious);
	for my $n ('a', 'b', '0000000001.00000.copy')
	{
		open(my $fh, '>', "$precious/$n") or die;
		print $fh "keep me\n";
		close($fh);
	}
	sq('alice', "SELECT partback.backup_table(" . lit($d) . ", 'app.alice_own', wait => true)");
	sq('alice', "SELECT partback.backup_table(" . lit($d) . ", 'app.alice_own', force => true, wait => true)");
	symlink($precious, "$d/postgres/data/planted") or die "symlink: $!";
	symlink($precious, "$d/postgres/data/app/planted") or die "symlink: $!";
	my $ids = sq('alice', "SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM partback.list_backups(" . lit($d) . ")") // '';
	my ($first) = split /,/, $ids;
	my $sql = $fn eq 'delete_backup'
	  ? "SELECT partback.delete_backup(" . lit($d) . ", " . ($first // 1) . ")"
	  : "SELECT partback.purge_backups(" . lit($d) . ", 1)";
	fails_with("$fn with a link planted below the dir is refused (42501, naming it)", '42501', 'alice', $sql,
		qr/planted/);
	is(join(',', map { s{.*/}{}r } files_under($precious)), '0000000001.00000.copy,a,b',
		"$fn deleted nothing outside the dir");
}

# ---------------------------------------------------------------- 3: the dir swapped while the job waits

# max_worker_processes is 4 and partback's launcher takes one slot.
# (a) whole: the superuser's slow job (leader and two copy workers) takes
#     the other three, so alice's job waits before its leader starts;
# (b) copy: the slow job takes two, alice's leader starts and makes its
#     dirs, and her copy worker waits for a slot.
# The dir is swapped for a link out of allowed_dirs meanwhile; when the
# slow job is cancelled, alice's job (its leader, or its copy worker) must
# refuse the dir.
for my $case ('whole', 'copy')
{
	my $q = "$base/allowed/queued_$case";
	my $target = "$base/outside/queued_target_$case";
	make_path($target);
	my $slow = sq(undef, "SET partback.max_rate = 1; SET partback.chunk_size = '4MB'; SET partback.allowed_dirs = '';"
		  . " SELECT partback.backup_table(" . lit("$base/outside/slow_$case") . ", 'public.big', parallel => "
		  . ($case eq 'whole' ? 2 : 1) . ")");
	my $want = $case eq 'whole' ? 3 : 2;
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = $want FROM pg_stat_activity WHERE application_name LIKE 'partback job $slow %'"),
		"$case: a slow job holds $want worker slots");
	my $job = sq('alice', "SELECT partback.backup_table(" . lit($q) . ", 'app.alice_own')");
	ok(defined $job && $node->poll_query_until('postgres',
		"SELECT state = 'queued' FROM partback.jobs WHERE job_id = $job"), "$case: alice's job waits in the queue");
	if ($case eq 'whole')
	{
		is(sq(undef, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'partback job $job %'"), '0',
			"$case: its leader has not started");
	}
	else
	{
		my $deadline = time + 60;
		usleep(100_000) while time < $deadline && !-d "$q/postgres/data/app/alice_own/alice_own_2";
		ok(-d "$q/postgres/data/app/alice_own/alice_own_2", "$case: its leader started and made its dirs");
		usleep(500_000);
	}
	rename($q, "$q.orig") or die "rename: $!";
	symlink($target, $q) or die "symlink: $!";
	sq(undef, "SELECT partback.cancel_job($slow)");
	my $state = PartbackTest::wait_job($node, 'postgres', $job, 120);
	is($state, 'failed', "$case: alice's job, run on after the swap, failed");
	like(sq(undef, "SELECT error_code || ' ' || error FROM partback.jobs WHERE job_id = $job") // '',
		qr/^42501 /, "$case: ... with 42501");
	is(join(',', files_under($target)), '', "$case: nothing was written where the link points");
	unlink($q);
	rename("$q.orig", $q);
}

# ---------------------------------------------------------------- 5: long non-ASCII names, 5 levels

{
	my $n = sub { ('é' x 30) . $_[0] };	# 62 bytes in UTF-8
	my ($s, $r, $l1, $l2, $l3, $l4) = map { $n->($_) } qw(s0 r0 l1 l2 l3 l4);
	my $q = sub { '"' . $_[0] . '"' };
	my $sch = $q->($s);
	sq(undef, qq{
		CREATE SCHEMA $sch;
		CREATE TABLE $sch.${\ $q->($r)} (a int, b int, c int, d int, v text) PARTITION BY LIST (a);
		CREATE TABLE $sch.${\ $q->($l1)} PARTITION OF $sch.${\ $q->($r)} FOR VALUES IN (1) PARTITION BY LIST (b);
		CREATE TABLE $sch.${\ $q->($l2)} PARTITION OF $sch.${\ $q->($l1)} FOR VALUES IN (1) PARTITION BY LIST (c);
		CREATE TABLE $sch.${\ $q->($l3)} PARTITION OF $sch.${\ $q->($l2)} FOR VALUES IN (1) PARTITION BY LIST (d);
		CREATE TABLE $sch.${\ $q->($l4)} PARTITION OF $sch.${\ $q->($l3)} FOR VALUES IN (1);
		INSERT INTO $sch.${\ $q->($r)} SELECT 1, 1, 1, 1, 'row ' || i FROM generate_series(1, 500) AS i;
		ALTER TABLE $sch.${\ $q->($r)} OWNER TO alice;
		GRANT USAGE ON SCHEMA $sch TO alice;
	});
	for my $t ($l1, $l2, $l3, $l4) { sq(undef, "ALTER TABLE $sch.${\ $q->($t)} OWNER TO alice"); }
	my $tbl = "$sch.${\ $q->($r)}";
	my $md5 = PartbackTest::content_md5($node, 'postgres', $tbl);
	my $d = "$base/allowed/long";
	ok(defined sq('alice', "SELECT partback.backup_table(" . lit($d) . ", " . lit($tbl) . ", wait => true)"),
		'a 5-level tree of 62-byte non-ASCII names backs up');
	my ($longest) = sort { length($b) <=> length($a) } files_under($d);
	cmp_ok(length($longest // ''), '>', 1024, 'its longest file path is over 1,024 bytes');
	is(sq('alice', "SELECT count(*) FROM partback.check_backup(" . lit($d) . ")"), '0', 'check_backup finds it healthy');
	sq('alice', "TRUNCATE $tbl");
	ok(defined sq('alice', "SELECT partback.restore_table(" . lit($d) . ", " . lit("$s.$r") . ", wait => true)"),
		'and restores');
	is(PartbackTest::content_md5($node, 'postgres', $tbl), $md5, 'with every row');
}

# ---------------------------------------------------------------- 4: a FIFO for a data file

{
	my $d = "$base/allowed/fifo";
	ok(defined sq('alice', "SELECT partback.backup_table(" . lit($d) . ", 'app.alice_own', wait => true)"),
		'alice backs up her table');
	my @data = grep { m{\.copy} } files_under("$d/postgres");
	unlink($data[0]) or die;
	mkfifo($data[0], 0600) or die "mkfifo: $!";

	my $t0 = time;
	fails_with('check_backup with a FIFO for a data file fails (42809, naming it) instead of hanging', '42809', 'alice',
		"SET statement_timeout = '60s'; SELECT * FROM partback.check_backup(" . lit($d) . ")", qr/FIFO/);
	cmp_ok(time - $t0, '<', 20, '... within seconds');

	$t0 = time;
	fails_with('restore_table with a FIFO for a data file fails (42809) instead of hanging', '42809', 'alice',
		"SELECT partback.restore_table(" . lit($d) . ", 'app.alice_own', wait => true)");
	cmp_ok(time - $t0, '<', 20, '... within seconds');

	my $job = sq('alice', "SELECT partback.restore_table(" . lit($d) . ", 'app.alice_own')");
	sq('alice', "SELECT partback.cancel_job($job)") if defined $job;
	$t0 = time;
	my $state = defined $job ? sq(undef, "SELECT partback.wait_job($job, interval '20 s')") : undef;
	ok(defined $state && $state =~ /^(failed|cancelled|interrupted)$/, 'a restore cancelled at once ends')
	  or diag('state: ' . ($state // 'none'));
	cmp_ok(time - $t0, '<', 20, '... within seconds');
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'partback job%'"),
		'no partback process is left');

	$t0 = time;
	my $stopped = eval { $node->stop('fast'); 1 };
	ok($stopped, 'pg_ctl stop -m fast works') or diag($@);
	cmp_ok(time - $t0, '<', 30, '... within seconds');
}

done_testing();
