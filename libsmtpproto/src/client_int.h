/*
 * client_int.h - the sp_client handle, shared by client.c (sockets,
 * replies) and client_tls.c (OpenSSL).  Not installed.
 */
#ifndef SP_CLIENT_INT_H
#define SP_CLIENT_INT_H

#include "internal.h"
#include "smtpproto/client.h"

#define SP_CLIENT_RBUF		16384
#define SP_CLIENT_MAX_GROUP	(1024 * 1024)

/* A command (or end of data) awaiting its final reply. */
struct pend {
	enum sp_smtp_verb	verb;
	int			greeting;
	int			data_end;
	uint64_t		ts;		/* write time, ns */
};

enum eof_kind { EOF_NONE = 0, EOF_FIN, EOF_RST };

struct sp_client {
	struct sp_client_options o;
	struct sp_limits	 lim;
	int			 fd;
	int			 connected;
	int			 broken;	/* a limit or parser error */
	enum eof_kind		 eof;
	char			 peer[300];	/* "host:port" for messages */
	char			 host[256];
	char			 err[300];

	void			*ssl_ctx;	/* SSL_CTX */
	void			*ssl;		/* SSL */
	struct sp_client_tls_info tls;

	sp_smtp_parser		*parser;
	uint8_t			 rbuf[SP_CLIENT_RBUF];
	size_t			 rpos, rlen;

	/* The reply being read. */
	struct sp_buf		 raw, text;
	struct sp_client_reply	 cur;
	int			 done;
	uint64_t		 now;		/* ts of the last read */

	/* Commands awaiting replies, mirroring the parser's queue. */
	struct pend		*q;
	size_t			 qhead, qlen, qcap;
	uint64_t		 last_write;

	/* The last EHLO's capabilities, copied. */
	struct sp_buf		 capbuf;
	struct sp_smtp_capability *capv;
	size_t			 capn;
	struct sp_smtp_capabilities caps;
	int			 have_caps;
};

sp_err	sp__client_err(sp_client *c, sp_err e, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
uint64_t sp__client_now(void);
/* Sleep ms unless cancelled: SP_E_OK or SP_E_CANCELLED. */
sp_err	sp__client_sleep(sp_client *c, unsigned ms);
/* Wait for events on the socket until deadline (ns, monotonic). */
sp_err	sp__client_poll(sp_client *c, short events, uint64_t deadline,
	    const char *what);

/* client_reply.c */
sp_err	sp__client_parser_new(sp_client *c);
sp_err	sp__client_feed(sp_client *c, enum sp_dir dir, const uint8_t *p,
	    size_t n);
void	sp__client_expect_greeting(sp_client *c);
sp_err	sp__client_restart_session(sp_client *c);	/* client.c */
sp_err	sp__client_read_some(sp_client *c, uint64_t deadline,
	    const char *what);

/* client_tls.c */
sp_err	sp__client_tls_start(sp_client *c, uint64_t deadline);
sp_err	sp__client_tls_read(sp_client *c, uint8_t *p, size_t cap,
	    size_t *n, short *want);
sp_err	sp__client_tls_write(sp_client *c, const uint8_t *p, size_t n,
	    size_t *done, short *want);
void	sp__client_tls_close(sp_client *c);

#endif /* SP_CLIENT_INT_H */
