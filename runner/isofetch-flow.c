/* Where an ISO's download starts: the versions osrun knows and, for each
 * kind, the requests the public clients make (docs/windows.md, "Fetching
 * an ISO", cites them). Everything read from the network is bounded and
 * checked before use. */
#define _GNU_SOURCE
#include <ctype.h>
#include <json-c/json.h>
#include <string.h>

#include "isofetch.h"

#define PAGE_MAX (2u << 20)
#define ANSWER_MAX (100u << 10)
#define LINKS_MAX 32

/* The connector's fixed values (pbatard/Fido Fido.ps1, dockur/windows
 * src/mido.sh): the profile, the vlscppe org id, the ov-df instance. */
#define MS_PROFILE "606624d44113"
#define MS_ORG_ID "y6jn8c31"
#define MS_OV_INSTANCE "560dc9f3-1aa5-4a2f-b63c-9e18f8d0e175"
#define MS_CONNECTOR "https://www.microsoft.com/software-download-connector/api/"
#define MS_REFUSED "Sentinel marked this request as rejected"
#define MS_UNABLE "We are unable to complete your request at this time"
#define MS_FWLINK "https://go.microsoft.com/fwlink"

static const struct isofetch_version versions[] = {
	{"11", "Windows 11 (Home, Pro, Education)", ISOFETCH_CONSUMER, "3321",
	 "https://www.microsoft.com/en-us/software-download/windows11", 0},
	{"10", "Windows 10 22H2 (Home, Pro, Education)", ISOFETCH_CONSUMER, "2618",
	 "https://www.microsoft.com/en-us/software-download/windows10ISO", 0},
	{"server2025", "Windows Server 2025 (evaluation)", ISOFETCH_EVAL, NULL,
	 "https://www.microsoft.com/en-us/evalcenter/download-windows-server-2025", 0},
	{"server2022", "Windows Server 2022 (evaluation)", ISOFETCH_EVAL, NULL,
	 "https://www.microsoft.com/en-us/evalcenter/download-windows-server-2022", 0},
	{"server2019", "Windows Server 2019 (evaluation)", ISOFETCH_EVAL, NULL,
	 "https://www.microsoft.com/en-us/evalcenter/download-windows-server-2019", 0},
	{"enterprise11", "Windows 11 Enterprise (evaluation)", ISOFETCH_EVAL, NULL,
	 "https://www.microsoft.com/en-us/evalcenter/download-windows-11-enterprise", 0},
	{"ltsc2024", "Windows 11 Enterprise LTSC 2024 (evaluation)", ISOFETCH_EVAL, NULL,
	 "https://www.microsoft.com/en-us/evalcenter/download-windows-11-enterprise", 1},
	{ISOFETCH_VIRTIO, "virtio-win drivers and guest agent (Fedora, stable)", ISOFETCH_DIRECT, NULL,
	 "https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/stable-virtio/virtio-win.iso", 0},
};

/* SHA-256 of Microsoft's files by name, as dockur/windows src/define.sh
 * (getMido, commit efe47da) lists them; a name carries its build, so a
 * newer file is not judged by an older hash. */
static const struct {
	const char *file, *sha256;
} known[] = {
	{"26200.6584.250915-1905.25h2_ge_release_svc_refresh_CLIENT_CONSUMER_x64FRE_en-us.iso",
	 "d141f6030fed50f75e2b03e1eb2e53646c4b21e5386047cb860af5223f102a32"},
	{"26200.6584.250915-1905.25h2_ge_release_svc_refresh_CLIENTENTERPRISEEVAL_OEMRET_x64FRE_en-us.iso",
	 "a61adeab895ef5a4db436e0a7011c92a2ff17bb0357f58b13bbc4062e535e7b9"},
	{"26100.1742.240906-0331.ge_release_svc_refresh_CLIENT_LTSC_EVAL_x64FRE_en-us.iso",
	 "67cec5865eaa037a72ddc633a717a10a2bed50778862267223ddb9c60ef5da68"},
	{"26100.32230.260111-0550.lt_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso",
	 "7b052573ba7894c9924e3e87ba732ccd354d18cb75a883efa9b900ea125bfd51"},
	{"17763.737.190906-2324.rs5_release_svc_refresh_SERVER_EVAL_x64FRE_en-us_1.iso",
	 "549bca46c055157291be6c22a3aaaed8330e78ef4382c99ee82c896426a1cee1"},
};

