/* Minimal TAP for the unit tests: one "ok"/"not ok" line per check, and the
 * totals as the last line. */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_skipped;

#define ok(cond, ...)                                                                                                  \
	do {                                                                                                           \
		tap_n++;                                                                                               \
		bool _c = (cond);                                                                                      \
		if (!_c)                                                                                               \
			tap_failed++;                                                                                  \
		printf("%sok %d - ", _c ? "" : "not ", tap_n);                                                         \
		printf(__VA_ARGS__);                                                                                   \
		printf("%s\n", _c ? "" : "   <-- " #cond);                                                             \
	} while (0)

#define is_int(a, b, ...)                                                                                              \
	do {                                                                                                           \
		long long _a = (a), _b = (b);                                                                          \
		ok(_a == _b, __VA_ARGS__);                                                                             \
		if (_a != _b)                                                                                          \
			printf("#   got %lld, expected %lld\n", _a, _b);                                               \
	} while (0)

#define is_str(a, b, ...)                                                                                              \
	do {                                                                                                           \
		const char *_a = (a), *_b = (b);                                                                       \
		bool _e = _a && _b && !strcmp(_a, _b);                                                                 \
		ok(_e, __VA_ARGS__);                                                                                   \
		if (!_e)                                                                                               \
			printf("#   got '%s', expected '%s'\n", _a ? _a : "(null)", _b ? _b : "(null)");               \
	} while (0)

/* A check that cannot run here: TAP's "ok N # SKIP reason", counted apart
 * from passes (tests/run-unit.sh judges it against tests/allowed-skips). */
#define skip(...)                                                                                                      \
	do {                                                                                                           \
		tap_n++;                                                                                               \
		tap_skipped++;                                                                                         \
		printf("ok %d # SKIP ", tap_n);                                                                        \
		printf(__VA_ARGS__);                                                                                   \
		printf("\n");                                                                                          \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n# %d passed, %d failed, %d skipped\n", tap_n, tap_n - tap_failed - tap_skipped, tap_failed,
	       tap_skipped);
	return tap_failed ? 1 : 0;
}
