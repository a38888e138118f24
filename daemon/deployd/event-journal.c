#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "event-journal.h"

static int iovec_printf(struct iovec *iov, const char *fmt, ...) _printf_(2, 3);
static int iovec_printf(struct iovec *iov, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	*iov = (struct iovec){.iov_base = s, .iov_len = (size_t)n};
	return 0;
}

int event_journal_send(const Event *ev)
{
	enum { N_STANDARD = 6 };
	size_t n = N_STANDARD + ev->n_fields, used = 0;
	_cleanup_free_ struct iovec *iov = calloc(n, sizeof(struct iovec));
	int r = 0;

	if (!iov)
		return -ENOMEM;

	if ((r = iovec_printf(&iov[used++], "MESSAGE=%s", ev->message ?: "")) < 0 ||
	    (r = iovec_printf(&iov[used++], "PRIORITY=%d", ev->priority)) < 0 ||
	    (r = iovec_printf(&iov[used++], "MESSAGE_ID=%s", event_type_message_id(ev->type))) <
		    0 ||
	    (r = iovec_printf(&iov[used++], "DEPLOY_EVENT=%s", event_type_to_string(ev->type))) <
		    0 ||
	    (r = iovec_printf(&iov[used++], "DEPLOY_PHASE=%s", deploy_phase_to_string(ev->phase))) <
		    0 ||
	    (r = iovec_printf(&iov[used++], "SYSLOG_IDENTIFIER=deployd")) < 0)
		goto finish;
	for (size_t i = 0; i < ev->n_fields; i++) {
		r = iovec_printf(&iov[used++], "%s=%s", ev->fields[i].key, ev->fields[i].value);
		if (r < 0)
			goto finish;
	}

	r = sd_journal_sendv(iov, (int)used);

finish:
	for (size_t i = 0; i < used; i++)
		free(iov[i].iov_base);
	return r;
}
