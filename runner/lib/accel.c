#define _GNU_SOURCE
#include "accel.h"

#include <fcntl.h>
#include <string.h>

#include "proc.h"

const char *accel_qemu_binary(void)
{
	const char *q = getenv("OSRUN_QEMU");
	return q && *q ? q : "qemu-system-x86_64";
}

const char *accel_to_string(enum accel a) { return a == ACCEL_KVM ? "kvm" : "tcg"; }

int accel_from_string(const char *s, enum accel *ret)
{
	if (!strcmp(s, "kvm"))
		*ret = ACCEL_KVM;
	else if (!strcmp(s, "tcg"))
		*ret = ACCEL_TCG;
	else
		return -EINVAL;
	return 0;
}

/* The last non-empty line of QEMU's output, for the warning. */
static char *last_line(char *out)
{
	if (!out)
		return strdup("no message");
	size_t n = strlen(out);
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = 0;
	char *nl = strrchr(out, '\n');
	return strdup(nl ? nl + 1 : *out ? out : "no message");
}

/* A paused machine with the CPU model the profiles use under KVM: QEMU
 * sets the vCPU's registers and MSRs while it starts, which is where a
 * half-working KVM fails ("failed to set MSR 0x10a", then an assertion,
 * seen on a nested host), and quits when QMP says so. ~40 ms. */
int accel_kvm_probe(const char *qemu, char **ret_why)
{
	char *const argv[] = {(char *)qemu, "-accel",	   "kvm",      "-cpu", "host", "-machine", "q35",   "-m",
			      "64",	    "-nodefaults", "-display", "none", "-S",   "-qmp",	   "stdio", NULL};
	_cleanup_free_ char *out = NULL;
	int r = proc_run_input(argv, "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n", 20 * USEC_PER_SEC,
			       &out);
	if (r == 0)
		return 0;
	if (r < 0)
		return asprintf(ret_why, "%s could not be run to try KVM: %s", qemu, strerror(-r)) < 0 ? -ENOMEM : 0;
	_cleanup_free_ char *line = last_line(out);
	if (!line || asprintf(ret_why, "QEMU fails on it: %s", line) < 0)
		return -ENOMEM;
	return 0;
}

int accel_detect(const char *qemu, enum accel *ret, char **ret_why)
{
	*ret_why = NULL;
	const char *e = getenv("OSRUN_ACCEL");
	if (e && *e)
		return accel_from_string(e, ret);
	if (!qemu)
		qemu = accel_qemu_binary();
	*ret = ACCEL_TCG;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		return asprintf(ret_why, "/dev/kvm: %s", strerror(err)) < 0 ? -ENOMEM : 0;
	}
	close(fd);
	char *why = NULL;
	int r = accel_kvm_probe(qemu, &why);
	if (r < 0)
		return r;
	if (!why)
		*ret = ACCEL_KVM;
	*ret_why = why;
	return 0;
}

/* The value of "key<tabs>: value" lines, first processor only. */
static bool cpuinfo_field(const char *line, const char *key, char *out, size_t n)
{
	size_t k = strlen(key);
	const char *colon = line + k + strspn(line + k, " \t");
	if (strncmp(line, key, k) || *colon != ':')
		return false;
	const char *v = colon + 1 + strspn(colon + 1, " \t");
	snprintf(out, n, "%.*s", (int)strcspn(v, "\n"), v);
	return true;
}

int accel_host_cpu(const char *cpuinfo, char *buf, size_t n)
{
	FILE *f = fopen(cpuinfo, "re");
	if (!f)
		return -errno;
	char line[1024], vendor[64] = "", family[16] = "", model[16] = "", name[128] = "";
	while (fgets(line, sizeof line, f) && line[0] != '\n') {
		cpuinfo_field(line, "vendor_id", vendor, sizeof vendor);
		cpuinfo_field(line, "cpu family", family, sizeof family);
		cpuinfo_field(line, "model", model, sizeof model);
		cpuinfo_field(line, "model name", name, sizeof name);
	}
	fclose(f);
	if (!*vendor || !*family || !*model || !*name)
		return -ENODATA;
	snprintf(buf, n, "%s %s/%s %s", vendor, family, model, name);
	return 0;
}
