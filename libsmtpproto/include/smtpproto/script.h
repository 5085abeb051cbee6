/*
 * script.h - session scripts: a small line format for SMTP sessions
 * and conformance cases (docs/script-format.md), with a reader, a
 * writer and a runner that plays a script against an sp_client.
 *
 *   id: C9
 *   title: unknown verb gets 500 and the session goes on
 *   rfc: 5321 4.2.4
 *   level: MUST
 *   fixture: helo
 *
 *   expect 220
 *   send EHLO ${helo}
 *   expect 250
 *   send XYZZY
 *   expect 500
 *   send NOOP
 *   expect 250
 *   quit
 *
 * The writer produces the same format from a list of steps and
 * sp_script_parse(sp_script_write(x)) equals x (sp_script_equal).
 * Scripts use malloc(3); they are tool-side objects, not parser cores.
 */
#ifndef SMTPPROTO_SCRIPT_H
#define SMTPPROTO_SCRIPT_H

#include "common.h"
#include "err.h"
#include "client.h"

typedef struct sp_script sp_script;

enum sp_script_op {
	SP_STEP_SEND = 1,	/* bytes + CRLF */
	SP_STEP_SENDRAW,	/* bytes exactly */
	SP_STEP_PIPELINE,	/* lines, each + CRLF, one write */
	SP_STEP_EXPECT,		/* one reply matching expect */
	SP_STEP_EXPECT_COUNT,	/* exactly count replies within ms */
	SP_STEP_EXPECT_SILENCE,	/* nothing for ms */
	SP_STEP_EXPECT_CLOSE,	/* server closes within ms */
	SP_STEP_STARTTLS,	/* STARTTLS, 220, handshake */
	SP_STEP_DATA,		/* DATA, 354, body, CRLF.CRLF */
	SP_STEP_DATA_BODY,	/* body and CRLF.CRLF only (after a 354) */
	SP_STEP_BDAT,		/* BDAT n [LAST] + bytes, one write */
	SP_STEP_BDAT_FILE,	/* a file in chunks */
	SP_STEP_AUTH,		/* an AUTH exchange up to its final reply */
	SP_STEP_SLEEP,
	SP_STEP_QUIT,		/* QUIT, then a 221 */
	SP_STEP_TLS		/* the handshake alone, after a raw STARTTLS */
};

enum sp_script_auth {
	SP_AUTH_PLAIN = 1,
	SP_AUTH_LOGIN,
	SP_AUTH_CRAM_MD5,
	SP_AUTH_XOAUTH2
};

/*
 * The mechanism named by the n bytes at name, in any case ("PLAIN",
 * "cram-md5"), or 0 when it is none the script engine can answer.
 */
SP_EXTERN enum sp_script_auth sp_script_auth_from_name(const char *name,
    size_t n);

#define SP_SCRIPT_MAX_CODES	8

/*
 * A reply expectation: one of codes[] ("250", "2xx", "25x"; an empty
 * list accepts any code), then optionally the reply text must contain
 * pattern (regex = 0) or match the POSIX extended regex pattern
 * (regex = 1; icase for /.../i).
 */
struct sp_script_expect {
	char		codes[SP_SCRIPT_MAX_CODES][4];
	size_t		ncodes;
	const char	*pattern;	/* NULL: none */
	int		regex;
	int		icase;
	unsigned	within_ms;	/* 0: the phase's timeout */
};

/* Bytes that may hold ${var} references, expanded at run time. */
struct sp_script_text {
	const uint8_t	*p;
	size_t		 len;
};

struct sp_script_step {
	enum sp_script_op	 op;
	unsigned		 line;		/* source line; 0 if built */
	/* SEND, SENDRAW, DATA/DATA_BODY inline body, BDAT bytes. */
	struct sp_script_text	 text;
	/* PIPELINE. */
	const struct sp_script_text *lines;
	size_t			 nlines;
	/* DATA/DATA_BODY "@file", BDAT_FILE (relative to the script). */
	const char		*path;
	/* EXPECT (also the 354/220 checks use nothing from here). */
	struct sp_script_expect	 expect;
	unsigned		 count;		/* EXPECT_COUNT */
	unsigned		 ms;		/* COUNT/SILENCE/CLOSE/SLEEP */
	/* BDAT: size is what the command says; has_text = bytes given
	   (else size filler bytes).  BDAT_FILE: chunk size. */
	uint64_t		 size;
	int			 last;
	int			 has_text;
	/* AUTH: secret "$NAME" is read from the environment at run
	   time when the runner allows it. */
	enum sp_script_auth	 mech;
	const char		*user;
	const char		*secret;
};

