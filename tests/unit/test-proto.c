#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "proto.h"

static ProtoRecord *decode_one(const char *wire, int *ret_r)
{
	_cleanup_(proto_decoder_freep) ProtoDecoder *d = NULL;
	ProtoRecord *rec = NULL;

	ck_assert_int_eq(proto_decoder_new(PROTO_REQUEST_MAX, &d), 0);
	ck_assert_int_eq(proto_decoder_feed(d, wire, strlen(wire)), 0);
	*ret_r = proto_decoder_next(d, &rec);
	return rec;
}

START_TEST(test_a_record_survives_encoding_and_decoding_with_newlines_and_backslashes)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL, *back = NULL;
	_cleanup_free_ char *wire = NULL;
	size_t len;
	int r;

	ck_assert_int_eq(proto_record_new(&rec), 0);
	ck_assert_int_eq(proto_record_add(rec, "COMMAND", "deploy"), 0);
	ck_assert_int_eq(proto_record_add(rec, "RELEASE", "line one\nC:\\path ünïcode"), 0);
	ck_assert_int_eq(proto_encode(rec, &wire, &len), 0);
	ck_assert_str_eq(wire, "COMMAND=deploy\nRELEASE=line one\\nC:\\\\path ünïcode\n\n");
	ck_assert_uint_eq(len, strlen(wire));

	back = decode_one(wire, &r);
	ck_assert_int_eq(r, 1);
	ck_assert_str_eq(proto_record_get(back, "RELEASE"), "line one\nC:\\path ünïcode");
	ck_assert_str_eq(proto_record_get(back, "COMMAND"), "deploy");
}
END_TEST

START_TEST(test_a_record_split_across_reads_is_assembled)
{
	_cleanup_(proto_decoder_freep) ProtoDecoder *d = NULL;
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	const char *wire = "COMMAND=status\nFOLLOW=yes\n\n";

	ck_assert_int_eq(proto_decoder_new(PROTO_REQUEST_MAX, &d), 0);
	for (const char *p = wire; *p; p++) {
		ck_assert_int_eq(proto_decoder_feed(d, p, 1), 0);
		int r = proto_decoder_next(d, &rec);
		ck_assert_int_eq(r, p[1] ? 0 : 1);
	}
	ck_assert_str_eq(proto_record_get(rec, "FOLLOW"), "yes");
}
END_TEST

START_TEST(test_two_records_in_one_read_come_out_one_after_the_other)
{
	_cleanup_(proto_decoder_freep) ProtoDecoder *d = NULL;
	_cleanup_(proto_record_freep) ProtoRecord *a = NULL, *b = NULL;
	const char *wire = "A=1\n\nB=2\n\n";

	ck_assert_int_eq(proto_decoder_new(PROTO_REQUEST_MAX, &d), 0);
	ck_assert_int_eq(proto_decoder_feed(d, wire, strlen(wire)), 0);
	ck_assert_int_eq(proto_decoder_next(d, &a), 1);
	ck_assert_int_eq(proto_decoder_next(d, &b), 1);
	ck_assert_str_eq(proto_record_get(a, "A"), "1");
	ck_assert_str_eq(proto_record_get(b, "B"), "2");
}
END_TEST

static const struct {
	const char *wire;
	int error;
} bad_inputs[] = {
	{"command=deploy\n\n", -EBADMSG},    /* lower-case key */
	{"COMMAND deploy\n\n", -EBADMSG},    /* no '=' */
	{"=deploy\n\n", -EBADMSG},	     /* empty key */
	{"PLAN=a\\tb\n\n", -EBADMSG},	     /* unknown escape */
	{"PLAN=a\\\n\n", -EBADMSG},	     /* dangling backslash */
	{"PLAN=\xff\xfe\n\n", -EBADMSG},     /* not UTF-8 */
	{"PLAN=\xc0\xaf\n\n", -EBADMSG},     /* overlong '/' */
	{"PLAN=\xed\xa0\x80\n\n", -EBADMSG}, /* surrogate */
	{"PLAN=a\nPLAN=b\n\n", -EBADMSG},    /* duplicate key */
	{"\n", -EBADMSG},		     /* empty record */
	{"KEY-1=x\n\n", -EBADMSG},	     /* '-' in key */
};

START_TEST(test_malformed_input_is_refused_with_ebadmsg)
{
	int r;
	ProtoRecord *rec = decode_one(bad_inputs[_i].wire, &r);

	ck_assert_ptr_null(rec);
	ck_assert_int_eq(r, bad_inputs[_i].error);
}
END_TEST

START_TEST(test_a_nul_byte_in_a_line_is_refused)
{
	_cleanup_(proto_decoder_freep) ProtoDecoder *d = NULL;
	ProtoRecord *rec = NULL;
	const char wire[] = "PLAN=a\0b\n\n";

	ck_assert_int_eq(proto_decoder_new(PROTO_REQUEST_MAX, &d), 0);
	ck_assert_int_eq(proto_decoder_feed(d, wire, sizeof(wire) - 1), 0);
	ck_assert_int_eq(proto_decoder_next(d, &rec), -EBADMSG);
	ck_assert_ptr_null(rec);
}
END_TEST

