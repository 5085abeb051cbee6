/*
 * mime.h - the message and MIME push parser (I/O-free).
 *
 * Feed it the bytes of one message exactly as the server received
 * them (dot-unstuffed, in chunks of any size) and it reports, through
 * callbacks, every header field, the tree of MIME parts, the decoded
 * bytes of each leaf part, the URLs found in text parts and every
 * anomaly.  Memory is bounded by struct sp_limits: the message never
 * has to fit in memory (Postfix's mime_state is the model).
 *
 * Part paths.  The whole message is the root, path "" at depth 0.
 * The children of a multipart are numbered from 1 and appended with a
 * dot: "1", "2", "2.1".  A message/rfc822 part has exactly one child,
 * the message it encapsulates ("3" is the attachment's MIME part,
 * "3.1" the attached message, "3.1.2" the second part of that message
 * when it is multipart).  Every event carries the path, the depth and
 * msg_level, the number of message/rfc822 parts enclosing it: only a
 * header with msg_level 0 and depth 0 is a header of the outer message.
 *
 * Order of events for one part: its on_header events, on_part_begin,
 * then on_part_data (leaves only) and on_url, the events of its
 * children, and on_part_end.  Slices and strings in events are valid
 * only during the callback.  A callback returning nonzero aborts: the
 * call returns SP_E_CALLBACK and the error is sticky.  (SP_E_PAUSED is
 * not supported here: the SMTP layer above already owns flow control,
 * and a MIME event can fire in the middle of a decoded run.)
 */
#ifndef SMTPPROTO_MIME_H
#define SMTPPROTO_MIME_H

#include <stdbool.h>

#include "common.h"
#include "err.h"
#include "anomaly.h"
#include "limits.h"

typedef struct sp_mime_parser sp_mime_parser;	/* opaque */

/* What a part is, from its Content-Type. */
enum sp_mime_kind {
	SP_MIME_LEAF = 0,	/* data is decoded and reported */
	SP_MIME_MULTIPART,	/* children between boundaries */
	SP_MIME_MESSAGE		/* message/rfc822 (or global): one child */
};

/* Content-Transfer-Encoding (RFC 2045 6). */
enum sp_mime_cte {
	SP_MIME_CTE_7BIT = 0,	/* also when absent */
	SP_MIME_CTE_8BIT,
	SP_MIME_CTE_BINARY,
	SP_MIME_CTE_QP,
	SP_MIME_CTE_BASE64,
	SP_MIME_CTE_OTHER	/* unknown: passed through undecoded */
};

/* Content-Disposition (RFC 2183). */
enum sp_mime_disp {
	SP_MIME_DISP_NONE = 0,
	SP_MIME_DISP_INLINE,
	SP_MIME_DISP_ATTACHMENT,
	SP_MIME_DISP_OTHER
};

/*
 * One part.  The same descriptor is passed to on_part_begin,
 * on_part_data and on_part_end; the sizes are final in on_part_end.
 * Strings are NUL-terminated, lowercased where the RFCs say case does
 * not matter, and "" when absent.
 */
struct sp_mime_part {
	const char	*path;		/* "" for the root, "1.2" ... */
	unsigned	 depth;		/* 0 for the root */
	unsigned	 msg_level;	/* enclosing message/rfc822 parts */
	bool		 message_header; /* its header block is an RFC 5322
					   message header (root or the
					   child of message/rfc822) */
	enum sp_mime_kind kind;
	const char	*type;		/* "text", "multipart" ... */
	const char	*subtype;	/* "plain", "mixed" ... */
	const char	*charset;	/* "utf-8", "" when absent */
	const char	*boundary;	/* multiparts only, as written */
	enum sp_mime_cte cte;
	enum sp_mime_disp disposition;
	const char	*filename;	/* UTF-8: filename (RFC 2231 or 2047)
					   or else Content-Type name */
	uint64_t	 offset;	/* message offset of its headers */

	/* Final in on_part_end. */
	uint64_t	 raw_size;	/* body bytes as transferred */
	uint64_t	 decoded_size;	/* bytes given to on_part_data */
	uint64_t	 preamble_size;	/* multiparts: ignored bytes before */
	uint64_t	 epilogue_size;	/* and after the parts */
	uint64_t	 missing;	/* bytes lost in gaps */
	bool		 complete;	/* no gap, closed as it should be */
};

/* Header fields the session layer promotes, or OTHER. */
#define SP_MIME_FIELD_MAP(X)						\
	X(OTHER,			"")				\
	X(DATE,				"Date")				\
	X(FROM,				"From")				\
	X(SENDER,			"Sender")			\
	X(TO,				"To")				\
	X(CC,				"Cc")				\
	X(BCC,				"Bcc")				\
	X(REPLY_TO,			"Reply-To")			\
	X(SUBJECT,			"Subject")			\
	X(MESSAGE_ID,			"Message-ID")			\
	X(IN_REPLY_TO,			"In-Reply-To")			\
	X(REFERENCES,			"References")			\
	X(RECEIVED,			"Received")			\
	X(RETURN_PATH,			"Return-Path")			\
	X(X_MAILER,			"X-Mailer")			\
	X(USER_AGENT,			"User-Agent")			\
	X(X_ORIGINATING_IP,		"X-Originating-IP")		\
	X(MIME_VERSION,			"MIME-Version")			\
	X(CONTENT_TYPE,			"Content-Type")			\
	X(CONTENT_TRANSFER_ENCODING,	"Content-Transfer-Encoding")	\
	X(CONTENT_DISPOSITION,		"Content-Disposition")		\
	X(CONTENT_ID,			"Content-ID")			\
	X(CONTENT_DESCRIPTION,		"Content-Description")

