/* pg-cleanup.h — scope-bound cleanup of libpq's objects (cleanup.h's _cleanup_ for libpq).
 *
 * _cleanup_(PQclearp) PGresult *, _cleanup_(PQfinishp) PGconn *, _cleanup_(PQfreemem_p) for
 * what libpq allocated, _cleanup_(PQconninfoFreep) for a parsed conninfo. */
#pragma once

#include <libpq-fe.h>

#include "cleanup.h"

static inline void PQclearp(PGresult **r)
{
	PQclear(*r);
}

static inline void PQfinishp(PGconn **c)
{
	if (*c)
		PQfinish(*c);
}

static inline void PQfreemem_p(char **p)
{
	if (*p)
		PQfreemem(*p);
}

static inline void PQconninfoFreep(PQconninfoOption **o)
{
	if (*o)
		PQconninfoFree(*o);
}
