-- partback: who may execute which function; last, after every function
-- is created.
--
-- The public functions (every function of schema partback whose name does
-- not start with an underscore) are not executable by PUBLIC: a superuser
-- grants them to a role by name (README, "Privileges").  The internal ones
-- (name starting with an underscore) are executable by PUBLIC: the public
-- functions and the background workers call them through SQL as the
-- calling role, so PostgreSQL checks EXECUTE on each of them as that role.
-- Called directly, outside a call of a public function, they are refused
-- to everyone but superusers (src/gate.c), whatever was granted.
DO $$
DECLARE
	f record;
BEGIN
	FOR f IN SELECT pg_catalog.format('partback.%I(%s)', p.proname,
									  pg_catalog.pg_get_function_identity_arguments(p.oid)) AS sig,
					pg_catalog.starts_with(p.proname, '_') AS internal
			   FROM pg_catalog.pg_proc p
			  WHERE p.pronamespace = 'partback'::pg_catalog.regnamespace
			  ORDER BY p.oid
	LOOP
		IF f.internal THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f.sig);
		ELSE
			EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.sig);
		END IF;
	END LOOP;
END
$$;
