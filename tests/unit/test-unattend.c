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
		.drivers_dir = "$WinPEDriver$",
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
	is_int(edition_pick(&l, NULL, &e), -ENOTUNIQ, "no Pro and several editions: the default cannot choose");
	is_int(edition_pick(&l, "2", &e), 0, "by index");
	ok(e == &ed[1], "index 2 is Education");
	is_int(edition_pick(&l, "servERstandard", &e), 0, "by edition id, any case");
	is_str(edition_virtio_dir(&ed[0]), "2k22", "Server 2022 takes the 2k22 drivers");
	is_str(edition_virtio_dir(&ed[1]), "w10", "Windows 10 takes w10");
	ok(edition_generic_key(&ed[0]) == NULL, "servers get no generic key");
	is_str(edition_generic_key(&ed[1]), "YNMGQ-8RYV3-4PGQ3-C8XTP-7CFBY", "Education's generic key");
	is_int(edition_pick(&l, "Home", &e), -ENOENT, "an edition the image lacks");
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