enum sp_script_level {
	SP_LEVEL_NONE = 0, SP_LEVEL_MUST, SP_LEVEL_MUST_NOT,
	SP_LEVEL_SHOULD, SP_LEVEL_SHOULD_NOT, SP_LEVEL_MAY
};

/* The header; NULL for absent strings. */
struct sp_script_meta {
	const char		*id;
	const char		*title;
	const char		*rfc;		/* "5321 4.2.4" */
	enum sp_script_level	 level;
	const char *const	*fixtures;	/* variables it needs */
	size_t			 nfixtures;
	const char *const	*tags;
	size_t			 ntags;
};

/* Where and why parsing failed. */
struct sp_script_error {
	unsigned	line;
	char		msg[200];
};

/*
 * Parse a script from text (len bytes, need not be NUL-terminated).
 * base_dir (may be NULL) is where relative @file paths are taken from.
 * Returns SP_E_OK, SP_E_FORMAT (err says where and why), SP_E_LIMIT
 * (over 1 MiB or 100000 steps), SP_E_INVAL or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_script_parse(sp_script **out, const char *text,
    size_t len, const char *base_dir, struct sp_script_error *err);

/* Read and parse a file.  Also SP_E_IO.  */
SP_EXTERN sp_err sp_script_load(sp_script **out, const char *path,
    struct sp_script_error *err);

/* An empty script to append steps to.  SP_E_OK, SP_E_NOMEM. */
SP_EXTERN sp_err sp_script_new(sp_script **out);

SP_EXTERN void sp_script_free(sp_script *s);

/*
 * Set the header: every string is copied.  Returns SP_E_OK,
 * SP_E_INVAL (a string with a line break) or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_script_set_meta(sp_script *s,
    const struct sp_script_meta *m);

/*
 * Append a deep copy of *st.  Returns SP_E_OK, SP_E_INVAL (op out of
 * range, missing fields, PIPELINE line with CR or LF, expect code not
 * of the form [2-5x][0-9x][0-9x]), SP_E_LIMIT or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_script_append(sp_script *s,
    const struct sp_script_step *st);

SP_EXTERN const struct sp_script_meta *sp_script_get_meta(
    const sp_script *s);
SP_EXTERN size_t sp_script_nsteps(const sp_script *s);
/* Step i (< nsteps), owned by the script. */
SP_EXTERN const struct sp_script_step *sp_script_step_at(
    const sp_script *s, size_t i);

/* 1 if a and b hold the same header and steps (line numbers aside). */
SP_EXTERN int sp_script_equal(const sp_script *a, const sp_script *b);

/*
 * Write s in the script format into a malloc'd NUL-terminated string
 * (free(3) it).  Returns SP_E_OK or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_script_write(const sp_script *s, char **out,
    size_t *len);

/* ------------------------------------------------------------- runner */

enum sp_verdict {
	SP_VERDICT_PASS = 0,
	SP_VERDICT_FAIL,	/* the server did not do what was expected */
	SP_VERDICT_ERROR,	/* I/O, TLS, limit, timeout while sending */
	SP_VERDICT_SKIP		/* not run (earlier failure, no fixture) */
};

SP_EXTERN const char *sp_verdict_name(enum sp_verdict v);

/* A run-time variable: ${name} expands to value. */
struct sp_script_var {
	const char	*name;
	const char	*value;
};

struct sp_step_result {
	size_t			 index;		/* step number, from 0 */
	unsigned		 line;
	enum sp_script_op	 op;
	enum sp_verdict		 verdict;
	char			*sent;		/* printable, or NULL */
	char			*got;		/* printable; or NULL */
	char			*note;		/* why it failed; or NULL */
	int			 code;		/* last reply code, 0 if none */
	uint64_t		 latency_ns;	/* of that reply */
	sp_err			 err;		/* SP_E_OK unless ERROR */
};

