/*
 * client.h - a live SMTP client engine for the interactive tools
 * (smtp-shell), session replay (smtp-replay) and the fuzzer.
 *
 * Unlike the protocol cores this module does I/O on purpose, as
 * capture_pcap.c does: it owns one TCP connection (IPv4 or IPv6, plain,
 * STARTTLS or implicit TLS through OpenSSL 3).  Every wait is bounded
 * by a timeout and can be cancelled.  Everything the client sends and
 * everything the server answers is fed to an sp_smtp_parser, so replies
 * are matched to commands as in a capture (RFC 2920 pipelining),
 * capabilities come from the EHLO reply, and protocol deviations are
 * reported as anomalies.  A reply is complete when its final "NNN "
 * line arrives (RFC 5321 4.2.1), never on a timer.
 *
 * Memory is bounded: a reply larger than max_reply_bytes (an endless
 * line or an endless multi-line reply) fails with SP_E_LIMIT.
 *
 * Errors: each function returns an sp_err; sp_client_errmsg() then
 * holds a precise sentence such as "connect to 127.0.0.1:2525:
 * connection refused" or "timed out after 5.0 s waiting for the reply
 * to DATA".  No global state: several clients may live in one process,
 * each used by one thread at a time.
 */
#ifndef SMTPPROTO_CLIENT_H
#define SMTPPROTO_CLIENT_H

#include <signal.h>

#include "common.h"
#include "err.h"
#include "anomaly.h"
#include "limits.h"
#include "smtp.h"

typedef struct sp_client sp_client;

enum sp_client_family {
	SP_CLIENT_FAMILY_ANY = 0,	/* getaddrinfo order */
	SP_CLIENT_FAMILY_IPV4,		/* -4 */
	SP_CLIENT_FAMILY_IPV6		/* -6 */
};

/*
 * Per-phase timeouts in milliseconds; 0 means "the default".  The
 * defaults are the client timers of RFC 5321 4.5.3.2: greeting 5 min
 * (4.5.3.2.1), MAIL 5 min (.2), RCPT 5 min (.3), DATA initiation 2 min
 * (.4), data block 3 min (.5, used for every write), DATA termination
 * 10 min (.6); other commands 5 min; connect and TLS handshake 30 s.
 */
struct sp_client_timeouts {
	unsigned	connect_ms;
	unsigned	tls_ms;
	unsigned	greeting_ms;
	unsigned	mail_ms;
	unsigned	rcpt_ms;
	unsigned	data_start_ms;	/* the 354 to DATA */
	unsigned	data_block_ms;	/* each write */
	unsigned	data_end_ms;	/* the reply after CRLF.CRLF, BDAT */
	unsigned	command_ms;	/* any other reply */
};

struct sp_client_options {
	enum sp_client_family	 family;
	struct sp_client_timeouts timeouts;
	/* Parser limits (NULL: sp_limits_default()); alloc is used. */
	const struct sp_limits	*limits;
	size_t			 max_reply_bytes; /* 0: 64 KiB */

	/* TLS (RFC 3207 STARTTLS, RFC 8314 implicit TLS). */
	int			 implicit_tls;	/* TLS from the first byte */
	const char		*sni;		/* NULL: the host if a name */
	const char		*ca_file;	/* NULL: the system CAs */
	int			 no_verify;	/* accept any certificate */

	/*
	 * Cancellation (a Ctrl-C in the shell cancels a wait, not the
	 * session): a wait ends with SP_E_CANCELLED when cancel_fd
	 * (>= 0) becomes readable or *cancel_flag becomes nonzero.  The
	 * flag is checked whenever poll(2) returns, EINTR included.
	 * With neither set, use cancel_fd = -1.
	 */
	int			 cancel_fd;
	const volatile sig_atomic_t *cancel_flag;

	/* Optional observers; slices are valid during the call only. */
	void	(*on_wire)(void *ud, enum sp_dir dir, const uint8_t *p,
		    size_t n);
	void	(*on_anomaly)(void *ud, enum sp_anomaly a,
		    enum sp_dir dir, const char *detail);
	void	*ud;
};

/* Fill *o with the defaults above (cancel_fd = -1). */
SP_EXTERN void sp_client_options_default(struct sp_client_options *o);

/*
 * One complete reply, owned by the client and valid until the next
 * call on it.  text is every line's text after "NNN-"/"NNN ",
 * joined with "\n" and NUL-terminated; raw is the exact bytes.
 */
struct sp_client_reply {
	int			 code;		/* 0 if malformed */
	struct sp_smtp_enhanced	 enhanced;
	const char		*text;
	const uint8_t		*raw;
	size_t			 raw_len;
	size_t			 nlines;
	enum sp_smtp_reply_kind	 kind;
	enum sp_smtp_verb	 verb;		/* the command answered */
	int			 intermediate;	/* 334 in an AUTH exchange */
	uint64_t		 latency_ns;	/* write -> final line */
	unsigned		 anomalies;	/* raised while parsing it */
	enum sp_anomaly		 first_anomaly;	/* if anomalies > 0 */
};

