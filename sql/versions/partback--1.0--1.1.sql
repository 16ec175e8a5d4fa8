-- partback: upgrade from 1.0 to 1.1 (ALTER EXTENSION partback UPDATE).
--
-- What goes here: every change to the extension's objects between the
-- released 1.0 (sql/versions/partback--1.0.sql, frozen) and the current
-- 1.1 (the concatenation of sql/install/*.sql): a function changed in
-- sql/install/ is repeated here as CREATE OR REPLACE FUNCTION (or DROP and
-- CREATE when its signature or result type changes, then its GRANTs and
-- REVOKEs again); a catalog table or column added there is added here with
-- ALTER TABLE, keeping the rows already in it; new objects are created here
-- as there.  Objects created here become members of the extension.
--
-- test/t/005_upgrade.pl checks that CREATE EXTENSION partback VERSION '1.0'
-- followed by ALTER EXTENSION partback UPDATE gives the same pg_dump of
-- schema partback as a fresh CREATE EXTENSION partback, and that jobs
-- recorded under 1.0 are still listed by 1.1's status functions.
--
-- 1.1 so far: no change to the SQL objects (1.1 is the first version whose
-- scripts are committed and versioned; the library serves both).

\echo Use "ALTER EXTENSION partback UPDATE" to load this file. \quit
