/*
 * ropts.h - options replay.c and suite.c share: the target, address
 * family, TLS, timeouts, --var fixtures and the total time bound.
 */
#ifndef SMTP_REPLAY_ROPTS_H
#define SMTP_REPLAY_ROPTS_H

#include <getopt.h>

#include <smtpproto/smtpproto.h>

#define ROPTS_MAX_VARS	64

struct ropts {
	char			 host[256];
	char			 port[16];
	int			 have_target;
	struct sp_client_options client;
	struct sp_script_var	 vars[ROPTS_MAX_VARS];
	size_t			 nvars;
	unsigned		 timeout_ms;	/* every reply wait */
	unsigned		 max_time_s;	/* the whole run */
	const char		*json_path;	/* -o */
	int			 quiet;
};

/* Long options both modes take; see ropts_usage(). */
#define ROPTS_LONGOPTS							\
	{ "target",	required_argument, NULL, 't' },			\
	{ "tls",	no_argument,	   NULL, 1001 },		\
	{ "insecure",	no_argument,	   NULL, 1002 },		\
	{ "cafile",	required_argument, NULL, 1003 },		\
	{ "timeout",	required_argument, NULL, 1004 },		\
	{ "connect-timeout", required_argument, NULL, 1005 },		\
	{ "data-timeout", required_argument, NULL, 1006 },		\
	{ "max-time",	required_argument, NULL, 1007 },		\
	{ "var",	required_argument, NULL, 1008 },		\
	{ "sni",	required_argument, NULL, 1009 },		\
	{ "quiet",	no_argument,	   NULL, 'q' },			\
	{ "output",	required_argument, NULL, 'o' }
#define ROPTS_SHORTOPTS	"46t:o:q"

void	ropts_init(struct ropts *o);

/*
 * Handle option ch (with optarg) if it is a shared one: 1 handled,
 * 0 not ours, -1 bad value (a message is printed).
 */
int	ropts_option(struct ropts *o, int ch, const char *arg);

/* After parsing: 0, or -1 with a message (no --target...). */
int	ropts_check(struct ropts *o, const char *mode);

void	ropts_usage(FILE *f);

/* "2s", "500ms", "1.5s", "3m", "10" (seconds) -> ms; -1 if bad. */
long	ropts_ms(const char *s);

/* Monotonic milliseconds. */
unsigned long long ropts_now_ms(void);

/* A connected client on the target, or NULL with msg set. */
sp_client *ropts_connect(const struct ropts *o, char *msg, size_t cap);

/* One line, at most n characters, "..." when cut: into buf. */
const char *ropts_shorten(const char *s, size_t n, char *buf, size_t cap);

#endif
