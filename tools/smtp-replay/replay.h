/*
 * replay.h - smtp-replay's modes.  main.c picks one from the command
 * line and hands it argc/argv (getopt_long state reset); each mode
 * parses its own options, prints its own --help section and returns
 * the exit status.
 *
 *   replay.c  play recorded sessions (capture, decode JSON) or session
 *             scripts against --target, compare every reply
 *   suite.c   --suite NAME|DIR: run a folder of scripts (conformance,
 *             attack probes), print the table, write JSON
 *   load.c    --concurrency/--repeat/--rate/--speed: load and latency
 *   probe.c   --probe: one monitoring check (Nagios/Icinga exit codes,
 *             --prometheus)
 */
#ifndef SMTP_REPLAY_H
#define SMTP_REPLAY_H

int	replay_main(int argc, char **argv);
int	suite_main(int argc, char **argv);
int	load_main(int argc, char **argv);
int	probe_main(int argc, char **argv);

/* --speed X (0, or a factor up to 1000) and --max-gap T; 0 or -1. */
int	replay_parse_speed(const char *arg, double *out);
int	replay_parse_gap(const char *arg, unsigned *out);

#endif
