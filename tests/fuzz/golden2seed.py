import sys, glob, os, re
# Turn golden .in cases into fuzz seeds in fuzz_smtp.c's format.
def unesc(t):
    out=bytearray(); i=0
    while i < len(t):
        c=t[i]
        if c=='\\' and i+1<len(t):
            i+=1; d=t[i]
            m={'r':13,'n':10,'t':9,'0':0}
            if d in m: out.append(m[d])
            elif d=='x' and i+2<len(t) and re.match('[0-9a-fA-F]{2}',t[i+1:i+3]):
                out.append(int(t[i+1:i+3],16)); i+=2
            else: out += d.encode()
        else: out += c.encode()
        i+=1
    return bytes(out)
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for f in sorted(glob.glob(src+'/*.in')):
    segs=[]
    for line in open(f, encoding='utf-8'):
        line=line.rstrip('\r\n')
        if not line or line[0] in '#!': continue
        if line[0]=='G':
            segs.append(('gap', 0 if line[2]=='C' else 1, min(int(line[4:]),255))); continue
        d = 0 if line[0] in 'Cc' else 1
        b = unesc(line[3:]) + (b'\r\n' if line[1]==':' else b'')
        if line[0] in 'cs' and segs and segs[-1][0]=='data' and segs[-1][1]==d:
            segs[-1]=('data', d, segs[-1][2]+b)
        else: segs.append(('data', d, b))
    for segsz_code in (7, 0):
        seg = segsz_code*8+1
        out=bytearray([segsz_code])
        for s in segs:
            if s[0]=='gap': out += bytes([0xfe|s[1], s[2]]); continue
            b=s[2]
            for i in range(0, len(b), seg):
                out.append(s[1]); out += b[i:i+seg]
        name=os.path.basename(f)[:-3]+('' if segsz_code==7 else '-bytewise')
        open(os.path.join(dst,name),'wb').write(out)
