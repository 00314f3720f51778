/* The self-test's table. Windows commands are cmd.exe's (the helper runs
 * `cmd /d /s /c LINE`; a line feed makes the command a batch file), Linux
 * commands busybox sh's. Every Windows command here is written from the
 * documentation of cmd.exe and the tools named, and has run under Wine
 * at most (docs/windows.md says which). */
#include "selftest-checks.h"

#include <string.h>

#include "selftest-runs.h"

#define END                                                                                                            \
	{                                                                                                              \
		.cmd = NULL                                                                                            \
	}

static const struct st_step exit_linux[] = {
	{.cmd = "exit 0", .expect = {.status = 0, .out = ""}},
	{.cmd = "exit 3", .expect = {.status = 3, .out = ""}},
	{.cmd = "exit 255", .expect = {.status = 255, .out = ""}},
	END,
};
static const struct st_step exit_windows[] = {
	{.cmd = "exit /b 0", .expect = {.status = 0, .out = ""}},
	{.cmd = "exit /b 3", .expect = {.status = 3, .out = ""}},
	{.cmd = "exit /b 255", .expect = {.status = 255, .out = ""}},
	{.cmd = "exit /b 3010", .expect = {.status = 255, .out = "", .why = "code 3010 (0x00000BC2)"}},
	END,
};

static const struct st_step crash_linux[] = {
	{.cmd = "kill -SEGV $$", .expect = {.status = 139, .why = "killed by signal 11 (SIGSEGV)"}},
	END,
};
/* cmd's exit takes a signed 32-bit code: the process ends with the
 * DWORD 0xC0000005, as one that crashed on an access violation does. */
static const struct st_step crash_windows[] = {
	{.cmd = "exit /b -1073741819",
	 .expect = {.status = 255, .out = "", .why = "code 3221225477 (0xC0000005, STATUS_ACCESS_VIOLATION)"}},
	END,
};

/* The child keeps the command's stdout open for 30 s after it ends. */
static const struct st_step background_linux[] = {
	{.cmd = "(sleep 30; echo late) & echo quick", .expect = {.status = 0, .out = "quick", .within = 20}},
	END,
};
static const struct st_step background_windows[] = {
	{.cmd = "start /b cmd /d /c \"ping -n 31 127.0.0.1 >nul & echo late\" & echo quick",
	 .expect = {.status = 0, .out = "quick", .within = 20}},
	END,
};

static const struct st_step lines_linux[] = {
	{.cmd = "echo one\nX=two\necho $X\nexit 4", .expect = {.status = 4, .out = "one\ntwo"}},
	END,
};
static const struct st_step lines_windows[] = {
	{.cmd = "echo one\nset X=two\necho %X%\nexit /b 4", .expect = {.status = 4, .out = "one\ntwo"}},
	END,
};

static const struct st_step utf8_linux[] = {
	{.cmd = "echo 'grüße € ✓'", .expect = {.status = 0, .out = "grüße € ✓"}},
	END,
};
static const struct st_step utf8_windows[] = {
	{.cmd = "echo grüße € ✓", .expect = {.status = 0, .out = "grüße € ✓"}},
	END,
};

static const struct st_step workdir_linux[] = {
	{.cmd = "echo ran",
	 .workdir = "/nonexistent/osrun-selftest",
	 .expect = {.error = "the guest could not run the command: working directory /nonexistent/osrun-selftest does "
			     "not exist"}},
	END,
};
static const struct st_step workdir_windows[] = {
	{.cmd = "echo ran",
	 .workdir = "C:\\osrun-selftest\\missing",
	 .expect = {.error = "the guest could not run the command: working directory C:\\osrun-selftest\\missing "
			     "does not exist"}},
	END,
};

