#include <errno.h>
#include <string.h>

#include "cleanup.h"
#include "units.h"

/* The errno systemctl's bus-wait-for-jobs assigns each JobRemoved result. */
static const struct {
	const char *result;
	int error;
} job_results[] = {
	{"done", 0},
	{"skipped", 0},
	{"canceled", -ECANCELED},
	{"collected", -ECANCELED},
	{"timeout", -ETIME},
	{"dependency", -EIO},
	{"invalid", -ENOEXEC},
	{"assert", -EPROTO},
	{"unsupported", -EOPNOTSUPP},
	{"once", -ESTALE},
	{"failed", -EIO},
};

int units_job_result_to_errno(const char *result)
{
	for (size_t i = 0; result && i < ELEMENTSOF(job_results); i++)
		if (strcmp(result, job_results[i].result) == 0)
			return job_results[i].error;
	/* A result newer than we know: a failure, as systemctl assumes. */
	return -EIO;
}

bool units_job_result_is_success(const char *result)
{
	return units_job_result_to_errno(result) == 0;
}
