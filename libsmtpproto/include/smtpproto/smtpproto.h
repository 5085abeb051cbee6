/*
 * smtpproto.h - the umbrella header of libsmtpproto.
 *
 * Layers, each pushing into the next:
 *   capture.h  pcap/pcapng files and live interfaces (libpcap)
 *   packet.h   link/IP/TCP decoding, IPv4 fragments (pure)
 *   tcp.h      TCP stream reassembly (I/O-free)
 *   smtp.h     the SMTP dialogue push parser (I/O-free)
 *   mime.h     the message and MIME push parser (I/O-free)
 *   hash.h     MD5/SHA-1/SHA-256 for part data (OpenSSL)
 *   analyzer.h all of the above in one handle: packets in, session
 *              events out (what smtp-decode and smtp-shell use)
 *   client.h   a live SMTP client engine (sockets, OpenSSL)
 *   script.h   session scripts: reader, writer, runner, converter
 * Shared: common.h, err.h, anomaly.h, limits.h.
 */
#ifndef SMTPPROTO_H
#define SMTPPROTO_H

#include "common.h"
#include "err.h"
#include "anomaly.h"
#include "limits.h"
#include "packet.h"
#include "capture.h"
#include "tcp.h"
#include "smtp.h"
#include "mime.h"
#include "hash.h"
#include "analyzer.h"
#include "client.h"
#include "script.h"

#define SP_VERSION	"0.1.0"

/* The library's version string, e.g. "0.1.0". */
SP_EXTERN const char *sp_version(void);

#endif /* SMTPPROTO_H */
