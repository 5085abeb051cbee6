"""pcapgen - write SMTP conversations as pcap files, for tests that need
traffic no real client would send (hostile sizes, endless replies).

Only the standard library: Ethernet + IPv4 + TCP with correct lengths,
a handshake, the payloads split into segments, and FINs.
"""
import struct


def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Writer:
    """Streams packets to a pcap file; conversations are written in turn."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.ts = 1700000000.0

    def packet(self, src, dst, sport, dport, seq, ack, flags, payload=b""):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                          ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload),
                         0, 0x4000, 64, 6, 0, bytes(src), bytes(dst))
        ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
        eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
        frame = eth + ip + tcp + payload
        self.ts += 0.0001
        sec = int(self.ts)
        self.f.write(struct.pack("<IIII", sec, int((self.ts - sec) * 1e6),
                                 len(frame), len(frame)))
        self.f.write(frame)

    def close(self):
        self.f.close()


class Conversation:
    """One TCP connection; client() and server() send bytes in order."""

    def __init__(self, w, cport, sport=25, client=(10, 0, 0, 1),
                 server=(10, 0, 0, 2), mss=1460):
        self.w, self.mss = w, mss
        self.c, self.s, self.cp, self.sp = client, server, cport, sport
        self.cseq, self.sseq = 1000, 5000
        w.packet(self.c, self.s, self.cp, self.sp, self.cseq - 1, 0, 0x02)
        w.packet(self.s, self.c, self.sp, self.cp, self.sseq - 1, self.cseq, 0x12)
        w.packet(self.c, self.s, self.cp, self.sp, self.cseq, self.sseq, 0x10)

    def client(self, data):
        for i in range(0, len(data), self.mss):
            part = data[i:i + self.mss]
            self.w.packet(self.c, self.s, self.cp, self.sp, self.cseq,
                          self.sseq, 0x18, part)
            self.cseq += len(part)

    def server(self, data):
        for i in range(0, len(data), self.mss):
            part = data[i:i + self.mss]
            self.w.packet(self.s, self.c, self.sp, self.cp, self.sseq,
                          self.cseq, 0x18, part)
            self.sseq += len(part)

    def close(self):
        self.w.packet(self.c, self.s, self.cp, self.sp, self.cseq, self.sseq, 0x11)
        self.w.packet(self.s, self.c, self.sp, self.cp, self.sseq, self.cseq + 1, 0x11)