struct sp_script_report {
	struct sp_step_result	*steps;
	size_t			 nsteps;
	size_t			 passed, failed, errors, skipped;
	enum sp_verdict		 verdict;	/* of the whole script */
	char			*note;		/* "fixture rcpt not ..." */
};

struct sp_script_run_options {
	const struct sp_script_var *vars;
	size_t			 nvars;
	int			 allow_env;	/* $NAME secrets from getenv */
	int			 keep_going;	/* go on after a failure */
	unsigned		 default_ms;	/* 0: phase timeouts */
	size_t			 max_file;	/* @file cap; 0: 64 MiB */
	/* Called after each step; nonzero stops the run. */
	int			(*on_step)(void *ud,
				    const struct sp_step_result *r);
	void			*ud;
};

/*
 * Run s on the connected client c.  Every wait is bounded (phase
 * timeouts or default_ms); nothing reads from a terminal.  *out gets
 * the per-step results even when the script failed.  A missing
 * fixture variable skips the whole script (verdict SKIP).  Returns
 * SP_E_OK (the verdict is in the report), SP_E_INVAL or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_script_run(const sp_script *s, sp_client *c,
    const struct sp_script_run_options *o, struct sp_script_report **out);

SP_EXTERN void sp_script_report_free(struct sp_script_report *r);

/* -------------------------------------------------- from a capture */

struct sp_event;
typedef struct sp_script_conv sp_script_conv;

struct sp_script_conv_options {
	int	code_class;	/* expect "2xx" rather than "250" */
	size_t	max_bytes;	/* message bytes kept; 0: 64 MiB */
	/*
	 * Timing (speed 0: none, as fast as possible).  Before each
	 * write of the client that followed a pause (the time since the
	 * session's previous command, reply or message byte), a sleep
	 * step of the pause divided by speed (1: as recorded, 2: twice
	 * as fast), at most max_gap_ms (0: 10 s); under 1 ms: none.
	 * A DATA sent alone then becomes send, expect 354 and data-body,
	 * so the pause before the message is kept too.
	 */
	double		speed;
	unsigned	max_gap_ms;
	/*
	 * raw_data: when what the client sent from the 354 to its end of
	 * data is not what the stored message would be encoded to again
	 * (a bare-LF end of data or an unstuffed dot: SMTP smuggling),
	 * send those bytes exactly (a sendraw step), so the replay shows
	 * the server the same end of data.  Needs the analyzer's
	 * SP_EV_STREAM events (stream_events); DATA is split as above.
	 */
	int		raw_data;
};

/*
 * Turn the client side of one decoded session (analyzer.h events, fed
 * in order) into script steps: commands become send/pipeline (by
 * pipeline group), replies become expect with the recorded code, DATA
 * and BDAT carry the message bytes, AUTH becomes an auth step whose
 * secret is "$SP_AUTH_SECRET" unless the capture showed it, and the
 * conversion stops at STARTTLS (a starttls step) since what followed
 * was encrypted.  With o->speed, sleep steps keep the client's pauses;
 * with o->raw_data, irregular DATA content is sent as it was.  Events
 * of other sessions must not be fed.
 * new(): SP_E_OK, SP_E_NOMEM.  event(): SP_E_OK, SP_E_LIMIT,
 * SP_E_NOMEM.  finish(): SP_E_OK, SP_E_NOMEM; *out owns the script.
 */
SP_EXTERN sp_err sp_script_conv_new(sp_script_conv **out,
    const struct sp_script_conv_options *o);
SP_EXTERN sp_err sp_script_conv_event(sp_script_conv *cv,
    const struct sp_event *ev);
SP_EXTERN sp_err sp_script_conv_finish(sp_script_conv *cv,
    sp_script **out);
SP_EXTERN void sp_script_conv_free(sp_script_conv *cv);

#endif /* SMTPPROTO_SCRIPT_H */
