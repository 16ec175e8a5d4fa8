# 115_authenticated.pl: a backup dir is untrusted input (issue 12).
#
# Authenticated backups: with partback.auth_key_file set, manifests and
# metadata files carry an HMAC (FORMAT.md); the test recomputes it by hand
# as FORMAT.md says.  A manifest changed by whoever can write the dir (the
# stored default that runs a command, with manifest_sha256 recomputed), a
# changed metadata file, a backup made with another key or without one are
# refused before anything runs, and check_backup reports them.  migrate to
# a second cluster works with the same key and fails with another.  The key
# file must be private; SHOW hides its name from other roles.
#
# One cluster per backup: a second cluster backing up a database of the
# same name into the dir is refused, naming both system identifiers; a
# restore naming no backup never loads the other cluster's rows; a backup
# written before the cluster was recorded counts as the current cluster's.
#
# Bounded reading: a zstd bomb in place of a data file (its metadata and
# manifest resealed, as the key's holder could) fails at the first byte
# beyond the size the metadata declares, before much WAL is written; a
# 17 MB table comment is refused by the writer, naming the table and the
# item; a manifest over the limit is refused unparsed; a metadata file
# naming 200,000 files lets purge_backups and check_backup end within
# statement_timeout.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Digest::SHA qw(sha256_hex hmac_sha256 hmac_sha256_hex);
use File::Copy;
use Time::HiRes qw(time);
use Test::More;
use PartbackTest;

my $TIMEOUT = $PostgreSQL::Test::Utils::timeout_default;
my $keydir = PartbackTest::backup_dir('keys');

sub write_file
{
	my ($path, $content, $mode) = @_;
	open(my $fh, '>', $path) or die "cannot write $path: $!";
	binmode $fh;
	print $fh $content;
	close($fh);
	chmod($mode, $path) if defined $mode;
}

sub random_bytes
{
	my ($n) = @_;
	open(my $fh, '<', '/dev/urandom') or die;
	binmode $fh;
	read($fh, my $b, $n) == $n or die;
	close($fh);
	return $b;
}

my $key1 = random_bytes(32);
my $key2 = random_bytes(48);
my $key1_file = "$keydir/key1";
my $key2_file = "$keydir/key2";
write_file($key1_file, $key1, 0600);
write_file($key2_file, $key2, 0600);

sub lit { return PartbackTest::sql_lit(@_); }

# the derivations FORMAT.md gives
sub auth_key { my ($material) = @_; return hmac_sha256('partback authentication', $material); }
sub key_id { my ($material) = @_; return substr(hmac_sha256_hex('partback key id', $material), 0, 16); }

# Rewrite a manifest or metadata file with $edit; reseal it with $material
# (the key's holder) or only recompute manifest_sha256 (anyone).
sub rewrite
{
	my ($file, $edit, $material) = @_;
	my $t = slurp_file($file);
	$t = $edit->($t) if $edit;
	if ($file =~ m{/manifests/})
	{
		$t =~ s/"manifest_sha256": "[0-9a-f]{64}"\}\n\z//s or die "no checksum at the end of $file";
		if (defined $material)
		{
			$t =~ s/"manifest_hmac": "[0-9a-f]{64}",\n  \z//s or die "no HMAC in $file";
			$t .= '"manifest_hmac": "' . hmac_sha256_hex($t, auth_key($material)) . "\",\n  ";
		}
		$t .= '"manifest_sha256": "' . sha256_hex($t) . "\"}\n";
	}
	elsif (defined $material)
	{
		$t =~ s/"meta_hmac": "[0-9a-f]{64}"\}\n\z//s or die "no HMAC in $file";
		$t .= '"meta_hmac": "' . hmac_sha256_hex($t, auth_key($material)) . "\"}\n";
	}
	write_file($file, $t);
}

# a metadata file's new checksum into the manifest naming it
sub update_meta_sha
{
	my ($manifest, $old, $new, $material) = @_;
	rewrite($manifest, sub { my ($t) = @_; $t =~ s/$old/$new/ or die "no $old in $manifest"; return $t; },
		$material);
}

