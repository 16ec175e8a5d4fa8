-- fuzz/seed_data.sql: rows for fuzz.events (fuzz/seed_tables.sql), with
-- NULLs, empty values, multibyte text and extreme numbers among them.
INSERT INTO fuzz.events
SELECT i,
	   date '2024-01-01' + (i % 75),
	   CASE WHEN i % 7 = 0 THEN NULL ELSE i * 3 END,
	   CASE WHEN i % 5 = 0 THEN -9999999999.99 ELSE i * 1.25 END,
	   CASE i % 4 WHEN 0 THEN '' WHEN 1 THEN 'über ' || i WHEN 2 THEN NULL
		   ELSE repeat('x', i) END,
	   'n' || i,
	   i % 2 = 0,
	   CASE WHEN i % 9 = 0 THEN 'NaN'::float8 ELSE i / 3.0 END,
	   CASE WHEN i % 6 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END,
	   jsonb_build_object('i', i, 'a', jsonb_build_array(i, 'x', NULL, true)),
	   ARRAY['t' || i, NULL, ''],
	   timestamptz '2024-01-01 00:00+00' + i * interval '1 hour',
	   i * interval '1 minute',
	   md5(i::text)::uuid
  FROM generate_series(1, 120) AS i;
