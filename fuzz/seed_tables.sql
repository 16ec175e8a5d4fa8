-- fuzz/seed_tables.sql: the table whose backup seeds the fuzzer (test/fuzz.sh
-- creates it in the source database, fills it and backs it up, and creates
-- it again, empty, in the fuzzing database as the restore target).  Many
-- column types, so that the binary COPY stream exercises their receive
-- functions.
CREATE SCHEMA fuzz;
CREATE TABLE fuzz.events (
	id		bigint NOT NULL,
	day		date NOT NULL,
	n		integer CHECK (n >= 0),
	amount	numeric(12, 2),
	label	text,
	note	varchar(20),
	flag	boolean,
	f		double precision,
	data	bytea,
	doc		jsonb,
	tags	text[],
	at		timestamptz,
	span	interval,
	u		uuid,
	PRIMARY KEY (id, day)
) PARTITION BY RANGE (day);
CREATE TABLE fuzz.events_p1 PARTITION OF fuzz.events
	FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE fuzz.events_p2 PARTITION OF fuzz.events
	FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE TABLE fuzz.events_other PARTITION OF fuzz.events DEFAULT;