const struct isofetch_version *isofetch_versions(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(versions);
	return versions;
}

const struct isofetch_version *isofetch_version_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(versions); i++)
		if (!strcasecmp(versions[i].name, name))
			return &versions[i];
	return NULL;
}

const char *isofetch_known_sha256(const char *url)
{
	size_t end = strcspn(url, "?#");
	const char *slash = memrchr(url, '/', end);
	const char *name = slash ? slash + 1 : url;
	size_t n = (size_t)(url + end - name);
	for (size_t i = 0; i < ELEMENTSOF(known); i++)
		if (strlen(known[i].file) == n && !strncasecmp(known[i].file, name, n))
			return known[i].sha256;
	return NULL;
}

char *isofetch_rebase(const char *mirror, const char *url)
{
	if (!mirror)
		return strdup(url);
	const char *host = strstr(url, "://");
	const char *path = host ? host + 3 + strcspn(host + 3, "/?#") : url;
	size_t m = strlen(mirror);
	while (m > 0 && mirror[m - 1] == '/')
		m--;
	char *s = NULL;
	return asprintf(&s, "%.*s%s", (int)m, mirror, path) < 0 ? NULL : s;
}

int isofetch_refused(struct error *e, const char *why)
{
	return error_set(e, -EACCES,
			 "Microsoft refused the automated download (%s): download the ISO in a browser and give it "
			 "with 'osrun image build --iso FILE', or name a server that has it with --mirror URL "
			 "(OSRUN_ISO_MIRROR)",
			 why);
}

static bool mirror_http(const struct isofetch_plan *p) { return p->mirror && !strncmp(p->mirror, "http://", 7); }

/* GET through the mirror; a 403/429 is Microsoft's refusal. */
static int get(const struct isofetch_plan *p, const char *url, const char *referer, size_t max, char **ret,
	       struct error *e)
{
	_cleanup_free_ char *u = isofetch_rebase(p->mirror, url), *body = NULL;
	if (!u)
		return error_errno(e, -ENOMEM, "url");
	struct http_opts o = {.allow_http = mirror_http(p), .referer = referer};
	int r = http_get(&o, u, max, &body, e);
	if (r == -EACCES) {
		char why[128];
		snprintf(why, sizeof why, "%.120s", e->msg);
		return isofetch_refused(e, why);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(body);
	return 0;
}

/* The characters of s from its start that are in set, at most max; 0 when
 * none or too many. */
static size_t span_of(const char *s, const char *set, size_t max)
{
	size_t n = strspn(s, set);
	return n > max ? 0 : n;
}

#define HEX "0123456789abcdefABCDEF"
#define ALNUM "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

static int session_new(char ret[static 37], struct error *e)
{
	_cleanup_free_ char *s = NULL;
	int r = read_full_file("/proc/sys/kernel/random/uuid", &s, NULL);
	if (r < 0)
		return error_errno(e, r, "a session id");
	if (span_of(s, HEX "-", 36) != 36)
		return error_set(e, -EPROTO, "a session id: unexpected /proc/sys/kernel/random/uuid");
	memcpy(ret, s, 36);
	ret[36] = 0;
	return 0;
}

/* vlscppe's tag and ov-df's challenge let the session through the
 * connector's abuse check (Fido.ps1 Get-Windows-Languages; mido.sh). */
static int session_register(const struct isofetch_plan *p, const char *sid, struct error *e)
{
	_cleanup_free_ char *url = NULL, *tags = NULL, *mdt = NULL, *reply = NULL, *ov = NULL;
	if (asprintf(&url, "https://vlscppe.microsoft.com/tags?org_id=" MS_ORG_ID "&session_id=%s", sid) < 0 ||
	    asprintf(&ov, "https://ov-df.microsoft.com/mdt.js?instanceId=" MS_OV_INSTANCE "&PageId=si&session_id=%s",
		     sid) < 0)
		return error_errno(e, -ENOMEM, "url");
	int r;
	if ((r = get(p, url, NULL, ANSWER_MAX, &tags, e)) < 0 || (r = get(p, ov, NULL, 1u << 20, &mdt, e)) < 0)
		return r;
	const char *w = strstr(mdt, "?w="), *t = strstr(mdt, "rticks=\"");
	if (!w)
		w = strstr(mdt, "&w=");
	size_t wn = w ? span_of(w + 3, HEX, 128) : 0;
	if (t && t[8] == '+')
		t++;
	size_t tn = t ? span_of(t + 8, "0123456789", 20) : 0;
	if (!wn || !tn)
		return error_set(e, -EPROTO, "ov-df.microsoft.com: no token in its answer (the flow may have changed)");
	free(url);
	url = NULL;
	if (asprintf(&url,
		     "https://ov-df.microsoft.com/?session_id=%s&CustomerId=" MS_OV_INSTANCE
		     "&PageId=si&w=%.*s&mdt=%llu&rticks=%.*s",
		     sid, (int)wn, w + 3, (unsigned long long)(realtime_usec() / USEC_PER_MSEC), (int)tn, t + 8) < 0)
		return error_errno(e, -ENOMEM, "url");
	return get(p, url, NULL, ANSWER_MAX, &reply, e);
}

static void json_putp(json_object **o) { json_object_put(*o); }

/* The connector's JSON: {"Errors": [{"Type": 9, "Value": ...}]} is the
 * refusal (Fido's 715-123130), and so are the sentences mido.sh looks for;
 * other errors are passed on. */
static int connector_parse(const char *what, const char *text, json_object **ret, struct error *e)
{
	if (strstr(text, MS_REFUSED) || strstr(text, MS_UNABLE))
		return isofetch_refused(e, strstr(text, MS_REFUSED) ? MS_REFUSED : MS_UNABLE);
	json_object *o = json_tokener_parse(text), *errs, *err0, *v;
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return error_set(e, -EPROTO, "%s: not a JSON object", what);
	}
	if (json_object_object_get_ex(o, "Errors", &errs) && json_object_is_type(errs, json_type_array) &&
	    (err0 = json_object_array_get_idx(errs, 0))) {
		int type = json_object_object_get_ex(err0, "Type", &v) ? json_object_get_int(v) : 0;
		const char *val = json_object_object_get_ex(err0, "Value", &v) ? json_object_get_string(v) : "";
		char why[200];
		snprintf(why, sizeof why, "%s error type %d: %.120s", what, type, val ? val : "");
		json_object_put(o);
		return type == 9 ? isofetch_refused(e, why) : error_set(e, -EPROTO, "%s", why);
	}
	*ret = o;
	return 0;
}

