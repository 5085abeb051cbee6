/*
 * smtp-replay - replay, conformance suites, load and monitoring
 * against a live SMTP server, on the library's client engine and
 * session scripts.  It sends only to the --target given: there is no
 * default target.
 *
 * main.c only chooses the mode; see replay.h.
 */
#include <stdio.h>
#include <string.h>

#include "replay.h"

static int
has(int argc, char **argv, const char *opt)
{
	size_t	n = strlen(opt);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return (0);
		if (strncmp(argv[i], opt, n) == 0 &&
		    (argv[i][n] == '\0' || argv[i][n] == '='))
			return (1);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	if (has(argc, argv, "--probe"))
		return (probe_main(argc, argv));
	if (has(argc, argv, "--suite"))
		return (suite_main(argc, argv));
	if (has(argc, argv, "--concurrency") || has(argc, argv, "--repeat") ||
	    has(argc, argv, "--rate") || has(argc, argv, "--load"))
		return (load_main(argc, argv));
	return (replay_main(argc, argv));
}
