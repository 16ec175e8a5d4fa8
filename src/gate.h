/*-------------------------------------------------------------------------
 *
 * gate.h
 *		partback's internal functions (schema partback, name starting with
 *		an underscore) run only inside partback's own calls (gate.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PARTBACK_GATE_H
#define PARTBACK_GATE_H

#include "fmgr.h"

/* _PG_init: install the hooks */
extern void pb_gate_init(void);

/*
 * partback's background workers, once connected: the job's role may run
 * internal functions in this process (never inside a security-restricted
 * operation).
 */
extern void pb_gate_open_worker(void);

/*
 * First thing in every internal C function: ERROR (42501) unless the gate
 * is open.  The hooks refuse a call before it starts; this check covers the
 * call that loads the library, which starts before the hooks exist.
 */
extern void pb_gate_check_call(FunctionCallInfo fcinfo);

#endif							/* PARTBACK_GATE_H */
