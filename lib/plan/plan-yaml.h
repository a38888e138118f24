/* plan-yaml.h — the YAML layer of plans: bytes to a strict node tree.
 *
 * plan_yaml_load() refuses input over PLAN_MAX_BYTES, with NUL bytes or
 * with invalid UTF-8 before libyaml sees it, then builds a tree of
 * scalars, lists and mappings from libyaml's events, each node with the
 * 1-based line and column where it starts.  Aliases, anchors, tags, more
 * than one document and nesting deeper than PLAN_YAML_MAX_DEPTH are
 * refused.  An empty stream gives a NULL tree.  Errors come back as one
 * line "FILE:LINE:COLUMN: message" and -EBADMSG (-ENOMEM on allocation
 * failure). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cleanup.h"

#define PLAN_YAML_MAX_DEPTH 16
/* Room for a quoted excerpt of user text in a message. */
#define PLAN_YAML_QUOTE_MAX 80

typedef enum PlanYamlType {
	PLAN_YAML_SCALAR,
	PLAN_YAML_SEQUENCE,
	PLAN_YAML_MAPPING,
} PlanYamlType;

typedef struct PlanYamlNode {
	PlanYamlType type;
	size_t line, column;
	char *value; /* scalar: the text, without NUL bytes inside */
	bool plain;  /* scalar written unquoted, so "null", "true", "1" keep their YAML meaning */
	/* sequence: the items; mapping: key, value, key, value, … */
	struct PlanYamlNode **children;
	size_t n_children;
} PlanYamlNode;

int plan_yaml_load(const char *path, const char *data, size_t size, PlanYamlNode **ret,
		   char **ret_error);
PlanYamlNode *plan_yaml_free(PlanYamlNode *n);
static inline void plan_yaml_freep(PlanYamlNode **n)
{
	plan_yaml_free(*n);
}

/* An unquoted empty value, "~" or "null". */
bool plan_yaml_is_null(const PlanYamlNode *n);
/* "a string", "an empty value", "a list" or "a mapping", for messages. */
const char *plan_yaml_describe(const PlanYamlNode *n);
/* s shortened to a few dozen characters, control characters escaped, for
 * echoing user text in a one-line message.  Returns buf. */
char *plan_yaml_quote(const char *s, char buf[static PLAN_YAML_QUOTE_MAX]);
/* Sets *ret_error to "path:line:column: message" and returns -EBADMSG
 * (-ENOMEM when that fails). */
int plan_yaml_error(char **ret_error, const char *path, size_t line, size_t column, const char *fmt,
		    ...) _printf_(5, 6);
