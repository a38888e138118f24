#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "proto.h"
#include "utf8.h"

struct ProtoDecoder {
	char *buf; /* bytes received and not yet parsed */
	size_t len;
	size_t max_record;
	size_t record_bytes; /* bytes of the record being parsed, so far */
	ProtoRecord *current;
	int error; /* sticky: once bad, always bad */
};

bool proto_key_is_valid(const char *key)
{
	if (!key || !*key)
		return false;
	for (const char *p = key; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* Text that may travel in a record: UTF-8 without NUL bytes. */
static bool text_is_valid(const char *s, size_t len)
{
	return !memchr(s, '\0', len) && utf8_find_invalid(s, len) == len;
}

int proto_record_new(ProtoRecord **ret)
{
	ProtoRecord *r = calloc(1, sizeof(ProtoRecord));

	if (!r)
		return -ENOMEM;
	*ret = r;
	return 0;
}

ProtoRecord *proto_record_free(ProtoRecord *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n_fields; i++) {
		free(r->fields[i].key);
		free(r->fields[i].value);
	}
	free(r->fields);
	free(r);
	return NULL;
}

const char *proto_record_get(const ProtoRecord *r, const char *key)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (strcmp(r->fields[i].key, key) == 0)
			return r->fields[i].value;
	return NULL;
}

int proto_record_add(ProtoRecord *r, const char *key, const char *value)
{
	if (!proto_key_is_valid(key) || !text_is_valid(value, strlen(value)))
		return -EINVAL;

	_cleanup_free_ char *k = strdup(key), *v = strdup(value);
	if (!k || !v)
		return -ENOMEM;
	EventField *grown = realloc(r->fields, (r->n_fields + 1) * sizeof(EventField));
	if (!grown)
		return -ENOMEM;
	r->fields = grown;
	r->fields[r->n_fields++] = (EventField){.key = TAKE_PTR(k), .value = TAKE_PTR(v)};
	return 0;
}

int proto_encode(const ProtoRecord *r, char **ret, size_t *ret_len)
{
	size_t size = 2;

	for (size_t i = 0; i < r->n_fields; i++)
		size += strlen(r->fields[i].key) + 2 + 2 * strlen(r->fields[i].value);

	char *out = malloc(size), *p = out;
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_fields; i++) {
		p = stpcpy(p, r->fields[i].key);
		*p++ = '=';
		for (const char *v = r->fields[i].value; *v; v++) {
			if (*v == '\n') {
				*p++ = '\\';
				*p++ = 'n';
			} else if (*v == '\\') {
				*p++ = '\\';
				*p++ = '\\';
			} else
				*p++ = *v;
		}
		*p++ = '\n';
	}
	*p++ = '\n';
	*p = '\0';
	*ret = out;
	*ret_len = (size_t)(p - out);
	return 0;
}

int proto_decoder_new(size_t max_record, ProtoDecoder **ret)
{
	ProtoDecoder *d = calloc(1, sizeof(ProtoDecoder));

	if (!d)
		return -ENOMEM;
	d->max_record = max_record;
	*ret = d;
	return 0;
}

ProtoDecoder *proto_decoder_free(ProtoDecoder *d)
{
	if (!d)
		return NULL;
	proto_record_free(d->current);
	free(d->buf);
	free(d);
	return NULL;
}

int proto_decoder_feed(ProtoDecoder *d, const char *buf, size_t len)
{
	if (d->error < 0)
		return d->error;
	/* Unparsed bytes never need to exceed one record plus what follows it in one read. */
	if (d->len + len > 2 * d->max_record)
		return d->error = -EMSGSIZE;

	char *grown = realloc(d->buf, d->len + len + 1);
	if (!grown)
		return -ENOMEM;
	memcpy(grown + d->len, buf, len);
	d->buf = grown;
	d->len += len;
	return 0;
}

static int unescape_value(const char *s, size_t len, char **ret)
{
	char *out = malloc(len + 1), *p = out;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\\') {
			*p++ = s[i];
			continue;
		}
		if (i + 1 < len && s[i + 1] == 'n')
			*p++ = '\n';
		else if (i + 1 < len && s[i + 1] == '\\')
			*p++ = '\\';
		else {
			free(out);
			return -EBADMSG;
		}
		i++;
	}
	*p = '\0';
	*ret = out;
	return 0;
}

