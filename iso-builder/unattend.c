#define _GNU_SOURCE
#include "unattend.h"

#include <libxml/xmlwriter.h>
#include <string.h>

#define NS_UNATTEND "urn:schemas-microsoft-com:unattend"
#define NS_WCM "http://schemas.microsoft.com/WMIConfig/2002/State"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"

/* Not the user's name: a bare "osrun" in an ACL (icacls x /grant
 * osrun:F) could resolve to the machine. */
#define COMPUTER_NAME "osrun-vm"

struct w {
	xmlTextWriterPtr x;
	int err;
};

static void start(struct w *w, const char *name)
{
	if (xmlTextWriterStartElement(w->x, BAD_CAST name) < 0)
		w->err = -EIO;
}

static void end(struct w *w)
{
	if (xmlTextWriterEndElement(w->x) < 0)
		w->err = -EIO;
}

static void attr(struct w *w, const char *name, const char *value)
{
	if (xmlTextWriterWriteAttribute(w->x, BAD_CAST name, BAD_CAST value) < 0)
		w->err = -EIO;
}

static void elem(struct w *w, const char *name, const char *text)
{
	if (xmlTextWriterWriteElement(w->x, BAD_CAST name, BAD_CAST text) < 0)
		w->err = -EIO;
}

static void elemf(struct w *w, const char *name, const char *fmt, ...) _printf_(3, 4);
static void elemf(struct w *w, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		w->err = -ENOMEM;
	else
		elem(w, name, s);
	va_end(ap);
	free(s);
}

/* A list item: wcm:action="add". */
static void add_item(struct w *w, const char *name)
{
	start(w, name);
	attr(w, "wcm:action", "add");
}

static void component(struct w *w, const char *name)
{
	start(w, "component");
	attr(w, "name", name);
	attr(w, "processorArchitecture", "amd64");
	attr(w, "publicKeyToken", "31bf3856ad364e35");
	attr(w, "language", "neutral");
	attr(w, "versionScope", "nonSxS");
	attr(w, "xmlns:wcm", NS_WCM);
	attr(w, "xmlns:xsi", NS_XSI);
}

static void locales(struct w *w, const struct unattend *u, bool winpe)
{
	component(w, winpe ? "Microsoft-Windows-International-Core-WinPE" : "Microsoft-Windows-International-Core");
	if (winpe) {
		start(w, "SetupUILanguage");
		elem(w, "UILanguage", u->locale);
		end(w);
	}
	elem(w, "InputLocale", u->locale);
	elem(w, "SystemLocale", u->locale);
	elem(w, "UILanguage", u->locale);
	elem(w, "UserLocale", u->locale);
	end(w);
}

/* Setup's own hardware checks (Windows 11) would stop an install on a VM
 * without TPM or Secure Boot, or with little RAM. The three dockur/windows
 * sets (efe47da, assets/win11x64.xml); BypassCPUCheck and
 * BypassStorageCheck are read by no anchor's answer file. */
static const char *const labconfig[] = {"BypassTPMCheck", "BypassSecureBootCheck", "BypassRAMCheck"};

static void run_sync(struct w *w, const char *item, unsigned order, const char *path_elem, const char *cmd)
{
	add_item(w, item);
	elemf(w, "Order", "%u", order);
	elem(w, path_elem, cmd);
	end(w);
}

static void partition(struct w *w, unsigned order, const char *type, unsigned size_mib)
{
	add_item(w, "CreatePartition");
	elemf(w, "Order", "%u", order);
	elem(w, "Type", type);
	if (size_mib)
		elemf(w, "Size", "%u", size_mib);
	else
		elem(w, "Extend", "true");
	end(w);
}

static void modify(struct w *w, unsigned order, const char *format, const char *label, const char *letter, bool active)
{
	add_item(w, "ModifyPartition");
	elemf(w, "Order", "%u", order);
	elemf(w, "PartitionID", "%u", order);
	if (active)
		elem(w, "Active", "true");
	if (format)
		elem(w, "Format", format);
	if (label)
		elem(w, "Label", label);
	if (letter)
		elem(w, "Letter", letter);
	end(w);
}