sub set_key
{
	my ($node, $file) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET partback.auth_key_file = " . lit($file // ''));
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	$node->poll_query_until('postgres', 'SELECT current_setting(\'partback.auth_key_file\') = ' . lit($file // ''))
	  or die 'the key setting was not reloaded';
}

sub fails_like
{
	my ($node, $db, $sql, $re, $name) = @_;
	my ($ret, $out, $err) = PartbackTest::run_sql($node, $db, $sql);
	ok(defined $ret && $ret != 0 && $err =~ $re, $name) or diag("SQL: $sql\nexit: " . ($ret // 'timeout') . "\n$err");
	return $err;
}

my $schema = q{
	CREATE SCHEMA app;
	CREATE TABLE app.t (id integer DEFAULT 0, v text);
	CREATE TABLE app.p (k integer, v text) PARTITION BY RANGE (k);
	CREATE TABLE app.p1 PARTITION OF app.p FOR VALUES FROM (0) TO (100);
	CREATE TABLE app.p2 PARTITION OF app.p FOR VALUES FROM (100) TO (200);
	CREATE TABLE app.bomb (id integer, v text);
};

# ---------------------------------------------------------------- node A, key 1

my $node_a = PartbackTest::new_node('a', conf => "partback.auth_key_file = '$key1_file'\n");
$node_a->safe_psql('postgres', $schema . q{
	INSERT INTO app.t SELECT g, 'prod ' || g FROM generate_series(1, 100) g;
	INSERT INTO app.p SELECT g, 'p' || g FROM generate_series(0, 199) g;
	INSERT INTO app.bomb VALUES (1, 'x');
	CREATE ROLE alice LOGIN;});
my $md5_t = PartbackTest::content_md5($node_a, 'postgres', 'app.t');
my $md5_p = PartbackTest::content_md5($node_a, 'postgres', 'app.p');
my $sysid_a = $node_a->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');

# only superusers see the setting
{
	my ($ret, $out, $err) = PartbackTest::run_sql($node_a, 'postgres', 'SHOW partback.auth_key_file', user => 'alice');
	ok($ret != 0 && $err =~ /ERROR:  42501:/, 'a non-superuser cannot SHOW partback.auth_key_file') or diag($err);
	($ret, $out, $err) = PartbackTest::run_sql($node_a, 'postgres',
		"SELECT count(*) FROM pg_settings WHERE name = 'partback.auth_key_file'", user => 'alice');
	is($out, '0', 'nor see it in pg_settings');
}

my $dir = PartbackTest::backup_dir('auth') . '/repo';
my $ldir = lit($dir);
$node_a->safe_psql('postgres', "SELECT partback.backup_db($ldir, wait => true)");
my ($manifest) = glob("$dir/postgres/manifests/0000000001.json");
my $mtext = slurp_file($manifest);
my $kid = key_id($key1);
like($mtext, qr/"system_identifier": "$sysid_a"/, 'the manifest records the cluster\'s system identifier');
like($mtext, qr/"auth_key_id": "$kid",\n  "manifest_hmac": "[0-9a-f]{64}",\n  "manifest_sha256": "[0-9a-f]{64}"\}\n\z/,
	'the manifest ends with the key id, the HMAC and the checksum');
{
	# the HMAC covers every byte before "manifest_hmac", with the derived key
	my $pos = index($mtext, '"manifest_hmac": "');
	my ($mac) = $mtext =~ /"manifest_hmac": "([0-9a-f]{64})"/;
	is(hmac_sha256_hex(substr($mtext, 0, $pos), auth_key($key1)), $mac,
		'the manifest HMAC is HMAC-SHA-256 as FORMAT.md defines it');
	my ($meta) = glob("$dir/postgres/data/app/t/t/0000000001.meta.json");
	my $meta_text = slurp_file($meta);
	$pos = index($meta_text, '"meta_hmac": "');
	($mac) = $meta_text =~ /"meta_hmac": "([0-9a-f]{64})"\}\n\z/;
	ok(defined $mac && $meta_text =~ /"auth_key_id": "$kid", "meta_hmac"/, 'a metadata file ends with the key id and its HMAC');
	is(hmac_sha256_hex(substr($meta_text, 0, $pos), auth_key($key1)), $mac // '',
		'the metadata HMAC is HMAC-SHA-256 as FORMAT.md defines it');
	# and openssl computes the same, as FORMAT.md shows
	my $hexkey = unpack('H*', $key1);
	my $authhex = `printf 'partback authentication' | openssl dgst -sha256 -mac HMAC -macopt hexkey:$hexkey -r`;
	$authhex =~ s/\s.*//s;
	write_file("$keydir/covered", substr($meta_text, 0, $pos));
	my $by_openssl = `openssl dgst -sha256 -mac HMAC -macopt hexkey:$authhex -r $keydir/covered`;
	$by_openssl =~ s/\s.*//s;
	is($by_openssl, $mac, 'openssl computes the same HMAC as FORMAT.md says');
}
is($node_a->safe_psql('postgres', "SELECT count(*) FROM partback.check_backup($ldir)"), '0',
	'check_backup finds the authenticated backup healthy');
$node_a->safe_psql('postgres', 'TRUNCATE app.t');
$node_a->safe_psql('postgres', "SELECT partback.restore_table($ldir, 'app.t', force => true, wait => true)");
is(PartbackTest::content_md5($node_a, 'postgres', 'app.t'), $md5_t, 'an authenticated backup restores');

# ---------------------------------------------------------------- tampered stored default

my $pwned = "$keydir/pwned";
my $evil = PartbackTest::backup_dir('auth') . '/evil';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $evil);
my ($evil_manifest) = glob("$evil/postgres/manifests/0000000001.json");
rewrite($evil_manifest, sub {
	my ($t) = @_;
	$t =~ s/("name": "id"[^{}]*"default": )"0"/$1"0, v text); COPY (SELECT 1) TO PROGRAM 'touch $pwned'; --"/
	  or die "no default of app.t.id in $evil_manifest";
	return $t;
});
my $jobs_before = $node_a->safe_psql('postgres', 'SELECT count(*) FROM partback.jobs');
$node_a->safe_psql('postgres', "UPDATE app.t SET v = 'kept' WHERE id = 1");
my $md5_kept = PartbackTest::content_md5($node_a, 'postgres', 'app.t');
for my $call ("partback.restore_table(" . lit($evil) . ", 'app.t', force => true, wait => true)",
	"partback.restore_db(" . lit($evil) . ", 'postgres', force => true, wait => true)")
{
	fails_like($node_a, 'postgres', "SELECT $call",
		qr/ERROR:  XX001: manifest ".*0000000001\.json" does not verify with the configured key.*DETAIL:  Its "manifest_hmac" does not match its content/s,
		"a stored default changed with manifest_sha256 recomputed is refused: $call");
}
ok(!-e $pwned, 'the command in the changed default did not run');
is(PartbackTest::content_md5($node_a, 'postgres', 'app.t'), $md5_kept, 'the table is unchanged');
is($node_a->safe_psql('postgres', 'SELECT count(*) FROM partback.jobs'), $jobs_before, 'no job was submitted');
is($node_a->safe_psql('postgres', "SELECT problem || ' ' || file FROM partback.check_backup(" . lit($evil) . ", backup_id => 1)"),
	'not authenticated postgres/manifests/0000000001.json', 'check_backup reports the manifest');
like($node_a->safe_psql('postgres', "SELECT backup_id || ' ' || problem FROM partback.list_backups(" . lit($evil) . ")"),
	qr/^1 manifest ".*0000000001\.json" does not verify with the configured key/, 'list_backups shows it as damaged (issue 13)');

# damage (no checksum recomputed) is still told as damage, key or not
{
	my $damaged = PartbackTest::backup_dir('auth') . '/damaged';
	PostgreSQL::Test::RecursiveCopy::copypath($dir, $damaged);
	my ($m) = glob("$damaged/postgres/manifests/0000000001.json");
	my $t = slurp_file($m);
	$t =~ s/"job_type": "backup_db"/"job_type": "backup_dx"/ or die;
	write_file($m, $t);
	like($node_a->safe_psql('postgres', "SELECT backup_id || ' ' || problem FROM partback.list_backups(" . lit($damaged) . ")"),
		qr/^1 checksum mismatch in manifest ".*0000000001\.json"/, 'a damaged manifest is reported as damaged, not as unauthenticated');
}

# a metadata file changed (and its checksum in the manifest): the manifest
# no longer verifies; the metadata file by itself does not either
my $evil2 = PartbackTest::backup_dir('auth') . '/evil2';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $evil2);
{
	my ($m) = glob("$evil2/postgres/manifests/0000000001.json");
	my ($meta) = glob("$evil2/postgres/data/app/p/p1/0000000001.meta.json");
	my $old = sha256_hex(slurp_file($meta));
	rewrite($meta, sub { my ($t) = @_; $t =~ s/"rows": 100\b/"rows": 99/g or die; return $t; });
	update_meta_sha($m, $old, sha256_hex(slurp_file($meta)));
	fails_like($node_a, 'postgres', "SELECT partback.restore_table(" . lit($evil2) . ", 'app.p', force => true, wait => true)",
		qr/XX001: manifest .* does not verify with the configured key/, 'a changed metadata file (manifest updated) is refused');
	fails_like($node_a, 'postgres',
		"SELECT partback._partition_meta(" . lit($evil2) . ", 'postgres', 'data/app/p/p1/0000000001.meta.json', NULL)",
		qr/XX001: metadata file ".*p1\/0000000001\.meta\.json" does not verify with the configured key/,
		'the changed metadata file does not verify by itself');
	is(PartbackTest::content_md5($node_a, 'postgres', 'app.p'), $md5_p, 'app.p is unchanged');
}

