#include <stdlib.h>
#include <string.h>

#include "strv.h"

void strv_free(char **l)
{
	STRV_FOREACH (s, l)
		free(*s);
	free(l);
}

void strv_free_erase(char **l)
{
	STRV_FOREACH (s, l)
		explicit_bzero(*s, strlen(*s));
	strv_free(l);
}

size_t strv_length(char *const *l)
{
	size_t n = 0;

	while (l && l[n])
		n++;
	return n;
}

int strv_push(char ***l, char *value)
{
	size_t n = strv_length(*l);
	char **grown = realloc(*l, (n + 2) * sizeof(char *));

	if (!grown) {
		free(value);
		return -ENOMEM;
	}
	grown[n] = value;
	grown[n + 1] = NULL;
	*l = grown;
	return 0;
}

int strv_extend(char ***l, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	return strv_push(l, copy);
}

int strv_copy(char *const *l, char ***ret)
{
	_cleanup_strv_free_ char **copy = calloc(1, sizeof(char *));

	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; l && l[i]; i++) {
		int r = strv_extend(&copy, l[i]);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(copy);
	return 0;
}

bool strv_contains(char *const *l, const char *value)
{
	for (size_t i = 0; l && l[i]; i++)
		if (strcmp(l[i], value) == 0)
			return true;
	return false;
}

int strv_join(char *const *l, const char *sep, char **ret)
{
	size_t len = 1, seplen = strlen(sep);

	for (size_t i = 0; l && l[i]; i++)
		len += strlen(l[i]) + (i > 0 ? seplen : 0);

	char *out = malloc(len), *p = out;
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; l && l[i]; i++) {
		if (i > 0)
			p = stpcpy(p, sep);
		p = stpcpy(p, l[i]);
	}
	*p = '\0';
	*ret = out;
	return 0;
}
