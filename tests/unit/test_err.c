/* The error, anomaly and flow-end tables: names round-trip, none empty. */
#include <smtpproto/smtpproto.h>

#include "check.h"

int
main(void)
{
	CHECK_STREQ(sp_strerror(SP_E_NOMEM), "out of memory");
	CHECK_STREQ(sp_errname(SP_E_LIMIT), "SP_E_LIMIT");
	CHECK_STREQ(sp_strerror((sp_err)-999), "unknown error");
	for (int a = 0; a < SP_ANOM__COUNT; a++) {
		const char *n = sp_anomaly_name((enum sp_anomaly)a);

		CHECK(n[0] != '\0' && strcmp(n, "unknown") != 0, "%d", a);
		CHECK_EQ(sp_anomaly_from_name(n), a, "%s", n);
		for (int b = 0; b < a; b++)
			CHECK(strcmp(n, sp_anomaly_name((enum sp_anomaly)b))
			    != 0, "duplicate name %s", n);
	}
	CHECK_EQ(sp_anomaly_from_name("no_such_anomaly"), -1);
	CHECK_STREQ(sp_anomaly_name(SP_ANOM_TCP_GAP), "tcp_gap");
	CHECK_STREQ(sp_flow_end_name(SP_FLOW_END_EVICTED), "evicted");
	return (check_done("test_err"));
}
