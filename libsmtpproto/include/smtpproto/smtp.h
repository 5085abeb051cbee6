/*
 * smtp.h - the SMTP dialogue parser: an I/O-free push parser.
 *
 * Bytes come in per direction (from the TCP reassembler, a live socket
 * or a fuzzer) with the capture time; typed events go out through
 * callbacks.  Both directions are fed to one parser, in capture order,
 * and commands are matched to replies first in, first out (RFC 2920
 * pipelining), whatever the segmentation.
 *
 * Message content (after DATA, dot-unstuffed; BDAT chunks verbatim)
 * streams out through on_message_data; the parser never holds a whole
 * message.  Everything an event points at (struct sp_smtp_str slices,
 * arrays, the detail text of an anomaly) is valid only until the
 * callback returns.
 *
 * Callbacks return 0 to go on.  SP_E_PAUSED makes the feed stop at the
 * end of the current step (a line, a run of message bytes) and return
 * SP_E_PAUSED with *consumed saying how far it got; feed the rest to
 * resume.  Any other nonzero return makes the parser fail with
 * SP_E_CALLBACK, which is sticky.
 */
#ifndef SMTPPROTO_SMTP_H
#define SMTPPROTO_SMTP_H

#include "common.h"
#include "err.h"
#include "anomaly.h"
#include "limits.h"

typedef struct sp_smtp_parser sp_smtp_parser;

/* A byte slice: not NUL-terminated, valid during the callback only. */
struct sp_smtp_str {
	const uint8_t	*p;
	size_t		 len;
};

/* Verbs the parser knows.  Anything else is SP_SMTP_VERB_UNKNOWN. */
#define SP_SMTP_VERB_MAP(X)						\
	X(UNKNOWN,	"")						\
	X(HELO,		"HELO")						\
	X(EHLO,		"EHLO")						\
	X(LHLO,		"LHLO")						\
	X(MAIL,		"MAIL")						\
	X(RCPT,		"RCPT")						\
	X(DATA,		"DATA")						\
	X(BDAT,		"BDAT")						\
	X(RSET,		"RSET")						\
	X(VRFY,		"VRFY")						\
	X(EXPN,		"EXPN")						\
	X(HELP,		"HELP")						\
	X(NOOP,		"NOOP")						\
	X(QUIT,		"QUIT")						\
	X(STARTTLS,	"STARTTLS")					\
	X(AUTH,		"AUTH")						\
	X(ETRN,		"ETRN")						\
	X(XCLIENT,	"XCLIENT")					\
	X(XFORWARD,	"XFORWARD")					\
	X(TURN,		"TURN")						\
	X(ATRN,		"ATRN")						\
	X(SEND,		"SEND")						\
	X(SOML,		"SOML")						\
	X(SAML,		"SAML")

enum sp_smtp_verb {
#define SP_SMTP_VERB_ENUM(name, str)	SP_SMTP_VERB_##name,
	SP_SMTP_VERB_MAP(SP_SMTP_VERB_ENUM)
#undef SP_SMTP_VERB_ENUM
	SP_SMTP_VERB__COUNT
};

/* The verb in upper case ("MAIL"), "" for UNKNOWN.  Never NULL. */
SP_EXTERN const char *sp_smtp_verb_name(enum sp_smtp_verb v);

/* MAIL and RCPT parameters with a meaning of their own. */
enum sp_smtp_param_key {
	SP_SMTP_PARAM_OTHER = 0,
	SP_SMTP_PARAM_SIZE,		/* RFC 1870 */
	SP_SMTP_PARAM_BODY,		/* RFC 6152, 3030 */
	SP_SMTP_PARAM_SMTPUTF8,		/* RFC 6531 */
	SP_SMTP_PARAM_RET,		/* RFC 3461 */
	SP_SMTP_PARAM_ENVID,		/* RFC 3461 */
	SP_SMTP_PARAM_AUTH,		/* RFC 4954 5 */
	SP_SMTP_PARAM_NOTIFY,		/* RFC 3461 */
	SP_SMTP_PARAM_ORCPT		/* RFC 3461 */
};

struct sp_smtp_param {
	enum sp_smtp_param_key	 key_id;
	struct sp_smtp_str	 key;		/* as written */
	struct sp_smtp_str	 value;		/* empty if no "=" */
	int			 has_value;
};