static const char *const odd_env[] = {
	"STEST_A=x=y=z",
	"STEST_B=two  spaces",
	"STEST_C=\"double\" 'single' & | < > ^ %PATH% $HOME `id` ;",
	"STEST_D=grüße",
	NULL,
};
#define ODD_ENV_OUT                                                                                                    \
	"STEST_A=x=y=z\nSTEST_B=two  spaces\nSTEST_C=\"double\" 'single' & | < > ^ %PATH% $HOME `id` ;\nSTEST_D=grüße"
static const struct st_step env_linux[] = {
	{.cmd = "env | grep '^STEST_' | sort", .env = odd_env, .expect = {.status = 0, .out = ODD_ENV_OUT}},
	END,
};
/* `set NAME` prints NAME=VALUE as stored: no expansion of the value. */
static const struct st_step env_windows[] = {
	{.cmd = "set STEST_A& set STEST_B& set STEST_C& set STEST_D",
	 .env = odd_env,
	 .expect = {.status = 0, .out = ODD_ENV_OUT}},
	END,
};

#define STDIN_TEXT "one\ntwo\nthree four\n"
static const struct st_step stdin_linux[] = {
	{.cmd = "cat", .in = STDIN_TEXT, .expect = {.status = 0, .out = STDIN_TEXT}},
	END,
};
static const struct st_step stdin_windows[] = {
	{.cmd = "findstr \"^\"", .in = STDIN_TEXT, .expect = {.status = 0, .out = STDIN_TEXT}},
	END,
};

/* The answer file's computer name and auto-logon user (iso-builder/). */
static const struct st_step user_windows[] = {
	{.cmd = "whoami", .expect = {.status = 0, .out = "nt authority\\system", .fold_case = true}},
	{.cmd = "whoami", .as_user = true, .expect = {.status = 0, .out = "osrun-vm\\osrun", .fold_case = true}},
	END,
};

static const struct st_step layer_linux[] = {
	{.cmd = "printf '#!/bin/sh\\necho tool-ok\\n' >/usr/bin/osrun-st-tool && chmod +x /usr/bin/osrun-st-tool",
	 .expect = {.status = 0, .out = ""}},
	{.cmd = "osrun-st-tool", .expect = {.status = 0, .out = "tool-ok"}},
	END,
};
/* The machine's Path in the registry, as an installer changes it; the
 * helper reads it again for each command. */
static const struct st_step layer_windows[] = {
	{.cmd = "mkdir C:\\osrun-st-bin\n"
		"echo @echo tool-ok> C:\\osrun-st-bin\\osrun-st-tool.cmd\n"
		"reg add \"HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment\" /v Path /t "
		"REG_EXPAND_SZ /d \"%PATH%;C:\\osrun-st-bin\" /f >nul",
	 .expect = {.status = 0, .out = ""}},
	{.cmd = "osrun-st-tool", .expect = {.status = 0, .out = "tool-ok"}},
	END,
};

#define VOLUMES_OUT ST_VOLUME_RW_IN "\n" ST_VOLUME_RO_IN "\n" ST_COPY_IN "\nro-refused"
static const struct st_step volumes_linux[] = {
	{.cmd = "cat " ST_LINUX_RW "/in.txt " ST_LINUX_RO "/ro.txt " ST_LINUX_COPY_IN "\n"
		"echo " ST_VOLUME_WRITTEN " >" ST_LINUX_RW "/out.txt\n"
		"if echo x 2>/dev/null >" ST_LINUX_RO "/no.txt; then echo ro-writable; else echo ro-refused; fi\n"
		"echo " ST_COPY_OUT " >" ST_LINUX_COPY_OUT,
	 .expect = {.status = 0, .out = VOLUMES_OUT}},
	END,
};
static const struct st_step volumes_windows[] = {
	{.cmd = "type " ST_WINDOWS_RW "\\in.txt\n"
		"type " ST_WINDOWS_RO "\\ro.txt\n"
		"type " ST_WINDOWS_COPY_IN "\n"
		"echo " ST_VOLUME_WRITTEN "> " ST_WINDOWS_RW "\\out.txt\n"
		"(echo x> " ST_WINDOWS_RO "\\no.txt) 2>nul && echo ro-writable || echo ro-refused\n"
		"echo " ST_COPY_OUT "> " ST_WINDOWS_COPY_OUT,
	 .expect = {.status = 0, .out = VOLUMES_OUT}},
	END,
};

