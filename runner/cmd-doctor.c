/* osrun doctor: whether this host can run osrun well, and what to fix
 * (doctor.h). */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <string.h>

#include "commands.h"
#include "doctor.h"
#include "options.h"

static void doctor_help(void)
{
	printf("Usage: osrun doctor [--json] [--cache DIR]\n"
	       "\n"
	       "Checks whether this host can run osrun well and says what to fix, a line\n"
	       "a check, with a 'fix:' line under each one that is not ok:\n"
	       "  kvm       /dev/kvm present and usable (else why not: no device, no\n"
	       "            permission and the group to join, nested virtualization off)\n"
	       "  qemu      QEMU's version; samba: smbd's\n"
	       "  store     the store's filesystem, and whether it makes reflinks\n"
	       "  holes     whether SEEK_HOLE sees single pages there\n"
	       "  space     free space against a Windows image's (about 70 GB)\n"
	       "  user      the user (no passwd entry: nss_wrapper; 'nobody' cannot run osrun)\n"
	       "  netguard  whether QEMU loads the network guard (--network internet)\n"
	       "\n"
	       "warn: osrun runs, not well (under TCG, say); fail: it cannot run.\n"
	       "\n"
	       "Options:\n"
	       "      --json               the checks as JSON: {\"ok\", \"checks\": [{\"name\",\n"
	       "                           \"status\", \"detail\", \"fix\"}]}\n"
	       "      --cache DIR          the store to check (default: $OSRUN_CACHE, else\n"
	       "                           ~/.cache/osrun)\n"
	       "  -h, --help               this text\n"
	       "\n"
	       "Exit status: 0 when no check fails (warnings allowed), 1 when one does,\n"
	       "125 when osrun doctor itself failed.\n");
}

static bool report_ok(const struct doctor_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->checks[i].status == DOCTOR_FAIL)
			return false;
	return true;
}

static int print_json(const struct doctor_report *r)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	json_object_object_add(o, "ok", json_object_new_boolean(report_ok(r)));
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_check *c = &r->checks[i];
		json_object *j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(c->name));
		json_object_object_add(j, "status", json_object_new_string(doctor_status_to_string(c->status)));
		json_object_object_add(j, "detail", json_object_new_string(c->detail));
		json_object_object_add(j, "fix", c->fix ? json_object_new_string(c->fix) : NULL);
		json_object_array_add(a, j);
	}
	json_object_object_add(o, "checks", a);
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}

static void print_table(const struct doctor_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_check *c = &r->checks[i];
		printf("%-9s %-4s  %s\n", c->name, doctor_status_to_string(c->status), c->detail);
		if (c->fix)
			printf("%-9s fix:  %s\n", "", c->fix);
	}
}

int cmd_doctor(int argc, char **argv)
{
	struct common_opts c = {0};
	bool json = false;
	struct error e = {0};
	const struct opt table[] = {
		{"json", 0, OPT_FLAG, &json, 0, 0, NULL},
		OPTS_COMMON(&c),
	};
	int first, r = options_parse(table, doctor_help, false, argc, argv, &first, &e);
	if (r == 0)
		r = options_no_operands("doctor", argc, argv, first, &e);
	if (r != 0)
		return r < 0 ? options_report(&e) : 0;
	_cleanup_(doctor_report_release) struct doctor_report rep = {0};
	if ((r = doctor_host(&rep)) < 0 || (r = doctor_store(c.cache, &rep)) < 0 || (r = doctor_user(&rep)) < 0)
		return error_errno(&e, r, "doctor"), options_report(&e);
	if (json)
		print_json(&rep);
	else
		print_table(&rep);
	fflush(stdout);
	return report_ok(&rep) ? 0 : 1;
}
