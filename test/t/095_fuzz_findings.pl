# 095_fuzz_findings.pl: every input the fuzzer (test/fuzz.sh) found a crash
# with, kept in fuzz/regress/, replayed through the real product: each must
# now end in a clean ERROR (or success), never crash the server, and never
# raise an internal error (SQLSTATE XX000).
#
# A file fuzz/regress/<target>-<what> is a fuzz input of that target
# (fuzz/partback_fuzz.c):
#   manifest-*  becomes the newest manifest of a backup of fuzz.events;
#   meta-*      becomes the metadata file of partition events_p1 in that
#               backup, and the manifest names it with its true checksum;
#   stream-*    byte 0 gives the compression (bits 0-1: none, gzip, lz4,
#               zstd) and whether the metadata states a wrong checksum (bit
#               2) or size (bit 3); the rest becomes events_p1's data file,
#               and the metadata and manifest name it consistently.
# A manifest input names metadata files with the checksums of test/fuzz.sh's
# backup; the test puts in those of its own.  For each, on a fresh copy of
# the backup dir: check_backup, list_backups,
# get_backup_meta, restore_table (wait => true), an incremental backup_db
# into the same dir (it reads the earlier backups' metadata) and
# purge_backups(dir, 1); after each, the server must still accept
# connections without having restarted.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Copy qw(copy);
use File::Path qw(remove_tree);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PartbackTest;

my $srcdir = $ENV{PARTBACK_SRCDIR} // '..';
my @cases = sort glob("$srcdir/fuzz/regress/*");
plan skip_all => 'no fuzz/regress inputs' unless @cases;

my $node = PartbackTest::new_node('fuzz_findings',
	conf => "log_min_messages = info\nrestart_after_crash = on\n");
my $base     = PartbackTest::backup_dir('fuzz_findings');
my $pristine = "$base/pristine";
my $dir      = "$base/bk";
my $ldir     = PartbackTest::sql_lit($dir);

sub run_sql { return PartbackTest::run_sql($node, 'postgres', $_[0]); }

# the seed table of test/fuzz.sh, backed up twice (the second incremental)
for my $f ('seed_tables.sql', 'seed_data.sql')
{
	$node->safe_psql('postgres', slurp_file("$srcdir/fuzz/$f"));
}
my $lpristine = PartbackTest::sql_lit($pristine);
$node->safe_psql('postgres',
	"SELECT partback.backup_db($lpristine, wait => true)");
$node->safe_psql('postgres',
	"UPDATE fuzz.events SET n = n + 1 WHERE day >= '2024-02-01'");
$node->safe_psql('postgres',
	"SELECT partback.backup_db($lpristine, wait => true)");
my $content = PartbackTest::content_md5($node, 'postgres', 'fuzz.events');

sub copy_tree
{
	my ($from, $to) = @_;
	system('cp', '-a', $from, $to) == 0 or die "cp -a $from $to failed";
}

sub write_file
{
	my ($path, $data) = @_;
	open(my $fh, '>:raw', $path) or die "cannot write $path: $!";
	print $fh $data;
	close($fh);
}

sub read_file
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "cannot read $path: $!";
	local $/;
	my $data = <$fh>;
	close($fh);
	return $data;
}

my $db_dir = "$dir/postgres";
my ($manifest_name) = reverse sort glob("$pristine/postgres/manifests/*.json");
$manifest_name =~ s{.*/}{};
my $manifest_path = "$db_dir/manifests/$manifest_name";

# The template files of events_p1 in the newest backup: manifest text,
# metadata path and text.
sub p1_files
{
	my $manifest = read_file($manifest_path);
	my $m = decode_json($manifest);
	for my $t (@{ $m->{tables} })
	{
		for my $p (@{ $t->{partitions} })
		{
			return ($manifest, $p->{meta}, $p->{meta_sha256})
			  if $p->{path} eq 'events_p1';
		}
	}
	die "no partition events_p1 in $manifest_path";
}

# Write $meta_text as events_p1's metadata and name it in the manifest.
sub put_meta
{
	my ($meta_text) = @_;
	my ($manifest, $meta_rel, $old_sha) = p1_files();
	my $new_sha = sha256_hex($meta_text);
	write_file("$db_dir/$meta_rel", $meta_text);
	$manifest =~ s/$old_sha/$new_sha/g;
	write_file($manifest_path, $manifest);
}

