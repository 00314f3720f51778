/* The self-test's report as the command layer prints it: markdown (a
 * table that reads on a terminal and pastes into an issue), JSON for
 * scripts, and the list of checks. Each returns a new string, or NULL
 * when out of memory. */
#pragma once
#include "selftest.h"

char *selftest_markdown(const struct selftest_report *r);
char *selftest_json(const struct selftest_report *r);
/* Every check: its name, what it proves, how it is judged and its
 * commands on each guest. */
char *selftest_list(void);
