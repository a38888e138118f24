#include <stdarg.h>
#include <string.h>
#include <yaml.h>

#include "plan-yaml.h"
#include "plan.h"
#include "utf8.h"

_printf_(5, 0) static int verror(char **ret_error, const char *path, size_t line, size_t column,
				 const char *fmt, va_list ap)
{
	_cleanup_free_ char *message = NULL;
	char *line_text;

	if (vasprintf(&message, fmt, ap) < 0)
		return -ENOMEM;
	if (asprintf(&line_text, "%s:%zu:%zu: %s", path, line, column, message) < 0)
		return -ENOMEM;
	*ret_error = line_text;
	return -EBADMSG;
}

int plan_yaml_error(char **ret_error, const char *path, size_t line, size_t column, const char *fmt,
		    ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = verror(ret_error, path, line, column, fmt, ap);
	va_end(ap);
	return r;
}

char *plan_yaml_quote(const char *s, char buf[static PLAN_YAML_QUOTE_MAX])
{
	/* Leaves room for the longest escape plus "…" and the NUL. */
	const size_t limit = PLAN_YAML_QUOTE_MAX - 12;
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* Stop only at a character boundary, so the excerpt stays valid UTF-8. */
		if (o >= limit && (*p & 0xC0) != 0x80) {
			o += (size_t)snprintf(buf + o, PLAN_YAML_QUOTE_MAX - o, "…");
			break;
		}
		if (*p == '\n')
			o += (size_t)snprintf(buf + o, PLAN_YAML_QUOTE_MAX - o, "\\n");
		else if (*p == '\t')
			o += (size_t)snprintf(buf + o, PLAN_YAML_QUOTE_MAX - o, "\\t");
		else if (*p < 0x20 || *p == 0x7F)
			o += (size_t)snprintf(buf + o, PLAN_YAML_QUOTE_MAX - o, "\\x%02x", *p);
		else
			buf[o++] = (char)*p;
	}
	buf[o] = '\0';
	return buf;
}

bool plan_yaml_is_null(const PlanYamlNode *n)
{
	if (n->type != PLAN_YAML_SCALAR || !n->plain)
		return false;
	return n->value[0] == '\0' || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
	       strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

const char *plan_yaml_describe(const PlanYamlNode *n)
{
	switch (n->type) {
	case PLAN_YAML_SCALAR:
		return plan_yaml_is_null(n) ? "an empty value" : "a string";
	case PLAN_YAML_SEQUENCE:
		return "a list";
	case PLAN_YAML_MAPPING:
		return "a mapping";
	}
	return "a value";
}

PlanYamlNode *plan_yaml_free(PlanYamlNode *n)
{
	if (!n)
		return NULL;
	/* Depth is bounded by PLAN_YAML_MAX_DEPTH, so recursion is safe. */
	for (size_t i = 0; i < n->n_children; i++)
		plan_yaml_free(n->children[i]);
	free(n->children);
	free(n->value);
	free(n);
	return NULL;
}

static int node_append(PlanYamlNode *parent, PlanYamlNode *child)
{
	if ((parent->n_children & (parent->n_children - 1)) == 0) {
		size_t capacity = parent->n_children ? parent->n_children * 2 : 4;
		PlanYamlNode **grown = realloc(parent->children, capacity * sizeof(PlanYamlNode *));
		if (!grown)
			return -ENOMEM;
		parent->children = grown;
	}
	parent->children[parent->n_children++] = child;
	return 0;
}

typedef struct Loader {
	const char *path;
	char **ret_error;
	yaml_parser_t parser;
	PlanYamlNode *root;
	PlanYamlNode *stack[PLAN_YAML_MAX_DEPTH]; /* open lists and mappings */
	size_t depth;
	unsigned documents;
} Loader;

_printf_(3, 4) static int loader_error(Loader *l, const yaml_mark_t *mark, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = verror(l->ret_error, l->path, mark->line + 1, mark->column + 1, fmt, ap);
	va_end(ap);
	return r;
}

/* libyaml's own failure: a syntax error with its mark, or a reader error at a byte offset. */
static int loader_syntax_error(Loader *l, const char *data, size_t size)
{
	const yaml_parser_t *p = &l->parser;
	size_t line, column;

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (p->error == YAML_READER_ERROR) {
		utf8_position(data, size, p->problem_offset, &line, &column);
		return plan_yaml_error(l->ret_error, l->path, line, column, "YAML: %s",
				       p->problem ? p->problem : "unreadable input");
	}
	if (p->context)
		return plan_yaml_error(l->ret_error, l->path, p->problem_mark.line + 1,
				       p->problem_mark.column + 1,
				       "YAML syntax error: %s (%s at line %zu)",
				       p->problem ? p->problem : "invalid YAML", p->context,
				       p->context_mark.line + 1);
	return plan_yaml_error(l->ret_error, l->path, p->problem_mark.line + 1,
			       p->problem_mark.column + 1, "YAML syntax error: %s",
			       p->problem ? p->problem : "invalid YAML");
}

/* Refuses what plans do not use: anchors (and so aliases) and tags. */
static int check_node_properties(Loader *l, const yaml_event_t *e, const yaml_char_t *anchor,
				 const yaml_char_t *tag)
{
	char quoted[PLAN_YAML_QUOTE_MAX];

	if (anchor)
		return loader_error(l, &e->start_mark,
				    "anchors are not allowed in plans (found '&%s')",
				    plan_yaml_quote((const char *)anchor, quoted));
	if (tag)
		return loader_error(l, &e->start_mark, "tags are not allowed in plans (found '%s')",
				    plan_yaml_quote((const char *)tag, quoted));
	return 0;
}

static int loader_add(Loader *l, const yaml_event_t *e, PlanYamlType type)
{
	_cleanup_(plan_yaml_freep) PlanYamlNode *n = calloc(1, sizeof(PlanYamlNode));
	int r;

	if (!n)
		return -ENOMEM;
	n->type = type;
	n->line = e->start_mark.line + 1;
	n->column = e->start_mark.column + 1;

	if (type == PLAN_YAML_SCALAR) {
		const char *v = (const char *)e->data.scalar.value;
		size_t len = e->data.scalar.length;
		/* A "\0" escape in a double-quoted scalar would cut a C string short. */
		if (memchr(v, 0, len))
			return loader_error(l, &e->start_mark,
					    "NUL characters (\\0) are not allowed in values");
		n->value = strndup(v, len);
		if (!n->value)
			return -ENOMEM;
		n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	} else if (l->depth >= PLAN_YAML_MAX_DEPTH)
		return plan_yaml_error(l->ret_error, l->path, n->line, n->column,
				       "nesting deeper than %d levels", PLAN_YAML_MAX_DEPTH);

	PlanYamlNode *added = n;
	if (l->depth > 0) {
		r = node_append(l->stack[l->depth - 1], n);
		if (r < 0)
			return r;
		TAKE_PTR(n);
	} else
		l->root = TAKE_PTR(n);

	if (type != PLAN_YAML_SCALAR)
		l->stack[l->depth++] = added;
	return 0;
}

static int loader_handle(Loader *l, const yaml_event_t *e)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	int r;

	switch (e->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++l->documents > 1)
			return loader_error(l, &e->start_mark,
					    "a plan is one YAML document; found a second one");
		return 0;
	case YAML_ALIAS_EVENT:
		return loader_error(l, &e->start_mark,
				    "aliases are not allowed in plans (found '*%s')",
				    plan_yaml_quote((const char *)e->data.alias.anchor, quoted));
	case YAML_SCALAR_EVENT:
		r = check_node_properties(l, e, e->data.scalar.anchor, e->data.scalar.tag);
		return r < 0 ? r : loader_add(l, e, PLAN_YAML_SCALAR);
	case YAML_SEQUENCE_START_EVENT:
		r = check_node_properties(l, e, e->data.sequence_start.anchor,
					  e->data.sequence_start.tag);
		return r < 0 ? r : loader_add(l, e, PLAN_YAML_SEQUENCE);
	case YAML_MAPPING_START_EVENT:
		r = check_node_properties(l, e, e->data.mapping_start.anchor,
					  e->data.mapping_start.tag);
		return r < 0 ? r : loader_add(l, e, PLAN_YAML_MAPPING);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (l->depth > 0)
			l->depth--;
		return 0;
	default:
		return 0;
	}
}

