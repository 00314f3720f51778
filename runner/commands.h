/* The subcommands, one file each: parse into a plan, call an engine,
 * report once. Each returns osrun's exit code. */
#pragma once

int cmd_run(int argc, char **argv);
int cmd_provision(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
/* snapshot push and pull (cmd-registry.c), which cmd_snapshot hands on. */
int cmd_snapshot_transfer(int argc, char **argv);
/* snapshot gc, pin and unpin (cmd-upkeep.c), likewise. */
int cmd_snapshot_upkeep(int argc, char **argv);
int cmd_image(int argc, char **argv);
/* image fetch (cmd-image-fetch.c), which cmd_image hands on. */
int cmd_image_fetch(int argc, char **argv);
int cmd_pool(int argc, char **argv);
int cmd_session(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_gitlab(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_host_info(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