# a data file changed along with its metadata and manifest (checksums
# recomputed): refused at the manifest, no row loaded
{
	my $evil3 = PartbackTest::backup_dir('auth') . '/evil3';
	PostgreSQL::Test::RecursiveCopy::copypath($dir, $evil3);
	my ($m) = glob("$evil3/postgres/manifests/0000000001.json");
	my ($meta) = glob("$evil3/postgres/data/app/t/t/0000000001.meta.json");
	my ($data) = glob("$evil3/postgres/data/app/t/t/0000000001.00000.copy*");
	my ($data_b) = glob("$evil3/postgres/data/app/bomb/bomb/0000000001.00000.copy*");
	my ($old_data, $new_data) = (sha256_hex(slurp_file($data)), sha256_hex(slurp_file($data_b)));
	my ($old_size, $new_size) = (-s $data, -s $data_b);
	copy($data_b, $data) or die;
	my $old_meta = sha256_hex(slurp_file($meta));
	rewrite($meta, sub {
		my ($t) = @_;
		$t =~ s/$old_data/$new_data/ or die;
		$t =~ s/"stored_bytes": $old_size\b/"stored_bytes": $new_size/g;
		return $t;
	});
	update_meta_sha($m, $old_meta, sha256_hex(slurp_file($meta)));
	fails_like($node_a, 'postgres', "SELECT partback.restore_table(" . lit($evil3) . ", 'app.t', force => true, wait => true)",
		qr/XX001: manifest .* does not verify with the configured key/, 'a changed data file (metadata and manifest updated) is refused');
	is(PartbackTest::content_md5($node_a, 'postgres', 'app.t'), $md5_kept, 'app.t is unchanged');
}

