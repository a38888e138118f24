/* fuzz-plan.c — plan_parse() on any bytes.
 *
 * Promises checked: success gives a plan and no message; failure gives no plan, and an
 * invalid plan (-EBADMSG) comes with one line of UTF-8 naming "fuzz.yaml:"; a valid plan's name
 * is the file's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "plan.h"
#include "utf8.h"

int fuzz_plan(const uint8_t *data, size_t size)
{
	Plan *plan = NULL;
	char *error = NULL;
	int r;

	r = plan_parse("/plans/fuzz.yaml", (const char *)data, size, &plan, &error);
	if (r >= 0) {
		fuzz_assert(plan);
		fuzz_assert(!error);
		fuzz_assert(strcmp(plan->name, "fuzz") == 0);
		fuzz_assert(plan->version == 1);
		fuzz_assert(!plan->migrations.directory != !plan->migrations.command);
		fuzz_assert(plan->services.units);
		fuzz_assert(plan->hooks.before_stop.commands);
		fuzz_assert(plan->database.lock_timeout > 0);
	} else {
		fuzz_assert(!plan);
		if (r == -EBADMSG) {
			fuzz_assert(error);
			fuzz_assert(strncmp(error, "/plans/fuzz.yaml:", 17) == 0);
			fuzz_assert(!strchr(error, '\n'));
			/* It travels in a protocol record and the journal: UTF-8 only. */
			fuzz_assert(utf8_find_invalid(error, strlen(error)) == strlen(error));
		}
	}
	plan_free(plan);
	free(error);
	return 0;
}
