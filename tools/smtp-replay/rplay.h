/*
 * rplay.h - playing sessions and reporting them (replay mode).
 */
#ifndef SMTP_REPLAY_RPLAY_H
#define SMTP_REPLAY_RPLAY_H

#include <json-c/json.h>

#include "ropts.h"
#include "rsession.h"

struct rplay_run {
	const struct ropts	*r;
	int			 stop;		/* at the first divergence */
	unsigned long long	 deadline;	/* monotonic ms */
	json_object		*sessions;
	size_t			 passed, diverged, skipped, errors;
};

void	rplay_init(struct rplay_run *run, const struct ropts *r, int stop);

/* Connect, play, compare, print the session's lines, keep its JSON. */
void	rplay_session(struct rplay_run *run, struct rs_session *s);

/* The summary and -o JSON; returns the exit status (0, 1 or 3). */
int	rplay_finish(struct rplay_run *run);

void	rplay_free(struct rplay_run *run);

/* "send", "expect"... for a step kind. */
const char *rplay_op_name(enum sp_script_op op);

/* What an expect step asks for: "250|251 \"text\"". */
void	rplay_expect_str(const struct sp_script_step *st, char *buf,
	    size_t cap);

#endif
