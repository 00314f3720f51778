/* The subcommands, one file each. Each returns osrun's exit code. */
#pragma once

int cmd_run(int argc, char **argv);
int cmd_provision(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_pool(int argc, char **argv);
void run_help(void);

/* getopt said c ('?' or ':') about argv[optind - 1]: report it. */
void report_bad_option(int c, char **argv);
