import socket, sys
sys.path.insert(0, "/work/main/target/webrtc-venv/lib/python3.11/site-packages")
from aioice import stun
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 8190)); print("udp listening", flush=True)
n = 0
while True:
    d, a = s.recvfrom(2048); n += 1
    try: m = stun.parse_message(d)
    except Exception: print("non-stun", a, flush=True); continue
    if n <= 2: print("udp frame", n, m.message_method.name, m.message_class.name, m.attributes.get("USERNAME"), a, flush=True)
    if m.message_class == stun.Class.REQUEST:
        r = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=m.transaction_id)
        r.attributes["XOR-MAPPED-ADDRESS"] = a; r.add_message_integrity(b"srvpasswordsrvpassword24"); s.sendto(bytes(r), a)
