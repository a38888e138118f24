/* The sentence about one idle session (idle_session_message()). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"
#include "idle.h"

int idle_session_message(const IdleSession *s, bool terminating, char **ret)
{
	_cleanup_free_ char *text = NULL;
	char age[FORMAT_AGE_MAX];
	size_t size = 0;
	FILE *f;

	if (!s)
		return -EINVAL;
	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;

	if (terminating && s->terminated)
		fputs("Terminated session ", f);
	else if (terminating)
		fputs("Signalled session ", f);
	else
		fputs("Session ", f);
	fprintf(f, "pid %d (", s->pid);
	if (s->user)
		fprintf(f, "user %s, ", s->user);
	else
		fputs("no user, ", f);
	if (s->application && s->application[0])
		fprintf(f, "application %s, ", s->application);
	else
		fputs("no application, ", f);
	if (s->client)
		fprintf(f, "client %s)", s->client);
	else
		fputs("no client)", f);

	format_age(s->idle_age_usec, age);
	if (terminating && !s->terminated)
		fputs(" to terminate", f);
	if (terminating)
		fprintf(f, ", %s for %s", s->state ? s->state : "idle in transaction", age);
	else
		fprintf(f, " has been %s for %s", s->state ? s->state : "idle in transaction", age);
	if (terminating && !s->terminated)
		fprintf(f, ", but it had not exited after %d ms", IDLE_TERMINATE_WAIT_MSEC);
	if (s->query && s->query[0])
		fprintf(f, "; last query: \"%s\"", s->query);
	fputc('.', f);

	if (fclose(f) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(text);
	return 0;
}
