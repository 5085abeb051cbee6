/*
 * shell.h - smtp-shell: an interactive SMTP client for people who test
 * mail servers.  Lines typed are sent with CRLF; ':' commands belong to
 * the shell, so that no SMTP verb (RCPT, QUIT) is ever taken by it.
 *
 * The state lives in one struct repl.  repl.c owns the only instance
 * (readline's completion hooks take no user pointer); every other file
 * receives it as an argument.
 */
#ifndef SMTP_SHELL_H
#define SMTP_SHELL_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include <smtpproto/smtpproto.h>
#include <smtpproto/client.h>
#include <smtpproto/script.h>

#define SHELL_MAX_LINE		4096	/* one typed line */
#define SHELL_MAX_FILE		(64u << 20)	/* @file, :open */
#define SHELL_MAX_PIPELINE	256	/* lines in one :pipeline */

struct shell_opts {
	const char		*host;
	const char		*port;
	int			 implicit_tls;
	int			 no_verify;
	const char		*ca_file;
	enum sp_client_family	 family;
	unsigned		 timeout_ms;	/* 0: RFC 5321 timers */
	unsigned		 settle_ms;	/* extra replies after :raw */
	const char		*script;	/* --script FILE */
	int			 color;		/* -1 auto, 0 off, 1 on */
};

struct capture_set;

struct repl {
	struct shell_opts	 o;
	sp_client		*c;
	volatile sig_atomic_t	 cancel;	/* Ctrl-C during a wait */
	int			 interactive;	/* stdin is a terminal */
	int			 color;
	int			 in_data;	/* 354 to a typed DATA */
	int			 last_code;	/* for a bare :explain */
	struct sp_smtp_enhanced	 last_enh;
	/* :record: every step of the session since it connected. */
	sp_script		*rec;
	char			*rec_path;	/* NULL: not writing */
	struct capture_set	*caps;		/* :open */
	int			 quit;
};

/* repl.c */
struct repl	*repl_get(void);
int		 repl_run(struct repl *r);
char		*repl_readline(struct repl *r, const char *prompt);

/* main.c: connection and reply display shared by the commands. */
int		 shell_connect(struct repl *r, const char *host,
		    const char *port);
int		 shell_read_replies(struct repl *r, size_t n, int drain_ms);
int		 shell_send_line(struct repl *r, const char *line, size_t n);
void		 shell_print_reply(struct repl *r,
		    const struct sp_client_reply *rep);
void		 shell_report(struct repl *r, sp_err e, const char *what);
void		 shell_print_tls(struct repl *r);
sp_client	*shell_new_client(struct repl *r);
void		 shell_split_hostport(char *s, const char **host,
		    const char **port);
int		 shell_print_step(void *ud, const struct sp_step_result *s);

/* commands.c */
int		 command_run(struct repl *r, const char *line);
const char	*command_name(size_t i);	/* NULL past the end */
int		 command_takes_file(const char *name);

/* send.c: the compound exchanges. */
int		 auth_run(struct repl *r, const char *args);
int		 data_run(struct repl *r, const char *args);
int		 bdat_run(struct repl *r, const char *args);

/* complete.c */
char		**complete(struct repl *r, const char *text, int start,
		    int end, const char *line);

/* explain.c */
void		 explain_code(FILE *out, int code);
void		 explain_enhanced(FILE *out, unsigned cls, unsigned subj,
		    unsigned det);
int		 explain(FILE *out, const char *args);

/* record.c */
void		 record_send(struct repl *r, enum sp_script_op op,
		    const void *p, size_t n);
void		 record_expect(struct repl *r, int code);
void		 record_step(struct repl *r, const struct sp_script_step *st);
int		 record_start(struct repl *r, const char *path);
int		 record_flush(struct repl *r);

/* capture.c */
int		 capture_open(struct repl *r, const char *path);
int		 capture_sessions(struct repl *r, const char *args);
int		 capture_show(struct repl *r, const char *args);
int		 capture_filter(struct repl *r, const char *args);
int		 capture_replay(struct repl *r, const char *args);
void		 capture_free(struct capture_set *cs);

/* Colours (SGR); "" when colour is off. */
const char	*shell_color(const struct repl *r, int code);
const char	*shell_reset(const struct repl *r);

#endif
