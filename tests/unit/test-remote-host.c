/* ssh destinations of remote hosts: what is split how, and what is refused and why. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "remote-host.h"

static RemoteHost parse_ok(const char *s)
{
	RemoteHost h;
	const char *reason = NULL;

	ck_assert_msg(remote_host_parse(s, &h, &reason) == 0, "'%s' refused: %s", s,
		      reason ?: "no reason");
	return h;
}

static void assert_refused(const char *s, const char *reason_part)
{
	RemoteHost h = {.port = 4242};
	const char *reason = NULL;

	ck_assert_int_eq(remote_host_parse(s, &h, &reason), -EINVAL);
	ck_assert_msg(reason && strstr(reason, reason_part), "'%s': reason '%s' lacks '%s'", s,
		      reason ?: "(none)", reason_part);
	ck_assert_uint_eq(h.port, 4242); /* untouched on failure */
}

START_TEST(test_a_plain_host_name_has_no_user_and_no_port)
{
	RemoteHost h = parse_ok("app2.internal");

	ck_assert_str_eq(h.user, "");
	ck_assert_str_eq(h.name, "app2.internal");
	ck_assert_uint_eq(h.port, 0);
}
END_TEST

START_TEST(test_user_host_and_port_are_split)
{
	RemoteHost h = parse_ok("deploy@app2.internal:2222");

	ck_assert_str_eq(h.user, "deploy");
	ck_assert_str_eq(h.name, "app2.internal");
	ck_assert_uint_eq(h.port, 2222);

	h = parse_ok("deployd-test@127.0.0.2:65535");
	ck_assert_str_eq(h.user, "deployd-test");
	ck_assert_str_eq(h.name, "127.0.0.2");
	ck_assert_uint_eq(h.port, 65535);
}
END_TEST

START_TEST(test_an_ipv6_address_is_written_in_brackets)
{
	RemoteHost h = parse_ok("ops@[fd00::7]:22");

	ck_assert_str_eq(h.user, "ops");
	ck_assert_str_eq(h.name, "fd00::7");
	ck_assert_uint_eq(h.port, 22);
	ck_assert_str_eq(parse_ok("[::1]").name, "::1");
	assert_refused("::1", "IPv6 address not written in [ ]");
	assert_refused("deploy@fd00::7", "IPv6 address not written in [ ]");
	assert_refused("[::1", "without its closing ']'");
	assert_refused("[app2]", "other than an IPv6 address");
	assert_refused("[]", "other than an IPv6 address");
	assert_refused("[::1]x", "characters after the host name");
}
END_TEST

START_TEST(test_what_ssh_could_take_for_an_option_is_refused)
{
	assert_refused("-oProxyCommand=sh", "not beginning with '-'");
	assert_refused("deploy@-oProxyCommand=sh", "not beginning with '-'");
	assert_refused("-l@app2", "not beginning with '-'");
	assert_refused(".hidden", "not beginning with '-' or '.'");
}
END_TEST

START_TEST(test_spaces_and_shell_characters_are_refused)
{
	assert_refused("app2 reboot", "host name that is not made of");
	assert_refused("app2;reboot", "host name that is not made of");
	assert_refused("$(reboot)@app2", "user name that is not made of");
	assert_refused("de ploy@app2", "user name that is not made of");
	assert_refused("app2\n", "host name that is not made of");
	assert_refused("a@b@c", "host name that is not made of");
}
END_TEST

START_TEST(test_empty_parts_and_bad_ports_are_refused)
{
	assert_refused("", "has no host name");
	assert_refused("deploy@", "has no host name");
	assert_refused("@app2", "empty user name");
	assert_refused(":22", "has no host name");
	assert_refused("app2:", "port that is not a number");
	assert_refused("app2:0", "port that is not a number");
	assert_refused("app2:022", "port that is not a number");
	assert_refused("app2:65536", "port that is not a number");
	assert_refused("app2:22x", "port that is not a number");
	assert_refused("app2:-1", "port that is not a number");
}
END_TEST

START_TEST(test_overlong_user_and_host_names_are_refused)
{
	char user[64], name[300];

	memset(user, 'u', 33);
	strcpy(user + 33, "@app2");
	assert_refused(user, "user name longer than 32");
	memset(name, 'h', 254);
	name[254] = '\0';
	assert_refused(name, "host name longer than 253");
	name[253] = '\0';
	ck_assert_uint_eq(strlen(parse_ok(name).name), 253);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("remote-host");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_a_plain_host_name_has_no_user_and_no_port);
	tcase_add_test(tc, test_user_host_and_port_are_split);
	tcase_add_test(tc, test_an_ipv6_address_is_written_in_brackets);
	tcase_add_test(tc, test_what_ssh_could_take_for_an_option_is_refused);
	tcase_add_test(tc, test_spaces_and_shell_characters_are_refused);
	tcase_add_test(tc, test_empty_parts_and_bad_ports_are_refused);
	tcase_add_test(tc, test_overlong_user_and_host_names_are_refused);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