# ---------------------------------------------------------------- other key, no key

set_key($node_a, $key2_file);
my $kid2 = key_id($key2);
fails_like($node_a, 'postgres', "SELECT partback.restore_table($ldir, 'app.t', force => true, wait => true)",
	qr/XX001: manifest .* does not verify with the configured key.*DETAIL:  It was authenticated with the key whose id is $kid; the configured key's id is $kid2\..*HINT:  Set partback.auth_key_file to the key the backup was made with/s,
	'a backup made with another key is refused, naming both key ids');
is($node_a->safe_psql('postgres', "SELECT problem || ' ' || file FROM partback.check_backup($ldir) WHERE problem <> 'extra file'"),
	'not authenticated postgres/manifests/0000000001.json', 'check_backup reports it');

# a backup made without a key: refused while a key is set
set_key($node_a, undef);
my $plain = PartbackTest::backup_dir('auth') . '/plain';
$node_a->safe_psql('postgres', "SELECT partback.backup_table(" . lit($plain) . ", 'app.t', wait => true)");
unlike(slurp_file(glob("$plain/postgres/manifests/0000000001.json")), qr/manifest_hmac|auth_key_id/,
	'without a key, a manifest carries no HMAC');
set_key($node_a, $key1_file);
fails_like($node_a, 'postgres', "SELECT partback.restore_table(" . lit($plain) . ", 'app.t', force => true, wait => true)",
	qr/XX001: manifest .* does not verify with the configured key.*DETAIL:  It carries no "manifest_hmac".*HINT:  .*unset partback.auth_key_file/s,
	'a backup made without a key is refused while a key is set');
like($node_a->safe_psql('postgres', "SELECT backup_id || ' ' || problem FROM partback.list_backups(" . lit($plain) . ")"),
	qr/^1 manifest .* does not verify/, 'list_backups shows the unauthenticated backup in it as damaged');
# a backup with the key into that dir works, and takes over no file a
# backup made without the key names (app.p has not changed)
set_key($node_a, undef);
$node_a->safe_psql('postgres', "SELECT partback.backup_table(" . lit($plain) . ", 'app.p', wait => true)");
set_key($node_a, $key1_file);
$node_a->safe_psql('postgres', "SELECT partback.backup_table(" . lit($plain) . ", 'app.p', wait => true)");
$node_a->safe_psql('postgres', "SELECT partback.backup_table(" . lit($plain) . ", 'app.p', wait => true)");
set_key($node_a, undef);
is($node_a->safe_psql('postgres', "SELECT string_agg(backup_id || ':' || (new_bytes = 0), ',' ORDER BY backup_id) FROM partback.list_backups(" . lit($plain) . ") WHERE backup_id > 1"),
	'2:false,3:false,4:true',
	'a backup with the key takes over no file of one made without it, only of one made with it');
$node_a->safe_psql('postgres', "SELECT partback.restore_table(" . lit($plain) . ", 'app.t', backup_id => 1, force => true, wait => true)");
is(PartbackTest::content_md5($node_a, 'postgres', 'app.t'), $md5_kept, 'with the key unset, the backup made without one restores');
set_key($node_a, $key1_file);

# an unfit key file is refused, naming it
chmod(0640, $key1_file);
fails_like($node_a, 'postgres', "SELECT * FROM partback.list_backups($ldir)",
	qr/ERROR:  F0000: partback.auth_key_file ".*key1" cannot be used.*DETAIL:  It has group or world access/s,
	'a key file readable by others is refused');
