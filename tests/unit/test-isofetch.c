/* image fetch's pure parts: the mirror's rewrite of every URL, the hashes
 * known by file name, which URLs may be requested at all, the versions. The
 * flows themselves run against a stand-in in tests/windows/fetch.sh. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <string.h>

#include "../../runner/isofetch.h"
#include "tap.h"

static void test_rebase(void)
{
	char *s = isofetch_rebase("https://mirror.example:8443/ms/", "https://www.microsoft.com/a/b?x=1&y=2");
	is_str(s, "https://mirror.example:8443/ms/a/b?x=1&y=2",
	       "the mirror's scheme, host and path, the URL's path and query");
	free(s);
	s = isofetch_rebase("http://10.0.0.1", "https://vlscppe.microsoft.com/tags?org_id=y6jn8c31");
	is_str(s, "http://10.0.0.1/tags?org_id=y6jn8c31", "an http mirror (the user's choice)");
	free(s);
	s = isofetch_rebase("https://m", "https://ov-df.microsoft.com/?session_id=1");
	is_str(s, "https://m/?session_id=1", "a path of / alone");
	free(s);
	s = isofetch_rebase(NULL, "https://fedorapeople.org/x.iso");
	is_str(s, "https://fedorapeople.org/x.iso", "no mirror: the URL as it is");
	free(s);
}

static void test_known(void)
{
	const char *srv = "https://software-static.download.prss.microsoft.com/dbazure/x/"
			  "26100.32230.260111-0550.lt_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso?t=abc";
	is_str(isofetch_known_sha256(srv), "7b052573ba7894c9924e3e87ba732ccd354d18cb75a883efa9b900ea125bfd51",
	       "a published file, named with its build, has its hash (query left off)");
	ok(!isofetch_known_sha256(
		   "https://h/dl/26100.99999.260111-0550.lt_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso"),
	   "another build: no hash");
	ok(!isofetch_known_sha256("https://h/dl/Win11_25H2_English_x64.iso"), "the consumer connector's names: none");
	ok(!isofetch_known_sha256("https://h/"), "no file name: none");
}

static void test_urls(void)
{
	ok(http_url_valid("https://a/b", false), "https");
	ok(!http_url_valid("http://a/b", false), "http, unless allowed");
	ok(http_url_valid("http://a/b", true), "http when allowed");
	ok(!http_url_valid("file:///etc/passwd", true), "file: never");
	ok(!http_url_valid("https://a/b c", false), "a space");
	ok(!http_url_valid("https://a/b\r\nX: y", false), "a header injected");
	char *big = malloc(HTTP_URL_MAX + 16);
	memset(big, 'a', HTTP_URL_MAX + 15);
	memcpy(big, "https://", 8);
	big[HTTP_URL_MAX + 15] = 0;
	ok(!http_url_valid(big, false), "longer than %d", HTTP_URL_MAX);
	free(big);
}

static void test_versions(void)
{
	size_t n;
	const struct isofetch_version *v = isofetch_versions(&n);
	ok(n > 2 && !strcmp(v[n - 1].name, ISOFETCH_VIRTIO), "the table ends with virtio-win");
	ok(isofetch_version_find("Server2025") && isofetch_version_find("Server2025")->kind == ISOFETCH_EVAL,
	   "found in any case");
	ok(isofetch_version_find(ISOFETCH_DEFAULT_VERSION)->kind == ISOFETCH_CONSUMER, "the default is consumer media");
	ok(!isofetch_version_find("vista"), "unknown: none");
	for (size_t i = 0; i < n; i++)
		ok(http_url_valid(v[i].page, false), "%s: its page or file is an https URL", v[i].name);
}

int main(void)
{
	test_rebase();
	test_known();
	test_urls();
	test_versions();
	return tap_done();
}