/* Seconds since 1970 to the microsecond: GNU date's %N (Debian has no
 * adjtimex), else busybox's adjtimex (its date prints %N as it is); awk
 * fails when it read no time, so the check says what was printed. */
/* The wall clock, then the monotonic one: on Windows QueryPerformanceCounter,
 * which Stopwatch counts with where the machine has it (Microsoft Learn,
 * "Stopwatch Class"), the clock others found slowed after a restore
 * (docs/windows.md, "Restore and the Hyper-V clock"). */
static const struct st_step clock_linux[] = {
	{.cmd = "t=$(date +%s.%N); case $t in *N) adjtimex | awk '/tv_sec/ { s = $2 } /tv_usec/ { u = $2 } END "
		"{ if (s == \"\") exit 1; printf \"%d.%06d\\n\", s, u }' ;; *) echo \"$t\" ;; esac",
	 .expect = {.status = 0}},
	{.cmd = "cut -d' ' -f1 /proc/uptime", .expect = {.status = 0}},
	END,
};
static const struct st_step clock_windows[] = {
	{.cmd = "powershell -NoProfile -NonInteractive -Command "
		"\"([DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000).ToString([Globalization.CultureInfo]::"
		"InvariantCulture)\"",
	 .expect = {.status = 0}},
	{.cmd = "powershell -NoProfile -NonInteractive -Command "
		"\"([Diagnostics.Stopwatch]::GetTimestamp() / [Diagnostics.Stopwatch]::Frequency).ToString("
		"[Globalization.CultureInfo]::InvariantCulture)\"",
	 .expect = {.status = 0}},
	END,
};

/* ping waits a second between its 3 echoes: 2 s. */
static const struct st_step timer_linux[] = {
	{.cmd = "true", .expect = {.status = 0, .out = ""}},
	{.cmd = "sleep 2", .expect = {.status = 0, .out = ""}},
	END,
};
static const struct st_step timer_windows[] = {
	{.cmd = "exit /b 0", .expect = {.status = 0, .out = ""}},
	{.cmd = "ping -n 3 127.0.0.1 >nul", .expect = {.status = 0, .out = ""}},
	END,
};

/* Not the boot id: the kernel makes it when it is first read, so each
 * clone of a snapshot that never read it gets its own. */
static const struct st_step restores_linux[] = {
	{.cmd = "uname -a", .expect = {.status = 0}},
	END,
};
static const struct st_step restores_windows[] = {
	{.cmd = "echo %COMPUTERNAME%", .expect = {.status = 0}},
	END,
};

// clang-format off
#define BOTH(a, b) {[ST_LINUX] = (a), [ST_WINDOWS] = (b)}
// clang-format on

