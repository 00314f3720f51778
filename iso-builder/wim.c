#define _GNU_SOURCE
#include "wim.h"

#include <string.h>
#include <strings.h>
#include <wimlib.h>

void edition_list_release(struct edition_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].edition_id);
		free(l->v[i].install_type);
		free(l->v[i].arch);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static char *prop(WIMStruct *w, int image, const char *name)
{
	const char *v = wimlib_get_image_property(w, image, name);
	return v && *v ? strdup(v) : NULL;
}

int wim_read_editions(const char *path, struct edition_list *ret)
{
	WIMStruct *w = NULL;
	int k = wimlib_open_wim(path, 0, &w);
	if (k == WIMLIB_ERR_OPEN)
		return -ENOENT;
	if (k != 0)
		return -EMEDIUMTYPE;
	struct wimlib_wim_info info;
	wimlib_get_wim_info(w, &info);
	struct edition_list l = {.v = calloc(info.image_count ? info.image_count : 1, sizeof *l.v)};
	int r = l.v ? 0 : -ENOMEM;
	for (unsigned i = 1; r == 0 && i <= info.image_count; i++) {
		struct edition *e = &l.v[l.n++];
		e->index = i;
		e->name = prop(w, (int)i, "NAME");
		e->edition_id = prop(w, (int)i, "WINDOWS/EDITIONID");
		e->install_type = prop(w, (int)i, "WINDOWS/INSTALLATIONTYPE");
		e->arch = prop(w, (int)i, "WINDOWS/ARCH");
		_cleanup_free_ char *build = prop(w, (int)i, "WINDOWS/VERSION/BUILD");
		e->build = build ? (unsigned)strtoul(build, NULL, 10) : 0;
		if (!e->name)
			e->name = strdup("");
		if (!e->name)
			r = -ENOMEM;
	}
	wimlib_free(w);
	if (r < 0) {
		edition_list_release(&l);
		return r;
	}
	*ret = l;
	return 0;
}

int edition_pick(const struct edition_list *l, const char *want, const struct edition **ret)
{
	if (!l->n)
		return -ENOENT;
	if (want) {
		char *end;
		unsigned long idx = strtoul(want, &end, 10);
		for (size_t i = 0; i < l->n; i++) {
			const struct edition *e = &l->v[i];
			bool by_index = *want && !*end && e->index == idx;
			if (by_index || !strcasecmp(e->name, want) ||
			    (e->edition_id && !strcasecmp(e->edition_id, want))) {
				*ret = e;
				return 0;
			}
		}
		return -ENOENT;
	}
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].edition_id && !strcasecmp(l->v[i].edition_id, "Professional")) {
			*ret = &l->v[i];
			return 0;
		}
	if (l->n == 1) {
		*ret = &l->v[0];
		return 0;
	}
	return -ENOTUNIQ;
}

static bool is_server(const struct edition *e)
{
	return (e->install_type && !strncasecmp(e->install_type, "Server", 6)) ||
	       (e->edition_id && !strncasecmp(e->edition_id, "Server", 6));
}

const char *edition_virtio_dir(const struct edition *e)
{
	if (!e->build)
		return NULL;
	if (!is_server(e))
		return e->build >= 22000 ? "w11" : "w10";
	if (e->build >= 26100)
		return "2k25";
	if (e->build >= 20348)
		return "2k22";
	if (e->build >= 17763)
		return "2k19";
	return "2k16";
}

/* Microsoft's default keys: they pick the edition and never activate. */
static const struct {
	const char *edition_id, *key;
} generic_keys[] = {
	{"Core", "YTMG3-N6DKC-DKB77-7M9GH-8HVX7"},
	{"Professional", "VK7JG-NPHTM-C97JM-9MPGT-3V66T"},
	{"Education", "YNMGQ-8RYV3-4PGQ3-C8XTP-7CFBY"},
	{"Enterprise", "XGVPP-NMH47-7TTHJ-W3FW7-8HV2C"},
	{"ProfessionalWorkstation", "DXG7C-N36C4-C4HTG-X4T3X-2YV77"},
};

const char *edition_generic_key(const struct edition *e)
{
	if (!e->edition_id || is_server(e))
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(generic_keys); i++)
		if (!strcasecmp(generic_keys[i].edition_id, e->edition_id))
			return generic_keys[i].key;
	return NULL;
}