/* One disk, wiped: MBR with one partition, or GPT with EFI, MSR and Windows. */
static void disk_configuration(struct w *w, const struct unattend *u)
{
	start(w, "DiskConfiguration");
	add_item(w, "Disk");
	elem(w, "DiskID", "0");
	elem(w, "WillWipeDisk", "true");
	start(w, "CreatePartitions");
	if (u->uefi) {
		partition(w, 1, "EFI", 100);
		partition(w, 2, "MSR", 16);
		partition(w, 3, "Primary", 0);
	} else
		partition(w, 1, "Primary", 0);
	end(w);
	start(w, "ModifyPartitions");
	if (u->uefi) {
		modify(w, 1, "FAT32", "System", NULL, false);
		modify(w, 2, NULL, NULL, NULL, false);
		modify(w, 3, "NTFS", "Windows", "C", false);
	} else
		modify(w, 1, "NTFS", "Windows", "C", true);
	end(w);
	end(w);
	end(w);
}

static void windows_pe(struct w *w, const struct unattend *u)
{
	start(w, "settings");
	attr(w, "pass", "windowsPE");
	locales(w, u, true);

	/* No DriverPaths: Setup loads the drivers in $WinPEDriver$ at the
	 * root of any drive by itself (Microsoft Learn, "Add device drivers
	 * to Windows during Windows Setup"), as dockur/windows relies on. */
	component(w, "Microsoft-Windows-Setup");
	start(w, "RunSynchronous");
	for (size_t i = 0; i < ELEMENTSOF(labconfig); i++) {
		_cleanup_free_ char *cmd = NULL;
		if (asprintf(&cmd, "reg.exe add \"HKLM\\SYSTEM\\Setup\\LabConfig\" /v %s /t REG_DWORD /d 1 /f",
			     labconfig[i]) < 0)
			w->err = -ENOMEM;
		else
			run_sync(w, "RunSynchronousCommand", (unsigned)i + 1, "Path", cmd);
	}
	end(w);

	/* Setup would fetch updates and drivers from Windows Update first:
	 * slow, different from one build to the next, and with --network none
	 * only a wait for timeouts (dockur/windows' answer files do the same). */
	start(w, "DynamicUpdate");
	elem(w, "Enable", "false");
	elem(w, "WillShowUI", "Never");
	end(w);

	disk_configuration(w, u);

	start(w, "ImageInstall");
	start(w, "OSImage");
	start(w, "InstallFrom");
	add_item(w, "MetaData");
	elem(w, "Key", "/IMAGE/INDEX");
	elemf(w, "Value", "%u", u->image_index);
	end(w);
	end(w);
	start(w, "InstallTo");
	elem(w, "DiskID", "0");
	elem(w, "PartitionID", u->uefi ? "3" : "1");
	end(w);
	elem(w, "WillShowUI", "OnError");
	end(w);
	end(w);

	start(w, "UserData");
	elem(w, "AcceptEula", "true");
	elem(w, "FullName", u->user);
	elem(w, "Organization", "osrun");
	if (u->product_key) {
		start(w, "ProductKey");
		elem(w, "Key", u->product_key);
		elem(w, "WillShowUI", "OnError");
		end(w);
	}
	end(w);
	end(w); /* Microsoft-Windows-Setup */
	end(w); /* settings */
}

static void specialize(struct w *w)
{
	start(w, "settings");
	attr(w, "pass", "specialize");
	component(w, "Microsoft-Windows-Shell-Setup");
	elem(w, "ComputerName", COMPUTER_NAME);
	elem(w, "TimeZone", "UTC");
	end(w);
	component(w, "Microsoft-Windows-Deployment");
	start(w, "RunSynchronous");
	/* A local account without a network; no BitLocker on a disk that
	 * is copied for every run. */
	run_sync(w, "RunSynchronousCommand", 1, "Path",
		 "reg.exe add \"HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\OOBE\" /v BypassNRO /t REG_DWORD "
		 "/d 1 /f");
	run_sync(w, "RunSynchronousCommand", 2, "Path",
		 "reg.exe add \"HKLM\\SYSTEM\\CurrentControlSet\\Control\\BitLocker\" /v PreventDeviceEncryption /t "
		 "REG_DWORD /d 1 /f");
	end(w);
	end(w);
	end(w);
}