chmod(0600, $key1_file);
write_file("$keydir/short", random_bytes(16), 0600);
set_key($node_a, "$keydir/short");
fails_like($node_a, 'postgres', "SELECT * FROM partback.list_backups($ldir)",
	qr/F0000: partback.auth_key_file ".*short" cannot be used.*DETAIL:  It holds 16 bytes/s, 'a key of 16 bytes is refused');
set_key($node_a, $key1_file);

# ---------------------------------------------------------------- node B: migrate, two clusters

my $node_b = PartbackTest::new_node('b', conf => "partback.auth_key_file = '$key2_file'\n");
my $sysid_b = $node_b->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
$node_b->safe_psql('postgres', 'CREATE DATABASE mig');
$node_b->safe_psql('mig', 'CREATE EXTENSION partback');
fails_like($node_b, 'mig', "SELECT partback.migrate($ldir, source_db => 'postgres', wait => true)",
	qr/does not verify with the configured key/, 'migrate to a cluster with another key fails');
is($node_b->safe_psql('mig', "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace OR relname IN ('t', 'p')"),
	'0', 'and creates nothing');
set_key($node_b, $key1_file);
$node_b->safe_psql('mig', "SELECT partback.migrate($ldir, source_db => 'postgres', wait => true)");
is(PartbackTest::content_md5($node_b, 'mig', 'app.t') . ' ' . PartbackTest::content_md5($node_b, 'mig', 'app.p'),
	"$md5_t $md5_p", 'migrate to a cluster with the same key restores the backup');

# node B has a database postgres of its own, with an app.t of other rows
$node_b->safe_psql('postgres', $schema . q{
	INSERT INTO app.t SELECT g, 'staging ' || g FROM generate_series(1, 30) g;});
my $md5_b = PartbackTest::content_md5($node_b, 'postgres', 'app.t');
fails_like($node_b, 'postgres', "SELECT partback.backup_db($ldir, wait => true)",
	qr/ERROR:  55000: backup directory ".*" holds backups of database "postgres" made by another cluster.*DETAIL:  Backup 1 was made by the cluster with system identifier $sysid_a; this cluster's system identifier is $sysid_b\..*HINT:  Back up into another directory/s,
	'a second cluster backing up a database of the same name into the dir is refused, naming both clusters');
fails_like($node_b, 'postgres', "SELECT partback.backup_table($ldir, 'app.t', wait => true)",
	qr/55000: .* made by another cluster/s, 'backup_table too');
is(scalar(() = glob("$dir/postgres/manifests/*")), 1, 'the dir still holds one backup');

# the interleaving happens anyway (files copied in by hand): node B's
# backup 2 beside node A's backup 1
my $bdir = PartbackTest::backup_dir('auth') . '/staging';
$node_b->safe_psql('postgres', "SELECT partback.backup_db(" . lit($bdir) . ", wait => true)");
$node_b->safe_psql('postgres', "SELECT partback.backup_db(" . lit($bdir) . ", force => true, wait => true)");
my $mixed = PartbackTest::backup_dir('auth') . '/mixed';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $mixed);
copy("$bdir/postgres/manifests/0000000002.json", "$mixed/postgres/manifests/0000000002.json") or die;
for my $f (glob("$bdir/postgres/data/app/*/*/0000000002.*"))
{
	(my $to = $f) =~ s/^\Q$bdir\E/$mixed/;
	copy($f, $to) or die "copy $f: $!";
}
my $lmixed = lit($mixed);
$node_a->safe_psql('postgres', 'TRUNCATE app.t');
my ($ret, $out, $err) = PartbackTest::run_sql($node_a, 'postgres',
	"SELECT partback.restore_table($lmixed, 'app.t', force => true, wait => true)");
is(PartbackTest::content_md5($node_a, 'postgres', 'app.t'), $md5_t,
	'restore_table naming no backup restores this cluster\'s backup, not the newer one of the other cluster') or diag($err);
$node_a->safe_psql('postgres', 'CREATE DATABASE rdb');
$node_a->safe_psql('rdb', 'CREATE EXTENSION partback');
($ret, $out, $err) = PartbackTest::run_sql($node_a, 'rdb', "SELECT partback.restore_db($lmixed, 'postgres', wait => true)");
like($err, qr/NOTICE:  00000: restoring backup 1 of database "postgres"/, 'restore_db naming no backup picks this cluster\'s backup 1');
is(PartbackTest::content_md5($node_a, 'rdb', 'app.t'), $md5_t, 'and loads its rows');
$node_a->safe_psql('postgres', "SELECT partback.restore_table($lmixed, 'app.t', backup_id => 2, force => true, wait => true)");
is(PartbackTest::content_md5($node_a, 'postgres', 'app.t'), $md5_b, 'the other cluster\'s backup restores only when named');
fails_like($node_a, 'postgres', "SELECT partback.backup_db($lmixed, wait => true)",
	qr/55000: .*Backup 2 was made by the cluster with system identifier $sysid_b/s,
	'node A does not back up into the dir holding node B\'s backup either');
