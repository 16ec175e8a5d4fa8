# 152_job_history.pl: the catalog and the backup dir grow with what
# changed, not with partitions times jobs (issue 14).
#
# Shared metadata files: a backup of a 200-leaf table, then one with
# nothing changed, writes its manifest and no file per leaf (its manifest
# names the first backup's metadata files: FORMAT.md, "Shared metadata
# files") and records no partback.chunk row for the chunks it takes over,
# while its task's figures stay those of the whole table.  A change to one
# partition writes that partition's metadata and data only.  Restores of
# each backup give the source's rows as they were; check_backup finds them
# healthy; delete_backup and purge_backups keep the metadata files a
# remaining backup names and remove those none names.  A referenced
# metadata file changed on disk is refused by a restore (XX001) and
# reported by check_backup.  With partback.auth_key_file set, the shared
# files verify with the key; a base made without the key is never named (a
# full set of metadata files is written).
#
# Job history: with partback.job_history_retention, a starting job deletes
# the jobs that ended longer ago with their tasks, chunks and messages, but
# never one still running (or interrupted), one a next call continues (a
# failed job after its arguments' last success), a restore whose set-aside
# foreign keys are still to be put back, nor the restore holding a
# partition's newest load; -1 keeps everything; after pruning, a repeated
# backup is still incremental.

use strict;
use warnings;

use Digest::SHA;
use File::Copy;
use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $node = PartbackTest::new_node('hist', conf => "autovacuum = off\n");
my $dir  = PartbackTest::backup_dir('hist');
my $NLEAVES = 200;

sub lit { return PartbackTest::sql_lit(@_); }
my $ldir = lit($dir);

sub sq
{
	my ($sql) = @_;
	return PartbackTest::query($node, 'postgres', $sql);
}

# every regular file below $d: relative path => 1
sub files_below
{
	my ($d) = @_;
	my %f;
	find({ no_chdir => 1, wanted => sub {
		return unless -f $_;
		(my $rel = $_) =~ s/^\Q$d\E\/?//;
		$f{$rel} = 1;
	} }, $d);
	return \%f;
}

sub new_files
{
	my ($before, $after) = @_;
	return sort grep { !$before->{$_} } keys %$after;
}

sub backup
{
	my ($table) = @_;
	my $out = sq("SELECT partback.backup_table($ldir, '$table', wait => true)");
	return defined $out ? sq("SELECT backup_id FROM partback.job WHERE job_id = $out") : undef;
}

sub last_job { return sq("SELECT max(job_id) FROM partback.job"); }

sub md5_of { return PartbackTest::content_md5($node, 'postgres', $_[0]); }

sub restore_md5
{
	my ($id, $target) = @_;
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT partback.restore_table($ldir, 'h.t', '$target', backup_id => $id, wait => true)");
	return "restore failed: $err" if $ret;
	my $md5 = md5_of($target);
	sq("DROP TABLE $target");
	return $md5;
}

sub check_problems
{
	my ($where) = @_;
	return sq("SELECT count(*) FROM partback.check_backup($ldir$where)");
}

# ---------- shared metadata files ----------

sq('CREATE SCHEMA h; CREATE TABLE h.t (id int PRIMARY KEY, v text) PARTITION BY RANGE (id)')
  // BAIL_OUT('setup failed');
sq("DO \$\$ BEGIN FOR i IN 0 .. $NLEAVES - 1 LOOP EXECUTE format("
	  . "'CREATE TABLE h.t_p%s PARTITION OF h.t FOR VALUES FROM (%s) TO (%s)', i, i * 10, i * 10 + 10);"
	  . " END LOOP; END \$\$");
sq("INSERT INTO h.t SELECT g, 'row ' || g FROM generate_series(0, $NLEAVES * 10 - 1) g; VACUUM h.t");

my $f0 = files_below($dir);
my $id1 = backup('h.t');
ok($id1, 'first backup of the 200-leaf table');
my $f1 = files_below($dir);
my @new1 = new_files($f0, $f1);
cmp_ok(scalar(@new1), '>=', 2 * $NLEAVES, 'the first backup writes a metadata and a data file per leaf')
  or diag(scalar(@new1));
my $md5_1 = md5_of('h.t');
my $job1 = last_job();
is(sq("SELECT count(*) FROM partback.chunk WHERE job_id = $job1"), $NLEAVES,
	'the first backup records a chunk per leaf');

