/*
 * replay.c - see replay.h.  (Being written.)
 */
#include <stdio.h>

#include "replay.h"

int
replay_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "smtp-replay: this mode is not written yet\n");
	return (3);
}