/* Parameters kept per command; more are counted and flagged. */
#define SP_SMTP_MAX_PARAMS	16

/*
 * A reverse-path or forward-path (RFC 5321 4.1.2).  raw is the text as
 * written, brackets included; mailbox is what is inside the brackets
 * without the source route.  A path that does not parse keeps raw,
 * has valid = 0 and raised SP_ANOM_SMTP_BAD_PATH.
 */
struct sp_smtp_path {
	struct sp_smtp_str	raw;
	struct sp_smtp_str	mailbox;	/* "local@domain" */
	struct sp_smtp_str	local;		/* quotes kept if quoted */
	struct sp_smtp_str	domain;
	struct sp_smtp_str	route;		/* "@a,@b", no colon */
	unsigned		null:1;		/* "<>" */
	unsigned		valid:1;
	unsigned		quoted:1;	/* quoted local part */
	unsigned		utf8:1;		/* bytes >= 0x80 (RFC 6531) */
	unsigned		brackets:1;	/* written inside < > */
};

struct sp_smtp_command {
	enum sp_smtp_verb	 verb;
	struct sp_smtp_str	 verb_text;	/* as written */
	struct sp_smtp_str	 arg;		/* after the verb, trimmed */
	struct sp_smtp_str	 line;		/* raw, line end included */
	uint64_t		 offset;	/* client stream offset */
	sp_ts			 ts;
	uint64_t		 seq;		/* commands numbered from 1 */
	uint64_t		 group;		/* pipeline group, from 1 */
	unsigned		 truncated:1;	/* longer than max_line */
	/* MAIL and RCPT only. */
	const struct sp_smtp_path *path;
	const struct sp_smtp_param *params;
	size_t			 nparams;
	/* BDAT only. */
	uint64_t		 bdat_size;
	int			 bdat_last;
};

/* RFC 3463 status code x.y.z; class 0 means absent. */
struct sp_smtp_enhanced {
	unsigned	cls;
	unsigned	subject;
	unsigned	detail;
};

enum sp_smtp_reply_kind {
	SP_SMTP_REPLY_COMMAND = 0,	/* answers cmd_verb / cmd_seq */
	SP_SMTP_REPLY_GREETING,		/* the first server reply */
	SP_SMTP_REPLY_DATA_END,		/* answers the end of DATA */
	SP_SMTP_REPLY_UNMATCHED		/* nothing was awaiting a reply */
};

struct sp_smtp_reply {
	int			 code;		/* 0 if malformed */
	struct sp_smtp_enhanced	 enhanced;
	/* Text of each line after "NNN-" / "NNN ", line end removed. */
	const struct sp_smtp_str *lines;
	size_t			 nlines;	/* kept */
	size_t			 nlines_total;	/* seen */
	enum sp_smtp_reply_kind	 kind;
	enum sp_smtp_verb	 cmd_verb;	/* UNKNOWN unless COMMAND, DATA_END */
	uint64_t		 cmd_seq;	/* 0 unless COMMAND, DATA_END */
	uint64_t		 offset;	/* server stream offset */
	sp_ts			 ts;
	unsigned		 intermediate:1; /* 334: the exchange goes on */
};

/* What an accepted EHLO (or LHLO) reply advertised (RFC 5321 4.1.1.1). */
struct sp_smtp_capability {
	struct sp_smtp_str	keyword;
	struct sp_smtp_str	params;		/* after the first space */
};

struct sp_smtp_capabilities {
	const struct sp_smtp_capability *caps;
	size_t			 ncaps;
	unsigned		 pipelining:1, chunking:1, starttls:1,
				 eightbitmime:1, smtputf8:1, dsn:1,
				 enhancedstatuscodes:1, binarymime:1;
	int			 has_size;
	uint64_t		 size;		/* SIZE n; 0 = no limit */
	struct sp_smtp_str	 auth;		/* AUTH mechanism list */
};

enum sp_smtp_method {
	SP_SMTP_METHOD_NONE = 0,
	SP_SMTP_METHOD_DATA,
	SP_SMTP_METHOD_BDAT
};

struct sp_smtp_rcpt {
	struct sp_smtp_path	path;
	struct sp_smtp_str	params;		/* raw text after the path */
	int			code;		/* 0: no reply seen */
	struct sp_smtp_enhanced	enhanced;
	int			accepted;	/* 2xx */
};