static void password(struct w *w, const char *value)
{
	start(w, "Password");
	elem(w, "Value", value);
	elem(w, "PlainText", "true");
	end(w);
}

static void oobe_system(struct w *w, const struct unattend *u)
{
	start(w, "settings");
	attr(w, "pass", "oobeSystem");
	locales(w, u, false);
	component(w, "Microsoft-Windows-Shell-Setup");
	start(w, "OOBE");
	elem(w, "HideEULAPage", "true");
	elem(w, "HideOEMRegistrationScreen", "true");
	elem(w, "HideOnlineAccountScreens", "true");
	elem(w, "HideWirelessSetupInOOBE", "true");
	elem(w, "HideLocalAccountScreen", "true");
	elem(w, "NetworkLocation", "Work");
	elem(w, "ProtectYourPC", "3");
	elem(w, "SkipMachineOOBE", "true");
	elem(w, "SkipUserOOBE", "true");
	end(w);
	start(w, "UserAccounts");
	/* Server's OOBE stops to ask for it otherwise (Microsoft's
	 * Microsoft-Windows-Shell-Setup | UserAccounts | AdministratorPassword;
	 * rgl/windows-vagrant's Server answer files set it too). */
	start(w, "AdministratorPassword");
	elem(w, "Value", u->password);
	elem(w, "PlainText", "true");
	end(w);
	start(w, "LocalAccounts");
	add_item(w, "LocalAccount");
	password(w, u->password);
	elem(w, "Name", u->user);
	elem(w, "DisplayName", u->user);
	elem(w, "Group", "Administrators");
	end(w);
	end(w);
	end(w);
	start(w, "AutoLogon");
	password(w, u->password);
	elem(w, "Enabled", "true");
	elem(w, "LogonCount", "9999999");
	elem(w, "Username", u->user);
	end(w);
	elem(w, "TimeZone", "UTC");
	start(w, "FirstLogonCommands");
	add_item(w, "SynchronousCommand");
	elem(w, "Order", "1");
	/* The setup medium is found by its marker on whatever letter it got. */
	_cleanup_free_ char *cmd = NULL;
	if (asprintf(&cmd,
		     "cmd.exe /c for %%d in (%s) do @if exist %%d:\\%s "
		     "powershell.exe -NoProfile -ExecutionPolicy Bypass -File %%d:\\%s",
		     "D E F G H I J K L M N O P Q R S T U V W X Y Z", u->marker, u->first_logon) < 0)
		w->err = -ENOMEM;
	else
		elem(w, "CommandLine", cmd);
	elem(w, "Description", "osrun guest-init");
	elem(w, "RequiresUserInput", "false");
	end(w);
	end(w);
	end(w);
	end(w);
}

int unattend_render(const struct unattend *u, char **ret, size_t *ret_len)
{
	xmlBufferPtr buf = xmlBufferCreate();
	if (!buf)
		return -ENOMEM;
	struct w w = {.x = xmlNewTextWriterMemory(buf, 0)};
	if (!w.x) {
		xmlBufferFree(buf);
		return -ENOMEM;
	}
	xmlTextWriterSetIndent(w.x, 1);
	xmlTextWriterSetIndentString(w.x, BAD_CAST "  ");
	if (xmlTextWriterStartDocument(w.x, "1.0", "utf-8", NULL) < 0)
		w.err = -EIO;
	start(&w, "unattend");
	attr(&w, "xmlns", NS_UNATTEND);
	windows_pe(&w, u);
	specialize(&w);
	oobe_system(&w, u);
	end(&w);
	if (xmlTextWriterEndDocument(w.x) < 0)
		w.err = -EIO;
	xmlFreeTextWriter(w.x); /* flushes into buf */
	int r = w.err;
	if (r == 0) {
		*ret = strndup((const char *)xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
		*ret_len = (size_t)xmlBufferLength(buf);
		r = *ret ? 0 : -ENOMEM;
	}
	xmlBufferFree(buf);
	return r;
}
