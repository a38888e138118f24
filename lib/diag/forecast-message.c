/* The forecast in sentences, for deployctl and the dry run's events (forecast.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "forecast.h"

char *forecast_format_size(int64_t bytes, char buf[static FORECAST_SIZE_MAX])
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 0) {
		snprintf(buf, FORECAST_SIZE_MAX, "size unknown");
		return buf;
	}
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, FORECAST_SIZE_MAX, "%" PRId64 " B", bytes);
	else
		snprintf(buf, FORECAST_SIZE_MAX, "%.*f %s", v < 10 ? 1 : 0, v, units[u]);
	return buf;
}

static void put_lock(FILE *f, const ForecastLock *l)
{
	char size[FORECAST_SIZE_MAX];

	fprintf(f, "%s on %s", lock_mode_to_string(l->mode), l->relation);
	if (l->relid == 0)
		fputs(" (created by the migrations)", f);
	else if (l->rows >= 0)
		fprintf(f, " (%s, ~%" PRId64 " rows)", forecast_format_size(l->size_bytes, size),
			l->rows);
	else
		fprintf(f, " (%s)", forecast_format_size(l->size_bytes, size));
}

static int finish(FILE *f, char **buf, char **ret)
{
	if (fclose(f) != 0) {
		free(*buf);
		return -ENOMEM;
	}
	*ret = *buf;
	return 0;
}

int forecast_lock_describe(const ForecastLock *l, char **ret)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	put_lock(f, l);
	return finish(f, &buf, ret);
}

int forecast_statement_describe(const ForecastMigration *m, const ForecastStatement *s, char **ret)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	fprintf(f, "%s:%u: %s: ", m->file, s->line, s->sql_first_line);
	if (s->unknown)
		fputs("not understood, assumed to take AccessExclusiveLock on what it names: ", f);
	if (s->n_locks == 0)
		fputs("no table lock", f);
	for (size_t i = 0; i < s->n_locks; i++) {
		fputs(i ? ", " : "", f);
		put_lock(f, &s->locks[i]);
	}
	if (s->rewrite)
		fputs("; rewrites a table", f);
	if (s->scan)
		fputs("; reads a table in full under its lock", f);
	fputc('.', f);
	return finish(f, &buf, ret);
}

int forecast_holder_describe(const ForecastHolder *h, char **ret)
{
	char age[FORMAT_AGE_MAX];
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	if (h->pid == 0)
		fprintf(f, "Prepared transaction '%s'", h->gid ?: "?");
	else
		fprintf(f, "Session %d", h->pid);
	fprintf(f, " %s %s on %s, which conflicts with the %s a migration needs",
		h->granted ? "holds" : "waits for", lock_mode_to_string(h->mode) ?: "a lock",
		h->relation, lock_mode_to_string(h->conflicts_with));
	fputs(" (", f);
	if (h->user)
		fprintf(f, "user %s, ", h->user);
	if (h->application && h->application[0])
		fprintf(f, "application %s, ", h->application);
	if (h->client)
		fprintf(f, "client %s, ", h->client);
	fprintf(f, "%s", h->state ?: "state unknown");
	if (h->xact_age != USEC_INFINITY)
		fprintf(f, ", transaction open for %s", format_age(h->xact_age, age));
	fputc(')', f);
	if (h->query && h->query[0])
		fprintf(f, ": %s", h->query);
	fputc('.', f);
	return finish(f, &buf, ret);
}
