/*
 * anomaly.h - protocol deviations, reported as events.
 *
 * Parsing always goes on after an anomaly (Suricata's decoder events,
 * minus its habit of giving up).  Each anomaly has a stable string
 * name, which is what tools print and what users filter on: never
 * rename one, only add.  Entries are grouped by the layer that raises
 * them; append new ones at the end of their group.
 */
#ifndef SMTPPROTO_ANOMALY_H
#define SMTPPROTO_ANOMALY_H

#include "common.h"

#define SP_ANOMALY_MAP(X)						\
	/* Link and IP layers (decode.c, ipfrag.c). */			\
	X(PKT_TRUNCATED,	"pkt_truncated",			\
	    "packet shorter than its headers say")			\
	X(PKT_BAD_IP_HEADER,	"pkt_bad_ip_header",			\
	    "malformed IPv4 or IPv6 header")				\
	X(PKT_BAD_TCP_HEADER,	"pkt_bad_tcp_header",			\
	    "malformed TCP header")					\
	X(PKT_SNAPLEN_CUT,	"pkt_snaplen_cut",			\
	    "payload cut by the capture's snap length")			\
	X(IP_FRAG_OVERLAP,	"ip_frag_overlap",			\
	    "overlapping IPv4 fragments")				\
	X(IP_FRAG_LIMIT,	"ip_frag_limit",			\
	    "fragment reassembly memory cap reached, datagram dropped")	\
	X(IP_FRAG_TIMEOUT,	"ip_frag_timeout",			\
	    "incomplete fragmented datagram expired")			\
	/* TCP reassembly (tcp_reasm.c). */				\
	X(TCP_GAP,		"tcp_gap",				\
	    "bytes missing from the stream")				\
	X(TCP_OVERLAP_CONFLICT,	"tcp_overlap_conflict",			\
	    "overlapping segments carry different data")		\
	X(TCP_RETRANSMISSION,	"tcp_retransmission",			\
	    "segment repeats bytes already seen")			\
	X(TCP_BEFORE_START,	"tcp_before_start",			\
	    "data before the first sequence number seen, dropped")	\
	X(TCP_DATA_AFTER_CLOSE,	"tcp_data_after_close",			\
	    "data after FIN or RST, dropped")				\
	X(TCP_FLOW_BUFFER_FULL,	"tcp_flow_buffer_full",			\
	    "out-of-order buffer cap reached, gap declared")		\
	X(TCP_MIDSTREAM,	"tcp_midstream",			\
	    "flow picked up without its handshake")			\
	/* SMTP dialogue (smtp_*.c). */					\
	X(SMTP_BARE_LF,		"smtp_bare_lf",				\
	    "line ended by LF without CR")				\
	X(SMTP_BARE_CR,		"smtp_bare_cr",				\
	    "CR not followed by LF")					\
	X(SMTP_NUL,		"smtp_nul",				\
	    "NUL byte in a command or reply")				\
	X(SMTP_LINE_TOO_LONG,	"smtp_line_too_long",			\
	    "line longer than RFC 5321 4.5.3.1 allows")			\
	X(SMTP_SMUGGLING,	"smtp_smuggling",			\
	    "non-CRLF end-of-data sequence inside DATA")		\
	X(SMTP_CMD_IN_DATA,	"smtp_command_in_data",			\
	    "SMTP command line inside message data")			\
	X(SMTP_BAD_REPLY,	"smtp_bad_reply",			\
	    "malformed reply line")					\
	X(SMTP_REPLY_CODE_MISMATCH, "smtp_reply_code_mismatch",		\
	    "multi-line reply changes its code")			\
	X(SMTP_UNEXPECTED_REPLY, "smtp_unexpected_reply",		\
	    "reply not matching any command")				\
	X(SMTP_CMD_AFTER_QUIT,	"smtp_command_after_quit",		\
	    "command after QUIT")					\
	X(SMTP_UNADVERTISED_PIPELINING, "smtp_unadvertised_pipelining",	\
	    "commands pipelined without PIPELINING advertised")		\
	X(SMTP_BDAT_SIZE_MISMATCH, "smtp_bdat_size_mismatch",		\
	    "BDAT chunk size does not match the bytes sent")		\
	X(SMTP_STARTTLS_INJECTION, "smtp_starttls_injection",		\
	    "plaintext sent after STARTTLS before the TLS handshake")	\
	X(SMTP_STARTTLS_RESPONSE_INJECTION,				\
	    "smtp_starttls_response_injection",				\
	    "server plaintext after its 220 to STARTTLS")		\
	X(SMTP_STARTTLS_REOFFERED, "smtp_starttls_reoffered",		\
	    "STARTTLS offered again after TLS")				\
	X(SMTP_AUTH_PLAINTEXT,	"smtp_auth_plaintext",			\
	    "AUTH PLAIN or LOGIN without TLS")				\
	X(SMTP_BAD_COMMAND,	"smtp_bad_command",			\
	    "malformed command syntax")					\
	X(SMTP_BAD_PATH,	"smtp_bad_path",			\
	    "malformed MAIL or RCPT path")				\
	X(SMTP_TOO_MANY_RCPTS,	"smtp_too_many_recipients",		\
	    "recipient limit reached, further recipients not kept")	\
	X(SMTP_PIPELINE_LIMIT,	"smtp_pipeline_limit",			\
	    "too many commands awaiting replies")			\
	X(SMTP_GAP,		"smtp_gap",				\
	    "stream gap; parser resynchronised")			\
	X(SMTP_MIDSTREAM,	"smtp_midstream",			\
	    "session picked up after its start")			\
	X(SMTP_MESSAGE_INCOMPLETE, "smtp_message_incomplete",		\
	    "message has bytes missing")				\
	X(SMTP_TRANSACTION_LIMIT, "smtp_transaction_limit",		\
	    "too many transactions in one session")			\
	X(SMTP_BAD_BASE64,	"smtp_bad_base64",			\
	    "malformed base64 in AUTH")					\
	X(SMTP_REPLY_TOO_MANY_LINES, "smtp_reply_too_many_lines",	\
	    "multi-line reply longer than max_reply_lines; rest not kept") \
	X(SMTP_TLS_UNEXPECTED,	"smtp_tls_unexpected",			\
	    "TLS record where plaintext SMTP was expected")		\
	/* Message and MIME (mime*.c). */				\
	X(MIME_BARE_LF,		"mime_bare_lf",				\
	    "bare LF or CR in the message")				\
	X(MIME_HEADER_NO_COLON,	"mime_header_no_colon",			\
	    "header line without a colon")				\
	X(MIME_HEADER_TOO_LONG,	"mime_header_too_long",			\
	    "header line longer than 998 characters (RFC 5322 2.1.1)")	\
	X(MIME_HEADERS_TOO_BIG,	"mime_headers_too_big",			\
	    "header block over the configured limit")			\
	X(MIME_DUPLICATE_HEADER, "mime_duplicate_header",		\
	    "From, Date, Subject or To given more than once")		\
	X(MIME_BAD_BASE64,	"mime_bad_base64",			\
	    "malformed base64 content")					\
	X(MIME_BAD_QP,		"mime_bad_qp",				\
	    "malformed quoted-printable content")			\
	X(MIME_DEPTH_LIMIT,	"mime_depth_limit",			\
	    "MIME nesting deeper than the limit")			\
	X(MIME_PARTS_LIMIT,	"mime_parts_limit",			\
	    "more MIME parts than the limit")				\
	X(MIME_BOUNDARY_TOO_LONG, "mime_boundary_too_long",		\
	    "multipart boundary longer than RFC 2046 allows")		\
	X(MIME_MISSING_BOUNDARY, "mime_missing_boundary",		\
	    "multipart without a boundary parameter")			\
	X(MIME_UNCLOSED_MULTIPART, "mime_unclosed_multipart",		\
	    "multipart ended without its closing boundary")		\
	X(MIME_BAD_ENCODED_WORD, "mime_bad_encoded_word",		\
	    "malformed RFC 2047 encoded word")				\
	X(MIME_UNKNOWN_CHARSET,	"mime_unknown_charset",			\
	    "charset not known; bytes kept as they are")

enum sp_anomaly {
#define SP_ANOM_ENUM(name, str, desc)	SP_ANOM_##name,
	SP_ANOMALY_MAP(SP_ANOM_ENUM)
#undef SP_ANOM_ENUM
	SP_ANOM__COUNT
};

/* Stable short name, e.g. "tcp_gap".  Never NULL. */
SP_EXTERN const char *sp_anomaly_name(enum sp_anomaly a);

/* One-line description.  Never NULL. */
SP_EXTERN const char *sp_anomaly_desc(enum sp_anomaly a);

/* Inverse of sp_anomaly_name(); returns -1 when name is unknown. */
SP_EXTERN int sp_anomaly_from_name(const char *name);

#endif /* SMTPPROTO_ANOMALY_H */
