/*
 * capture.h - reading packets from pcap/pcapng files, standard input
 * or a live interface, through libpcap.  This is the only module that
 * knows libpcap exists.
 *
 * sp_capture_next() hands back decoded TCP segments, reassembling
 * IPv4 fragments on the way.  Frames that are not TCP are counted and
 * skipped; malformed ones are counted per anomaly.
 */
#ifndef SMTPPROTO_CAPTURE_H
#define SMTPPROTO_CAPTURE_H

#include "packet.h"

typedef struct sp_capture sp_capture;

/* Options for a live capture; zero fields take libpcap's defaults. */
struct sp_capture_live_opts {
	const char	*filter;	/* BPF expression, or NULL */
	int		 snaplen;	/* 0: 262144 */
	int		 buffer_size;	/* kernel buffer bytes; 0: default */
	int		 promisc;
	int		 timeout_ms;	/* read timeout; 0: 100 ms */
};

/*
 * Open a pcap or pcapng file; path "-" reads standard input.  filter,
 * if not NULL, is a BPF expression applied to every packet.  On
 * failure *out is NULL and errbuf holds a message naming the file.
 * Returns SP_E_OK, SP_E_IO (cannot open or not a capture),
 * SP_E_TRUNCATED (the file ends inside its file header),
 * SP_E_FORMAT (a capture header libpcap cannot use),
 * SP_E_UNSUPPORTED (link type not handled; the message names it),
 * SP_E_INVAL (bad filter) or SP_E_NOMEM.
 */
SP_EXTERN sp_err sp_capture_open_file(sp_capture **out, const char *path,
    const char *filter, const struct sp_limits *lim, char *errbuf,
    size_t errlen);

/*
 * Open a live interface ("any" included).  The interface is opened
 * and activated here, so the caller can drop privileges right after.
 * Same returns as sp_capture_open_file(), plus SP_E_IO when the
 * interface cannot be opened (message says why, e.g. permissions).
 */
SP_EXTERN sp_err sp_capture_open_live(sp_capture **out, const char *iface,
    const struct sp_capture_live_opts *opts, const struct sp_limits *lim,
    char *errbuf, size_t errlen);

SP_EXTERN void sp_capture_free(sp_capture *c);

/*
 * Next TCP segment.  Returns
 *   SP_E_OK         *pkt is filled; valid until the next call;
 *   SP_E_AGAIN      live capture only: the read timed out, nothing yet
 *                   (call again; lets the caller check signals);
 *   SP_E_EOF        end of the file, or sp_capture_break() was called;
 *   SP_E_TRUNCATED  the file ends inside a record;
 *   SP_E_FORMAT     a corrupt record (bad length, bad block);
 *   SP_E_IO         a read error.
 * After an error, sp_capture_error() names the file and the byte offset
 * where reading stopped; everything before it was returned.  Errors and
 * SP_E_EOF are sticky.  Out of memory while reassembling IPv4
 * fragments is not an error: the datagram is dropped and counted as
 * SP_ANOM_IP_FRAG_LIMIT.
 */
SP_EXTERN sp_err sp_capture_next(sp_capture *c, struct sp_packet *pkt);

/* Make a blocked or later sp_capture_next() return SP_E_EOF. Signal-safe. */
SP_EXTERN void sp_capture_break(sp_capture *c);

/* The last error message, or "" when there was none. */
SP_EXTERN const char *sp_capture_error(const sp_capture *c);

/* The link type of the capture (pcap LINKTYPE_ value). */
SP_EXTERN int sp_capture_linktype(const sp_capture *c);

/* Descriptor a live capture can be polled on, or -1. */
SP_EXTERN int sp_capture_fd(const sp_capture *c);

struct sp_capture_stats {
	uint64_t	frames;		/* records read */
	uint64_t	bytes;		/* captured bytes of those records */
	uint64_t	tcp;		/* TCP segments returned */
	uint64_t	other;		/* not TCP/IP, skipped */
	uint64_t	malformed;	/* undecodable frames */
	uint64_t	anomalies[SP_ANOM__COUNT];
	uint64_t	offset;		/* bytes of the file consumed */
	uint64_t	file_size;	/* 0 if unknown (stdin, live) */
	/* Live only: from pcap_stats(); 0 for files. */
	uint64_t	kernel_received;
	uint64_t	kernel_dropped;
	uint64_t	iface_dropped;
	struct sp_ipfrag_stats frag;
};

/* Fill *st; for live captures this queries the kernel's counters. */
SP_EXTERN void sp_capture_get_stats(sp_capture *c, struct sp_capture_stats *st);

#endif /* SMTPPROTO_CAPTURE_H */