sub apply_case
{
	my ($target, $input) = @_;
	if ($target eq 'manifest')
	{
		# the input comes from test/fuzz.sh's backup: name this backup's
		# metadata files with their checksums, so the readers get past them
		$input =~ s{("meta":\s*"([^"]+)",\s*"meta_sha256":\s*")[0-9a-f]{64}"}
			{ -f "$db_dir/$2" ? $1 . sha256_hex(read_file("$db_dir/$2")) . '"' : $& }ge;
		write_file($manifest_path, $input);
	}
	elsif ($target eq 'meta')
	{
		put_meta($input);
	}
	elsif ($target eq 'stream')
	{
		my ($manifest, $meta_rel) = p1_files();
		my $meta = decode_json(read_file("$db_dir/$meta_rel"));
		my $mode = length($input) ? ord(substr($input, 0, 1)) : 0;
		my $data = length($input) ? substr($input, 1) : '';
		my $file = $meta->{files}[0];
		my $part_dir = $meta_rel =~ s{/[^/]*$}{}r;
		my $sha  = sha256_hex($data);
		$sha =~ s/^./substr($sha, 0, 1) eq '0' ? '1' : '0'/e if $mode & 4;
		write_file("$db_dir/$part_dir/$file->{name}", $data);
		$meta->{compression} = (qw(none gzip lz4 zstd))[ $mode & 3 ];
		$file->{sha256}       = $sha;
		$file->{stored_bytes} = length($data) + (($mode & 8) ? 1 : 0);
		put_meta(JSON::PP->new->canonical->encode($meta));
	}
	else
	{
		die "unknown fuzz target in case name: $target";
	}
}

# The SQLSTATE of psql's error output (VERBOSITY verbose), or ''.
sub sqlstate
{
	my ($err) = @_;
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : '';
}

my @operations = (
	[ 'check_backup',    "SELECT count(*) FROM partback.check_backup($ldir)" ],
	[ 'list_backups',    "SELECT count(*) FROM partback.list_backups($ldir)" ],
	[ 'get_backup_meta',
		"SELECT partback.get_backup_meta($ldir, 'postgres', 'fuzz.events', 'events_p1')" ],
	[ 'restore_table',
		"SELECT partback.restore_table($ldir, 'fuzz.events', wait => true)" ],
	[ 'backup_db',       "SELECT partback.backup_db($ldir, wait => true)" ],
	[ 'purge_backups',   "SELECT partback.purge_backups($ldir, 1)" ],
);

for my $case (@cases)
{
	my $name = $case =~ s{.*/}{}r;
	my ($target) = $name =~ /^([a-z]+)-/;
	remove_tree($dir);
	copy_tree($pristine, $dir);
	apply_case($target // '', read_file($case));

	my $restored = 0;
	for my $op (@operations)
	{
		my ($label, $sql) = @$op;
		my $log_offset = -s $node->logfile;
		my ($ret, $out, $err) = run_sql($sql);
		my $state = sqlstate($err // '');
		my $log = slurp_file($node->logfile, $log_offset);
		note("$name: $label: "
			  . ((defined $ret && $ret == 0) ? 'ok' : ($err // 'timeout') =~ s/\n.*//sr));
		ok(defined $ret && ($ret == 0 || $state ne ''),
			"$name: $label ends in success or an ERROR")
		  or diag("exit " . ($ret // 'timeout') . ": $err");
		isnt($state, 'XX000', "$name: $label raises no internal error")
		  or diag($err);
		unlike($log, qr/terminated by signal|server process .* was terminated|terminating any other active server processes/,
			"$name: $label crashes no server process")
		  or (diag($log), $node->poll_query_until('postgres', 'SELECT 1', '1'));
		$restored = 1 if $label eq 'restore_table' && defined $ret && $ret == 0;
	}
	if ($restored)
	{
		# a damaged backup that still restores: back to the seed content
		$node->safe_psql('postgres',
			"SELECT partback.restore_table($lpristine, 'fuzz.events', wait => true)");
	}
	else
	{
		is(PartbackTest::content_md5($node, 'postgres', 'fuzz.events'), $content,
			"$name: the failed restore left fuzz.events as it was");
	}
}

done_testing();
