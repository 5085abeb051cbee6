/*
 * limits.c - the documented defaults of struct sp_limits.
 * limits.h explains each value; keep the two in step.
 */
#include "internal.h"

void
sp_limits_default(struct sp_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->ip_frag_bytes = 4u << 20;
	lim->ip_frag_datagrams = 1024;
	lim->ip_frag_timeout = 30 * SP_TS_PER_SEC;

	lim->tcp_flows = 65536;
	lim->tcp_flow_buffer = 1u << 20;
	lim->tcp_total_buffer = 32u << 20;
	lim->tcp_retain = 4096;
	lim->tcp_idle_timeout = 300 * SP_TS_PER_SEC;
	lim->tcp_closed_linger = 5 * SP_TS_PER_SEC;
	lim->tcp_gap_ack_packets = 32;

	lim->max_line = 4096;
	lim->max_reply_lines = 128;
	lim->max_rcpts = 1000;
	lim->max_pipeline = 1000;
	lim->max_transactions = 10000;

	lim->max_header_line = 65536;
	lim->max_header_bytes = 1u << 20;
	lim->max_headers = 1000;
	lim->max_mime_depth = 20;
	lim->max_mime_parts = 10000;
	lim->max_boundary = 200;
	lim->max_urls = 1000;
}
