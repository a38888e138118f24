/* check-run.h — the end of every suite's main(): run it and turn the result into an exit status.
 *
 * check_run_suite() runs every test of s in Check's fork mode (each test in a child unless
 * CK_FORK=no); check_run_suite_unforked() runs them in this process (a benchmark whose one test
 * prints its own report).  Both print Check's normal report, free the runner (and with it s),
 * and return EXIT_SUCCESS when no test failed, EXIT_FAILURE otherwise. */
#pragma once

#include <check.h>

int check_run_suite(Suite *s);
int check_run_suite_unforked(Suite *s);