static int check_bytes(const char *path, const char *data, size_t size, char **ret_error)
{
	size_t line, column, bad;

	if (size > PLAN_MAX_BYTES) {
		utf8_position(data, size, PLAN_MAX_BYTES, &line, &column);
		return plan_yaml_error(ret_error, path, line, column,
				       "plan is larger than 1 MiB (%d bytes); refusing it",
				       PLAN_MAX_BYTES);
	}
	const char *nul = memchr(data, 0, size);
	if (nul) {
		utf8_position(data, size, (size_t)(nul - data), &line, &column);
		return plan_yaml_error(ret_error, path, line, column,
				       "NUL byte; a plan is UTF-8 text");
	}
	bad = utf8_find_invalid(data, size);
	if (bad < size) {
		utf8_position(data, size, bad, &line, &column);
		return plan_yaml_error(ret_error, path, line, column,
				       "invalid UTF-8 (byte 0x%02x); a plan is UTF-8 text",
				       (unsigned char)data[bad]);
	}
	return 0;
}

int plan_yaml_load(const char *path, const char *data, size_t size, PlanYamlNode **ret,
		   char **ret_error)
{
	Loader l = {.path = path, .ret_error = ret_error};
	bool done = false;
	int r;

	r = check_bytes(path, data, size, ret_error);
	if (r < 0)
		return r;

	if (!yaml_parser_initialize(&l.parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)data, size);
	yaml_parser_set_encoding(&l.parser, YAML_UTF8_ENCODING);

	while (!done) {
		yaml_event_t event;

		if (!yaml_parser_parse(&l.parser, &event)) {
			r = loader_syntax_error(&l, data, size);
			goto finish;
		}
		done = event.type == YAML_STREAM_END_EVENT;
		r = loader_handle(&l, &event);
		yaml_event_delete(&event);
		if (r < 0)
			goto finish;
	}
	*ret = TAKE_PTR(l.root);
	r = 0;
finish:
	yaml_parser_delete(&l.parser);
	plan_yaml_free(l.root);
	return r;
}
