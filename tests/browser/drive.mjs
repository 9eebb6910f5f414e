// Drives headless Chromium (Debian's /usr/bin/chromium) through Ferrocast's own pages, for
// tests/browser_e2e.rs. Run it where the server is reachable on 127.0.0.1 only (the test
// runs everything in a loopback-only network namespace, `unshare -n`).
//
//   node drive.mjs player  URL [--seconds N]   open the player page URL, wait (up to 20 s)
//                                              for the picture, then measure N seconds
//   node drive.mjs publish URL [--seconds N]   open the publish page URL, click "Publish",
//                                              wait for the connection, publish N seconds,
//                                              click "Stop"
//
// Nothing is judged here: the test asserts on the numbers. The last line on stdout is one
// JSON object: the WHEP/WHIP exchange as it went over the wire (`offer`, `http_status`,
// `answer`), then `first` and `last` snapshots of the page (its <video> element and the
// getStats() of its RTCPeerConnection) taken `wall_seconds` apart, and for the player the
// loudest RMS of the received audio (`audio_rms`, Web Audio on the receiver's track).
// The publish mode also prints `{"event":"publishing",...}` once connected. Everything
// else (the page's console, the SDP exchange, driver notes) goes to stderr. The exit
// status is non-zero only when the driver itself failed (no browser, page not loading).
//
// The pages keep their RTCPeerConnection in a top-level `let pc` of their script: such a
// binding is global (visible to code the driver evaluates) without being on `window`.

import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// How long the picture (player) or the connection (publisher) may take to come.
const START_TIMEOUT_MS = 20000;

function usage() {
  console.error('usage: node drive.mjs player|publish URL [--seconds N]');
  process.exit(2);
}

const [mode, url, ...rest] = process.argv.slice(2);
if (!['player', 'publish'].includes(mode) || !url) usage();
let seconds = 5;
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--seconds') seconds = Number(rest[++i]);
  else usage();
}
if (!(seconds > 0)) usage();

const log = (...a) => console.error('[drive]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` until it returns a truthy value (returned) or `ms` passes (null).
async function until(ms, fn) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) return null;
    await sleep(200);
  }
}

// Runs in the page: its <video>, its status line, and the stats of its `pc`.
async function pageState() {
  const v = document.getElementById('video');
  const q = v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
  const out = {
    status: document.getElementById('status')?.textContent ?? null,
    video: v && {
      currentTime: v.currentTime,
      videoWidth: v.videoWidth,
      videoHeight: v.videoHeight,
      readyState: v.readyState,
      paused: v.paused,
      totalVideoFrames: q ? q.totalVideoFrames : null,
      droppedVideoFrames: q ? q.droppedVideoFrames : null,
      // The kinds of the tracks the element was given (srcObject).
      srcObjectTracks: v.srcObject ? v.srcObject.getTracks().map((t) => t.kind) : [],
    },
    pc: null,
    // The player's WebCodecs path (H264 with B-frames over a data channel), when it has one.
    wc: window.__ferrocastVideo ? { ...window.__ferrocastVideo } : null,
  };
  // eslint-disable-next-line no-undef
  const conn = typeof pc !== 'undefined' ? pc : null;
  if (!conn) return out;
  out.pc = {
    connectionState: conn.connectionState,
    iceConnectionState: conn.iceConnectionState,
  };
  const stats = await conn.getStats();
  const codecs = {};
  stats.forEach((s) => {
    if (s.type === 'codec') codecs[s.id] = s;
  });
  const pick = (s, keys) => {
    const c = codecs[s.codecId];
    const o = { codec: c ? c.mimeType : null, fmtp: c ? c.sdpFmtpLine : null };
    for (const k of keys) if (s[k] !== undefined) o[k] = s[k];
    return o;
  };
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp') {
      out.pc['in_' + s.kind] = pick(s, [
        'packetsReceived', 'packetsLost', 'bytesReceived', 'framesReceived', 'framesDecoded',
        'framesDropped', 'keyFramesDecoded', 'frameWidth', 'frameHeight', 'pliCount',
        'firCount', 'totalSamplesReceived', 'concealedSamples', 'decoderImplementation',
      ]);
    } else if (s.type === 'outbound-rtp') {
      out.pc['out_' + s.kind] = pick(s, [
        'packetsSent', 'bytesSent', 'framesEncoded', 'keyFramesEncoded', 'frameWidth',
        'frameHeight', 'framesPerSecond', 'pliCount', 'firCount', 'encoderImplementation',
        'qualityLimitationReason',
      ]);
    } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
      const l = stats.get(s.localCandidateId);
      const r = stats.get(s.remoteCandidateId);
      out.pc.pair = `${l && l.protocol} ${l && l.address}:${l && l.port} -> ` +
        `${r && r.address}:${r && r.port}`;
    }
  });
  return out;
}

