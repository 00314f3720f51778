/* The WIM's XML as osrun reads it: the media are the user's, but their XML
 * is whatever the ISO holds. Each input becomes a real WIM (wimlib writes
 * it, as the offline tests' media are made) with up to four images whose
 * properties are the input's fields, then goes the way `image build` takes
 * it: read the editions, pick one, check it, and render the answer file
 * with its language, which must stay well-formed XML.
 *
 * Input: fields separated by '\n'; the first is what --edition asks for
 * (empty: the default), then per image NAME, WINDOWS/EDITIONID,
 * WINDOWS/INSTALLATIONTYPE, WINDOWS/ARCH, WINDOWS/LANGUAGES/DEFAULT,
 * WINDOWS/VERSION/BUILD. */
#define _GNU_SOURCE
#include <errno.h>
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wimlib.h>

#include "../../iso-builder/unattend.h"
#include "../../iso-builder/wim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS_PER_IMAGE 6
#define IMAGES_MAX 4

static const char *const props[FIELDS_PER_IMAGE] = {
	"NAME",		"WINDOWS/EDITIONID",	     "WINDOWS/INSTALLATIONTYPE",
	"WINDOWS/ARCH", "WINDOWS/LANGUAGES/DEFAULT", "WINDOWS/VERSION/BUILD",
};

/* A WIM at path with the images fields[] describe; false when wimlib
 * refuses them (invalid UTF-8, a name twice): not osrun's input then. */
static bool wim_make(const char *path, char **fields, size_t n)
{
	WIMStruct *w = NULL;
	if (wimlib_create_new_wim(WIMLIB_COMPRESSION_TYPE_NONE, &w))
		return false;
	bool ok = true;
	for (size_t i = 0; ok && i * FIELDS_PER_IMAGE < n && i < IMAGES_MAX; i++) {
		int idx;
		ok = !wimlib_add_empty_image(w, NULL, &idx);
		for (size_t f = 0; ok && f < FIELDS_PER_IMAGE && i * FIELDS_PER_IMAGE + f < n; f++) {
			const char *v = fields[i * FIELDS_PER_IMAGE + f];
			if (*v)
				ok = !wimlib_set_image_property(w, idx, props[f], v);
		}
	}
	ok = ok && !wimlib_write(w, path, WIMLIB_ALL_IMAGES, 0, 1);
	wimlib_free(w);
	return ok;
}

static void check_edition(const struct edition_list *l, const struct edition *ed)
{
	if (ed < l->v || ed >= l->v + l->n || !ed->name)
		abort();
	(void)edition_virtio_dir(ed);
	(void)edition_arch_name(ed);
	(void)edition_generic_key(ed);
	(void)edition_is_evaluation(ed);
	const char *lang = ed->language && edition_language_valid(ed->language) ? ed->language : "en-US";
	for (const char *p = lang; *p; p++)
		if (!(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			abort();
	struct unattend u = {.image_index = ed->index,
			     .uefi = true,
			     .product_key = edition_generic_key(ed),
			     .user = "osrun",
			     .password = "Pw-1abcdefghijkmnpq",
			     .locale = lang,
			     .marker = "osrun\\osrun.tag",
			     .first_logon = "osrun\\firstlogon.ps1"};
	char *xml = NULL;
	size_t len = 0;
	if (unattend_render(&u, &xml, &len) < 0)
		return;
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, "autounattend.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
	if (!doc)
		abort();
	xmlFreeDoc(doc);
	free(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *text = strndup((const char *)data, size), *fields[1 + IMAGES_MAX * FIELDS_PER_IMAGE];
	size_t n = 0;
	for (char *s = text, *nl; s && n < sizeof fields / sizeof *fields; s = nl ? nl + 1 : NULL) {
		if ((nl = strchr(s, '\n')))
			*nl = '\0';
		fields[n++] = s;
	}
	static char path[64];
	if (!*path)
		snprintf(path, sizeof path, "/tmp/osrun-fuzz-wim-%d.wim", (int)getpid());
	struct edition_list l = {0};
	if (n >= 2 && wim_make(path, fields + 1, n - 1) && wim_read_editions(path, &l) == 0) {
		const struct edition *ed = NULL;
		int r = edition_pick(&l, *fields[0] ? fields[0] : NULL, &ed);
		if (r != 0 && r != 1 && r != -ENOENT && r != -ENOTUNIQ)
			abort();
		if (r >= 0)
			check_edition(&l, ed);
		edition_list_release(&l);
	}
	unlink(path);
	free(text);
	return 0;
}
