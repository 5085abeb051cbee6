/*
 * analyzer.h - the whole stack in one handle: TCP segments in, SMTP
 * session events out.
 *
 *   packets -> sp_tcp_reasm -> (per flow) sp_smtp_parser
 *           -> (per message) sp_mime_parser + digests
 *
 * The analyzer decides which flows are SMTP (ports, then content),
 * routes each layer's callbacks to one event stream tagged with the
 * flow, and computes message and part digests.  Like the layers below
 * it, it does no I/O and reads no clock.  Every tool that looks at
 * captures (smtp-decode, smtp-shell) stands on it.
 */
#ifndef SMTPPROTO_ANALYZER_H
#define SMTPPROTO_ANALYZER_H

#include "tcp.h"
#include "smtp.h"
#include "mime.h"

typedef struct sp_analyzer sp_analyzer;

#define SP_ANALYZER_MAX_PORTS	64

struct sp_analyzer_options {
	/* Server ports that mark SMTP (default 25, 465, 587, 2525). */
	uint16_t	ports[SP_ANALYZER_MAX_PORTS];
	size_t		nports;
	int		by_content;	/* also SMTP found on any port */
	int		show_secrets;	/* keep AUTH passwords */
	int		md5, sha1;	/* part digests besides sha256 */
	/* SP_EV_STREAM events: each side's bytes as reassembled (off by
	   default; a replay uses them to resend DATA exactly). */
	int		stream_events;
};

/* Fill *o with the defaults (SMTP ports above, by_content on). */
SP_EXTERN void sp_analyzer_options_default(struct sp_analyzer_options *o);

/* Hex digests; "" when not computed. */
struct sp_digests {
	char	sha256[65];
	char	md5[33];
	char	sha1[41];
};

enum sp_event_kind {
	SP_EV_SESSION_BEGIN,	/* a flow was found to be SMTP */
	SP_EV_SESSION_END,	/* u.end */
	SP_EV_GAP,		/* u.gap bytes lost at offset in dir */
	SP_EV_ANOMALY,		/* u.anomaly, from any layer */
	SP_EV_COMMAND,		/* u.command */
	SP_EV_REPLY,		/* u.reply */
	SP_EV_CAPABILITIES,	/* u.caps */
	SP_EV_TLS,		/* u.tls */
	SP_EV_AUTH,		/* u.auth */
	SP_EV_TRANSACTION,	/* u.transaction, when it is over */
	SP_EV_MESSAGE_BEGIN,	/* u.message (no digests yet) */
	SP_EV_MESSAGE_DATA,	/* u.data: the bytes the server received */
	SP_EV_MESSAGE_END,	/* u.message with digests */
	SP_EV_HEADER,		/* u.header */
	SP_EV_PART_BEGIN,	/* u.part (no digests yet) */
	SP_EV_PART_DATA,	/* u.data: decoded bytes of a leaf part */
	SP_EV_PART_END,		/* u.part with digests */
	SP_EV_URL,		/* u.url */
	SP_EV_STREAM		/* u.data: stream bytes at offset in dir,
				   before the parser sees them (only with
				   stream_events) */
};

/*
 * One event.  flow identifies the session; flow->user belongs to the
 * analyzer, and *user is the consumer's own slot for the session (set
 * it at SP_EV_SESSION_BEGIN, read it in later events).  dir and offset say where in which stream
 * it happened; for MIME events the offset is the message's first byte
 * in the client stream plus the offset inside the message (which
 * dot-unstuffing may shift by a few bytes).  Everything pointed to is
 * valid only during the callback.
 */
struct sp_event {
	enum sp_event_kind	 kind;
	struct sp_tcp_flow	*flow;
	void			**user;
	enum sp_dir		 dir;
	sp_ts			 ts;
	uint64_t		 offset;
	union {
		struct {
			enum sp_flow_end		 why;
			const struct sp_smtp_info	*info;
		} end;
		uint64_t				 gap;
		struct {
			enum sp_anomaly			 code;
			const char			*detail;
		} anomaly;
		const struct sp_smtp_command		*command;
		const struct sp_smtp_reply		*reply;
		const struct sp_smtp_capabilities	*caps;
		const struct sp_smtp_tls		*tls;
		const struct sp_smtp_auth		*auth;
		const struct sp_smtp_transaction	*transaction;
		struct {
			const struct sp_smtp_message	*msg;
			const struct sp_digests		*digests;
		} message;
		struct {
			const uint8_t			*p;
			size_t				 n;
			const struct sp_mime_part	*part; /* PART_DATA */
		} data;
		const struct sp_mime_header		*header;
		struct {
			const struct sp_mime_part	*part;
			const struct sp_digests		*digests;
		} part;
		const struct sp_mime_url		*url;
	} u;
};

/* Return 0 to go on; nonzero stops the analyzer with SP_E_CALLBACK. */
typedef int (*sp_event_fn)(void *ud, const struct sp_event *ev);

/*
 * Create an analyzer.  lim and opts are copied (NULL: defaults).
 * Returns SP_E_OK, SP_E_INVAL (out or fn NULL) or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_analyzer_new(sp_analyzer **out,
    const struct sp_limits *lim, const struct sp_analyzer_options *opts,
    sp_event_fn fn, void *ud);

/* Free without ending sessions or calling back; NULL does nothing. */
SP_EXTERN void sp_analyzer_free(sp_analyzer *a);

/*
 * One TCP segment (pkt->ts is now).  Returns SP_E_OK, SP_E_NOMEM or
 * SP_E_CALLBACK; errors are sticky.
 */
SP_EXTERN sp_err sp_analyzer_packet(sp_analyzer *a,
    const struct sp_packet *pkt);

/* Time passes without packets (live capture).  Returns as above. */
SP_EXTERN sp_err sp_analyzer_advance(sp_analyzer *a, sp_ts now);

/* End of input: every open session ends.  Returns as above. */
SP_EXTERN sp_err sp_analyzer_finish(sp_analyzer *a);

struct sp_analyzer_stats {
	struct sp_tcp_stats	tcp;
	uint64_t		sessions;
	uint64_t		transactions;
	uint64_t		messages;
	uint64_t		messages_incomplete;
	uint64_t		parts;
	uint64_t		message_bytes;
	uint64_t		anomalies[SP_ANOM__COUNT];
};

SP_EXTERN void sp_analyzer_get_stats(const sp_analyzer *a,
    struct sp_analyzer_stats *st);

#endif /* SMTPPROTO_ANALYZER_H */
