# Minimal ICE-lite ICE-TCP passive responder (RFC 6544 + RFC 4571 framing), for probing Chromium.
import asyncio, struct, sys
sys.path.insert(0, "/work/main/target/webrtc-venv/lib/python3.11/site-packages")
from aioice import stun
UFRAG, PWD = "srvufrag", "srvpasswordsrvpassword24"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8189

async def handle(r, w):
    peer = w.get_extra_info("peername"); print("accepted", peer, flush=True)
    n = 0
    try:
        while True:
            hdr = await asyncio.wait_for(r.readexactly(2), 30)
            ln = struct.unpack("!H", hdr)[0]
            data = await r.readexactly(ln)
            n += 1
            try:
                m = stun.parse_message(data)
            except Exception as e:
                print("non-STUN frame", ln, "first byte", data[:1].hex(), flush=True); continue
            if n <= 3 or m.attributes.get("USE-CANDIDATE", 0) is None:
                print("frame", n, m.message_method.name, m.message_class.name, "USERNAME", m.attributes.get("USERNAME"), "USE-CANDIDATE" in m.attributes, flush=True)
            if m.message_method == stun.Method.BINDING and m.message_class == stun.Class.REQUEST:
                resp = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=m.transaction_id)
                resp.attributes["XOR-MAPPED-ADDRESS"] = (peer[0], peer[1])
                resp.add_message_integrity(PWD.encode())
                b = bytes(resp)
                w.write(struct.pack("!H", len(b)) + b); await w.drain()
    except Exception as e:
        print("conn end", peer, type(e).__name__, "frames", n, flush=True)

async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", PORT)
    print("listening", PORT, flush=True)
    async with s: await s.serve_forever()
asyncio.run(main())
