/*-------------------------------------------------------------------------
 *
 * pbtest_seclabel.c
 *		A security label provider for partback's tests only.
 *
 * Loaded through shared_preload_libraries by the TAP test of security
 * labels (test/t/145_security_labels.pl), it registers the provider
 * "pbtest", which accepts every label but 'invalid' (rejected with an
 * ERROR, so that a test can see a provider refusing a label) and removing a
 * label (NULL).  It enforces nothing.  Never install it outside a test.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/objectaddress.h"
#include "commands/seclabel.h"
#include "fmgr.h"
#include "miscadmin.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static void
pbtest_relabel(const ObjectAddress *object, const char *seclabel)
{
	if (seclabel != NULL && strcmp(seclabel, "invalid") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("security label \"%s\" is not valid for provider \"pbtest\"",
						seclabel)));
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pbtest_seclabel must be loaded through shared_preload_libraries")));
	register_label_provider("pbtest", pbtest_relabel);
}
