# 080_retention.pl: DESIGN.md's "Backups are immutable points in time" and
# "Restore" -- retention, point-in-time restores, incremental restore and
# restores that never leave a partition torn (issue 4).
#
#   1. purge_backups: 4 backups of a table of 20 partitions, one partition
#      changed between each (so the backups share files); purge_backups(dir,
#      2) returns 2, list_backups shows the 2 newest, check_backup is empty,
#      the files left on disk are exactly the ones the kept backups' metadata
#      names; each kept backup_id restores the content as it was at that
#      backup; a purged backup_id fails with 42704;
#   2. delete_backup of the older kept one: one backup left, healthy, exactly
#      its files on disk, restores correctly; bad input: 42704, 22023, 22004;
#   3. purge beside a backup: a throttled backup_db (it takes over the older
#      backup's files) runs into the same dir; purge_backups(dir, 1) in
#      another session waits for it and returns only once the job is
#      'succeeded'; the new backup is healthy and restores correctly;
#   4. incremental restore: a repeated restore_table skips every partition
#      (partback.jobs.reused = 20, same relfilenodes), one changed partition
#      is restored again (reused = 19), force => true restores all; an
#      UNLOGGED target changed since its restore is restored again;
#   5. a corrupted data file: the restore fails with XX001 naming the file,
#      the damaged partition keeps its old content, every partition holds
#      either its old content or the backup's;
#   6. a restore whose leader is SIGKILLed midway: every partition holds
#      either its old content or the backup's, none is empty or mixed.
#
# Tables are schema-qualified: the tests run as role "partback", whose
# "$user" schema is the extension's.

use strict;
use warnings;

use File::Find;
use IPC::Run ();
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $TIMEOUT = $PostgreSQL::Test::Utils::timeout_default;
my $NPARTS  = 20;
my $T0      = time();

# wal_level = replica, the server default (PostgreSQL::Test::Cluster sets
# minimal): restores then WAL-log their loads as on a production server
my $node = PartbackTest::new_node('retention',
	conf => "restart_after_crash = on\nlog_min_messages = info\n"
	  . "wal_level = replica\nmax_wal_senders = 2\n");
my $base = PartbackTest::backup_dir('retention');
my $dir  = "$base/bk";
my $ldir = PartbackTest::sql_lit($dir);
my $db_dir = "$dir/postgres";    # the database's part of the backup dir

sub lit { return PartbackTest::sql_lit(@_); }

