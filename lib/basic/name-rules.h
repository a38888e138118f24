/* name-rules.h — the one rule for each kind of name deployd takes from a plan, a request or a
 * command line, so that `deployctl check`, the daemon and the preflight never disagree.
 * (Unit names have their own module, unit-name.h.)  Pure functions, no allocation. */
#pragma once

#include <stdbool.h>

/* PostgreSQL's identifier length (NAMEDATALEN - 1). */
#define SQL_IDENTIFIER_MAX 63
/* A plan name plus ".yaml" fits in one file name. */
#define PLAN_NAME_MAX 250
/* A deploy id: 128 random bits as 32 lower-case hex digits (sd_id128_to_string()). */
#define DEPLOY_ID_LENGTH 32

/* NAME or SCHEMA.NAME, each [A-Za-z_][A-Za-z0-9_]* of at most SQL_IDENTIFIER_MAX characters:
 * names that need no escaping inside double quotes. */
bool sql_table_name_is_valid(const char *s);
/* A systemd credential name: a file name in $CREDENTIALS_DIRECTORY (non-empty, at most
 * NAME_MAX bytes, no '/', not "." or ".."). */
bool credential_name_is_valid(const char *s);
/* A plan name as the daemon accepts it: [A-Za-z0-9_.-]+, no leading dot, at most
 * PLAN_NAME_MAX bytes. */
bool plan_name_is_valid(const char *name);
/* DEPLOY_ID_LENGTH characters of [0-9a-f]; NULL is not. */
bool deploy_id_is_valid(const char *s);