// Runs in the page: taps the received audio track with Web Audio and keeps the loudest
// RMS of 2048-sample windows, sampled every 100 ms, in window.__ferrocastAudioRms.
async function tapAudio() {
  // eslint-disable-next-line no-undef
  const conn = typeof pc !== 'undefined' ? pc : null;
  const track = conn && conn.getReceivers().map((r) => r.track).find((t) => t.kind === 'audio');
  if (!track) return 'no audio receiver';
  const ctx = new AudioContext();
  await ctx.resume();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  window.__ferrocastAudioRms = 0;
  setInterval(() => {
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    window.__ferrocastAudioRms = Math.max(window.__ferrocastAudioRms, Math.sqrt(sum / buf.length));
  }, 100);
  return ctx.state;
}

const isSignaling = (u) => /\/(whep|whip)$/.test(new URL(u).pathname);
const result = { mode, url, seconds };
let browser;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // On top of Playwright's own (--headless, and a new temporary profile: the
    // --user-data-dir=$(mktemp -d) of INTEROP.md), the flags INTEROP.md lists.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      '--allow-loopback-in-peer-connection',
      // Extra flags for debugging, e.g. CHROMIUM_ARGS='--enable-logging=stderr --v=1'
      // (with DEBUG=pw:browser to see the browser's stderr).
      ...(process.env.CHROMIUM_ARGS || '').split(/\s+/).filter(Boolean),
    ],
  });
  result.browser = browser.version();
  log('chromium', result.browser);
  const page = await browser.newPage();
  page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log('page error:', e.message));
  // The WHEP/WHIP exchange as it went over the wire (the last one, if the page retried).
  page.on('request', (r) => {
    if (r.method() === 'POST' && isSignaling(r.url())) {
      result.offer = r.postData();
      log(`POST ${r.url()} (${r.headers()['content-type']}), the offer Chromium sent:\n` +
        result.offer);
    }
  });
  page.on('response', async (r) => {
    if (r.request().method() === 'POST' && isSignaling(r.url())) {
      let body;
      try {
        body = await r.text();
      } catch (e) {
        body = `(unreadable: ${e.message})`;
      }
      result.http_status = r.status();
      result.location = r.headers()['location'] || null;
      result.answer = body;
      log(`-> ${r.status()}, Location: ${result.location}, the server's answer:\n${body}`);
    }
  });

  await page.goto(url, { waitUntil: 'load' });

  if (mode === 'player') {
    // The picture is there when the element knows the video's size and its clock runs.
    const t0 = Date.now();
    result.started = !!(await until(START_TIMEOUT_MS, async () => {
      const s = await page.evaluate(pageState);
      return s.video && s.video.videoWidth > 0 && s.video.currentTime > 0;
    }));
    result.start_seconds = (Date.now() - t0) / 1000;
    if (!result.started) log(`no picture within ${START_TIMEOUT_MS} ms; measuring anyway`);
    result.audio_tap = await page.evaluate(tapAudio);
  } else {
    await page.click('#go');
    const t0 = Date.now();
    result.started = !!(await until(START_TIMEOUT_MS, async () => {
      const s = await page.evaluate(pageState);
      return s.pc && s.pc.connectionState === 'connected';
    }));
    result.start_seconds = (Date.now() - t0) / 1000;
    console.log(JSON.stringify({ event: 'publishing', connected: result.started }));
  }
  result.first = await page.evaluate(pageState);
  const t1 = Date.now();
  await sleep(seconds * 1000);
  result.last = await page.evaluate(pageState);
  result.wall_seconds = (Date.now() - t1) / 1000;
  if (mode === 'player') {
    result.audio_rms = await page.evaluate(() => window.__ferrocastAudioRms ?? null);
  } else {
    // Stop as a user would: the page DELETEs its session.
    await page.click('#go');
    await sleep(500);
  }
  await browser.close();
  browser = null;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  log('failed:', result.error);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
}
console.log(JSON.stringify(result));