/* The first element of o[key] whose match_key has match_value, and its
 * string field want. */
static const char *json_pick(json_object *o, const char *key, const char *match_key, const char *match_str,
			     int match_int, const char *want)
{
	json_object *a, *v;
	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *el = json_object_array_get_idx(a, i);
		if (!json_object_object_get_ex(el, match_key, &v))
			continue;
		bool hit = match_str ? json_object_is_type(v, json_type_string) &&
					       !strcmp(json_object_get_string(v), match_str)
				     : json_object_is_type(v, json_type_int) && json_object_get_int(v) == match_int;
		if (hit && json_object_object_get_ex(el, want, &v) && json_object_is_type(v, json_type_string))
			return json_object_get_string(v);
	}
	return NULL;
}

static int locate_consumer(const struct isofetch_plan *p, char **ret, struct error *e)
{
	char sid[37];
	int r;
	if ((r = session_new(sid, e)) < 0 || (r = session_register(p, sid, e)) < 0)
		return r;
	_cleanup_free_ char *url = NULL, *text = NULL;
	_cleanup_(json_putp) json_object *skus = NULL, *links = NULL;
	if (asprintf(&url,
		     MS_CONNECTOR
		     "getskuinformationbyproductedition?profile=" MS_PROFILE
		     "&ProductEditionId=%s&SKU=undefined&friendlyFileName=undefined&Locale=en-US&sessionID=%s",
		     p->version->product_id, sid) < 0)
		return error_errno(e, -ENOMEM, "url");
	if ((r = get(p, url, p->version->page, ANSWER_MAX, &text, e)) < 0 ||
	    (r = connector_parse("getskuinformationbyproductedition", text, &skus, e)) < 0)
		return r;
	const char *sku = json_pick(skus, "Skus", "Language", p->language, 0, "Id");
	/* It goes into the next URL: letters, digits and '-' only (as Mido
	 * filters it), and short. */
	if (!sku)
		return error_set(e, -ENOENT, "Windows %s: Microsoft offers no download in the language '%s'",
				 p->version->name, p->language);
	if (!span_of(sku, ALNUM "-", 40) || sku[strspn(sku, ALNUM "-")])
		return error_set(e, -EPROTO,
				 "getskuinformationbyproductedition: SKU id '%.40s' is not 1-40 letters, digits, '-'",
				 sku);
	free(url);
	free(text);
	url = text = NULL;
	if (asprintf(&url,
		     MS_CONNECTOR
		     "GetProductDownloadLinksBySku?profile=" MS_PROFILE
		     "&ProductEditionId=undefined&SKU=%s&friendlyFileName=undefined&Locale=en-US&sessionID=%s",
		     sku, sid) < 0)
		return error_errno(e, -ENOMEM, "url");
	if ((r = get(p, url, p->version->page, ANSWER_MAX, &text, e)) < 0 ||
	    (r = connector_parse("GetProductDownloadLinksBySku", text, &links, e)) < 0)
		return r;
	/* DownloadType 1: x64 (Fido's Get-Arch-From-Type). */
	const char *uri = json_pick(links, "ProductDownloadOptions", "DownloadType", NULL, 1, "Uri");
	if (!uri || !http_url_valid(uri, mirror_http(p)))
		return error_set(e, -EPROTO, "GetProductDownloadLinksBySku: no x64 https link in its answer");
	return (*ret = strdup(uri)) ? 0 : error_errno(e, -ENOMEM, "url");
}