# nothing changed
my $id2 = backup('h.t');
my $job2 = last_job();
my $f2 = files_below($dir);
my @new2 = new_files($f1, $f2);
is_deeply(\@new2, [ sprintf('postgres/manifests/%010d.json', $id2) ],
	'a backup with nothing changed writes its manifest and nothing else')
  or diag(join("\n", @new2[0 .. ($#new2 < 5 ? $#new2 : 5)]));
is(sq("SELECT count(*) FROM jsonb_array_elements(partback._manifest($ldir, 'postgres', $id2)->'tables'->0->'partitions') p"
	  . " WHERE p->>'meta' LIKE '%/' || lpad('$id1', 10, '0') || '.meta.json'"), $NLEAVES,
	'its manifest names the first backup\'s metadata file of every leaf');
is(sq("SELECT count(*) FROM partback.chunk WHERE job_id = $job2"), 0,
	'it records no chunk row for the chunks it takes over from the finished backup');
is(sq("SELECT t2.rows = t1.rows AND t2.bytes = t1.bytes AND t2.stored_bytes = t1.stored_bytes"
	  . " AND t2.reused = $NLEAVES AND t2.completed = $NLEAVES"
	  . " FROM partback.task t1, partback.task t2 WHERE t1.job_id = $job1 AND t2.job_id = $job2"), 't',
	'its task\'s figures are still those of the whole table, every partition reused');
is(sq("SELECT rows || '/' || reused || '/' || state FROM partback.get_backup_status() WHERE job_id = $job2"),
	($NLEAVES * 10) . "/$NLEAVES/succeeded", 'get_backup_status shows its rows and reused partitions');
is(check_problems(", backup_id => $id2"), '0', 'check_backup finds the backup naming shared files healthy');
is(restore_md5($id2, 'h.r2'), $md5_1, 'a restore of the backup naming shared files equals the source');

# one partition changes
sq("UPDATE h.t SET v = 'changed' WHERE id = 77; VACUUM h.t_p7");
my $md5_3 = md5_of('h.t');
my $id3 = backup('h.t');
my $f3 = files_below($dir);
my @new3 = new_files($f2, $f3);
my @meta3 = grep { /\.meta\.json$/ } @new3;
is_deeply(\@meta3, [ sprintf('postgres/data/h/t/t_p7/%010d.meta.json', $id3) ],
	'a backup after one partition changed writes that partition\'s metadata only');
is(scalar(grep { /\.copy/ } @new3), 1, 'and that partition\'s data only');
is(restore_md5($id3, 'h.r3'), $md5_3, 'a restore of it equals the source');
is(check_problems(''), '0', 'check_backup finds every backup healthy');

# delete_backup and purge_backups keep what a remaining backup names
my $p7_meta1 = sprintf('%s/postgres/data/h/t/t_p7/%010d.meta.json', $dir, $id1);
my $p8_meta1 = sprintf('%s/postgres/data/h/t/t_p8/%010d.meta.json', $dir, $id1);
is(sq("SELECT partback.delete_backup($ldir, $id1, 'postgres')"), '', 'delete_backup of the first backup');
ok(-f $p8_meta1, 'the metadata file the later backups name stays');
ok(-f $p7_meta1, 'so does the changed partition\'s, named by the second backup');
ok(!-f sprintf('%s/postgres/manifests/%010d.json', $dir, $id1), 'the first backup\'s manifest is gone');
is(check_problems(''), '0', 'check_backup: the remaining backups are healthy');
is(restore_md5($id2, 'h.r2'), $md5_1, 'the second backup still restores the source as it was');
sq("SELECT partback.purge_backups($ldir, 1, 'postgres')");
ok(!-f sprintf('%s/postgres/manifests/%010d.json', $dir, $id2), 'purge_backups removed the second backup');
ok(-f $p8_meta1, 'purge_backups keeps the first backup\'s metadata file the kept backup names');
ok(!-f $p7_meta1, 'and removes the one no remaining backup names');
is(check_problems(''), '0', 'check_backup: the kept backup is healthy');
is(restore_md5($id3, 'h.r3'), $md5_3, 'the kept backup restores the source');

# a referenced metadata file changed on disk
{
	my $orig = PostgreSQL::Test::Utils::slurp_file($p8_meta1);
	my $fh;
	(my $bad = $orig) =~ s/"rows": 10,/"rows": 11,/ or die 'no rows member';
	open($fh, '>', $p8_meta1) or die;
	print $fh $bad;
	close($fh);
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT partback.restore_table($ldir, 'h.t', 'h.r4', backup_id => $id3, wait => true)");
	ok($ret != 0 && $err =~ /XX001: checksum mismatch in backup file ".*t_p8\/\d+\.meta\.json"/,
		'a restore refuses a changed shared metadata file') or diag($err);
	is(sq("SELECT count(*) FROM partback.check_backup($ldir, backup_id => $id3) WHERE file LIKE '%t_p8/%.meta.json'"),
		'1', 'check_backup reports the changed shared metadata file');
	open($fh, '>', $p8_meta1) or die;
	print $fh $orig;
	close($fh);
	is(check_problems(''), '0', 'healthy again once the file is put back');
}

# with a key: the shared files verify with it; an unauthenticated base is never named
{
	my $keyfile = PostgreSQL::Test::Utils::tempdir('histkey') . '/key';
	open(my $fh, '>', $keyfile) or die;
	print $fh 'k' x 32;
	close($fh);
	chmod(0600, $keyfile);
	my $f4 = files_below($dir);
	$node->safe_psql('postgres', "ALTER SYSTEM SET partback.auth_key_file = " . lit($keyfile));
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	$node->poll_query_until('postgres', "SELECT current_setting('partback.auth_key_file') = " . lit($keyfile))
	  or die 'the key setting was not reloaded';
	my $id5 = backup('h.t');
	my @meta5 = grep { /\.meta\.json$/ } new_files($f4, files_below($dir));
	is(scalar(@meta5), $NLEAVES, 'a base made without the key is not named: every leaf gets its metadata file');
	my $f5 = files_below($dir);
	my $id6 = backup('h.t');
	is_deeply([ new_files($f5, files_below($dir)) ], [ sprintf('postgres/manifests/%010d.json', $id6) ],
		'with the key, a backup with nothing changed names the authenticated base\'s files');
	is(restore_md5($id6, 'h.r6'), $md5_3, 'and restores, the shared files verifying with the key');
	is(check_problems(", backup_id => $id6"), '0', 'check_backup with the key finds it healthy');
	$node->safe_psql('postgres', "ALTER SYSTEM RESET partback.auth_key_file");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	$node->poll_query_until('postgres', "SELECT current_setting('partback.auth_key_file') = ''")
	  or die 'the key setting was not reloaded';
}

# ---------- job history ----------

sub set_retention
{
	my ($value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET partback.job_history_retention = '$value'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	$node->poll_query_until('postgres',
		"SELECT current_setting('partback.job_history_retention') = '$value'")
	  or die "partback.job_history_retention = $value was not reloaded";
}

is(sq("SELECT setting || unit FROM pg_settings WHERE name = 'partback.job_history_retention'"),
	'2592000s', 'partback.job_history_retention defaults to 30 days');

# fabricated history: each row stands for a kind of job pruning must judge
my $user = sq('SELECT current_user');
sub fake_job
{
	my ($type, $state, $extra_cols, $extra_vals) = @_;
	return sq("INSERT INTO partback.job (job_id, user_name, job_type, backup_dir, source_db, args, state,"
		  . " started_at, finished_at$extra_cols)"
		  . " VALUES (nextval('partback.job_id_seq'), '$user', '$type', $ldir, 'postgres', '{}', '$state',"
		  . " now() - interval '41 days', CASE WHEN '$state' IN ('queued', 'running') THEN NULL"
		  . " ELSE now() - interval '40 days' END$extra_vals) RETURNING job_id");
}
my $running = fake_job('backup_table', 'running', ', worker_pid', ', 999999');
my $tail = fake_job('backup_table', 'failed', ', resume_key', ", 'a key no success has'");
my $fks = fake_job('restore_table', 'failed', ', dropped_foreign_keys', ", '[]'");
my $superseded = fake_job('backup_table', 'failed', ', resume_key', ", 'a key with a later success'");
my $success = fake_job('backup_table', 'succeeded', ', resume_key', ", 'a key with a later success'");
for my $j ($tail, $superseded)
{
	sq("INSERT INTO partback.chunk (job_id, table_name, path, chunk, nchunks, relid, relfilenode,"
		  . " start_block, nblocks, to_end, file, rows, bytes, stored_bytes, sha256, lsn, inflight, columns)"
		  . " VALUES ($j, 'h.t', 't_p0', 0, 1, 0, 0, 0, 1, true, 'x', 0, 0, 0, '', '0/0', false, '[]')");
	sq("INSERT INTO partback.job_message (job_id, seq, level, message) VALUES ($j, 1, 'WARNING', 'old')");
}
# two restores of a partition: the newer holds its newest load; one of a table since dropped
sq("CREATE TABLE h.kept (id int)");
sq("CREATE TABLE h.gone (id int)");
my $load_old = fake_job('restore_table', 'succeeded', '', '');
my $load_new = fake_job('restore_table', 'succeeded', '', '');
my $load_gone = fake_job('restore_table', 'succeeded', '', '');
for my $r ([ $load_old, 'h.kept' ], [ $load_new, 'h.kept' ], [ $load_gone, 'h.gone' ])
{
	sq("INSERT INTO partback.chunk (job_id, table_name, path, chunk, nchunks, relid, relfilenode,"
		  . " start_block, nblocks, to_end, file, rows, bytes, stored_bytes, sha256, lsn, inflight, columns)"
		  . " VALUES ($r->[0], '$r->[1]', 'x', 0, 1, '$r->[1]'::regclass, 0, 0, 0, true, 'm', 0, 0, 0, '', '0/0', false, '[]')");
}
sq("DROP TABLE h.gone");
# the real jobs so far ended 40 days ago
sq("UPDATE partback.job SET finished_at = now() - interval '40 days' WHERE job_id <= $job2");
my $jobs_before = sq('SELECT count(*) FROM partback.job');
my $old_real = sq("SELECT string_agg(job_id::text, ',' ORDER BY job_id) FROM partback.job WHERE job_id <= $job2");

# -1 keeps everything
set_retention('-1');
backup('h.t');
is(sq('SELECT count(*) FROM partback.job'), $jobs_before + 1, 'job_history_retention = -1 keeps every job');

# 1 day: what ended 40 days ago goes, with what it needs none of
set_retention('1d');
my $chunks_old = sq("SELECT count(*) FROM partback.chunk WHERE job_id <= $job2");
cmp_ok($chunks_old, '>', 0, 'the old jobs have chunk rows');
my $f7 = files_below($dir);
my $id8 = backup('h.t');
my $job8 = last_job();
is(sq("SELECT count(*) FROM partback.job WHERE job_id IN ($old_real)"), '0',
	'the backups that ended 40 days ago are deleted');
is(sq("SELECT (SELECT count(*) FROM partback.chunk WHERE job_id IN ($old_real, $superseded))"
	  . " + (SELECT count(*) FROM partback.task WHERE job_id IN ($old_real))"
	  . " + (SELECT count(*) FROM partback.job_message WHERE job_id = $superseded)"), '0',
	'with their tasks, chunks and messages');
is(sq("SELECT string_agg(job_id::text, ',' ORDER BY job_id) FROM partback.job"
	  . " WHERE job_id IN ($running, $tail, $fks, $superseded, $success, $load_old, $load_new, $load_gone)"),
	join(',', $running, $tail, $fks, $load_new),
	'kept: the running job, the failed one a next call continues, the restore with foreign keys set aside, the newest load of a partition');
is(sq("SELECT (SELECT count(*) FROM partback.chunk WHERE job_id = $tail)"
	  . " + (SELECT count(*) FROM partback.job_message WHERE job_id = $tail)"), '2',
	'a kept job keeps its chunks and messages');
is(sq("SELECT count(*) FROM partback.job WHERE job_id = $job8 AND state = 'succeeded'"), '1',
	'the pruning job itself succeeded');
my @data8 = grep { /\.copy/ } new_files($f7, files_below($dir));
is(scalar(@data8), 0, 'after pruning, a repeated backup is still incremental: no data file copied');
is(sq("SELECT reused FROM partback.task WHERE job_id = $job8"), $NLEAVES, 'every partition reused');
is(restore_md5($id8, 'h.r8'), $md5_3, 'and it restores the source');

# the jobs of today stay
is(sq("SELECT count(*) FROM partback.job WHERE job_id > $load_gone"), sq("SELECT count(*) FROM partback.job WHERE job_id > $load_gone AND finished_at > now() - interval '1 day'"),
	'jobs younger than the retention stay');

# a manifest naming a metadata file outside the database dir is refused,
# even with the file's right checksum (the manifest's own recomputed)
{
	my $mpath = sprintf('%s/postgres/manifests/%010d.json', $dir, $id8);
	my $m = PostgreSQL::Test::Utils::slurp_file($mpath);
	my ($meta) = $m =~ m{"meta": "(data/h/t/t_p9/\d+\.meta\.json)"} or die 'no t_p9 entry';
	mkdir("$dir/other");
	File::Copy::copy("$dir/postgres/$meta", "$dir/other/x.meta.json") or die;
	$m =~ s{"meta": "\Q$meta\E"}{"meta": "../other/x.meta.json"} or die;
	$m =~ s/"manifest_sha256": "[0-9a-f]{64}"\}\n\z// or die 'no manifest_sha256';
	$m .= '"manifest_sha256": "' . Digest::SHA::sha256_hex($m) . "\"}\n";
	open(my $fh, '>', $mpath) or die;
	print $fh $m;
	close($fh);
	my ($ret, $out, $err) = PartbackTest::run_sql($node, 'postgres',
		"SELECT partback.restore_table($ldir, 'h.t', 'h.r9', backup_id => $id8, wait => true)");
	ok($ret != 0 && $err =~ /XX001: invalid metadata file name "\.\.\/other\/x\.meta\.json" in a manifest/,
		'a restore refuses a manifest naming a metadata file outside the database dir') or diag($err);
	is(sq("SELECT problem FROM partback.check_backup($ldir, backup_id => $id8) WHERE file LIKE '%other/x.meta.json'"),
		'invalid file name', 'check_backup reports it');
}

done_testing();
