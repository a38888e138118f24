/* strv.h — NULL-terminated string vectors (argv-like lists).
 *
 * A strv owns its strings.  Functions return 0 or -ENOMEM and leave their
 * output untouched on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cleanup.h"

#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)

/* strv_free(), the strings overwritten with zeros first (they held secrets). */
void strv_free_erase(char **l);
size_t strv_length(char *const *l);
/* Appends a copy of value; *l may be NULL. */
int strv_extend(char ***l, const char *value);
/* Appends value itself, taking ownership (freed on failure too). */
int strv_push(char ***l, char *value);
int strv_copy(char *const *l, char ***ret);
bool strv_contains(char *const *l, const char *value);
/* "a, b, c" — the elements joined by sep; "" for an empty list. */
int strv_join(char *const *l, const char *sep, char **ret);
