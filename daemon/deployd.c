/* deployd — the deploy daemon: parses its options; the event loop comes with
 * the daemon itself (see DESIGN.md, "deployd(8)"). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "exit-code.h"

static void help(FILE *f)
{
	fprintf(f, "Usage: deployd [--socket PATH] [--plans DIR] [--state-dir DIR]\n"
		   "               [--idle-exit SECONDS] [--allow-group NAME]\n"
		   "               [--log-target auto|journal|stderr]\n"
		   "Runs deploys requested on its socket: stops units, migrates PostgreSQL\n"
		   "fail-fast, starts the units again.\n\n"
		   "  -h, --help     show this help\n"
		   "  --version      show the version\n");
}

int main(int argc, char **argv)
{
	enum { ARG_VERSION = 0x100 };
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, ARG_VERSION},
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			help(stdout);
			return DEPLOY_EXIT_OK;
		case ARG_VERSION:
			printf("deployd %s\n", DEPLOYD_VERSION);
			return DEPLOY_EXIT_OK;
		default:
			return DEPLOY_EXIT_USAGE;
		}
	fprintf(stderr, "deployd: the daemon is not built yet; only --help and --version work\n");
	return DEPLOY_EXIT_INTERNAL;
}
