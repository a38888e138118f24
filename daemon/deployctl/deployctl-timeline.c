/* deployctl log --timeline (deployctl-timeline.h). */
#include <stdlib.h>
#include <string.h>

#include "deployctl-timeline.h"

static unsigned long long duration_ms(const Event *ev)
{
	const char *v = event_get(ev, "DURATION_MS");
	char *end;

	if (!v || !*v)
		return 0;
	unsigned long long ms = strtoull(v, &end, 10);
	return *end ? 0 : ms;
}

static int add_row(CtlTimeline *t, char *label, unsigned long long ms, bool migration)
{
	CtlTimelineRow *rows;

	if (!label)
		return -ENOMEM;
	rows = realloc(t->rows, (t->n + 1) * sizeof(CtlTimelineRow));
	if (!rows) {
		free(label);
		return -ENOMEM;
	}
	t->rows = rows;
	t->rows[t->n++] = (CtlTimelineRow){label, ms, migration};
	return 0;
}

int ctl_timeline_add(CtlTimeline *t, const Event *ev)
{
	char *label = NULL;
	int r;

	switch (ev->type) {
	case EVENT_MIGRATION_APPLIED:
	case EVENT_MIGRATION_FAILED: {
		const char *version = event_get(ev, "MIGRATION_VERSION");
		const char *name = event_get(ev, "MIGRATION_NAME") ?: "";
		if (asprintf(&label, "%s%s%s%s", version ?: "", version ? " " : "", name,
			     ev->type == EVENT_MIGRATION_FAILED ? " (failed)" : "") < 0)
			label = NULL;
		return add_row(t, label, duration_ms(ev), true);
	}
	case EVENT_PHASE_FINISHED: {
		const char *phase = deploy_phase_to_string(ev->phase) ?: "?";
		size_t migrations = t->n - t->first_migration;
		/* The phase's row goes before the migrations it ran, which ended before it. */
		r = add_row(t, strdup(phase), duration_ms(ev), false);
		if (r < 0)
			return r;
		if (migrations > 0) {
			CtlTimelineRow row = t->rows[t->n - 1];
			memmove(&t->rows[t->first_migration + 1], &t->rows[t->first_migration],
				migrations * sizeof(CtlTimelineRow));
			t->rows[t->first_migration] = row;
		}
		t->first_migration = t->n;
		return 0;
	}
	case EVENT_DEPLOY_FINISHED:
		t->total_ms = duration_ms(ev);
		free(t->result);
		t->result = strdup(event_get(ev, "DEPLOY_RESULT") ?: "");
		return t->result ? 0 : -ENOMEM;
	default:
		return 0;
	}
}

void ctl_timeline_print(const CtlTimeline *t, FILE *out, const char *deploy_id)
{
	unsigned long long total = t->total_ms;
	int width = 12;

	if (total == 0)
		for (size_t i = 0; i < t->n; i++)
			if (!t->rows[i].migration)
				total += t->rows[i].ms;
	for (size_t i = 0; i < t->n; i++) {
		int w = (int)strlen(t->rows[i].label) + (t->rows[i].migration ? 2 : 0);
		if (w > width)
			width = w;
	}
	fprintf(out, "Deploy %s: %llu ms%s%s\n", deploy_id, total, t->result ? ", " : "",
		t->result ?: "");
	for (size_t i = 0; i < t->n; i++) {
		const CtlTimelineRow *row = &t->rows[i];
		unsigned long long bar =
			total ? (row->ms * CTL_TIMELINE_WIDTH + total / 2) / total : 0;

		if (bar == 0 && row->ms > 0)
			bar = 1;
		if (bar > CTL_TIMELINE_WIDTH)
			bar = CTL_TIMELINE_WIDTH;
		fprintf(out, "%s%-*s %8llu ms  ", row->migration ? "  " : "",
			width - (row->migration ? 2 : 0), row->label, row->ms);
		for (unsigned long long b = 0; b < bar; b++)
			fputc('#', out);
		fputc('\n', out);
	}
}

void ctl_timeline_done(CtlTimeline *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->rows[i].label);
	free(t->rows);
	free(t->result);
	*t = (CtlTimeline){};
}