# the newest backup that names a cluster stands for the dir (each backup is
# made after that check, and a backup only ever checks the newest): node B,
# whose backup 2 is the newest, backs up into it, and its backup 3 builds on
# its own backup 2, never on node A's backup 1
$node_b->safe_psql('postgres', "SELECT partback.backup_db($lmixed, wait => true)");
is(scalar(() = glob("$mixed/postgres/manifests/*.json")), 3, 'node B backs up into the dir whose newest backup is its own');
$node_b->safe_psql('postgres', 'CREATE DATABASE mixed');
$node_b->safe_psql('mixed', 'CREATE EXTENSION partback');
($ret, $out, $err) = PartbackTest::run_sql($node_b, 'mixed',
	"SELECT partback.restore_db($lmixed, 'postgres', wait => true)");
like($err, qr/NOTICE:  00000: restoring backup 3 of database "postgres"/, 'restore_db on node B naming no backup picks that backup 3');
is(PartbackTest::content_md5($node_b, 'mixed', 'app.t'), $md5_b, 'which holds node B\'s rows, none of node A\'s');

# a manifest written before the cluster was recorded counts as this
# cluster's: node B restores node A's backup without naming it, and may back
# up into the dir
my $legacy = PartbackTest::backup_dir('auth') . '/legacy';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $legacy);
rewrite(glob("$legacy/postgres/manifests/0000000001.json"), sub {
	my ($t) = @_;
	$t =~ s/"system_identifier": "\d+", // or die 'no system_identifier';
	return $t;
}, $key1);
$node_b->safe_psql('postgres', 'CREATE DATABASE legacy');
$node_b->safe_psql('legacy', 'CREATE EXTENSION partback');
$node_b->safe_psql('legacy', "SELECT partback.restore_table(" . lit($legacy) . ", 'app.t', source_db => 'postgres', wait => true)");
is(PartbackTest::content_md5($node_b, 'legacy', 'app.t'), $md5_t,
	'a backup that names no cluster restores on another cluster without backup_id');
$node_b->safe_psql('postgres', "SELECT partback.backup_table(" . lit($legacy) . ", 'app.t', wait => true)");
is(scalar(() = glob("$legacy/postgres/manifests/*.json")), 2, 'and another cluster may back up beside it');