/* The page's fwlinks, in order, once each, with "&amp;" decoded; those
 * naming another culture left out (mido.sh downloadWindowsEval). */
static int eval_links(char *page, const char *culture, char *links[static LINKS_MAX], size_t *ret_n)
{
	size_t n = 0, w = 0;
	for (char *r = page; *r; w++) {
		size_t k = !strncmp(r, "&amp;", 5) ? 5 : !strncmp(r, "&#38;", 5) ? 5 : 1;
		page[w] = *r;
		r += k;
	}
	page[w] = 0;
	for (char *s = strstr(page, MS_FWLINK); s && n < LINKS_MAX; s = strstr(s + 1, MS_FWLINK)) {
		size_t len = strcspn(s, "\"'<> \t\r\n");
		char *c = strcasestr(s, "culture=");
		if (len > HTTP_URL_MAX || (c && c < s + len && strncasecmp(c + 8, culture, strlen(culture))))
			continue;
		char *l = strndup(s, len);
		if (!l)
			return -ENOMEM;
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			dup = !strcmp(links[i], l);
		if (dup)
			free(l);
		else
			links[n++] = l;
	}
	*ret_n = n;
	return 0;
}

static int locate_eval(const struct isofetch_plan *p, char **ret, struct error *e)
{
	/* The pages' links name en-US only, or no culture at all. */
	if (strcasecmp(p->language, ISOFETCH_DEFAULT_LANGUAGE))
		return error_set(e, -ENOENT,
				 "%s: osrun fetches evaluation media in English only (the Evaluation Center names "
				 "other languages' links only in its redirects)",
				 p->version->name);
	_cleanup_free_ char *page = NULL;
	int r = get(p, p->version->page, NULL, PAGE_MAX, &page, e);
	if (r < 0)
		return r;
	char *links[LINKS_MAX];
	size_t n = 0;
	if (eval_links(page, "en-us", links, &n) < 0)
		r = error_errno(e, -ENOMEM, "links");
	else if (p->version->link_index >= n)
		r = error_set(e, -EPROTO, "%s: the Evaluation Center page has %zu download links, expected %u or more",
			      p->version->name, n, p->version->link_index + 1);
	else if (!(*ret = strdup(links[p->version->link_index])))
		r = error_errno(e, -ENOMEM, "url");
	for (size_t i = 0; i < n; i++)
		free(links[i]);
	return r;
}

int isofetch_locate(const struct isofetch_plan *p, char **ret_url, struct error *e)
{
	_cleanup_free_ char *url = NULL;
	int r = 0;
	switch (p->version->kind) {
	case ISOFETCH_CONSUMER:
		r = locate_consumer(p, &url, e);
		break;
	case ISOFETCH_EVAL:
		r = locate_eval(p, &url, e);
		break;
	case ISOFETCH_DIRECT:
		url = strdup(p->version->page);
		break;
	}
	if (r < 0)
		return r;
	char *u = url ? isofetch_rebase(p->mirror, url) : NULL;
	if (!u)
		return error_errno(e, -ENOMEM, "url");
	*ret_url = u;
	return 0;
}
