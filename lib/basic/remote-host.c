/* An ssh destination [USER@]HOST[:PORT], checked strictly (remote-host.h). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "remote-host.h"

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define IPV6_CHARS "0123456789ABCDEFabcdef:."

static int fail(const char **ret_reason, const char *reason)
{
	if (ret_reason)
		*ret_reason = reason;
	return -EINVAL;
}

/* A run of NAME_CHARS that does not begin with '-' or '.' (ssh would take "-x" for an
 * option). */
static bool is_plain_word(const char *s, size_t len)
{
	return len > 0 && s[0] != '-' && s[0] != '.' && strspn(s, NAME_CHARS) >= len;
}

static bool parse_port(const char *s, uint16_t *ret)
{
	unsigned long port = 0;
	size_t len = strlen(s);

	if (len == 0 || len > 5 || strspn(s, "0123456789") != len || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++)
		port = port * 10 + (unsigned long)(s[i] - '0');
	if (port > 65535)
		return false;
	*ret = (uint16_t)port;
	return true;
}

int remote_host_parse(const char *s, RemoteHost *ret, const char **ret_reason)
{
	RemoteHost h = {};
	const char *at = strchr(s, '@'), *name = s, *end;
	size_t len;

	if (at) {
		len = (size_t)(at - s);
		if (len == 0)
			return fail(ret_reason, "has an empty user name before '@'");
		if (len > REMOTE_HOST_USER_MAX)
			return fail(ret_reason, "has a user name longer than 32 characters");
		if (!is_plain_word(s, len))
			return fail(ret_reason,
				    "has a user name that is not made of letters, digits, '.', '_' "
				    "and '-' (not beginning with '-' or '.')");
		memcpy(h.user, s, len);
		name = at + 1;
	}

	if (name[0] == '[') {
		end = strchr(name, ']');
		if (!end)
			return fail(ret_reason, "has an IPv6 address without its closing ']'");
		len = (size_t)(end - name - 1);
		if (len == 0 || len > REMOTE_HOST_NAME_MAX || strspn(name + 1, IPV6_CHARS) < len ||
		    !memchr(name + 1, ':', len))
			return fail(ret_reason, "has something other than an IPv6 address in [ ]");
		memcpy(h.name, name + 1, len);
		end++;
	} else {
		end = name + strcspn(name, ":");
		len = (size_t)(end - name);
		if (*end == ':' && strchr(end + 1, ':'))
			return fail(ret_reason, "has an IPv6 address not written in [ ]");
		if (len == 0)
			return fail(ret_reason, "has no host name");
		if (len > REMOTE_HOST_NAME_MAX)
			return fail(ret_reason, "has a host name longer than 253 characters");
		if (!is_plain_word(name, len))
			return fail(
				ret_reason,
				"has a host name that is not made of letters, digits, '.', '_' "
				"and '-' (not beginning with '-' or '.'); write an IPv6 address "
				"in [ ]");
		memcpy(h.name, name, len);
	}

	if (*end == ':') {
		if (!parse_port(end + 1, &h.port))
			return fail(ret_reason, "has a port that is not a number from 1 to 65535");
	} else if (*end != '\0')
		return fail(ret_reason, "has characters after the host name");

	*ret = h;
	return 0;
}
