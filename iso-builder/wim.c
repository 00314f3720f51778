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
		free(l->v[i].language);
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
		e->language = prop(w, (int)i, "WINDOWS/LANGUAGES/DEFAULT");
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

static bool is_server(const struct edition *e)
{
	return (e->install_type && !strncasecmp(e->install_type, "Server", 6)) ||
	       (e->edition_id && !strncasecmp(e->edition_id, "Server", 6));
}

static bool is_core(const struct edition *e) { return e->install_type && !strcasecmp(e->install_type, "Server Core"); }

/* An edition id names one image, or on Server media two: Core and the
 * Desktop Experience, which differ only in INSTALLATIONTYPE and name. */
static int pick_by_id(const struct edition_list *l, const char *id, const struct edition **ret)
{
	const struct edition *found = NULL, *desktop = NULL;
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct edition *e = &l->v[i];
		if (!e->edition_id || strcasecmp(e->edition_id, id))
			continue;
		n++;
		found = found ? found : e;
		if (!desktop && !is_core(e))
			desktop = e;
	}
	if (n == 0)
		return -ENOENT;
	if (n == 1) {
		*ret = found;
		return 0;
	}
	if (!desktop)
		return -ENOTUNIQ;
	*ret = desktop;
	return 1;
}

int edition_pick(const struct edition_list *l, const char *want, const struct edition **ret)
{
	if (!l->n)
		return -ENOENT;
	if (want) {
		char *end;
		unsigned long idx = strtoul(want, &end, 10);
		for (size_t i = 0; i < l->n; i++)
			if ((*want && !*end && l->v[i].index == idx) || !strcasecmp(l->v[i].name, want)) {
				*ret = &l->v[i];
				return 0;
			}
		return pick_by_id(l, want, ret);
	}
	bool server = false;
	for (size_t i = 0; i < l->n; i++)
		server |= is_server(&l->v[i]);
	int r = pick_by_id(l, server ? "ServerStandard" : "Professional", ret);
	if (r != -ENOENT)
		return r;
	if (l->n == 1) {
		*ret = &l->v[0];
		return 0;
	}
	return -ENOTUNIQ;
}

const char *edition_arch_name(const struct edition *e)
{
	/* PROCESSOR_ARCHITECTURE_* values (Microsoft's SYSTEM_INFO page), as
	 * the WIM's WINDOWS/ARCH holds them. */
	static const struct {
		const char *code, *name;
	} arches[] = {{"0", "x86"}, {"5", "arm"}, {"9", "x64"}, {"12", "arm64"}};
	if (!e->arch)
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(arches); i++)
		if (!strcmp(arches[i].code, e->arch))
			return arches[i].name;
	return "unknown";
}

bool edition_language_valid(const char *s)
{
	/* A language tag as Setup takes it: "en-US", "zh-Hant-TW", "sr-Latn-RS". */
	size_t n = strlen(s), part = 0, parts = 1;
	if (n < 2 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '-') {
			if (!part)
				return false;
			part = 0;
			parts++;
		} else if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			   (parts > 1 && s[i] >= '0' && s[i] <= '9'))
			part++;
		else
			return false;
	}
	return part > 0 && parts <= 4;
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

/* Keys that pick the edition for Setup and do not activate it. Home, Pro,
 * Education, Enterprise and Pro for Workstations: Microsoft's default
 * (generic) keys, as osrun had them. The other client editions and every
 * Server: the Generic Volume License Keys of Microsoft's "KMS client
 * activation and product keys" page (MicrosoftDocs/windowsserverdocs,
 * WindowsServerDocs/get-started/kms-client-activation-keys.md). */
static const struct {
	const char *edition_id, *key;
} client_keys[] = {
	{"Core", "YTMG3-N6DKC-DKB77-7M9GH-8HVX7"},
	{"Professional", "VK7JG-NPHTM-C97JM-9MPGT-3V66T"},
	{"Education", "YNMGQ-8RYV3-4PGQ3-C8XTP-7CFBY"},
	{"Enterprise", "XGVPP-NMH47-7TTHJ-W3FW7-8HV2C"},
	{"ProfessionalWorkstation", "DXG7C-N36C4-C4HTG-X4T3X-2YV77"},
	{"ProfessionalN", "MH37W-N47XK-V7XM9-C7227-GCQG9"},
	{"ProfessionalWorkstationN", "9FNHH-K3HBT-3W4TD-6383H-6XYWF"},
	{"ProfessionalEducation", "6TP4R-GNPTD-KYYHQ-7B7DP-J447Y"},
	{"ProfessionalEducationN", "YVWGF-BXNMC-HTQYQ-CPQ99-66QFC"},
	{"EducationN", "2WH4N-8QGBV-H22JP-CT43Q-MDWWJ"},
	{"EnterpriseN", "DPH2V-TTNVB-4X9Q3-TJR4H-KHJW4"},
	{"EnterpriseG", "YYVX9-NTFWV-6MDM3-9PT4T-4M68B"},
	{"EnterpriseGN", "44RPN-FTY23-9VTTB-MP9BX-T84FV"},
	{"EnterpriseS", "M7XTQ-FN8P6-TTKYV-9D4CC-J462D"},    /* LTSC 2019, 2021, 2024 */
	{"EnterpriseSN", "92NFX-8DJQP-P6BBQ-THF9C-7CG2H"},   /* N LTSC 2019, 2021, 2024 */
	{"IoTEnterpriseS", "KBN8V-HFGQ4-MGXVD-347P6-PDQGT"}, /* IoT LTSC 2021, 2024 */
};

static const struct {
	unsigned build;
	const char *standard, *datacenter;
} server_keys[] = {
	{26100, "TVRH6-WHNXV-R9WG3-9XRFY-MY832", "D764K-2NDRG-47T6Q-P8T8W-YP6DF"}, /* 2025 */
	{20348, "VDYBN-27WPP-V4HQT-9VMD4-VMK7H", "WX4NM-KYWYW-QJJR4-XV3QB-6VM33"}, /* 2022 */
	{17763, "N69G4-B89J2-4G8F4-WWYCC-J464C", "WMDGN-G9PQG-XVVXX-R3X43-63DFG"}, /* 2019 */
	{14393, "WC2BQ-8NRM3-FDDYY-2BFGV-KHKQY", "CB7KF-BWN84-R7R2Y-793K2-8XDDG"}, /* 2016 */
};

bool edition_is_evaluation(const struct edition *e)
{
	size_t n = e->edition_id ? strlen(e->edition_id) : 0;
	return n > 4 && !strcasecmp(e->edition_id + n - 4, "Eval");
}

const char *edition_generic_key(const struct edition *e)
{
	if (!e->edition_id || edition_is_evaluation(e))
		return NULL;
	if (is_server(e)) {
		bool standard = !strcasecmp(e->edition_id, "ServerStandard");
		if (!standard && strcasecmp(e->edition_id, "ServerDatacenter"))
			return NULL;
		for (size_t i = 0; i < ELEMENTSOF(server_keys); i++)
			if (e->build == server_keys[i].build)
				return standard ? server_keys[i].standard : server_keys[i].datacenter;
		return NULL;
	}
	for (size_t i = 0; i < ELEMENTSOF(client_keys); i++)
		if (!strcasecmp(client_keys[i].edition_id, e->edition_id))
			return client_keys[i].key;
	return NULL;
}