START_TEST(test_a_request_over_16_kib_is_refused_even_without_newlines)
{
	_cleanup_(proto_decoder_freep) ProtoDecoder *d = NULL;
	_cleanup_free_ char *big = malloc(PROTO_REQUEST_MAX + 2);
	ProtoRecord *rec = NULL;

	memset(big, 'A', PROTO_REQUEST_MAX + 1);
	ck_assert_int_eq(proto_decoder_new(PROTO_REQUEST_MAX, &d), 0);
	ck_assert_int_eq(proto_decoder_feed(d, big, PROTO_REQUEST_MAX + 1), 0);
	ck_assert_int_eq(proto_decoder_next(d, &rec), -EMSGSIZE);
	/* The decoder stays failed: a hostile peer cannot resynchronise it. */
	ck_assert_int_eq(proto_decoder_feed(d, "A=1\n\n", 5), -EMSGSIZE);
}
END_TEST

START_TEST(test_many_short_lines_adding_up_past_the_limit_are_refused)
{
	_cleanup_(proto_decoder_freep) ProtoDecoder *d = NULL;
	ProtoRecord *rec = NULL;
	char line[32];
	int r = 0;

	ck_assert_int_eq(proto_decoder_new(PROTO_REQUEST_MAX, &d), 0);
	for (int i = 0; i < 4000 && r == 0; i++) {
		int n = snprintf(line, sizeof(line), "K%d=value\n", i);
		r = proto_decoder_feed(d, line, (size_t)n);
		if (r == 0)
			r = proto_decoder_next(d, &rec);
	}
	ck_assert_int_eq(r, -EMSGSIZE);
}
END_TEST

START_TEST(test_an_event_travels_as_a_record_and_comes_back_whole)
{
	_cleanup_(event_freep) Event *ev = NULL, *back = NULL;
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;

	ck_assert_int_eq(event_new(EVENT_LOCK_WAIT, DEPLOY_PHASE_MIGRATE, 4, &ev), 0);
	ck_assert_int_eq(event_set_message(ev, "Migration waits for pid %d.", 42), 0);
	ck_assert_int_eq(event_add(ev, "BLOCKER_PID", "%d", 42), 0);
	ck_assert_int_eq(proto_record_from_event(ev, &rec), 0);
	ck_assert_str_eq(proto_record_get(rec, "DEPLOY_EVENT"), "lock-wait");
	ck_assert_str_eq(proto_record_get(rec, "DEPLOY_PHASE"), "migrate");
	ck_assert_str_eq(proto_record_get(rec, "PRIORITY"), "4");

	ck_assert_int_eq(proto_record_to_event(rec, &back), 0);
	ck_assert_int_eq(back->type, EVENT_LOCK_WAIT);
	ck_assert_int_eq(back->phase, DEPLOY_PHASE_MIGRATE);
	ck_assert_int_eq(back->priority, 4);
	ck_assert_str_eq(back->message, "Migration waits for pid 42.");
	ck_assert_str_eq(event_get(back, "BLOCKER_PID"), "42");
}
END_TEST

START_TEST(test_a_record_without_a_known_event_type_is_not_an_event)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;
	Event *ev = NULL;

	ck_assert_int_eq(proto_record_new(&rec), 0);
	ck_assert_int_eq(proto_record_add(rec, "DEPLOY_EVENT", "no-such-event"), 0);
	ck_assert_int_eq(proto_record_add(rec, "DEPLOY_PHASE", "migrate"), 0);
	ck_assert_int_eq(proto_record_add(rec, "PRIORITY", "6"), 0);
	ck_assert_int_eq(proto_record_to_event(rec, &ev), -EBADMSG);
	ck_assert_ptr_null(ev);
}
END_TEST

START_TEST(test_adding_a_bad_key_or_non_utf8_value_is_refused)
{
	_cleanup_(proto_record_freep) ProtoRecord *rec = NULL;

	ck_assert_int_eq(proto_record_new(&rec), 0);
	ck_assert_int_eq(proto_record_add(rec, "bad", "x"), -EINVAL);
	ck_assert_int_eq(proto_record_add(rec, "GOOD", "\xff"), -EINVAL);
	ck_assert_uint_eq(rec->n_fields, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("records");

	tcase_add_test(tc,
		       test_a_record_survives_encoding_and_decoding_with_newlines_and_backslashes);
	tcase_add_test(tc, test_a_record_split_across_reads_is_assembled);
	tcase_add_test(tc, test_two_records_in_one_read_come_out_one_after_the_other);
	tcase_add_loop_test(tc, test_malformed_input_is_refused_with_ebadmsg, 0,
			    (int)ELEMENTSOF(bad_inputs));
	tcase_add_test(tc, test_a_nul_byte_in_a_line_is_refused);
	tcase_add_test(tc, test_a_request_over_16_kib_is_refused_even_without_newlines);
	tcase_add_test(tc, test_many_short_lines_adding_up_past_the_limit_are_refused);
	tcase_add_test(tc, test_an_event_travels_as_a_record_and_comes_back_whole);
	tcase_add_test(tc, test_a_record_without_a_known_event_type_is_not_an_event);
	tcase_add_test(tc, test_adding_a_bad_key_or_non_utf8_value_is_refused);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