# the member as JSON null names no cluster either; the same key deeper in
# the manifest (here in a table's entry) is not the manifest's
my $nullid = PartbackTest::backup_dir('auth') . '/nullid';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $nullid);
rewrite(glob("$nullid/postgres/manifests/0000000001.json"), sub {
	my ($t) = @_;
	$t =~ s/"system_identifier": "\d+", /"system_identifier": null, / or die 'no system_identifier';
	$t =~ s/\{"schema": "app", "name": "t", /{"schema": "app", "name": "t", "system_identifier": "1", / or die 'no entry of app.t';
	return $t;
}, $key1);
$node_b->safe_psql('postgres', "SELECT partback.backup_table(" . lit($nullid) . ", 'app.t', wait => true)");
is(scalar(() = glob("$nullid/postgres/manifests/*.json")), 2,
	'a manifest whose system_identifier is null, and names one in a table entry, lets another cluster back up beside it');

$node_a->safe_psql('postgres', "SELECT partback.restore_table($ldir, 'app.t', force => true, wait => true)");
$node_b->stop;

# ---------------------------------------------------------------- zstd bomb

# a valid COPY stream of app.bomb's columns, ~100 MB, compressed to a few KB
my $bombdir = PartbackTest::backup_dir('auth') . '/bomb';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $bombdir);
{
	my ($m) = glob("$bombdir/postgres/manifests/0000000001.json");
	my ($meta) = glob("$bombdir/postgres/data/app/bomb/bomb/0000000001.meta.json");
	my ($data) = glob("$bombdir/postgres/data/app/bomb/bomb/0000000001.00000.copy.zst");
	my $row = pack('n', 2) . pack('N', 4) . pack('N', 7) . pack('N', 8) . 'xxxxxxxx';
	my $chunk = $row x 50000;
	open(my $z, '|-', "zstd -q -f -o $keydir/bomb.zst") or die;
	binmode $z;
	print $z "PGCOPY\n\377\r\n\0" . pack('N', 0) . pack('N', 0);
	print $z $chunk for 1 .. 100;
	print $z pack('n', 0xffff);
	close($z) or die 'zstd failed';
	ok(-s "$keydir/bomb.zst" < 100_000, 'the bomb is small: ' . (-s "$keydir/bomb.zst") . ' bytes');
	my ($old_sha, $old_size) = (sha256_hex(slurp_file($data)), -s $data);
	copy("$keydir/bomb.zst", $data) or die;
	my ($new_sha, $new_size) = (sha256_hex(slurp_file($data)), -s $data);
	my $old_meta = sha256_hex(slurp_file($meta));
	# resealed with the key: the bound must hold even for its holder's files
	rewrite($meta, sub {
		my ($t) = @_;
		$t =~ s/$old_sha/$new_sha/ or die;
		$t =~ s/"stored_bytes": $old_size\b/"stored_bytes": $new_size/g or die;
		return $t;
	}, $key1);
	update_meta_sha($m, $old_meta, sha256_hex(slurp_file($meta)), $key1);
	is($node_a->safe_psql('postgres', "SELECT count(*) FROM partback.check_backup(" . lit($bombdir) . ")"), '0',
		'the resealed backup verifies');
	my $lsn = $node_a->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	my $start = time();
	fails_like($node_a, 'postgres', "SELECT partback.restore_table(" . lit($bombdir) . ", 'app.bomb', force => true, wait => true)",
		qr/XX001: backup file ".*bomb\/0000000001\.00000\.copy\.zst" holds more data than its metadata says/,
		'a zstd bomb in place of a data file fails, naming the file');
	my $wal = $node_a->safe_psql('postgres', "SELECT pg_current_wal_insert_lsn() - '$lsn'::pg_lsn");
	ok($wal < 16 * 1024 * 1024, "the bomb is stopped before it writes much WAL ($wal bytes)");
	ok(time() - $start < 30, 'and fails fast');
	is($node_a->safe_psql('postgres', 'SELECT count(*) FROM app.bomb'), '1', 'app.bomb keeps its row');
}

# ---------------------------------------------------------------- size limits

$node_a->safe_psql('postgres', q{
	CREATE TABLE app.big (a integer);
	DO $$ BEGIN EXECUTE format('COMMENT ON TABLE app.big IS %L', repeat('x', 17 * 1024 * 1024)); END $$;});
my $bigdir = PartbackTest::backup_dir('auth') . '/big';
fails_like($node_a, 'postgres', "SELECT partback.backup_table(" . lit($bigdir) . ", 'app.big', wait => true)",
	qr/54000: the definition of table app\.big takes \d+ bytes, more than a backup allows \(16777216 bytes\).*DETAIL:  Its largest item is comment, 17825792 bytes/s,
	'a 17 MB table comment is refused by the writer, naming the table and the item');
is(scalar(() = glob("$bigdir/postgres/manifests/*.json")), 0, 'no manifest was written');
$node_a->safe_psql('postgres', 'DROP TABLE app.big');

# In a backup_db, such a table fails alone: its definition is read while the
# copy workers copy its partitions, whose files are then removed; the other
# table is backed up and restores.  So does a plain table over the limit,
# whose definition is read in one batch with the others'.
$node_a->safe_psql('postgres', q{
	CREATE SCHEMA sized;
	CREATE TABLE sized.ok (a integer);
	INSERT INTO sized.ok SELECT generate_series(1, 100);
	CREATE TABLE sized.plain_big (a integer);
	INSERT INTO sized.plain_big VALUES (1);
	DO $$ BEGIN EXECUTE format('COMMENT ON TABLE sized.plain_big IS %L', repeat('y', 17 * 1024 * 1024)); END $$;
	CREATE TABLE sized.big (a integer) PARTITION BY RANGE (a);
	DO $$ BEGIN
		FOR i IN 0 .. 19 LOOP
			EXECUTE format('CREATE TABLE sized.big_%s PARTITION OF sized.big FOR VALUES FROM (%s) TO (%s)',
						   i, i * 10, i * 10 + 10);
		END LOOP;
		EXECUTE format('COMMENT ON TABLE sized.big IS %L', repeat('x', 17 * 1024 * 1024));
	END $$;
	INSERT INTO sized.big SELECT generate_series(0, 199);});
my $sizeddir = PartbackTest::backup_dir('auth') . '/sized';
fails_like($node_a, 'postgres', "SELECT partback.backup_db(" . lit($sizeddir) . ", ARRAY['sized'], wait => true)",
	qr/54000: .*\bsized\.big: the definition of table sized\.big takes \d+ bytes/s,
	'backup_db: the table whose definition is too large fails, naming it');
is($node_a->safe_psql('postgres', q{
	SELECT string_agg(table_name || ' ' || sqlstate || ' ' || (message ~ '^the definition of table \S+ takes \d+ bytes'), ', ' ORDER BY table_name)
	  FROM partback.job_message WHERE job_id = (SELECT max(job_id) FROM partback.job) AND level = 'ERROR'}),
	'sized.big 54000 true, sized.plain_big 54000 true', 'and so does the plain table, alone');
is($node_a->safe_psql('postgres', "SELECT tables || '|' || array_to_string(failed_tables, ',') FROM partback.list_backups(" . lit($sizeddir) . ")"),
	'1|sized.big,sized.plain_big', 'the backup holds the other table and lists the failed ones');
is($node_a->safe_psql('postgres', "SELECT string_agg(source_table || ': ' || problem, ', ' ORDER BY source_table) FROM partback.check_backup(" . lit($sizeddir) . ")"),
	'sized.big: not in the backup: its backup failed, sized.plain_big: not in the backup: its backup failed',
	'check_backup finds nothing else wrong');
my @left = (glob("$sizeddir/postgres/data/sized/big/*/*"), glob("$sizeddir/postgres/data/sized/plain_big/*/*"));
is(scalar(@left), 0, 'no file of the failed table is left (its copies made meanwhile are discarded)')
  or diag(join("\n", @left));
$node_a->safe_psql('postgres', "SELECT partback.restore_table(" . lit($sizeddir) . ", 'sized.ok', target_table => 'sized.ok2', wait => true)");
is($node_a->safe_psql('postgres', 'SELECT count(*) FROM sized.ok2'), '100', 'the other table restores');
$node_a->safe_psql('postgres', 'DROP SCHEMA sized CASCADE');

my $hugedir = PartbackTest::backup_dir('auth') . '/huge';
PostgreSQL::Test::RecursiveCopy::copypath($dir, $hugedir);
{
	open(my $fh, '>', "$hugedir/postgres/manifests/0000000002.json") or die;
	print $fh '{"format": "partback", "comment": "' . ('x' x (1024 * 1024)) . '"' for 1 .. 65;
	close($fh);
}
fails_like($node_a, 'postgres', "SELECT * FROM partback.list_backups(" . lit($hugedir) . ")",
	qr/54000: file ".*0000000002\.json" is too large.*the limit is 67108864 bytes/si,
	'a manifest over the limit is refused before it is parsed');

# ---------------------------------------------------------------- 200,000 files

# A metadata file naming 200,000 files (31 MB) is over the limit: refused
# unparsed.  One naming 95,000 (15 MB, within it): purge_backups and
# check_backup still end within statement_timeout and a second or two.
for my $nfiles (200_000, 95_000)
{
	my $manydir = PartbackTest::backup_dir('auth') . '/many';
	PostgreSQL::Test::RecursiveCopy::copypath($dir, $manydir);
	$node_a->safe_psql('postgres', "SELECT partback.backup_table(" . lit($manydir) . ", 'app.t', force => true, wait => true)");
	my ($m) = glob("$manydir/postgres/manifests/0000000002.json");
	my ($meta) = glob("$manydir/postgres/data/app/t/t/0000000002.meta.json");
	my $old_meta = sha256_hex(slurp_file($meta));
	my $zero = '0' x 64;
	rewrite($meta, sub {
		my ($t) = @_;
		my $files = join(', ', map {
			sprintf('{"name": "x%06d", "rows": 0, "bytes": 0, "stored_bytes": 0, "sha256": "%s", "backup_id": 2}', $_, $zero)
		} 1 .. $nfiles);
		$t =~ s/"files": \[.*\]/"files": [$files]/s or die;
		return $t;
	}, $key1);
	update_meta_sha($m, $old_meta, sha256_hex(slurp_file($meta)), $key1);
	my $over = (-s $meta) > 16 * 1024 * 1024;
	is($over ? 1 : 0, $nfiles > 100_000 ? 1 : 0, "the metadata file naming $nfiles files is " . (-s $meta) . ' bytes');

	for my $call ("SELECT count(*) FROM partback.check_backup(" . lit($manydir) . ")",
		"SELECT partback.purge_backups(" . lit($manydir) . ", 1)")
	{
		my $start = time();
		my ($r, $o, $e) = PartbackTest::run_sql($node_a, 'postgres', "SET statement_timeout = '500ms';\n$call");
		my $took = time() - $start;
		if ($over)
		{
			ok(defined $r && ($call =~ /check_backup/ ? $r == 0 && $o > 0
					: $e =~ /54000: file ".*0000000002\.meta\.json" is too large/),
				"$call, $nfiles files: refused as too large") or diag($e);
		}
		else
		{
			ok(defined $r && ($r == 0 || $e =~ /57014/), "$call, $nfiles files: done or canceled") or diag($e);
		}
		ok($took < 3, "and within statement_timeout and a second or two ($took s)");
	}
	if ($over)
	{
		is(scalar(() = glob("$manydir/postgres/manifests/*.json")), 2, 'the refused purge_backups removed nothing');
		like($node_a->safe_psql('postgres', "SELECT string_agg(problem || ': ' || actual, ',') FROM partback.check_backup(" . lit($manydir) . ") WHERE file LIKE '%meta.json'"),
			qr/metadata damaged: file ".*" is too large/, 'check_backup reports the metadata file as too large');
	}
}

$node_a->stop;
done_testing();
