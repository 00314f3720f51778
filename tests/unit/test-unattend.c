#define _GNU_SOURCE
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "../../iso-builder/unattend.h"
#include "../../iso-builder/wim.h"
#include "../../iso-builder/medium.h"
#include "tap.h"

/* The text of the first node matching expr (local names only), or "". */
static char *first(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	char *s = NULL;
	if (o && o->nodesetval && o->nodesetval->nodeNr > 0)
		s = (char *)xmlNodeGetContent(o->nodesetval->nodeTab[0]);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return s ? s : (char *)xmlStrdup(BAD_CAST "");
}

static void check(xmlDocPtr doc, const char *expr, const char *want, const char *what)
{
	char *got = first(doc, expr);
	is_str(got, want, "%s", what);
	xmlFree(got);
}

int main(void)
{
	struct unattend u = {
		.image_index = 4,
		.uefi = true,
		.user = "osrun",
		.password = "p<a>&\"ss'",
		.locale = "en-US",
		.marker = "osrun\\osrun.tag",
		.first_logon = "osrun\\firstlogon.ps1",
	};
	char *xml = NULL;
	size_t len = 0;
	is_int(unattend_render(&u, &xml, &len), 0, "rendered");
	xmlDocPtr doc = xml ? xmlReadMemory(xml, (int)len, "autounattend.xml", NULL, XML_PARSE_NONET) : NULL;
	ok(doc != NULL, "well-formed");
	if (doc) {
		check(doc, "//*[local-name()='LocalAccount']/*[local-name()='Password']/*[local-name()='Value']",
		      "p<a>&\"ss'", "a password with markup characters survives escaping");
		check(doc,
		      "//*[local-name()='UserAccounts']/*[local-name()='AdministratorPassword']/"
		      "*[local-name()='Value']",
		      "p<a>&\"ss'", "the Administrator's password is set (Server's OOBE asks otherwise)");
		check(doc, "//*[local-name()='CreatePartition'][1]/*[local-name()='Type']", "EFI", "UEFI: ESP first");
		check(doc, "//*[local-name()='CreatePartition'][2]/*[local-name()='Type']", "MSR", "then MSR");
		check(doc, "//*[local-name()='CreatePartition'][3]/*[local-name()='Extend']", "true",
		      "then Windows, to the end of the disk");
		check(doc, "//*[local-name()='ModifyPartition'][1]/*[local-name()='Format']", "FAT32",
		      "the ESP is FAT32");
		check(doc, "//*[local-name()='InstallTo']/*[local-name()='PartitionID']", "3",
		      "Windows on partition 3");
		char *n = first(doc, "//*[local-name()='ProductKey']");
		is_str(n, "", "no product key when none is given (volume or evaluation media)");
		xmlFree(n);
		xmlFreeDoc(doc);
	}
	free(xml);

	struct edition ed[] = {
		{.index = 1,
		 .name = "Windows Server 2022 Standard",
		 .edition_id = "ServerStandard",
		 .install_type = "Server Core",
		 .build = 20348},
		{.index = 2,
		 .name = "Windows 10 Education",
		 .edition_id = "Education",
		 .install_type = "Client",
		 .build = 19045},
	};
	struct edition_list l = {.v = ed, .n = 2};
	const struct edition *e = NULL;
	is_int(edition_pick(&l, "2", &e), 0, "by index");
	ok(e == &ed[1], "index 2 is Education");
	is_int(edition_pick(&l, "servERstandard", &e), 0, "by edition id, any case");
	is_str(edition_virtio_dir(&ed[0]), "2k22", "Server 2022 takes the 2k22 drivers");
	is_str(edition_virtio_dir(&ed[1]), "w10", "Windows 10 takes w10");
	is_str(edition_generic_key(&ed[0]), "VDYBN-27WPP-V4HQT-9VMD4-VMK7H", "Server 2022 Standard: its GVLK");
	is_str(edition_generic_key(&ed[1]), "YNMGQ-8RYV3-4PGQ3-C8XTP-7CFBY", "Education's generic key");
	is_int(edition_pick(&l, "Home", &e), -ENOENT, "an edition the image lacks");

	/* Server media: Core and Desktop Experience share an edition id. */
	struct edition srv[] = {
		{.index = 1,
		 .name = "Windows Server 2025 Standard",
		 .edition_id = "ServerStandard",
		 .install_type = "Server Core",
		 .build = 26100},
		{.index = 2,
		 .name = "Windows Server 2025 Standard (Desktop Experience)",
		 .edition_id = "ServerStandard",
		 .install_type = "Server",
		 .build = 26100},
		{.index = 3,
		 .name = "Windows Server 2025 Datacenter",
		 .edition_id = "ServerDatacenter",
		 .install_type = "Server Core",
		 .build = 26100},
		{.index = 4,
		 .name = "Windows Server 2025 Datacenter (Desktop Experience)",
		 .edition_id = "ServerDatacenter",
		 .install_type = "Server",
		 .build = 26100},
	};
	struct edition_list sl = {.v = srv, .n = 4};
	is_int(edition_pick(&sl, NULL, &e), 1, "Server media, no --edition: Standard, said to be a choice");
	ok(e == &srv[1], "the Desktop Experience (index 2), not Server Core");
	is_int(edition_pick(&sl, "ServerDatacenter", &e), 1, "ServerDatacenter: a choice");
	ok(e == &srv[3], "its Desktop Experience image");
	is_int(edition_pick(&sl, "3", &e), 0, "an index picks exactly");
	ok(e == &srv[2], "Server Core by index");
	is_int(edition_pick(&sl, "windows server 2025 datacenter", &e), 0, "an image name picks exactly");
	ok(e == &srv[2], "Server Core by name");
	is_str(edition_generic_key(&srv[3]), "D764K-2NDRG-47T6Q-P8T8W-YP6DF", "Server 2025 Datacenter's GVLK");
	struct edition cores[] = {srv[0], srv[2]};
	cores[1].edition_id = "ServerStandard";
	struct edition_list cl = {.v = cores, .n = 2};
	is_int(edition_pick(&cl, "ServerStandard", &e), -ENOTUNIQ, "two Core images, one id: no clear choice");

	struct edition kinds[] = {
		{.edition_id = "ProfessionalN", .install_type = "Client", .build = 26100},
		{.edition_id = "EnterpriseS", .install_type = "Client", .build = 26100},
		{.edition_id = "IoTEnterpriseS", .install_type = "Client", .build = 26100},
		{.edition_id = "ServerStandardEval", .install_type = "Server", .build = 26100},
		{.edition_id = "EnterpriseEval", .install_type = "Client", .build = 26100},
		{.edition_id = "CoreSingleLanguage", .install_type = "Client", .build = 26100},
		{.edition_id = "ServerStandard", .install_type = "Server", .build = 19041},
	};
	is_str(edition_generic_key(&kinds[0]), "MH37W-N47XK-V7XM9-C7227-GCQG9", "Pro N: its GVLK");
	is_str(edition_generic_key(&kinds[1]), "M7XTQ-FN8P6-TTKYV-9D4CC-J462D", "Enterprise LTSC: its GVLK");
	is_str(edition_generic_key(&kinds[2]), "KBN8V-HFGQ4-MGXVD-347P6-PDQGT", "IoT Enterprise LTSC: its GVLK");
	ok(!edition_generic_key(&kinds[3]) && edition_is_evaluation(&kinds[3]), "Server evaluation: no key");
	ok(!edition_generic_key(&kinds[4]) && edition_is_evaluation(&kinds[4]), "Enterprise evaluation: no key");
	ok(!edition_generic_key(&kinds[5]) && !edition_is_evaluation(&kinds[5]), "Home Single Language: none known");
	ok(!edition_generic_key(&kinds[6]), "a Server build without a published key: none");

	struct edition arm = {.arch = "12"}, x64 = {.arch = "9"}, none = {0};
	is_str(edition_arch_name(&arm), "arm64", "WINDOWS/ARCH 12 is arm64");
	is_str(edition_arch_name(&x64), "x64", "9 is x64");
	ok(edition_arch_name(&none) == NULL, "no ARCH: unknown, not refused");
	ok(edition_language_valid("en-US") && edition_language_valid("de-DE") && edition_language_valid("zh-Hant-TW") &&
		   edition_language_valid("sr-Latn-RS"),
	   "language tags");
	ok(!edition_language_valid("") && !edition_language_valid("en_US") && !edition_language_valid("-US") &&
		   !edition_language_valid("en-") && !edition_language_valid("en-US\"/><x") &&
		   !edition_language_valid("1a-US"),
	   "what is not a language tag");
	/* Generated passwords: every class, for any random bytes (before, about
	 * one build in twenty had no digit and failed Server's policy). */
	int weak = 0;
	unsigned seed = 1;
	for (int n = 0; n < 20000; n++) {
		unsigned char raw[MEDIUM_PASSWORD_LEN];
		for (size_t i = 0; i < sizeof raw; i++)
			raw[i] = (unsigned char)((seed = seed * 1103515245 + 12345) >> 16);
		char pw[MEDIUM_PASSWORD_LEN + 1];
		medium_password(raw, pw);
		bool lo = false, up = false, dig = false, sym = false;
		for (const char *c = pw; *c; c++) {
			lo |= *c >= 'a' && *c <= 'z';
			up |= *c >= 'A' && *c <= 'Z';
			dig |= *c >= '0' && *c <= '9';
			sym |= strchr("-_.+", *c) != NULL;
		}
		weak += !(lo && up && dig && sym) || strlen(pw) != MEDIUM_PASSWORD_LEN;
	}
	is_int(weak, 0, "20000 generated passwords: each has a lower, an upper, a digit and a symbol");
	return tap_done();
}
