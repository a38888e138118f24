/* state.h — the last-deploy record in the state directory.
 *
 * The record (file "last-deploy", written atomically: temporary file,
 * fsync, rename) holds DEPLOY_ID, DEPLOY_PLAN, DEPLOY_RELEASE,
 * REQUESTER_UID, DEPLOY_PHASE, STARTED_USEC and, once finished,
 * DEPLOY_RESULT, DEPLOY_EXIT and FINISHED_USEC.  A record still saying
 * DEPLOY_RESULT=running when the daemon starts belongs to a deploy that was
 * interrupted by a crash.  Functions return 0 or a negative errno. */
#pragma once

#include "proto.h"

#define STATE_FILE_NAME "last-deploy"

int state_write(const char *state_dir, const ProtoRecord *rec);
/* -ENOENT when no deploy was ever recorded. */
int state_read(const char *state_dir, ProtoRecord **ret);
