/*
 * script_int.h - the session-script model shared by the reader, the
 * writer, the runner and the converter.  Not installed.
 */
#ifndef SP_SCRIPT_INT_H
#define SP_SCRIPT_INT_H

#include "internal.h"
#include "smtpproto/script.h"

#define SP_SCRIPT_MAX_BYTES	(1024 * 1024)	/* source text */
#define SP_SCRIPT_MAX_STEPS	100000

struct sp_script {
	struct sp_script_meta	 meta;		/* strings owned */
	char			**fixtures, **tags;
	struct sp_script_step	*steps;		/* deep copies, owned */
	size_t			 nsteps, cap;
	char			*base_dir;
};

/* A growable string with a cap, for the writer and the runner. */
struct sp_str {
	char	*p;
	size_t	 len, cap, max;
	int	 failed;	/* NOMEM or over max: later appends no-ops */
};

void	sp__str_init(struct sp_str *s, size_t max);
void	sp__str_add(struct sp_str *s, const void *p, size_t n);
void	sp__str_addf(struct sp_str *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Bytes as a script quoted string body: \r \n \t \\ \" \xNN. */
void	sp__str_add_escaped(struct sp_str *s, const uint8_t *p, size_t n);
char	*sp__str_take(struct sp_str *s);	/* NULL if failed */

char	*sp__strdup(const char *s);
char	*sp__strndup(const char *s, size_t n);
const char *sp__script_op_name(enum sp_script_op op);
const char *sp__script_auth_name(enum sp_script_auth m);
const char *sp__script_level_name(enum sp_script_level l);
/* Free what a step owns (its strings and lines), not the step itself. */
void	sp__script_step_free(struct sp_script_step *st);

#endif /* SP_SCRIPT_INT_H */
