/* The catalog's answers about relations, kept for the rest of a forecast
 * (forecast-internal.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/linkhash.h>

#include "cleanup.h"
#include "forecast-internal.h"

typedef struct FcMemoEntry {
	char relkind; /* a relation's answer: '\0' when there is no such relation */
	char *name;
	uint32_t *oids; /* a question's answer */
	size_t n_oids;
} FcMemoEntry;

static void entry_free(struct lh_entry *e)
{
	FcMemoEntry *m = lh_entry_v(e);

	free(lh_entry_k(e));
	if (m) {
		free(m->name);
		free(m->oids);
		free(m);
	}
}

void fc_memo_done(FcContext *c)
{
	if (c->memo)
		lh_table_free(c->memo);
	c->memo = NULL;
}

/* "relation/OID" or "QUESTION/PARAM/PARAM…", a NULL parameter told from "" */
static char *question_key(int question, const char *const *params, int n)
{
	char *key = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&key, &size);

	if (!out)
		return NULL;
	fprintf(out, "%d", question);
	for (int i = 0; i < n; i++)
		if (params[i])
			fprintf(out, "\x1f%s", params[i]);
		else
			fputs("\x1e", out);
	if (fclose(out) != 0) {
		free(key);
		return NULL;
	}
	return key;
}

static int put(FcContext *c, char *key, FcMemoEntry *m)
{
	if (!c->memo && !(c->memo = lh_kchar_table_new(256, entry_free)))
		return -ENOMEM;
	/* A key asked again replaces the answer (lh_table_insert would keep both). */
	lh_table_delete(c->memo, key);
	if (lh_table_insert(c->memo, key, m) < 0)
		return -ENOMEM;
	return 0;
}

static const FcMemoEntry *get(const FcContext *c, const char *key)
{
	void *v = NULL;

	if (!c->memo || !lh_table_lookup_ex(c->memo, key, &v))
		return NULL;
	return v;
}

static char *relation_key(uint32_t relid)
{
	char id[16];

	snprintf(id, sizeof(id), "%u", relid);
	return question_key(-1, (const char *const[]){id}, 1);
}

int fc_memo_relation_put(FcContext *c, uint32_t relid, char relkind, const char *name)
{
	_cleanup_free_ char *key = relation_key(relid);
	FcMemoEntry *m = calloc(1, sizeof(FcMemoEntry));

	if (!key || !m || (name && !(m->name = strdup(name)))) {
		free(m);
		return -ENOMEM;
	}
	m->relkind = relkind;
	int r = put(c, key, m);
	if (r < 0) {
		free(m->name);
		free(m);
		return r;
	}
	TAKE_PTR(key);
	return 0;
}

int fc_memo_relation_get(const FcContext *c, uint32_t relid, char *ret_relkind, char **ret_name)
{
	_cleanup_free_ char *key = relation_key(relid);

	if (!key)
		return -ENOMEM;
	const FcMemoEntry *m = get(c, key);
	if (!m)
		return 0;
	if (m->relkind == '\0')
		return -ENOENT;
	*ret_name = strdup(m->name);
	if (!*ret_name)
		return -ENOMEM;
	*ret_relkind = m->relkind;
	return 1;
}

int fc_memo_oids_put(FcContext *c, FcQuestion q, const char *const *params, int n,
		     const uint32_t *oids, size_t n_oids)
{
	_cleanup_free_ char *key = question_key((int)q, params, n);
	FcMemoEntry *m = calloc(1, sizeof(FcMemoEntry));

	if (!key || !m || !(m->oids = calloc(n_oids + 1, sizeof(uint32_t)))) {
		free(m);
		return -ENOMEM;
	}
	memcpy(m->oids, oids, n_oids * sizeof(uint32_t));
	m->n_oids = n_oids;
	int r = put(c, key, m);
	if (r < 0) {
		free(m->oids);
		free(m);
		return r;
	}
	TAKE_PTR(key);
	return 0;
}

int fc_memo_oids_get(const FcContext *c, FcQuestion q, const char *const *params, int n,
		     uint32_t **ret, size_t *ret_n)
{
	_cleanup_free_ char *key = question_key((int)q, params, n);

	if (!key)
		return -ENOMEM;
	const FcMemoEntry *m = get(c, key);
	if (!m)
		return 0;
	uint32_t *oids = calloc(m->n_oids + 1, sizeof(uint32_t));
	if (!oids)
		return -ENOMEM;
	memcpy(oids, m->oids, m->n_oids * sizeof(uint32_t));
	*ret = oids;
	*ret_n = m->n_oids;
	return 1;
}
