/* A migration's progress as a line redrawn in place, or as lines per 10 % (deployctl-progress.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cleanup.h"
#include "deployctl-progress.h"
#include "time-util.h"

#define BAR_WIDTH 20

void ctl_progress_init(CtlProgress *p, FILE *out)
{
	*p = (CtlProgress){.tty = isatty(fileno(out)), .printed_decile = -1};
}

void ctl_progress_done(CtlProgress *p)
{
	free(p->key);
	p->key = NULL;
}

void ctl_progress_close(CtlProgress *p, FILE *out)
{
	if (!p->line_open)
		return;
	fputc('\n', out);
	fflush(out);
	p->line_open = false;
}

static uint64_t field_u64(const Event *ev, const char *key)
{
	const char *v = event_get(ev, key);
	return v ? strtoull(v, NULL, 10) : 0;
}

/* Tracks which count is shown; true when it is a new one. */
static bool track(CtlProgress *p, const Event *ev, double percent)
{
	_cleanup_free_ char *key = NULL;

	if (asprintf(&key, "%s\037%s\037%s\037%s\037%s\037%s",
		     event_get(ev, "MIGRATION_VERSION") ?: "",
		     event_get(ev, "MIGRATION_NAME") ?: "", event_get(ev, "MIGRATION_PID") ?: "",
		     event_type_to_string(ev->type), event_get(ev, "PROGRESS_COMMAND") ?: "",
		     event_get(ev, "PROGRESS_PHASE") ?: "") < 0)
		return false;
	if (p->key && strcmp(p->key, key) == 0)
		return false;
	free(p->key);
	p->key = TAKE_PTR(key);
	p->phase_start_ms = field_u64(ev, "DURATION_MS");
	p->phase_start_percent = percent;
	p->printed_decile = -1;
	p->printed_ms = 0;
	return true;
}

/* "~12 s left" from the pace since the count was first seen, or "" before there is one. */
static void estimate(const CtlProgress *p, double percent, uint64_t ms, char *buf, size_t size)
{
	char age[FORMAT_AGE_MAX];

	buf[0] = '\0';
	if (percent <= p->phase_start_percent || percent >= 100 || ms <= p->phase_start_ms)
		return;
	double rate = (percent - p->phase_start_percent) / (double)(ms - p->phase_start_ms);
	usec_t left = (usec_t)((100.0 - percent) / rate) * USEC_PER_MSEC;
	snprintf(buf, size, ", ~%s left", format_age(left, age));
}

static int terminal_width(FILE *out)
{
	struct winsize ws;

	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}

/* The in-place form of the event. */
static char *line_for_terminal(CtlProgress *p, const Event *ev, double percent)
{
	const char *name = event_get(ev, "MIGRATION_NAME") ?: "";
	const char *version = event_get(ev, "MIGRATION_VERSION");
	uint64_t ms = field_u64(ev, "DURATION_MS");
	char elapsed[FORMAT_AGE_MAX], left[FORMAT_AGE_MAX + 16], bar[BAR_WIDTH + 3];
	char *line = NULL;
	int r;

	format_age(ms * USEC_PER_MSEC, elapsed);
	if (ev->type == EVENT_MIGRATION_RUNNING) {
		const char *type = event_get(ev, "PG_WAIT_EVENT_TYPE") ?: "";
		r = asprintf(&line, "%s%s%s running for %s%s%s%s%s", version ?: "",
			     version ? "_" : "", name, elapsed, type[0] ? ", waiting on " : "",
			     type, type[0] ? ":" : "",
			     type[0] ? event_get(ev, "PG_WAIT_EVENT") ?: "" : "");
		return r < 0 ? NULL : line;
	}
	if (percent >= 0) {
		int filled = (int)(percent * BAR_WIDTH / 100.0);
		bar[0] = '[';
		for (int i = 0; i < BAR_WIDTH; i++)
			bar[1 + i] = i < filled ? '#' : '.';
		bar[BAR_WIDTH + 1] = ']';
		bar[BAR_WIDTH + 2] = '\0';
		estimate(p, percent, ms, left, sizeof(left));
		r = asprintf(&line, "%s%s%s %s, %s %5.1f %% %s %s%s", version ?: "",
			     version ? "_" : "", name, event_get(ev, "PROGRESS_COMMAND") ?: "",
			     event_get(ev, "PROGRESS_PHASE") ?: "", percent, bar, elapsed, left);
	} else
		r = asprintf(&line, "%s%s%s %s, %s %s %s %s", version ?: "", version ? "_" : "",
			     name, event_get(ev, "PROGRESS_COMMAND") ?: "",
			     event_get(ev, "PROGRESS_PHASE") ?: "",
			     event_get(ev, "PROGRESS_DONE") ?: "",
			     event_get(ev, "PROGRESS_UNIT") ?: "", elapsed);
	return r < 0 ? NULL : line;
}

bool ctl_progress_show(CtlProgress *p, FILE *out, const char *prefix, const Event *ev)
{
	if (ev->type != EVENT_MIGRATION_PROGRESS && ev->type != EVENT_MIGRATION_RUNNING)
		return false;

	const char *pct = event_get(ev, "PROGRESS_PERCENT");
	double percent = pct ? strtod(pct, NULL) : -1;
	bool new_count = track(p, ev, percent);
	uint64_t ms = field_u64(ev, "DURATION_MS");

	if (p->tty) {
		_cleanup_free_ char *line = line_for_terminal(p, ev, percent);
		if (!line)
			return true;
		int width = terminal_width(out) - 1 - (int)strlen(prefix);
		if (width > 0 && strlen(line) > (size_t)width)
			line[width] = '\0';
		if (p->line_open && new_count)
			ctl_progress_close(p, out); /* a finished phase keeps its last line */
		fprintf(out, "\r\033[K%s%s", prefix, line);
		p->line_open = true;
		return true;
	}

	/* Not a terminal: a line per 10 % step of a count, a heartbeat once (the statement's
	 * last event may repeat one). */
	if (ev->type == EVENT_MIGRATION_PROGRESS) {
		int decile = percent >= 0 ? (int)(percent / 10.0) : 0;
		if (!new_count && decile <= p->printed_decile)
			return true;
		p->printed_decile = decile;
	} else {
		if (!new_count && ms <= p->printed_ms)
			return true;
		p->printed_ms = ms;
	}
	fprintf(out, "%s%s\n", prefix, ev->message ?: "");
	return true;
}
