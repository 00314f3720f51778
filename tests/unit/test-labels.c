/* Node labels: whatever goes in, what comes out is a valid Kubernetes
 * label name or value, and two different inputs never share one. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdbool.h>

#include "../../runner/labels.h"
#include "tap.h"

/* Kubernetes' rule for a name segment or a value: at most 63 characters
 * of [A-Za-z0-9._-], beginning and ending with a letter or digit (a value
 * may also be empty). */
static bool label_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0)
		return true;
	if (n > max || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static char *san(const char *s, size_t max)
{
	char *out = NULL;
	if (label_sanitize(s, max, &out) < 0)
		abort();
	return out;
}

int main(void)
{
	char *a = san("provisioned", LABEL_MAX), *b = san("msvc-2026.12_x", LABEL_MAX);
	is_str(a, "provisioned", "a valid name stays as it is");
	is_str(b, "msvc-2026.12_x", "dots, dashes and underscores inside stay");
	free(a), free(b);

	const char *hostile[] = {
		"GenuineIntel 6/85 Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
		"a+b",
		"a@b",
		"a_b-",
		"-leading",
		"+++",
		".hidden",
		"x/../../etc",
		"caf\xc3\xa9 \xe2\x80\x94 unicode",
		"0123456789012345678901234567890123456789012345678901234567890123456789",
	};
	char *out[ELEMENTSOF(hostile)];
	for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
		out[i] = san(hostile[i], LABEL_MAX);
		ok(label_valid(out[i], LABEL_MAX), "'%s' -> '%s' is a valid label", hostile[i], out[i]);
	}
	const char *cpu = "GenuineIntel_6_85_Intel_R_Xeon_R_Gold_6148_CPU_2.40GHz-";
	ok(!strncmp(out[0], cpu, strlen(cpu)) && strlen(out[0]) == strlen(cpu) + 8,
	   "a CPU model: runs of other characters become one '_', and its hash follows: %s", out[0]);
	ok(strcmp(out[1], out[2]) && strcmp(out[1], out[3]), "'a+b', 'a@b', 'a_b-' get three labels: %s %s %s", out[1],
	   out[2], out[3]);
	ok(strlen(out[9]) == LABEL_MAX, "a 70-character name is cut to 63 with its hash: %s", out[9]);
	char *longer = san("0123456789012345678901234567890123456789012345678901234567890123456789x", LABEL_MAX);
	ok(strcmp(longer, out[9]), "two long names that share 63 characters differ: %s", longer);
	free(longer);
	char *seg = san("a+b", LABEL_MAX - strlen("snapshot."));
	ok(label_valid(seg, LABEL_MAX - strlen("snapshot.")), "a snapshot name fits beside 'snapshot.': %s", seg);
	free(seg);
	char *empty = san("", LABEL_MAX);
	is_str(empty, "", "an empty value stays empty");
	free(empty);
	for (size_t i = 0; i < ELEMENTSOF(hostile); i++)
		free(out[i]);
	return tap_done();
}
