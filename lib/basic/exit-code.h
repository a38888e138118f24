/* exit-code.h — the exit codes of a deploy (deployctl(1), EXIT STATUS); other commands use
 * 0–3 alike.  Shared by the daemon (EXIT= in the final record) and the client. */
#pragma once

typedef enum DeployExit {
	DEPLOY_EXIT_OK = 0,
	DEPLOY_EXIT_INTERNAL = 1,
	DEPLOY_EXIT_USAGE = 2,
	DEPLOY_EXIT_PLAN_INVALID = 3,
	DEPLOY_EXIT_BUSY = 4,
	DEPLOY_EXIT_PREFLIGHT = 5,
	DEPLOY_EXIT_STOP = 6,
	DEPLOY_EXIT_MIGRATE = 7,
	DEPLOY_EXIT_START = 8,
	DEPLOY_EXIT_PERMISSION = 9,
	DEPLOY_EXIT_CANCELLED = 10,
} DeployExit;
