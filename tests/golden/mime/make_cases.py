#!/usr/bin/python3
"""Write the golden MIME inputs (*.eml, *.lim) of this folder.

The .eml files are committed; this script documents how each was made
and remakes them.  The expected logs (*.ref) come from the parser
(SP_UPDATE_GOLDEN=1 build/tests/unit_test_mime_golden) and were checked
by hand: review any change to them.
"""
import base64
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def lcg_bytes(n, seed=12345):
    """The same pseudo-random bytes test_mime_unit.c makes (LCG)."""
    out = bytearray()
    x = seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7fffffff
        out.append((x >> 16) & 0xff)
    return bytes(out)


def b64lines(data, width=76):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + width] for i in range(0, len(s), width))


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def write(name, body, lim=None, raw=False):
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    if not raw:
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with open(os.path.join(HERE, name + ".eml"), "wb") as f:
        f.write(data)
    if lim:
        with open(os.path.join(HERE, name + ".lim"), "w") as f:
            for k, v in lim.items():
                f.write("%s %d\n" % (k, v))


HDR = """Received: from a.example (a.example [192.0.2.1])
\tby mx.example with ESMTP id 123; Mon, 1 Jan 2024 10:00:00 +0000
Date: Mon, 1 Jan 2024 10:00:00 +0000
From: Alice <alice@example.org>
To: Bob <bob@example.net>
Message-ID: <m1@example.org>
"""

write("01_simple_text", HDR + """Subject: Hello
X-Mailer: test 1.0

Hello Bob,
see https://example.org/a?b=c&d=e, or www.example.com/path.

--
Alice
""")

write("02_mixed_base64", HDR + """Subject: report
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX-1"

This is a multi-part message in MIME format.
--XX-1
Content-Type: text/plain; charset=utf-8

The report is attached.
--XX-1
Content-Type: application/octet-stream; name="data.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="data.bin"

""" + b64lines(lcg_bytes(3000)) + """
--XX-1--
""")

write("03_qp_text", HDR + """Subject: qp
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 cr=e8me =3D 3 euros, a soft=
 break, trailing blanks   \t
and a long line that goes on and on and on and on and on and on and on a=
nd ends here.
""")

write("04_alt_in_mixed", HDR + """Subject: alt
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=us-ascii

plain text http://plain.example/
--inner
Content-Type: text/html; charset=us-ascii

<p><a href="https://html.example/x">link</a></p>
--inner--

--outer
Content-Type: image/png; name=pic.png
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--outer--
""")

write("05_rfc822_attached", HDR + """Subject: Fwd: inner
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

See the forwarded message.
--b1
Content-Type: message/rfc822
Content-Disposition: attachment; filename="fwd.eml"

Date: Sun, 31 Dec 2023 09:00:00 +0000
From: Mallory <mallory@evil.example>
To: Alice <alice@example.org>
Subject: inner subject
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b2"

--b2
Content-Type: text/plain

inner text
--b2--
--b1--
""")

write("06_rfc2231", HDR + """Subject: 2231
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="z"

--z
Content-Type: application/pdf;
 name="fallback.pdf"
Content-Disposition: attachment;
 filename*0*=utf-8'en'%E2%82%AC%20rates%20;
 filename*2="2024.pdf";
 filename*1*=%C3%A9t%C3%A9%20
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--z
Content-Type: text/plain; name*=iso-8859-1''na%EFve.txt

only a name
--z
Content-Type: application/octet-stream; name="only-name.dat"

x
--z--
""")

write("07_rfc2047", HDR.replace("From: Alice <alice@example.org>",
      "From: =?utf-8?Q?Andr=C3=A9?= <andre@example.org>") +
      """Subject: =?utf-8?B?SGVsbG8g?= =?utf-8?Q?w=C3=B6rld?=
 =?UTF-8?q?_again?= plain text =?iso-8859-1?q?fin_=E9?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="w"

--w
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment; filename="=?utf-8?B?w6nDqMOgLnR4dA==?="

x
--w
Content-Type: text/plain; name="=?utf-8?Q?split_=E2=82?= =?utf-8?Q?=AC.txt?="

y
--w--
""")

CHARSETS = [
    ("iso-8859-1", "Q", "Déjà vu"),
    ("iso-8859-15", "Q", "€uro"),
    ("windows-1252", "Q", "“quoted”"),
    ("windows-1251", "B", "Привет"),
    ("koi8-r", "B", "Привет"),
    ("iso-8859-2", "Q", "Łódź"),
    ("gb2312", "B", "你好"),
    ("gbk", "B", "中文"),
    ("big5", "B", "繁體"),
    ("shift_jis", "B", "日本語"),
    ("euc-jp", "B", "日本語"),
    ("iso-2022-jp", "B", "日本語"),
    ("utf-16", "B", "Hi"),
    ("utf-16le", "B", "Hi"),
]


def enc_word(cs, enc, text):
    raw = text.encode(cs)
    if enc == "B":
        return "=?%s?B?%s?=" % (cs, base64.b64encode(raw).decode())
    q = "".join(chr(c) if (c < 128 and chr(c).isalnum()) else
                "_" if c == 32 else "=%02X" % c for c in raw)
    return "=?%s?Q?%s?=" % (cs, q)


lines = "".join("X-Charset-%d: %s\n" % (i, enc_word(*c))
                for i, c in enumerate(CHARSETS))
write("08_charsets", HDR + "Subject: charsets\n" + lines +
      "X-Unknown: =?x-no-such-charset?Q?abc=E9?=\n" +
      "X-Bad-Word: =?utf-8?X?abc?= and =?utf-8?B?####?=\n\nbody\n")

