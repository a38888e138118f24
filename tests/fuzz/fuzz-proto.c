/* fuzz-proto.c — the socket protocol decoder on any byte stream, cut into chunks of
 * random sizes, and proto_record_to_event() on every record it yields.
 *
 * Input: byte 0 picks the decoder's record limit, byte 1 seeds the chunk sizes, the rest
 * is the stream.  Promises checked: chunking does not change what is decoded (the same
 * records and the same final result as one feed of the whole stream); every record holds
 * valid keys and UTF-8 values without NUL; it encodes to bytes that decode to the same
 * record; an error is sticky; a record that makes an event makes it back into a record
 * with the same fields. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "utf8.h"

typedef struct Decoded {
	ProtoRecord **records;
	size_t n;
	int result; /* 0 at the end of the stream, or the error */
} Decoded;

static void decoded_done(Decoded *d)
{
	for (size_t i = 0; i < d->n; i++)
		proto_record_free(d->records[i]);
	free(d->records);
}

static bool records_equal(const ProtoRecord *a, const ProtoRecord *b)
{
	if (a->n_fields != b->n_fields)
		return false;
	for (size_t i = 0; i < a->n_fields; i++)
		if (strcmp(a->fields[i].key, b->fields[i].key) ||
		    strcmp(a->fields[i].value, b->fields[i].value))
			return false;
	return true;
}

static void check_record(const ProtoRecord *rec)
{
	fuzz_assert(rec->n_fields > 0);
	for (size_t i = 0; i < rec->n_fields; i++) {
		const char *v = rec->fields[i].value;

		fuzz_assert(proto_key_is_valid(rec->fields[i].key));
		fuzz_assert(utf8_find_invalid(v, strlen(v)) == strlen(v));
		for (size_t j = 0; j < i; j++)
			fuzz_assert(strcmp(rec->fields[i].key, rec->fields[j].key) != 0);
	}
}

static void check_round_trip(const ProtoRecord *rec)
{
	ProtoDecoder *d = NULL;
	ProtoRecord *back = NULL;
	char *wire = NULL;
	size_t len;

	fuzz_assert(proto_encode(rec, &wire, &len) == 0);
	fuzz_assert(strlen(wire) == len);
	fuzz_assert(proto_decoder_new(len, &d) == 0);
	fuzz_assert(proto_decoder_feed(d, wire, len) == 0);
	fuzz_assert(proto_decoder_next(d, &back) == 1);
	fuzz_assert(records_equal(rec, back));
	proto_record_free(back);
	fuzz_assert(proto_decoder_next(d, &back) == 0);
	proto_decoder_free(d);
	free(wire);
}

static void check_event(const ProtoRecord *rec)
{
	Event *ev = NULL;
	ProtoRecord *back = NULL;
	int r = proto_record_to_event(rec, &ev);

	if (r < 0) {
		fuzz_assert(r == -EBADMSG && !ev);
		return;
	}
	fuzz_assert(proto_record_from_event(ev, &back) == 0);
	for (size_t i = 0; i < rec->n_fields; i++) {
		const char *v = proto_record_get(back, rec->fields[i].key);
		fuzz_assert(v && strcmp(v, rec->fields[i].value) == 0);
	}
	fuzz_assert(back->n_fields == rec->n_fields + !proto_record_get(rec, "MESSAGE"));
	proto_record_free(back);
	event_free(ev);
}

static void add_record(Decoded *out, ProtoRecord *rec)
{
	ProtoRecord **grown = realloc(out->records, (out->n + 1) * sizeof(ProtoRecord *));

	fuzz_assert(grown);
	out->records = grown;
	out->records[out->n++] = rec;
}

/* Feeds stream in chunks (one chunk when seed is 0), taking records out after each. */
static void decode(size_t max_record, unsigned seed, const char *stream, size_t size, Decoded *out)
{
	ProtoDecoder *d = NULL;
	size_t pos = 0;
	int r = 0;

	*out = (Decoded){};
	fuzz_assert(proto_decoder_new(max_record, &d) == 0);
	while (r >= 0 && pos < size) {
		size_t chunk = size - pos;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			chunk = 1 + (seed >> 16) % 64;
			if (chunk > size - pos)
				chunk = size - pos;
		}
		r = proto_decoder_feed(d, stream + pos, chunk);
		pos += chunk;
		while (r >= 0) {
			ProtoRecord *rec = NULL;
			r = proto_decoder_next(d, &rec);
			if (r <= 0)
				break;
			add_record(out, rec);
		}
	}
	if (r >= 0) {
		ProtoRecord *rec = NULL;
		r = proto_decoder_next(d, &rec);
		fuzz_assert(r <= 0);
	}
	if (r < 0) {
		ProtoRecord *rec = NULL;
		/* Sticky: the decoder stays failed, whatever comes next. */
		fuzz_assert(proto_decoder_next(d, &rec) == r);
		fuzz_assert(proto_decoder_feed(d, "A=1\n\n", 5) == r);
	}
	out->result = r;
	proto_decoder_free(d);
}

int fuzz_proto(const uint8_t *data, size_t size)
{
	Decoded chunked, whole;

	if (size < 2)
		return 0;
	size_t max_record = 1 + (size_t)data[0] * 64;
	unsigned seed = data[1] | 1u;
	const char *stream = (const char *)data + 2;
	size -= 2;

	decode(max_record, seed, stream, size, &chunked);
	for (size_t i = 0; i < chunked.n; i++) {
		check_record(chunked.records[i]);
		check_round_trip(chunked.records[i]);
		check_event(chunked.records[i]);
	}
	if (size <= 2 * max_record) {
		decode(max_record, 0, stream, size, &whole);
		fuzz_assert(whole.result == chunked.result);
		fuzz_assert(whole.n == chunked.n);
		for (size_t i = 0; i < whole.n; i++)
			fuzz_assert(records_equal(whole.records[i], chunked.records[i]));
		decoded_done(&whole);
	}
	decoded_done(&chunked);
	return 0;
}
