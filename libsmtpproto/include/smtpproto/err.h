/*
 * err.h - fatal error codes, from one X-macro table.
 *
 * An sp_err is fatal for the call (or sticky for the handle that
 * returned it).  Protocol deviations are not errors: they are
 * anomalies (anomaly.h), reported as events while parsing goes on.
 * 0 means success and every error is negative.
 */
#ifndef SMTPPROTO_ERR_H
#define SMTPPROTO_ERR_H

#include "common.h"

#define SP_ERR_MAP(X)							\
	X(OK,		  0, "success")					\
	X(NOMEM,	 -1, "out of memory")				\
	X(PAUSED,	 -2, "paused by callback")			\
	X(CALLBACK,	 -3, "callback failed")				\
	X(LIMIT,	 -4, "configured limit exceeded")		\
	X(INTERNAL,	 -5, "internal invariant violated")		\
	X(INVAL,	 -6, "invalid argument")			\
	X(IO,		 -7, "input/output error")			\
	X(FORMAT,	 -8, "malformed input")				\
	X(TRUNCATED,	 -9, "truncated input")				\
	X(UNSUPPORTED,	-10, "unsupported input")			\
	X(EOF,		-11, "end of input")				\
	X(AGAIN,	-12, "no data yet, try again")			\
	X(TIMEOUT,	-13, "timed out")				\
	X(CLOSED,	-14, "connection closed")			\
	X(TLS,		-15, "TLS failure")				\
	X(STATE,	-16, "operation not valid in this state")	\
	X(CANCELLED,	-17, "cancelled")				\
	X(RESET,	-18, "connection reset by peer")

typedef enum {
#define SP_ERR_ENUM(name, val, str)	SP_E_##name = (val),
	SP_ERR_MAP(SP_ERR_ENUM)
#undef SP_ERR_ENUM
} sp_err;

/* A sentence describing e, e.g. "out of memory". Never NULL. */
SP_EXTERN const char *sp_strerror(sp_err e);

/* The code's name, e.g. "SP_E_NOMEM". Never NULL. */
SP_EXTERN const char *sp_errname(sp_err e);

#endif /* SMTPPROTO_ERR_H */