const struct st_check st_checks[] = {
	{.name = "exit-codes",
	 .proves = "exit codes reach the host exactly; a Windows code above 255 exits 255 and is said exactly",
	 .judged = "each command's exit status, osrun's line about it, empty stdout",
	 .steps = BOTH(exit_linux, exit_windows)},
	{.name = "crash",
	 .proves = "a crashed command's end is exact and named (Linux: SIGSEGV; Windows: NTSTATUS 0xC0000005)",
	 .judged = "exit status and osrun's line naming it",
	 .steps = BOTH(crash_linux, crash_windows)},
	{.name = "hundred",
	 .proves = "100 fast commands in a row in one VM (as a CI session runs them): each exit code and output exact",
	 .judged = "command I (1-100) prints I and exits with its own code (Linux: (I*37) mod 256; Windows: "
		   "(I*7919) mod 70000, codes above 255 said on stderr)",
	 .run = st_run_hundred},
	{.name = "background",
	 .proves = "a background process that outlives the command, holding its stdout, does not hold the run",
	 .judged = "output 'quick' only, exit 0, within 20 s (the child lives 30 s)",
	 .steps = BOTH(background_linux, background_windows)},
	{.name = "multi-line",
	 .proves = "a multi-line command runs whole, in order (Windows: as a batch file)",
	 .judged = "stdout 'one', 'two'; exit 4",
	 .steps = BOTH(lines_linux, lines_windows)},
	{.name = "utf8",
	 .proves = "UTF-8 in the command line and in the output comes through byte for byte",
	 .judged = "stdout is the UTF-8 text given",
	 .steps = BOTH(utf8_linux, utf8_windows)},
	{.name = "workdir-missing",
	 .proves = "-w to a missing directory is the helper's error (osrun exits 125), not an exit code",
	 .judged = "the run fails with the helper's words; the command does not run",
	 .steps = BOTH(workdir_linux, workdir_windows)},
	{.name = "env",
	 .proves =
		 "-e values with =, spaces, quotes, shell and cmd metacharacters and UTF-8 reach the command as given",
	 .judged = "the variables as the guest prints them",
	 .steps = BOTH(env_linux, env_windows)},
	{.name = "stdin",
	 .proves = "a piped stdin reaches the command whole, and its end is seen",
	 .judged = "stdout is the text piped in",
	 .steps = BOTH(stdin_linux, stdin_windows)},
	{.name = "user",
	 .proves = "--user runs the command as the auto-logon user, the default as SYSTEM",
	 .judged = "whoami: nt authority\\system, then osrun-vm\\osrun",
	 .steps = BOTH(NULL, user_windows),
	 .not_on = BOTH("the Linux guest has no logged-on user: its commands run as root, and osrun refuses --user "
			"there",
			NULL)},
	{.name = "new-snapshot",
	 .proves = "what a -n run installs is there in a -s run from it (Windows: a Path change in the registry, as "
		   "an installer makes it)",
	 .judged = "the -n command exits 0; the -s run finds the tool on PATH",
	 .steps = BOTH(layer_linux, layer_windows),
	 .run = st_run_layer},
	{.name = "volumes",
	 .proves = "--volume rw and ro (ro enforced), --copy-in and --copy-out",
	 .judged = "the guest reads all three; its file lands in the rw folder, not in the ro one; the copy out comes "
		   "back",
	 .steps = BOTH(volumes_linux, volumes_windows),
	 .run = st_run_volumes},
	{.name = "clock",
	 .proves = "the guest's wall clock is the host's right after a restore and 60 s later, and its monotonic "
		   "clock (Windows: QueryPerformanceCounter) runs at the host's rate",
	 .judged = "the guest's time lies within 1 s of the host's window around each command; its monotonic "
		   "clock advanced within 2% of the host's over the 60 s",
	 .steps = BOTH(clock_linux, clock_windows),
	 .run = st_run_clock},
	{.name = "timer",
	 .proves = "guest timers fire on time after a restore",
	 .judged = "a 2 s wait takes 1.5-4 s of host time beyond a command that does nothing",
	 .steps = BOTH(timer_linux, timer_windows),
	 .run = st_run_timer},
	{.name = "restores",
	 .proves = "20 restores back to back each run a command, the same way every time",
	 .judged = "every run exits 0 with the same output; restore-to-output min/median/max",
	 .steps = BOTH(restores_linux, restores_windows),
	 .run = st_run_restores},
	{.name = "share",
	 .proves = "the run's share answers within its bound after every restore the self-test made",
	 .judged = "no restore failed; the share was ready within 60 s each time",
	 .run = st_run_share},
};
const size_t st_checks_n = ELEMENTSOF(st_checks);

const struct st_check *st_check_find(const char *name)
{
	for (size_t i = 0; i < st_checks_n; i++)
		if (!strcmp(st_checks[i].name, name))
			return &st_checks[i];
	return NULL;
}
