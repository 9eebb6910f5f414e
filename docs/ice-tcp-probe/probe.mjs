import { chromium } from '/work/main/tests/browser/node_modules/playwright-core/index.mjs';
const extra = (process.env.EXTRA || '').split(/\s+/).filter(Boolean);
const gum = process.env.GUM === '1';
const proto = process.env.PROTO || 'tcp';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [
  '--no-sandbox','--disable-gpu','--no-first-run','--allow-loopback-in-peer-connection',
  '--use-fake-device-for-media-stream','--use-fake-ui-for-media-stream', ...extra] });
const page = await browser.newPage();
await page.goto('http://127.0.0.1:8000/index.html');
const out = await page.evaluate(async ({ gum, proto }) => {
  if (gum) { const s = await navigator.mediaDevices.getUserMedia({ video: true }); s.getTracks().forEach((t) => t.stop()); }
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 3000); });
  const sdp = pc.localDescription.sdp;
  const cands = sdp.split('\r\n').filter((l) => l.startsWith('a=candidate'));
  const mid = (sdp.match(/a=mid:(\S+)/) || [])[1];
  const tcpC = 'a=candidate:1 1 tcp 1518280447 127.0.0.1 8189 typ host tcptype passive';
  const udpC = 'a=candidate:2 1 udp 2130706431 127.0.0.1 8190 typ host';
  const cand = proto === 'tcp' ? tcpC : proto === 'udp' ? udpC : udpC + '\r\n' + tcpC;
  const answer = ['v=0','o=- 1 1 IN IP4 127.0.0.1','s=-','t=0 0','a=ice-lite','a=group:BUNDLE ' + mid,
    'm=video 9 UDP/TLS/RTP/SAVPF 96','c=IN IP4 0.0.0.0','a=mid:' + mid,
    'a=ice-ufrag:srvufrag','a=ice-pwd:srvpasswordsrvpassword24',
    'a=fingerprint:sha-256 ' + Array(32).fill('AB').join(':'),
    'a=setup:passive','a=sendonly','a=rtcp-mux','a=rtpmap:96 VP8/90000', cand, 'a=end-of-candidates',''].join('\r\n');
  const states = [];
  pc.oniceconnectionstatechange = () => states.push(pc.iceConnectionState);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  await new Promise((r) => setTimeout(r, 8000));
  const st = await pc.getStats();
  const pairs = [];
  st.forEach((s) => { if (s.type === 'candidate-pair') { const l = st.get(s.localCandidateId); pairs.push({ state: s.state, nominated: s.nominated, local: l && `${l.protocol}/${l.tcpType || '-'}/${l.candidateType} ${l.address}:${l.port}` }); } });
  return { gum, proto, cands, states, pairs };
}, { gum, proto });
console.log(JSON.stringify(out));
await browser.close();
