/* The self-test's checks, in the order they run: one table entry each
 * (selftest-judge.h, struct st_check), so that a check is added by adding
 * an entry. The share check comes last: it judges every restore made
 * before it. */
#pragma once
#include "selftest-judge.h"

extern const struct st_check st_checks[];
extern const size_t st_checks_n;

/* The check named name, or NULL. */
const struct st_check *st_check_find(const char *name);