/* What a wait saw (sp_client_wait). */
enum sp_client_event {
	SP_CLIENT_EV_SILENCE = 0,	/* nothing arrived in time */
	SP_CLIENT_EV_DATA,		/* bytes arrived (not consumed) */
	SP_CLIENT_EV_CLOSED,		/* orderly close (FIN, close_notify) */
	SP_CLIENT_EV_RESET		/* connection reset (RST) */
};

/* The peer certificate and session, after a TLS handshake. */
struct sp_client_tls_info {
	char		protocol[16];	/* "TLSv1.3" */
	char		cipher[64];
	char		subject[256];	/* one-line RFC 2253 form */
	char		issuer[256];
	char		sans[512];	/* "DNS:a, IP:127.0.0.1", cut */
	int64_t		not_after;	/* Unix time; 0 if unknown */
	int		verified;	/* chain and name checked, OK */
	char		verify_error[128]; /* "" or OpenSSL's reason */
};

/*
 * Create a client (not connected).  o is copied (NULL: defaults).
 * Returns SP_E_OK, SP_E_INVAL (NULL out) or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_client_new(sp_client **out,
    const struct sp_client_options *o);

/* Close the connection and free; NULL does nothing. */
SP_EXTERN void sp_client_free(sp_client *c);

/*
 * Connect to host:port (a name, an IPv4 or an IPv6 literal), trying
 * each address getaddrinfo gives in the family asked for, each bounded
 * by connect_ms; with implicit_tls the handshake follows.  The
 * greeting is not read: call sp_client_read_reply().  Returns SP_E_OK,
 * SP_E_STATE (already connected), SP_E_INVAL, SP_E_IO (resolution or
 * connection failed, e.g. refused), SP_E_TIMEOUT, SP_E_CANCELLED,
 * SP_E_TLS or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_client_connect(sp_client *c, const char *host,
    const char *port);

/* The last error's sentence; "" if none.  Never NULL. */
SP_EXTERN const char *sp_client_errmsg(const sp_client *c);

struct addrinfo;

/*
 * The addresses sp_client_connect() tries for host:port, in its order
 * (free them with freeaddrinfo()): an address literal without asking
 * the name service, else getaddrinfo with AI_ADDRCONFIG, else without
 * it (hosts with loopback only).  For engines of their own that must
 * reach the same addresses.  SP_E_OK, or SP_E_IO with msg set.
 */
SP_EXTERN sp_err sp_client_resolve(enum sp_client_family family,
    const char *host, const char *port, struct addrinfo **res, char *msg,
    size_t cap);

/*
 * Send bytes exactly as given, in one write(2) / SSL_write as far as
 * the kernel takes them (the rest follows, each wait bounded by
 * data_block_ms).  Never raises SIGPIPE.  Returns SP_E_OK,
 * SP_E_INVAL, SP_E_STATE (not connected or closed), SP_E_TIMEOUT, SP_E_CANCELLED, SP_E_CLOSED, SP_E_RESET,
 * SP_E_IO, SP_E_TLS or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_client_send_raw(sp_client *c, const void *p, size_t n);

/* Send one line with CRLF appended.  Returns as sp_client_send_raw(). */
SP_EXTERN sp_err sp_client_send_line(sp_client *c, const char *line,
    size_t len);

/*
 * Send n lines, each with CRLF appended, in ONE write (an RFC 2920
 * pipelined group).  Returns as sp_client_send_raw(), or SP_E_LIMIT
 * if the group is over 1 MiB.
 */
SP_EXTERN sp_err sp_client_send_pipeline(sp_client *c,
    const char *const *lines, const size_t *lens, size_t n);

/*
 * Send a message after a 354: dot-stuffed (RFC 5321 4.5.2), bare LF
 * made CRLF when crlf is set, then CRLF.CRLF, written in 64 KiB
 * blocks.  Returns as sp_client_send_raw().
 */
SP_EXTERN sp_err sp_client_send_message(sp_client *c, const uint8_t *msg,
    size_t n, int crlf);

/*
 * Send "BDAT <n>[ LAST]" and the chunk in one write (RFC 3030 2).
 * Returns as sp_client_send_raw().
 */
SP_EXTERN sp_err sp_client_send_bdat(sp_client *c, const uint8_t *chunk,
    size_t n, int last);

/*
 * Wait for the next complete reply.  timeout_ms < 0 takes the phase's
 * timeout from the command awaiting a reply (greeting, MAIL, RCPT,
 * DATA...).  *r is valid until the next call.  Returns SP_E_OK,
 * SP_E_INVAL, SP_E_STATE, SP_E_TIMEOUT, SP_E_CANCELLED, SP_E_CLOSED (orderly close
 * first), SP_E_RESET, SP_E_LIMIT (reply over max_reply_bytes: the
 * connection is then unusable), SP_E_IO, SP_E_TLS or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_client_read_reply(sp_client *c, int timeout_ms,
    struct sp_client_reply *r);

/*
 * Wait up to timeout_ms for anything from the server: received bytes
 * stay buffered for sp_client_read_reply().  *ev says what happened;
 * SP_CLIENT_EV_SILENCE is the "expect silence" success.  Returns
 * SP_E_OK, SP_E_INVAL, SP_E_STATE, SP_E_CANCELLED, SP_E_IO or SP_E_TLS.
 */