# Runs SQL; returns its output, or undef (after a diag) when it failed.
sub sq
{
	my ($sql, $db) = @_;
	return PartbackTest::query($node, $db // 'postgres', $sql);
}

# Runs SQL that should fail; returns its stderr ('' if it succeeded).
sub sq_err
{
	my ($sql) = @_;
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres', $sql);
	return '' if defined $ret && $ret == 0;
	return $err // '(timed out)';
}

sub md5_of { return PartbackTest::content_md5($node, 'postgres', $_[0]); }

sub check_backup_problems
{
	return sq("SELECT count(*) || coalesce(': ' || string_agg(concat_ws(' ', source_table, partition, file, problem), '; '), '')"
		  . " FROM partback.check_backup($ldir)") // 'error';
}

sub backup_ids
{
	return sq("SELECT coalesce(string_agg(backup_id::text, ',' ORDER BY backup_id), '') FROM partback.list_backups($ldir)")
	  // 'error';
}

# FORMAT.md's escaping of a name on disk
sub esc
{
	my ($name) = @_;
	my $bytes = $name;
	utf8::encode($bytes) if utf8::is_utf8($bytes);
	return join('', map { /[A-Za-z0-9_-]/ ? $_ : sprintf('%%%02X', ord($_)) } split //, $bytes);
}

# Files below $db_dir/data, relative to $db_dir, '.tmp' included.
sub files_on_disk
{
	my %f;
	return %f unless -d "$db_dir/data";
	find({ no_chdir => 1, wanted => sub {
		$f{ substr($_, length($db_dir) + 1) } = 1 if -f $_;
	} }, "$db_dir/data");
	return %f;
}

# Files the backups $ids (array ref) need, from their manifests and
# metadata: per partition the metadata file its manifest names and the data
# files get_backup_meta names.
sub files_needed
{
	my ($ids, $tables) = @_;
	my %f;
	for my $id (@$ids)
	{
		for my $t (@$tables)
		{
			my ($schema, $table) = split /\./, $t;
			my $out = sq("SELECT l.partition, f->>'name' FROM partback.get_backup_list($ldir, 'postgres', '$t', backup_id => $id) l,"
				  . " jsonb_array_elements(partback.get_backup_meta($ldir, 'postgres', '$t', l.partition, backup_id => $id)->'files') f")
			  // '';
			for my $row (grep { length } split /\n/, $out)
			{
				my ($path, $name) = split /\|/, $row;
				my $pdir = join('/', 'data', esc($schema), esc($table), map { esc($_) } split m{/}, $path);
				$f{"$pdir/$name"} = 1;
			}
		}
		# the metadata files, as the manifest names them (possibly an
		# earlier backup's: FORMAT.md, "Shared metadata files")
		my $metas = sq("SELECT p->>'meta' FROM jsonb_array_elements(partback._manifest($ldir, 'postgres', $id)->'tables') t,"
			  . " jsonb_array_elements(t->'partitions') p"
			  . " WHERE (t->>'schema') || '.' || (t->>'name') IN (" . join(', ', map { lit($_) } @$tables) . ")") // '';
		$f{$_} = 1 for grep { length } split /\n/, $metas;
	}
	return %f;
}

# Asserts that the files below data/ are exactly those the backups $ids need.
sub exactly_needed_ok
{
	my ($label, $ids, $tables) = @_;
	my %disk = files_on_disk();
	my %need = files_needed($ids, $tables);
	my @extra   = grep { !$need{$_} } sort keys %disk;
	my @missing = grep { !$disk{$_} } sort keys %need;
	ok(%need && !@extra && !@missing,
		"$label: the files on disk are exactly the " . scalar(keys %need)
		  . ' that backups ' . join(',', @$ids) . ' name (metadata and data files)')
	  or diag("not needed but on disk:\n  " . join("\n  ", @extra[0 .. ($#extra > 19 ? 19 : $#extra)])
		  . "\nneeded but missing:\n  " . join("\n  ", @missing[0 .. ($#missing > 19 ? 19 : $#missing)]));
	my @manifests = map { sprintf('%010d.json', $_) } @$ids;
	opendir(my $dh, "$db_dir/manifests") or die "cannot read $db_dir/manifests: $!";
	my @present = sort grep { !/^\./ } readdir $dh;
	closedir $dh;
	is(join(' ', @present), join(' ', sort @manifests), "$label: manifests/ holds exactly the kept backups' manifests");
}

# bound => "rows:md5" of every leaf of a table partitioned one level deep
# (an empty partition shows as "0:")
sub part_md5
{
	my ($rel) = @_;
	my $out = sq(qq{SET work_mem = '64MB';
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

sub short { return substr($_[0] // 'undef', 0, 14); }

# Asserts that every partition of $rel holds either $old's or $new's
# content (bound => md5 maps); returns (number old, number new).
sub old_or_new_ok
{
	my ($label, $rel, $old, $new) = @_;
	my %now = part_md5($rel);
	my ($n_old, $n_new, @torn) = (0, 0);
	for my $b (sort keys %$new)
	{
		my $m = $now{$b};
		if (defined $m && $m eq $new->{$b}) { $n_new++; }
		elsif (defined $m && $m eq $old->{$b}) { $n_old++; }
		else
		{
			push @torn, "$b: now " . short($m) . ', old ' . short($old->{$b}) . ', backup ' . short($new->{$b});
		}
	}
	ok(!@torn && scalar(keys %now) == scalar(keys %$new),
		"$label: each of the " . scalar(keys %$new) . " partitions of $rel holds its old content or the backup's"
		  . " ($n_old old, $n_new restored), none empty or mixed")
	  or diag(join("\n", @torn, 'partitions now: ' . scalar(keys %now)));
	return ($n_old, $n_new);
}

sub job_field
{
	my ($job, $field) = @_;
	return sq("SELECT $field FROM partback.jobs WHERE job_id = " . ($job // 0)) // 'error';
}

# ---------------------------------------------------------------- data

# rt.parted: 20 range partitions of ~0.7 MB (0.35 MB stored); md5 payloads
# compress about 2:1 like real data.  Each partition stays below 1 MB of
# heap, so that the backup run with partback.chunk_size = '1MB' in part 3
# cuts them into the same single chunk as the default does (a partition cut
# differently is copied again rather than taken over).
my $payload = join(' || ', map { "md5((i * 6 + $_)::text)" } 0 .. 5);
sq(qq{
	CREATE SCHEMA rt;
	CREATE SCHEMA rcopy;
	CREATE TABLE rt.parted (id bigint NOT NULL, k integer NOT NULL, payload text) PARTITION BY RANGE (k);
	DO \$\$ BEGIN
		FOR g IN 0 .. $NPARTS - 1 LOOP
			EXECUTE format('CREATE TABLE rt.parted_%s PARTITION OF rt.parted FOR VALUES FROM (%s) TO (%s)', g, g, g + 1);
		END LOOP;
	END \$\$;
	INSERT INTO rt.parted SELECT i, i % $NPARTS, $payload FROM generate_series(1, 60000) AS i;
	VACUUM ANALYZE rt.parted;});

# ---------------------------------------------------------------- 1. purge_backups

# 4 backups; between two of them one row of one partition changes
my (@ids, %md5_at, %parts_at);
for my $n (1 .. 4)
{
	if ($n > 1)
	{
		# VACUUM settles the changed pages now: pruned later by a reader, they
		# would look changed to the next backup, which may then copy the
		# partition again (DESIGN.md allows that; it is not what is tested here)
		my $p = 'rt.parted_' . ($n * 3);
		sq("UPDATE rt.parted SET payload = 'changed before backup $n' WHERE id = (SELECT min(id) FROM $p)");
		sq("VACUUM $p");
	}
	my $job = sq("SELECT partback.backup_table($ldir, 'rt.parted', wait => true)") // 0;
	my $id = job_field($job, 'backup_id');
	push @ids, $id;
	$md5_at{$id} = md5_of('rt.parted');
	$parts_at{$id} = { part_md5('rt.parted') };
	note("backup $n: job $job, backup_id $id, reused " . job_field($job, 'reused') . ' partitions');
}
is(backup_ids(), join(',', @ids), '4 backups are listed');
cmp_ok(job_field(sq("SELECT max(job_id) FROM partback.job"), 'reused'), '==', $NPARTS - 1,
	'the 4th backup took over the files of 19 unchanged partitions (backups share files)');
my @distinct = do { my %s = map { $_ => 1 } values %md5_at; keys %s };
is(scalar(@distinct), 4, 'the 4 backups hold 4 different contents');

is(sq("SELECT partback.purge_backups($ldir, 2)") // 'error', '2', 'purge_backups(dir, 2) returns 2');
my @kept = @ids[ 2, 3 ];
is(backup_ids(), join(',', @kept), 'list_backups shows exactly the 2 newest backups');
is(check_backup_problems(), '0', 'check_backup finds nothing wrong after the purge');
exactly_needed_ok('after purge_backups(dir, 2)', \@kept, ['rt.parted']);

for my $id (@kept)
{
	my $job = sq("SELECT partback.restore_table($ldir, 'rt.parted', target_table => 'rcopy.at_$id', backup_id => $id, wait => true)");
	ok(defined $job, "restore_table with backup_id => $id succeeds");
	is(md5_of("rcopy.at_$id"), $md5_at{$id}, "backup $id restores the content as it was at that backup");
	sq("DROP TABLE IF EXISTS rcopy.at_$id");
}
for my $id (@ids[ 0, 1 ])
{
	like(sq_err("SELECT partback.restore_table($ldir, 'rt.parted', target_table => 'rcopy.gone_$id', backup_id => $id, wait => true)"),
		qr/ERROR:  42704:/, "restore_table of purged backup $id fails with SQLSTATE 42704");
}
is(sq("SELECT to_regclass('rcopy.gone_$ids[0]') IS NULL AND to_regclass('rcopy.gone_$ids[1]') IS NULL") // 'error', 't',
	'a failed restore of a purged backup creates no target table');

# ---------------------------------------------------------------- 2. delete_backup

is(sq("SELECT partback.delete_backup($ldir, $kept[0])") // 'error', '', "delete_backup(dir, $kept[0]) succeeds");
is(backup_ids(), $kept[1], 'list_backups shows the one backup left');
is(check_backup_problems(), '0', 'check_backup finds nothing wrong after delete_backup');
exactly_needed_ok('after delete_backup', [ $kept[1] ], ['rt.parted']);
ok(defined sq("SELECT partback.restore_table($ldir, 'rt.parted', target_table => 'rcopy.newest', wait => true)"),
	'restore_table of the newest backup succeeds');
is(md5_of('rcopy.newest'), $md5_at{ $kept[1] }, 'the newest backup still restores correctly');
sq('DROP TABLE IF EXISTS rcopy.newest');

my $missing_id = $kept[1] + 100;
like(sq_err("SELECT partback.delete_backup($ldir, $missing_id)"), qr/ERROR:  42704:.*\b$missing_id\b/,
	'delete_backup of a nonexistent backup_id fails with 42704 naming it');
like(sq_err("SELECT partback.delete_backup($ldir, $ids[0])"), qr/ERROR:  42704:/,
	'delete_backup of a purged backup_id fails with 42704');
like(sq_err("SELECT partback.purge_backups($ldir, 0)"), qr/ERROR:  22023:/, 'purge_backups(dir, 0) fails with 22023');
like(sq_err("SELECT partback.purge_backups($ldir, -1)"), qr/ERROR:  22023:/, 'purge_backups(dir, -1) fails with 22023');
for my $call ("purge_backups(NULL, 1)", "purge_backups($ldir, NULL)", "purge_backups($ldir, 1, NULL)",
	"delete_backup(NULL, $kept[1])", "delete_backup($ldir, NULL)", "delete_backup($ldir, $kept[1], NULL)")
{
	like(sq_err("SELECT partback.$call"), qr/ERROR:  22004:/, "$call fails with 22004");
}
is(sq("SELECT partback.purge_backups($ldir, 3)") // 'error', '0', 'purge_backups(dir, 3) with one backup returns 0');
is(backup_ids(), $kept[1], 'the failed calls and the purge of nothing removed nothing');
exactly_needed_ok('after the failed calls', [ $kept[1] ], ['rt.parted']);
is(check_backup_problems(), '0', 'check_backup finds nothing wrong after the failed calls');

# ---------------------------------------------------------------- 3. purge beside a backup

# rt.big: a plain table of ~30 MB; a backup_db of schema rt throttled to 2 MB/s
# per copy worker copies it in several seconds and takes over rt.parted's
# files from the older backup
sq(qq{CREATE TABLE rt.big (id bigint NOT NULL, payload text);
	INSERT INTO rt.big SELECT i, $payload FROM generate_series(1, 130000) AS i;
	VACUUM ANALYZE rt.big;});
my $big_size = sq("SELECT pg_relation_size('rt.big')") // 0;
note("rt.big: $big_size bytes");
my %src_md5 = ('rt.parted' => md5_of('rt.parted'), 'rt.big' => md5_of('rt.big'));
my %src_parts = part_md5('rt.parted');

my $bjob = sq("SET partback.max_rate = 2; SET partback.chunk_size = '1MB';"
	  . " SELECT partback.backup_db($ldir, schemas => ARRAY['rt'], wait => false)");
my $t_backup = time();
ok(defined $bjob && $bjob =~ /^\d+$/, 'a throttled backup_db starts');
$bjob //= 0;
# the leader holds the dir's lock once it copies
my $running = 0;
for (1 .. $TIMEOUT * 20)
{
	my $p = sq("SELECT state || ' ' || rows FROM partback.jobs WHERE job_id = $bjob") // '';
	if ($p =~ /^running [1-9]/) { $running = 1; last; }
	last if $p =~ /^(succeeded|failed|cancelled|interrupted)/;
	usleep(50_000);
}
ok($running, "backup job $bjob is running and copying");

my ($pout, $perr) = ('', '');
my $purge = IPC::Run::start(
	[ $node->installed_command('psql'), '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	  '-c', "SELECT partback.purge_backups($ldir, 1)",
	  # right after the purge returns, in a new transaction: the job's state
	  '-c', "SELECT state FROM partback.jobs WHERE job_id = $bjob" ],
	'>', \$pout, '2>', \$perr);
my $t_purge = time();
my ($seen_waiting, $done_while_running, $purge_done, $job_end_seen) = (0, 0, 0, undef);
while (time() - $t_purge < $TIMEOUT)
{
	$purge->pump_nb;
	unless ($purge->pumpable)
	{
		$purge_done = time();
		last;
	}
	my $r = sq("SELECT (SELECT state FROM partback.jobs WHERE job_id = $bjob) || ' '"
		  . " || EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
		  . "  WHERE l.locktype = 'advisory' AND NOT l.granted AND a.query LIKE '%purge_backups%')") // '';
	$seen_waiting = 1 if $r =~ /^running t/;
	$job_end_seen //= time() if $r =~ /^succeeded/;
	usleep(100_000);
}
$purge->finish;
my ($removed, $state_after) = split /\n/, $pout;
note(sprintf('backup ran %.1f s; purge returned after %.1f s%s', ($job_end_seen // time()) - $t_backup,
	($purge_done || time()) - $t_purge, $perr ? ", stderr: $perr" : ''));
ok($seen_waiting, 'purge_backups waited for the dir lock while the backup was running');
ok($purge_done, 'purge_backups returned');
is($state_after // 'none', 'succeeded', 'purge_backups returned only after the backup job was succeeded');
is($removed // 'none', '1', 'purge_backups(dir, 1) removed 1 backup');
cmp_ok($purge_done - $t_purge, '>', 1, 'purge_backups was blocked for more than a second') if $purge_done;
is(job_field($bjob, 'state'), 'succeeded', "backup job $bjob succeeded");
cmp_ok(job_field($bjob, 'reused'), '==', $NPARTS,
	"the new backup took over the 20 unchanged partitions of rt.parted from the older one");
my $newest = job_field($bjob, 'backup_id');
is(backup_ids(), $newest, "list_backups shows only the new backup $newest");
is(check_backup_problems(), '0', 'check_backup finds the new backup healthy after the purge');
exactly_needed_ok('after the purge beside a backup', [$newest], [ 'rt.parted', 'rt.big' ]);
for my $t (sort keys %src_md5)
{
	my $target = 'rcopy.' . ($t =~ s/^rt\.//r) . '_new';
	ok(defined sq("SELECT partback.restore_table($ldir, '$t', target_table => '$target', wait => true)"),
		"restore_table of $t from the new backup succeeds");
	is(md5_of($target), $src_md5{$t}, "$target equals the source $t");
	sq("DROP TABLE IF EXISTS $target");
}

# ---------------------------------------------------------------- 4. incremental restore

my $restore_copy = "SELECT partback.restore_table($ldir, 'rt.parted', target_table => 'rcopy.copy', wait => true)";
my $filenodes = "SELECT string_agg(pg_relation_filenode(inhrelid)::text, ',' ORDER BY inhrelid)"
  . " FROM pg_inherits WHERE inhparent = 'rcopy.copy'::regclass";
my $r1 = sq($restore_copy);
ok(defined $r1, 'restore_table into rcopy.copy (new) succeeds');
is(job_field($r1, 'reused'), '0', 'the first restore reuses nothing');
is(md5_of('rcopy.copy'), $src_md5{'rt.parted'}, 'rcopy.copy equals the backup');
my $nodes1 = sq($filenodes) // 'error1';

my $r2 = sq($restore_copy);
ok(defined $r2, 'the same restore_table again succeeds');
is(job_field($r2, 'reused'), $NPARTS, "the repeated restore skips all $NPARTS partitions (jobs.reused)");
is(md5_of('rcopy.copy'), $src_md5{'rt.parted'}, 'rcopy.copy is unchanged');
is(sq($filenodes) // 'error2', $nodes1, 'no partition was loaded again (same relfilenodes)');

sq("UPDATE rcopy.copy SET payload = 'changed in the copy' WHERE id = (SELECT min(id) FROM rcopy.copy WHERE k = 7)");
isnt(md5_of('rcopy.copy'), $src_md5{'rt.parted'}, 'one row of one partition of rcopy.copy changed');
my $r3 = sq($restore_copy);
ok(defined $r3, 'restore_table after the change succeeds');
is(job_field($r3, 'reused'), $NPARTS - 1, 'it skips the 19 unchanged partitions (jobs.reused = 19)');
is(md5_of('rcopy.copy'), $src_md5{'rt.parted'}, 'rcopy.copy equals the backup again');

my $r4 = sq("SELECT partback.restore_table($ldir, 'rt.parted', target_table => 'rcopy.copy', force => true, wait => true)");
ok(defined $r4, 'restore_table with force => true succeeds');
is(job_field($r4, 'reused'), '0', 'force => true restores every partition (jobs.reused = 0)');
is(md5_of('rcopy.copy'), $src_md5{'rt.parted'}, 'rcopy.copy equals the backup after the forced restore');

# An UNLOGGED target: its pages carry no LSN, so "no page newer than the
# load" cannot tell that it changed; a repeated restore must load it again
# (as backups copy unlogged tables every time) rather than skip it.
{
	my $udir = lit("$base/unlogged");
	sq(q{CREATE UNLOGGED TABLE rt.unl (id integer NOT NULL, v text);
		INSERT INTO rt.unl SELECT i, md5(i::text) FROM generate_series(1, 1000) AS i;});
	my $umd5 = md5_of('rt.unl');
	sq("SELECT partback.backup_table($udir, 'rt.unl', wait => true)");
	my $restore_unl = "SELECT partback.restore_table($udir, 'rt.unl', target_table => 'rcopy.unl', wait => true)";
	sq($restore_unl);
	is(md5_of('rcopy.unl'), $umd5, 'unlogged: restore_table into rcopy.unl (new) equals the backup');
	sq(q{UPDATE rcopy.unl SET v = 'changed' WHERE id = 1; DELETE FROM rcopy.unl WHERE id > 500;});
	my $u2 = sq($restore_unl);
	ok(defined $u2, 'unlogged: restore_table after changing rcopy.unl succeeds');
	is(md5_of('rcopy.unl'), $umd5, 'unlogged: the changed unlogged partition is restored again, not skipped')
	  or diag('jobs.reused of that restore: ' . job_field($u2, 'reused'));
}

# ---------------------------------------------------------------- 5. corrupted backup

# every partition of the target differs from the backup
my $change_all = "UPDATE rcopy.copy SET payload = 'target %s' WHERE id IN (SELECT min(id) FROM rcopy.copy GROUP BY k)";
sq(sprintf($change_all, 'before corruption'));
my %old = part_md5('rcopy.copy');
is(scalar(grep { $old{$_} ne ($src_parts{$_} // '') } keys %old), $NPARTS, 'every partition of rcopy.copy differs from the backup');

my $victim = 'parted_10';
my ($vname, $vbound) = split /\|/, (sq("SELECT partback.get_backup_meta($ldir, 'postgres', 'rt.parted', '$victim')->'files'->0->>'name',"
	  . " partback.get_backup_meta($ldir, 'postgres', 'rt.parted', '$victim')->>'bound'") // '|');
my $vfile = "$db_dir/data/rt/parted/$victim/" . ($vname // 'none');
ok(-f $vfile, "data file $vname of $victim is on disk");
sub flip_byte
{
	my ($file) = @_;
	open(my $fh, '+<:raw', $file) or die "cannot open $file: $!";
	my $pos = int((-s $file) / 2);
	seek($fh, $pos, 0);
	read($fh, my $c, 1);
	seek($fh, $pos, 0);
	print $fh chr(ord($c) ^ 0xFF);
	close($fh) or die "cannot write $file: $!";
}
flip_byte($vfile);
like(check_backup_problems(), qr/^1: .*\Q$vname\E/, 'check_backup reports the corrupted file');

my $err = sq_err($restore_copy);
like($err, qr/ERROR:  XX001:/, 'the restore from the corrupted backup fails with SQLSTATE XX001');
like($err, qr/\Q$vname\E/, "the error names the damaged file $vname");
is(sq("SELECT state FROM partback.jobs WHERE job_type = 'restore_table' ORDER BY job_id DESC LIMIT 1") // 'error',
	'failed', 'the restore job is failed');
my ($n_old, $n_new) = old_or_new_ok('after the failed restore', 'rcopy.copy', \%old, \%src_parts);
my %after = part_md5('rcopy.copy');
is($after{$vbound // ''}, $old{$vbound // ''}, "the partition of the damaged file ($victim) keeps its old content");
note("after the failed restore: $n_old partitions old, $n_new restored");

flip_byte($vfile);    # repair
is(check_backup_problems(), '0', 'check_backup is clean again once the byte is flipped back');

# ---------------------------------------------------------------- 6. killed midway

ok(defined sq($restore_copy), 'a restore from the repaired backup succeeds');
sq(sprintf($change_all, 'before the kill'));
%old = part_md5('rcopy.copy');
is(scalar(grep { $old{$_} ne ($src_parts{$_} // '') } keys %old), $NPARTS, 'every partition of rcopy.copy differs from the backup again');

my $kjob = sq("SET partback.max_rate = 2; SELECT partback.restore_table($ldir, 'rt.parted', target_table => 'rcopy.copy', parallel => 1)");
ok(defined $kjob && $kjob =~ /^\d+$/, 'a throttled restore starts');
$kjob //= 0;
my $progress = '';
for (1 .. $TIMEOUT * 20)
{
	$progress = sq("SELECT state || ' ' || completed FROM partback.jobs WHERE job_id = $kjob") // '';
	last if $progress =~ /^running (\d+)/ && $1 >= 5;
	last if $progress =~ /^(succeeded|failed|cancelled|interrupted)/;
	usleep(50_000);
}
like($progress, qr/^running ([5-9]|1\d)$/, "restore job $kjob is running with some partitions done ($progress)");
my $leader = sq("SELECT pid FROM pg_stat_activity WHERE backend_type = 'partback job $kjob leader'");
ok(defined $leader && $leader =~ /^\d+$/, "the leader of job $kjob is found");
ok(PartbackTest::crash_backend($node, $leader), 'SIGKILL to the leader; the server accepts connections again')
  if $leader && $leader =~ /^\d+$/;
like(job_field($kjob, 'state'), qr/^(interrupted|failed)$/, 'the killed restore is interrupted or failed');
($n_old, $n_new) = old_or_new_ok('after the kill', 'rcopy.copy', \%old, \%src_parts);
ok($n_old > 0 && $n_new > 0, "the kill landed midway ($n_new partitions restored, $n_old old)");

my $kjob2 = sq($restore_copy);
ok(defined $kjob2, 'the same restore again succeeds');
is(md5_of('rcopy.copy'), $src_md5{'rt.parted'}, 'rcopy.copy equals the backup after it');

my @crashes = grep { /terminated by signal (?!9)|was terminated by exception/ } split /\n/, slurp_file($node->logfile);
ok(!@crashes, 'no server process crashed by itself') or diag(join("\n", @crashes));

note(sprintf('080_retention took %.1f s', time() - $T0));
$node->stop;
done_testing();
