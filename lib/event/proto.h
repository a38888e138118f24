/* proto.h — records on the deployd socket (deployd(8), SOCKET PROTOCOL).
 *
 * A record is lines KEY=VALUE ending with an empty line; keys are
 * [A-Z0-9_]+, values are UTF-8 on one line with '\n' written as "\n" and
 * '\' as "\\".  The decoder is incremental and treats its input as hostile:
 * a record over its size limit is -EMSGSIZE, a malformed line -EBADMSG, and
 * after an error the decoder stays failed.  Events travel as records whose
 * standard fields are DEPLOY_EVENT, DEPLOY_PHASE, PRIORITY and MESSAGE. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "event.h"

#define PROTO_REQUEST_MAX (16 * 1024)
#define PROTO_RECORD_MAX (256 * 1024)

typedef struct ProtoRecord {
	EventField *fields;
	size_t n_fields;
} ProtoRecord;

int proto_record_new(ProtoRecord **ret);
ProtoRecord *proto_record_free(ProtoRecord *r);
static inline void proto_record_freep(ProtoRecord **r)
{
	proto_record_free(*r);
}
/* Appends KEY=VALUE; -EINVAL for a key outside [A-Z0-9_]+ or a value that is not UTF-8. */
int proto_record_add(ProtoRecord *r, const char *key, const char *value);
const char *proto_record_get(const ProtoRecord *r, const char *key);

bool proto_key_is_valid(const char *key);

/* The wire form of a record, terminated by the empty line; NUL-terminated too. */
int proto_encode(const ProtoRecord *r, char **ret, size_t *ret_len);

typedef struct ProtoDecoder ProtoDecoder;
int proto_decoder_new(size_t max_record, ProtoDecoder **ret);
ProtoDecoder *proto_decoder_free(ProtoDecoder *d);
static inline void proto_decoder_freep(ProtoDecoder **d)
{
	proto_decoder_free(*d);
}
/* Buffers bytes; -EMSGSIZE when a record would exceed the limit. */
int proto_decoder_feed(ProtoDecoder *d, const char *buf, size_t len);
/* 1 and a record when one is complete, 0 when more bytes are needed, <0 on bad input. */
int proto_decoder_next(ProtoDecoder *d, ProtoRecord **ret);

int proto_record_from_event(const Event *ev, ProtoRecord **ret);
/* -EBADMSG when DEPLOY_EVENT, DEPLOY_PHASE or PRIORITY is missing or unknown. */
int proto_record_to_event(const ProtoRecord *r, Event **ret);
