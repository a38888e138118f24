/* test-sshd.h — a second "host" for integration tests: a private sshd on a loopback address,
 * started by tests/harness/up-sshd, that lets the test user in with a key made for it, so that
 * units_connect_remote() (and deployd) reach the test user's manager over ssh.
 *
 * test_sshd_up() starts one in a fresh harness_tmpdir(), test_sshd_down() stops it (the run's
 * teardown stops one a test left behind).  Both abort the test with the reason on failure. */
#pragma once

typedef struct TestSshd {
	char *dir;
	char *host;	   /* "deployd-test@127.0.0.2:PORT", as a plan names it */
	char *identity;	   /* the test user's private key (owned by it, mode 0600) */
	char *known_hosts; /* holds the sshd's host key for [ADDRESS]:PORT */
	unsigned port;
} TestSshd;

void test_sshd_up(TestSshd *s);
void test_sshd_down(TestSshd *s);
/* Ends the sessions sshd serves (its children), as a network outage would, and keeps
 * listening; returns how many it ended. */
int test_sshd_drop_sessions(TestSshd *s);
/* How many logins sshd accepted so far (its log). */
int test_sshd_logins(TestSshd *s);
/* Authorizes the test user's key with restrict,command="COMMAND" in authorized_keys, as the
 * README tells a remote host's admin to (NULL: without a forced command again). */
void test_sshd_force_command(TestSshd *s, const char *command);