write("09_bad_base64", HDR + """Subject: bad b64
MIME-Version: 1.0
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

SGVs bG8g
d29y*bGQ!
IQ=
""")

write("10_bad_qp", HDR + """Subject: bad qp
MIME-Version: 1.0
Content-Type: text/plain
Content-Transfer-Encoding: Quoted-Printable

a=G1b =4
c= \t
d=zz=41=4a=
""")

write("11_missing_close", HDR + """Subject: unclosed
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="never"

--never
Content-Type: text/plain

first
--never
Content-Type: text/plain

second, and the message ends
""")

write("12_outer_closes_inner", HDR + """Subject: outer closes inner
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUT"

--OUT
Content-Type: multipart/related; boundary="IN"

--IN
Content-Type: text/plain

inner part, never closed
--OUT
Content-Type: text/plain

after
--OUT--
""")

nest = ""
for i in range(4):
    nest += "Content-Type: multipart/mixed; boundary=\"L%d\"\n\n--L%d\n" % (i, i)
nest += "Content-Type: text/plain\n\ndeep\n"
for i in reversed(range(4)):
    nest += "--L%d--\n" % i
write("13_depth_limit", HDR + "Subject: deep\nMIME-Version: 1.0\n" + nest,
      lim={"max_mime_depth": 2})

write("14_no_colon", HDR + """Subject: no colon
This line has no colon
X-After: would be a header

body
""")

write("15_header_too_long", HDR + "Subject: " + "x" * 1000 + "\n" +
      "X-Folded: a\n " + "y" * 600 + "\n " + "z" * 600 + "\n\nbody\n",
      lim={"max_header_line": 1100})

write("16_duplicate_from", HDR + """From: Eve <eve@evil.example>
Subject: one
subject: two
Bcc: x@example.org

body
""")

write("17_bare_lf", (HDR + "Subject: bare\n").replace("\n", "\r\n") +
      "X-Bare: a\rb\r\n\r\nline one\nline two\r\nend\r\n", raw=True)

html = b"""<html><body>
<a href="http://b64.example/one">one</a> <a href='https://b64.example/two?q=1&amp;r=2'>two</a>
mailto:someone@example.org ftp://ftp.example/file.txt (www.example.net/paren).
</body></html>
"""
write("18_url_base64_html", HDR + """Subject: html
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

""" + b64lines(html, 20) + "\n")

write("19_missing_boundary", HDR + """Subject: no boundary
MIME-Version: 1.0
Content-Type: multipart/mixed

--x
Content-Type: text/plain

text
--x--
""")

parts = "".join("--P\nContent-Type: text/plain\n\npart %d\n" % i
                for i in range(5))
write("20_parts_limit", HDR + """Subject: many parts
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=P

""" + parts + "--P--\n", lim={"max_mime_parts": 3})

write("21_preamble_epilogue", HDR + """Subject: pre/epi
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=_b"

preamble line 1
preamble line 2
--=_b \t
Content-Type: text/plain

one
--=_bogus
still one
--=_b
no headers here, the part starts with body text
--=_b
--=_b--  
epilogue
--=_b
more epilogue
""")

write("22_digest", HDR + """Subject: digest
MIME-Version: 1.0
Content-Type: multipart/digest; boundary="d"

--d

From: one@example.org
Subject: first digest message

first body
--d

From: two@example.org
Subject: second

second body
--d--
""")

longb = "L" * 80
write("23_long_boundary", HDR + """Subject: long boundary
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="%s"

--%s
Content-Type: text/plain

ok
--%s--
""" % (longb, longb, longb))

write("24_no_final_newline", (HDR + """Subject: no final newline
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="e"

--e
Content-Type: text/plain

last
--e--""").replace("\n", "\r\n"), raw=True)

write("25_headers_limit", HDR + "Subject: many\nX-A: 1\nX-B: 2\n\nbody\n",
      lim={"max_headers": 3})

write("26_lf_only_multipart", (HDR + """Subject: unix
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="u"

--u
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

caf=C3=A9
--u--
"""), raw=True)

write("27_boundary_too_big", HDR + """Subject: boundary over the limit
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="%s"

--%s
text
""" % ("B" * 40, "B" * 40), lim={"max_boundary": 30})

# Base64 bodies in every line shape the whole-line fast path must hand
# back to the general steps: lines not in 4-character multiples,
# padding in mid-part, a CR inside a line, a bare LF, a line starting
# with '-' that is not a boundary, and lines longer than the fast
# path's 1024 characters.
b = base64.b64encode(lcg_bytes(900, seed=28)).decode()
lines = [b[i:i + 76] for i in range(0, 608, 76)]
body = "\r\n".join([
    "Subject: base64 line shapes", "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="--b28"', "",
    "----b28", "Content-Type: application/octet-stream",
    "Content-Transfer-Encoding: base64", ""] + lines + [
    b[608:685],                 # 77 characters
    "QQ==QUJD",                 # padding in mid-part
    b[0:40] + "\rXYZW",         # a CR inside a line
    b[40:80] + "\nQUJD",        # a bare LF
    "-QUJ", "----b28x"] + lines + [
    "----b28", "Content-Type: application/octet-stream",
    "Content-Transfer-Encoding: base64", "",
    b[0:1100], b[0:1024], "----b28--", ""])
write("28_base64_line_shapes", (HDR.replace("\n", "\r\n") + body).encode(),
      raw=True)