struct sp_smtp_transaction {
	uint64_t		 seq;		/* from 1 */
	int			 has_mail;	/* MAIL seen (not mid-stream) */
	struct sp_smtp_path	 mail_from;
	const struct sp_smtp_param *mail_params;
	size_t			 nmail_params;
	int			 mail_code;
	struct sp_smtp_enhanced	 mail_enhanced;
	const struct sp_smtp_rcpt *rcpts;
	size_t			 nrcpts;	/* kept (max_rcpts) */
	size_t			 nrcpts_total;	/* sent */
	size_t			 nrcpts_accepted;
	enum sp_smtp_method	 method;
	int			 final_code;	/* 0: none seen */
	struct sp_smtp_enhanced	 final_enhanced;
	struct sp_smtp_str	 final_text;	/* first line */
	struct sp_smtp_str	 queue_id;	/* empty if none found */
	uint64_t		 message_size;	/* bytes delivered */
	int			 message_seen;
	int			 complete;	/* whole message, final 2xx */
	uint64_t		 missing;	/* bytes lost to gaps */
	int			 start_missing;	/* picked up inside it */
	sp_ts			 ts_begin, ts_end;
};

struct sp_smtp_message {
	uint64_t		 txn_seq;
	enum sp_smtp_method	 method;
	uint64_t		 offset;	/* client offset of its first byte */
	sp_ts			 ts;
	int			 start_missing;	/* mid-stream pickup */
	/* on_message_end only: */
	uint64_t		 size;
	int			 complete;
	uint64_t		 missing;
};

struct sp_smtp_tls {
	int		implicit;	/* TLS from the first byte */
	uint64_t	cmd_seq;	/* the STARTTLS command, or 0 */
	uint64_t	client_offset;	/* where each side's TLS begins */
	uint64_t	server_offset;
	sp_ts		ts;
};

enum sp_smtp_auth_outcome {
	SP_SMTP_AUTH_UNKNOWN = 0,	/* no final reply seen */
	SP_SMTP_AUTH_SUCCESS,		/* 235 */
	SP_SMTP_AUTH_FAILURE,		/* 4xx / 5xx */
	SP_SMTP_AUTH_CANCELLED		/* client sent "*" */
};

struct sp_smtp_auth {
	struct sp_smtp_str	 mechanism;
	struct sp_smtp_str	 user;		/* authcid / login name */
	struct sp_smtp_str	 authzid;	/* PLAIN only */
	/* The password, digest or token: "<redacted>" unless show_secrets. */
	struct sp_smtp_str	 secret;
	int			 redacted;
	int			 code;		/* final reply, 0 if none */
	struct sp_smtp_enhanced	 enhanced;
	enum sp_smtp_auth_outcome outcome;
	size_t			 responses;	/* client lines */
	uint64_t		 cmd_seq;
	sp_ts			 ts;
};

struct sp_smtp_callbacks {
	int	(*on_command)(void *ud, const struct sp_smtp_command *c);
	int	(*on_reply)(void *ud, const struct sp_smtp_reply *r);
	int	(*on_capabilities)(void *ud,
		    const struct sp_smtp_capabilities *caps);
	int	(*on_transaction)(void *ud,
		    const struct sp_smtp_transaction *t);
	int	(*on_message_begin)(void *ud, const struct sp_smtp_message *m);
	int	(*on_message_data)(void *ud, const uint8_t *p, size_t n);
	int	(*on_message_end)(void *ud, const struct sp_smtp_message *m);
	int	(*on_tls)(void *ud, const struct sp_smtp_tls *t);
	int	(*on_auth)(void *ud, const struct sp_smtp_auth *a);
	/* off is the stream offset in direction dir; detail may be NULL. */
	int	(*on_anomaly)(void *ud, enum sp_anomaly a, enum sp_dir dir,
		    uint64_t off, const char *detail);
};

struct sp_smtp_options {
	int	show_secrets;	/* AUTH secrets in clear in on_auth */
	int	implicit_tls;	/* TLS from the first byte (port 465) */
	int	midstream;	/* the session's start was not seen */
	/*
	 * For a live client that feeds what it sends and reads: the bytes
	 * are the decrypted inside of TLS (no AUTH-in-the-clear anomaly),
	 * and after_starttls says the session goes on after a STARTTLS
	 * handshake, so no greeting comes (RFC 3207 4.2: the client
	 * speaks first).  after_starttls implies decrypted.
	 */
	int	decrypted;
	int	after_starttls;
};