SP_EXTERN sp_err sp_client_wait(sp_client *c, int timeout_ms,
    enum sp_client_event *ev);

/*
 * STARTTLS upgrade after the server's 220 (RFC 3207 4): any plaintext
 * already received is reported (SP_ANOM_SMTP_STARTTLS_RESPONSE_
 * INJECTION) and dropped, then the handshake runs; afterwards the
 * client knows nothing of the earlier session (RFC 3207 4.2).
 * Returns SP_E_OK, SP_E_STATE (not connected or already TLS),
 * SP_E_TLS (handshake or verification failed; see errmsg),
 * SP_E_TIMEOUT, SP_E_CANCELLED, SP_E_CLOSED, SP_E_RESET or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_client_tls_upgrade(sp_client *c);

/*
 * Send STARTTLS, read the reply into *r and, if it is 220, upgrade.
 * Returns as sp_client_send_line(), sp_client_read_reply() and
 * sp_client_tls_upgrade(); a reply other than 220 is SP_E_OK with
 * r->code telling (no handshake).
 */
SP_EXTERN sp_err sp_client_starttls(sp_client *c, struct sp_client_reply *r);

/* 1 when TLS is on, and *info (may be NULL) filled in. */
SP_EXTERN int sp_client_tls_info(const sp_client *c,
    struct sp_client_tls_info *info);

/*
 * The capabilities of the last accepted EHLO reply, or NULL before
 * one (and after STARTTLS until the next).  Owned by the client.
 */
SP_EXTERN const struct sp_smtp_capabilities *sp_client_capabilities(
    const sp_client *c);

/* Parser counters (commands, replies, anomalies...) of the session. */
SP_EXTERN void sp_client_get_info(const sp_client *c,
    struct sp_smtp_info *info);

/* 1 while connected and not closed by either side. */
SP_EXTERN int sp_client_is_open(const sp_client *c);

/* Close the connection (TLS close_notify first); the handle stays. */
SP_EXTERN void sp_client_close(sp_client *c);

/* ------------------------------------------------------------------
 * Encoders: pure functions, no I/O (client_encode.c).  Outputs are
 * NUL-terminated; *len excludes the NUL.  All return SP_E_OK,
 * SP_E_LIMIT (out too small) or SP_E_INVAL.
 */

/* RFC 4648 4 base64. */
SP_EXTERN sp_err sp_base64_encode(char *out, size_t cap, size_t *len,
    const uint8_t *in, size_t n);

/* Strict base64 decoding (padding required); SP_E_FORMAT if bad. */
SP_EXTERN sp_err sp_base64_decode(uint8_t *out, size_t cap, size_t *len,
    const char *in, size_t n);

/* RFC 4616: base64(authzid NUL authcid NUL passwd); authzid may be "". */
SP_EXTERN sp_err sp_auth_plain(char *out, size_t cap, size_t *len,
    const char *authzid, const char *user, const char *pass);

/*
 * RFC 2195: base64(user SP hex(HMAC-MD5(secret, challenge))), the
 * challenge given as the base64 text of the 334 reply.  Also
 * SP_E_FORMAT (bad challenge) and SP_E_INTERNAL (OpenSSL failed).
 */
SP_EXTERN sp_err sp_auth_cram_md5(char *out, size_t cap, size_t *len,
    const char *user, const char *secret, const char *challenge_b64);

/* XOAUTH2: base64("user=" U ^A "auth=Bearer " T ^A ^A). */
SP_EXTERN sp_err sp_auth_xoauth2(char *out, size_t cap, size_t *len,
    const char *user, const char *token);

/*
 * Streaming DATA encoder (RFC 5321 4.5.2 transparency): a "." that
 * starts a line gets another; with crlf set a bare LF becomes CRLF.
 * Lines start after each LF.  update() writes at most 2 * n bytes;
 * final() writes at most 5: CRLF if the message did not end with one,
 * then ".\r\n".
 */
struct sp_data_enc {
	int	bol;		/* at the beginning of a line */
	int	cr;		/* last byte was CR */
	int	crlf;		/* normalise bare LF */
	int	empty;		/* nothing encoded yet */
	int	eol;		/* the output ends with CRLF */
};

SP_EXTERN void sp_data_enc_init(struct sp_data_enc *e, int crlf);
SP_EXTERN size_t sp_data_enc_update(struct sp_data_enc *e,
    const uint8_t *in, size_t n, uint8_t *out);
SP_EXTERN size_t sp_data_enc_final(struct sp_data_enc *e, uint8_t *out);

/* "BDAT <n>[ LAST]\r\n" into out (cap >= 32); returns its length. */
SP_EXTERN size_t sp_bdat_header(char *out, size_t cap, uint64_t n,
    int last);

#endif /* SMTPPROTO_CLIENT_H */
