/*
 * err.c - names and descriptions of errors, anomalies and flow ends,
 * all generated from the X-macro tables in the public headers.
 */
#include <stdio.h>

#include "internal.h"

const char *
sp_strerror(sp_err e)
{
	switch (e) {
#define X(name, val, str)	case SP_E_##name: return (str);
	SP_ERR_MAP(X)
#undef X
	}
	return ("unknown error");
}

const char *
sp_errname(sp_err e)
{
	switch (e) {
#define X(name, val, str)	case SP_E_##name: return ("SP_E_" #name);
	SP_ERR_MAP(X)
#undef X
	}
	return ("SP_E_UNKNOWN");
}

static const char *const anomaly_names[] = {
#define X(name, str, desc)	str,
	SP_ANOMALY_MAP(X)
#undef X
};

static const char *const anomaly_descs[] = {
#define X(name, str, desc)	desc,
	SP_ANOMALY_MAP(X)
#undef X
};

const char *
sp_anomaly_name(enum sp_anomaly a)
{
	if ((unsigned)a >= SP_NELEM(anomaly_names))
		return ("unknown");
	return (anomaly_names[a]);
}

const char *
sp_anomaly_desc(enum sp_anomaly a)
{
	if ((unsigned)a >= SP_NELEM(anomaly_descs))
		return ("unknown anomaly");
	return (anomaly_descs[a]);
}

int
sp_anomaly_from_name(const char *name)
{
	for (size_t i = 0; i < SP_NELEM(anomaly_names); i++)
		if (strcmp(anomaly_names[i], name) == 0)
			return ((int)i);
	return (-1);
}

static const char *const flow_end_names[] = {
#define X(name, str, desc)	str,
	SP_FLOW_END_MAP(X)
#undef X
};

const char *
sp_flow_end_name(enum sp_flow_end r)
{
	if ((unsigned)r >= SP_NELEM(flow_end_names))
		return ("unknown");
	return (flow_end_names[r]);
}

const char *
sp_version(void)
{
	return (SP_VERSION);
}

void
sp__assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "libsmtpproto: assertion failed: %s (%s:%d)\n",
	    expr, file, line);
	abort();
}
