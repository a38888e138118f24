/* What the server says about itself (server-internal.h): its log lines, the STATUS= it
 * reports to systemd, and whether it is idle.  Below the clients and the worker, which both
 * report through it. */
#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "server-internal.h"

void server_log(Server *s, int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (s->log_to_journal)
		sd_journal_printv(priority, fmt, ap);
	else {
		fputs("deployd: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

void server_notify_status(Server *s)
{
	if (s->deploy)
		sd_notifyf(false, "STATUS=Deploying %s (%s): %s", s->deploy->plan_name,
			   s->deploy->request.id, deploy_phase_to_string(s->deploy->phase));
	else
		sd_notify(false, "STATUS=Waiting for deploy requests");
}

void server_update_idle(Server *s)
{
	bool idle = !s->deploy && !s->ending && !s->clients;

	if (s->exiting && !s->deploy) {
		sd_event_exit(s->event, 0);
		return;
	}
	if (!s->idle_source)
		return;
	if (idle) {
		sd_event_source_set_time_relative(s->idle_source, s->config.idle_exit);
		sd_event_source_set_enabled(s->idle_source, SD_EVENT_ONESHOT);
	} else
		sd_event_source_set_enabled(s->idle_source, SD_EVENT_OFF);
}