/* Parses one "KEY=VALUE" line (without its newline) into the current record. */
static int decoder_take_line(ProtoDecoder *d, const char *line, size_t len)
{
	const char *eq = memchr(line, '=', len);

	if (!eq || eq == line || !text_is_valid(line, len))
		return -EBADMSG;

	_cleanup_free_ char *key = strndup(line, (size_t)(eq - line)), *value = NULL;
	if (!key)
		return -ENOMEM;
	if (!proto_key_is_valid(key))
		return -EBADMSG;
	int r = unescape_value(eq + 1, len - (size_t)(eq + 1 - line), &value);
	if (r < 0)
		return r;

	if (!d->current) {
		r = proto_record_new(&d->current);
		if (r < 0)
			return r;
	}
	if (proto_record_get(d->current, key))
		return -EBADMSG;
	return proto_record_add(d->current, key, value);
}

int proto_decoder_next(ProtoDecoder *d, ProtoRecord **ret)
{
	size_t consumed = 0;
	int r = 0;

	if (d->error < 0)
		return d->error;
	if (d->len == 0)
		return 0; /* nothing buffered (buf may still be NULL) */

	while (r == 0) {
		char *nl = memchr(d->buf + consumed, '\n', d->len - consumed);
		if (!nl) {
			if (d->record_bytes + (d->len - consumed) > d->max_record)
				r = -EMSGSIZE;
			break;
		}
		size_t line_len = (size_t)(nl - (d->buf + consumed));
		d->record_bytes += line_len + 1;
		if (d->record_bytes > d->max_record) {
			r = -EMSGSIZE;
			break;
		}
		const char *line = d->buf + consumed;
		consumed += line_len + 1;

		if (line_len > 0) {
			r = decoder_take_line(d, line, line_len);
			continue;
		}
		if (!d->current) {
			r = -EBADMSG; /* an empty record */
			break;
		}
		*ret = TAKE_PTR(d->current);
		d->record_bytes = 0;
		r = 1;
	}

	memmove(d->buf, d->buf + consumed, d->len - consumed);
	d->len -= consumed;
	if (r < 0 && r != -ENOMEM)
		d->error = r;
	return r;
}

int proto_record_from_event(const Event *ev, ProtoRecord **ret)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	char priority[4];
	int r;

	r = proto_record_new(&rec);
	if (r < 0)
		return r;
	snprintf(priority, sizeof(priority), "%d", ev->priority);
	if ((r = proto_record_add(rec, "DEPLOY_EVENT", event_type_to_string(ev->type))) < 0 ||
	    (r = proto_record_add(rec, "DEPLOY_PHASE", deploy_phase_to_string(ev->phase))) < 0 ||
	    (r = proto_record_add(rec, "PRIORITY", priority)) < 0 ||
	    (r = proto_record_add(rec, "MESSAGE", ev->message ?: "")) < 0)
		return r;
	for (size_t i = 0; i < ev->n_fields; i++) {
		r = proto_record_add(rec, ev->fields[i].key, ev->fields[i].value);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(rec);
	return 0;
}

int proto_record_to_event(const ProtoRecord *rec, Event **ret)
{
	_cleanup_(event_freep) Event *ev = NULL;
	const char *type = proto_record_get(rec, "DEPLOY_EVENT");
	const char *phase = proto_record_get(rec, "DEPLOY_PHASE");
	const char *priority = proto_record_get(rec, "PRIORITY");
	int t = event_type_from_string(type), p = deploy_phase_from_string(phase), r;

	if (t < 0 || p < 0 || !priority || priority[0] < '0' || priority[0] > '7' || priority[1])
		return -EBADMSG;
	r = event_new(t, p, priority[0] - '0', &ev);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rec->n_fields; i++) {
		const char *k = rec->fields[i].key, *v = rec->fields[i].value;

		if (strcmp(k, "MESSAGE") == 0)
			r = event_set_message(ev, "%s", v);
		else if (strcmp(k, "DEPLOY_EVENT") && strcmp(k, "DEPLOY_PHASE") &&
			 strcmp(k, "PRIORITY"))
			r = event_add(ev, k, "%s", v);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(ev);
	return 0;
}
