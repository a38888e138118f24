/* The sentence that says who blocks whom (lockwatch_blocker_message()). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "lockwatch.h"

static bool starts_with_vowel(const char *s)
{
	return s && s[0] != '\0' && strchr("aeiouAEIOU", s[0]);
}

/* What the lock is on, as the object of "waits for MODE on …". */
static void put_lock_object(FILE *f, const LockBlocker *b)
{
	const char *type = b->lock_type;

	if (type && strcmp(type, "relation") == 0 && b->relation)
		fputs(b->relation, f);
	else if (type && (strcmp(type, "tuple") == 0 || strcmp(type, "transactionid") == 0) &&
		 b->relation)
		fprintf(f, "a row of %s", b->relation);
	else if (type && strcmp(type, "transactionid") == 0)
		fputs("a transaction", f);
	else if (type) {
		fprintf(f, "%s %s lock", starts_with_vowel(type) ? "an" : "a", type);
		if (b->relation)
			fprintf(f, " of %s", b->relation);
	} else
		fputs("a lock", f);
}

/* "(user U, application A, client C, STATE for AGE, transaction open for AGE)". */
static void put_blocker_details(FILE *f, const LockBlocker *b)
{
	char age[FORMAT_AGE_MAX];

	if (b->user)
		fprintf(f, "(user %s, ", b->user);
	else
		fputs("(no user, ", f);
	if (b->application && b->application[0])
		fprintf(f, "application %s, ", b->application);
	else if (b->backend_type && strcmp(b->backend_type, "client backend") != 0)
		fprintf(f, "%s, ", b->backend_type);
	else
		fputs("no application, ", f);
	if (b->client)
		fprintf(f, "client %s, ", b->client);
	else
		fputs("no client, ", f);
	if (b->state)
		fprintf(f, "%s for %s", b->state, format_age(b->state_age_usec, age));
	else
		fputs("state not visible", f);
	if (b->blocker_pid != 0 && b->xact_age_usec != USEC_INFINITY)
		fprintf(f, ", transaction open for %s", format_age(b->xact_age_usec, age));
	fputc(')', f);
}

int lockwatch_blocker_message(const LockBlocker *b, const char *target_noun, bool timed_out,
			      char **ret)
{
	_cleanup_free_ char *text = NULL;
	char age[FORMAT_AGE_MAX];
	size_t size = 0;
	FILE *f;

	if (!b || !target_noun)
		return -EINVAL;
	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;

	fprintf(f, "%s (pid %d) ", b->blocked_is_target ? target_noun : "Session", b->blocked_pid);
	if (timed_out)
		fputs("gave up waiting for ", f);
	else if (b->wait_age_usec != USEC_INFINITY)
		fprintf(f, "has waited %s for ", format_age(b->wait_age_usec, age));
	else
		fputs("waits for ", f);
	fprintf(f, "%s on ", b->mode_wanted ? b->mode_wanted : "a lock");
	put_lock_object(f, b);
	fputs(timed_out ? " (lock timeout); " : "; ", f);

	if (b->blocker_pid == 0)
		fprintf(f, "prepared transaction '%s' (pid 0) ", b->gid ? b->gid : "?");
	else
		fprintf(f, "pid %d ", b->blocker_pid);
	if (b->queued)
		fprintf(f, "%s queued ahead of it for %s ", timed_out ? "was" : "is", b->mode_held);
	else if (b->mode_held)
		fprintf(f, "%s %s on it ", timed_out ? "held" : "holds", b->mode_held);
	else
		fprintf(f, "%s a conflicting lock ", timed_out ? "held" : "holds");
	put_blocker_details(f, b);
	if (b->is_root)
		fprintf(f, " and %s the root of the chain", timed_out ? "was" : "is");
	else
		fprintf(f, " and itself %s for another session", timed_out ? "waited" : "waits");
	if (b->blocker_pid == 0)
		fputs("; only COMMIT PREPARED or ROLLBACK PREPARED ends it", f);
	fputc('.', f);

	if (fclose(f) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(text);
	return 0;
}