enum sp_mime_field {
#define SP_MIME_FIELD_ENUM(name, str)	SP_MIME_F_##name,
	SP_MIME_FIELD_MAP(SP_MIME_FIELD_ENUM)
#undef SP_MIME_FIELD_ENUM
	SP_MIME_F__COUNT
};

/* One header field, unfolded (RFC 5322 2.2.3). */
struct sp_mime_header {
	const char	*path;		/* the part it belongs to */
	unsigned	 depth;
	unsigned	 msg_level;
	bool		 message_header; /* as in sp_mime_part */
	enum sp_mime_field field;	/* classified name */
	size_t		 index;		/* 0-based, in its header block */
	uint64_t	 offset;	/* message offset of the field */
	const uint8_t	*name;		/* as written, no trailing blanks */
	size_t		 name_len;
	const uint8_t	*value;		/* raw, unfolded, blanks trimmed */
	size_t		 value_len;
	const uint8_t	*decoded;	/* RFC 2047 words -> UTF-8 */
	size_t		 decoded_len;
	bool		 truncated;	/* cut at lim->max_header_line */
};

/* A URL found in the decoded text of a text/ part. */
struct sp_mime_url {
	const char	*path;
	const uint8_t	*url;
	size_t		 len;
};

struct sp_mime_anomaly {
	enum sp_anomaly	 code;
	uint64_t	 offset;	/* message offset where it was seen */
	const char	*path;		/* innermost open part */
	const char	*detail;	/* e.g. a field or charset name */
	size_t		 detail_len;	/* 0 when there is none */
};

/* Every callback may be NULL.  Return 0 to go on. */
struct sp_mime_callbacks {
	int	(*on_header)(void *ud, const struct sp_mime_header *h);
	int	(*on_part_begin)(void *ud, const struct sp_mime_part *p);
	int	(*on_part_data)(void *ud, const struct sp_mime_part *p,
		    const uint8_t *buf, size_t len);
	int	(*on_part_end)(void *ud, const struct sp_mime_part *p);
	int	(*on_url)(void *ud, const struct sp_mime_url *u);
	int	(*on_anomaly)(void *ud, const struct sp_mime_anomaly *a);
};

/*
 * Create a parser for one message.  lim (copied; NULL means the
 * defaults) bounds all memory: max_header_line, max_header_bytes,
 * max_headers, max_mime_depth (at most 1000), max_mime_parts,
 * max_boundary, max_urls.  cb is copied.
 * Returns SP_E_OK, SP_E_INVAL (out or cb NULL, a zero limit or
 * max_mime_depth over 1000) or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_mime_parser_new(sp_mime_parser **out,
    const struct sp_limits *lim, const struct sp_mime_callbacks *cb,
    void *ud);

/*
 * Parse the next len bytes of the message.  All of them are consumed.
 * Returns SP_E_OK, SP_E_CALLBACK, SP_E_NOMEM or SP_E_STATE (after
 * sp_mime_parser_finish); every error is sticky.
 */
SP_EXTERN sp_err sp_mime_parser_feed(sp_mime_parser *m, const uint8_t *buf,
    size_t len);

/*
 * n bytes of the message were lost (a TCP gap).  The open parts are
 * marked incomplete and their missing counts grow by n; the current
 * line is abandoned and parsing resynchronises at the next line,
 * where a boundary is recognised again.
 * Returns SP_E_OK, SP_E_CALLBACK, SP_E_NOMEM or SP_E_STATE.
 */
SP_EXTERN sp_err sp_mime_parser_gap(sp_mime_parser *m, uint64_t n);

/*
 * End of the message: a last line without line end is parsed, open
 * parts are ended (innermost first) and a multipart still waiting for
 * its closing boundary raises MIME_UNCLOSED_MULTIPART.
 * Returns SP_E_OK, SP_E_CALLBACK, SP_E_NOMEM or SP_E_STATE (twice).
 */
SP_EXTERN sp_err sp_mime_parser_finish(sp_mime_parser *m);

/*
 * Make m ready for the next message, as sp_mime_parser_new() with the
 * same limits and callbacks would, but keeping its memory: a consumer
 * that parses many messages reuses a parser instead of allocating one
 * each time.  ud replaces the user pointer.  A sticky error is
 * cleared.  No events are sent.
 */
SP_EXTERN void sp_mime_parser_reset(sp_mime_parser *m, void *ud);

/* Free the parser; NULL does nothing.  No events are sent. */
SP_EXTERN void sp_mime_parser_free(sp_mime_parser *m);

/* Bytes of the message seen so far, gaps included. */
SP_EXTERN uint64_t sp_mime_parser_offset(const sp_mime_parser *m);

/* Classify a field name, case-insensitively; SP_MIME_F_OTHER if none. */
SP_EXTERN enum sp_mime_field sp_mime_field_id(const uint8_t *name,
    size_t len);

/* Canonical spelling of a field ("Message-ID"); "" for OTHER. */
SP_EXTERN const char *sp_mime_field_name(enum sp_mime_field f);

/* "7bit", "quoted-printable" ...; "other" for SP_MIME_CTE_OTHER. */
SP_EXTERN const char *sp_mime_cte_name(enum sp_mime_cte c);

/*
 * Decode the RFC 2047 encoded words of a header value into UTF-8 in
 * out (at most outsz - 1 bytes, NUL-terminated, cut on a character
 * boundary).  *outlen gets the length.  Useful for values the caller
 * kept raw.  Returns SP_E_OK, SP_E_INVAL (outsz 0), SP_E_FORMAT (a
 * malformed word or unknown charset: the text is still decoded as well
 * as possible) or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_mime_decode_words(const uint8_t *in, size_t len,
    char *out, size_t outsz, size_t *outlen);

#endif /* SMTPPROTO_MIME_H */