/* Where the session stands; sp_smtp_parser_get_info() fills it in. */
struct sp_smtp_info {
	uint64_t	bytes[2];	/* fed per direction, gaps excluded */
	uint64_t	tls_bytes[2];	/* of those, opaque TLS */
	uint64_t	gap_bytes[2];
	uint64_t	commands;
	uint64_t	replies;
	uint64_t	transactions;	/* begun, kept or not */
	uint64_t	messages;
	uint64_t	anomalies;
	int		greeting_code;	/* 0 if none seen */
	int		tls;		/* 1 STARTTLS, 2 implicit */
	int		quit;		/* QUIT sent */
	int		midstream;
	size_t		pending;	/* commands awaiting replies */
};

/*
 * Create a parser.  lim is copied (NULL: defaults); cb is copied and
 * may have NULL members.  Returns SP_E_OK, SP_E_INVAL (NULL out or
 * cb, or a zero limit) or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_smtp_parser_new(sp_smtp_parser **out,
    const struct sp_limits *lim, const struct sp_smtp_callbacks *cb,
    void *ud);

/*
 * Make p ready for a new session, as sp_smtp_parser_new() with the
 * same limits and callbacks would (options back to none), keeping its
 * line and reply buffers: a consumer of many sessions reuses parsers
 * instead of allocating one each time.  ud replaces the user pointer.
 * A sticky error is cleared.  No events are sent.
 */
SP_EXTERN void sp_smtp_parser_reset(sp_smtp_parser *p, void *ud);

/* Free a parser; NULL does nothing.  Calls no callbacks. */
SP_EXTERN void sp_smtp_parser_free(sp_smtp_parser *p);

/*
 * Set options; only before the first byte is fed.  Returns SP_E_OK,
 * SP_E_INVAL (NULL o) or SP_E_STATE (bytes were already fed).
 */
SP_EXTERN sp_err sp_smtp_parser_set_options(sp_smtp_parser *p,
    const struct sp_smtp_options *o);

/*
 * Feed len bytes seen in direction dir at time ts.  *consumed is
 * always set: it is len except after SP_E_PAUSED or an error.
 * Returns SP_E_OK, SP_E_PAUSED, SP_E_CALLBACK, SP_E_NOMEM or
 * SP_E_INVAL (bad dir).  Errors other than SP_E_PAUSED are sticky.
 */
SP_EXTERN sp_err sp_smtp_parser_feed(sp_smtp_parser *p, enum sp_dir dir,
    sp_ts ts, const uint8_t *buf, size_t len, size_t *consumed);

/*
 * The TCP layer lost nbytes in direction dir.  Inside a message or a
 * BDAT chunk they are counted as missing; elsewhere the partial line
 * is dropped and the parser resynchronises on the next line.  Returns
 * as sp_smtp_parser_feed().
 */
SP_EXTERN sp_err sp_smtp_parser_gap(sp_smtp_parser *p, enum sp_dir dir,
    sp_ts ts, uint64_t nbytes);

/*
 * End of both streams: an open message ends incomplete, transactions
 * and AUTH exchanges still open are reported.  Later feeds return
 * SP_E_STATE.  Returns SP_E_OK, SP_E_PAUSED (call again to go on),
 * SP_E_CALLBACK or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_smtp_parser_finish(sp_smtp_parser *p, sp_ts ts);

SP_EXTERN void sp_smtp_parser_get_info(const sp_smtp_parser *p,
    struct sp_smtp_info *info);

/*
 * Extract a queue id from the text of a final reply to DATA or BDAT
 * LAST: "queued as X" (Postfix), "id=X" (Exim), "X Message accepted
 * for delivery" (Sendmail), "OK id=X", "<X> Mail accepted", "Ok:
 * queued as <X>".  Returns 1 and sets *id, or 0.
 */
SP_EXTERN int sp_smtp_queue_id(const uint8_t *text, size_t len,
    struct sp_smtp_str *id);

#endif /* SMTPPROTO_SMTP_H */
