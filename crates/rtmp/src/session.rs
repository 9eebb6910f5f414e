//! Sans-IO RTMP sessions: bytes in, events and bytes out. The caller decides policy
//! (which path, who may publish) and answers with `accept_*` / `reject_*`.

use bytes::{BufMut, Bytes, BytesMut};
use rand::RngCore;

use crate::amf0::{self, Amf0, Amf0Error};
use crate::chunk::*;

pub const HANDSHAKE_SIZE: usize = 1536;
/// Chunk size of everything we send.
pub const OUT_CHUNK_SIZE: usize = 4096;
/// Chunk streams we use: protocol control, commands, audio, video (as nginx-rtmp does).
pub const CSID_CONTROL: u8 = 2;
pub const CSID_COMMAND: u8 = 3;
pub const CSID_DATA: u8 = 5;
pub const CSID_AUDIO: u8 = 6;
pub const CSID_VIDEO: u8 = 7;
const WINDOW_ACK_SIZE: u32 = 2_500_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("handshake: unsupported RTMP version {0}")]
    Version(u8),
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    #[error("command message: {0}")]
    Amf0(#[from] Amf0Error),
    #[error("protocol: {0}")]
    Protocol(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    Connect {
        app: String,
        tc_url: String,
        flash_ver: String,
    },
    /// `name` is the stream name as sent, query string included.
    Publish {
        stream_id: u32,
        name: String,
    },
    Play {
        stream_id: u32,
        name: String,
    },
    /// FCUnpublish, closeStream or deleteStream.
    Unpublish,
    /// Audio (8), video (9) or data (18) message of a publisher.
    Media(Message),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    C0C1,
    C2,
    Chunks,
}

/// Common part of both sides: chunk decoding, acknowledgements, control messages.
#[derive(Debug)]
struct Conn {
    decoder: ChunkDecoder,
    out: BytesMut,
    peer_window: u32,
    last_ack: u64,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            decoder: ChunkDecoder::default(),
            out: BytesMut::new(),
            peer_window: 0,
            last_ack: 0,
        }
    }

    fn send(&mut self, csid: u8, type_id: u8, stream_id: u32, payload: &[u8]) {
        encode(
            &mut self.out,
            csid,
            0,
            type_id,
            stream_id,
            payload,
            OUT_CHUNK_SIZE,
        );
    }

    fn send_command(&mut self, stream_id: u32, values: &[Amf0]) {
        let p = amf0::encode_all(values);
        self.send(CSID_COMMAND, MSG_COMMAND_AMF0, stream_id, &p);
    }

    fn send_control(&mut self, type_id: u8, payload: &[u8]) {
        self.send(CSID_CONTROL, type_id, 0, payload);
    }

    fn send_user_control(&mut self, event: u16, data: &[u8]) {
        let mut p = BytesMut::with_capacity(6);
        p.put_u16(event);
        p.put_slice(data);
        self.send_control(MSG_USER_CONTROL, &p);
    }

    /// Handles protocol control messages; returns the message when it is for the session.
    fn control(&mut self, m: Message) -> Option<Message> {
        match m.type_id {
            MSG_SET_CHUNK_SIZE | MSG_ABORT | MSG_ACK | MSG_SET_PEER_BANDWIDTH => None,
            MSG_WINDOW_ACK_SIZE => {
                if m.payload.len() >= 4 {
                    self.peer_window = u32::from_be_bytes([
                        m.payload[0],
                        m.payload[1],
                        m.payload[2],
                        m.payload[3],
                    ]);
                }
                None
            }
            MSG_USER_CONTROL => {
                // Ping request (6) -> ping response (7) with the same timestamp.
                if m.payload.len() >= 6 && m.payload[0..2] == [0, 6] {
                    let ts = [m.payload[2], m.payload[3], m.payload[4], m.payload[5]];
                    self.send_user_control(7, &ts);
                }
                None
            }
            _ => Some(m),
        }
    }

    fn maybe_ack(&mut self) {
        let consumed = self.decoder.consumed();
        if self.peer_window > 0 && consumed - self.last_ack >= self.peer_window as u64 {
            self.last_ack = consumed;
            self.send_control(MSG_ACK, &(consumed as u32).to_be_bytes());
        }
    }

    fn take_output(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }
}

fn command_values(m: &Message) -> Result<Vec<Amf0>, SessionError> {
    let body: &[u8] = if m.type_id == MSG_COMMAND_AMF3 || m.type_id == MSG_DATA_AMF3 {
        // AMF3 command messages carry AMF0 after a format byte.
        m.payload.get(1..).unwrap_or(&[])
    } else {
        &m.payload
    };
    Ok(amf0::decode_all(body)?)
}

fn status(level: &str, code: &str, description: &str) -> Amf0 {
    Amf0::obj(&[
        ("level", Amf0::str(level)),
        ("code", Amf0::str(code)),
        ("description", Amf0::str(description)),
    ])
}

fn handshake_packet(version_echo: Option<&[u8]>) -> Vec<u8> {
    let mut p = vec![0u8; HANDSHAKE_SIZE];
    match version_echo {
        Some(c1) => p.copy_from_slice(c1),
        None => {
            rand::thread_rng().fill_bytes(&mut p[8..]);
            // time = 0, version = 0: the "simple" handshake every client accepts
            p[..8].fill(0);
        }
    }
    p
}

/// Server side of one RTMP connection.
#[derive(Debug)]
pub struct ServerSession {
    phase: Phase,
    hs: BytesMut,
    conn: Conn,
    next_stream_id: u32,
    connected: bool,
}

impl Default for ServerSession {
    fn default() -> Self {
        ServerSession {
            phase: Phase::C0C1,
            hs: BytesMut::new(),
            conn: Conn::new(),
            next_stream_id: 1,
            connected: false,
        }
    }
}

impl ServerSession {
    pub fn new() -> ServerSession {
        ServerSession::default()
    }

    /// Bytes to send to the peer, if any.
    pub fn take_output(&mut self) -> Option<Bytes> {
        self.conn.take_output()
    }

    /// Feeds received bytes; returns what happened.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<Vec<ServerEvent>, SessionError> {
        let mut events = vec![];
        let mut data = data;
        if self.phase != Phase::Chunks {
            let need = match self.phase {
                Phase::C0C1 => 1 + HANDSHAKE_SIZE,
                _ => HANDSHAKE_SIZE,
            };
            let take = (need - self.hs.len()).min(data.len());
            self.hs.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.hs.len() < need {
                return Ok(events);
            }
            if self.phase == Phase::C0C1 {
                if self.hs[0] != 3 {
                    return Err(SessionError::Version(self.hs[0]));
                }
                self.conn.out.put_u8(3);
                self.conn.out.put_slice(&handshake_packet(None));
                let c1 = self.hs[1..].to_vec();
                self.conn.out.put_slice(&handshake_packet(Some(&c1)));
                self.phase = Phase::C2;
                self.hs.clear();
                if data.is_empty() {
                    return Ok(events);
                }
                return self.handle_input(data);
            }
            // C2 is not checked: clients fill it in different ways.
            self.phase = Phase::Chunks;
            self.hs = BytesMut::new();
        }
        self.conn.decoder.push(data);
        while let Some(m) = self.conn.decoder.next_message()? {
            let Some(m) = self.conn.control(m) else {
                continue;
            };
            match m.type_id {
                MSG_COMMAND_AMF0 | MSG_COMMAND_AMF3 => self.command(&m, &mut events)?,
                MSG_AUDIO | MSG_VIDEO | MSG_DATA_AMF0 | MSG_DATA_AMF3 => {
                    if !self.connected {
                        return Err(SessionError::Protocol("media before connect".into()));
                    }
                    events.push(ServerEvent::Media(m))
                }
                _ => {} // aggregate and shared objects are not used by publishers we know
            }
        }
        self.conn.maybe_ack();
        Ok(events)
    }

    fn command(&mut self, m: &Message, events: &mut Vec<ServerEvent>) -> Result<(), SessionError> {
        let v = command_values(m)?;
        let name = v.first().and_then(Amf0::as_str).unwrap_or_default();
        let tid = v.get(1).and_then(Amf0::as_f64).unwrap_or(0.0);
        match name {
            "connect" => {
                let obj = v.get(2).cloned().unwrap_or(Amf0::Null);
                let s = |k: &str| {
                    obj.get(k)
                        .and_then(Amf0::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let (app, tc_url, flash_ver) = (s("app"), s("tcUrl"), s("flashVer"));
                self.conn
                    .send_control(MSG_WINDOW_ACK_SIZE, &WINDOW_ACK_SIZE.to_be_bytes());
                let mut bw = WINDOW_ACK_SIZE.to_be_bytes().to_vec();
                bw.push(2); // dynamic
                self.conn.send_control(MSG_SET_PEER_BANDWIDTH, &bw);
                self.conn
                    .send_control(MSG_SET_CHUNK_SIZE, &(OUT_CHUNK_SIZE as u32).to_be_bytes());
                let mut info = vec![
                    ("level".to_string(), Amf0::str("status")),
                    (
                        "code".to_string(),
                        Amf0::str("NetConnection.Connect.Success"),
                    ),
                    (
                        "description".to_string(),
                        Amf0::str("Connection succeeded."),
                    ),
                    (
                        "objectEncoding".to_string(),
                        Amf0::Number(
                            obj.get("objectEncoding")
                                .and_then(Amf0::as_f64)
                                .unwrap_or(0.0),
                        ),
                    ),
                ];
                // Enhanced RTMP: echo the codecs the client announced, so it may use them.
                if let Some(list) = obj.get("fourCcList") {
                    info.push(("fourCcList".to_string(), list.clone()));
                }
                self.conn.send_command(
                    0,
                    &[
                        Amf0::str("_result"),
                        Amf0::Number(tid),
                        Amf0::obj(&[
                            ("fmsVer", Amf0::str("FMS/3,0,1,123")),
                            ("capabilities", Amf0::Number(31.0)),
                        ]),
                        Amf0::Object(info),
                    ],
                );
                self.connected = true;
                events.push(ServerEvent::Connect {
                    app,
                    tc_url,
                    flash_ver,
                });
            }
            _ if !self.connected => {
                return Err(SessionError::Protocol(format!(
                    "command '{name}' before connect"
                )))
            }
            "createStream" => {
                let id = self.next_stream_id;
                self.next_stream_id += 1;
                self.conn.send_command(
                    0,
                    &[
                        Amf0::str("_result"),
                        Amf0::Number(tid),
                        Amf0::Null,
                        Amf0::Number(id as f64),
                    ],
                );
            }
            "releaseStream" | "FCPublish" | "FCSubscribe" | "getStreamLength" if tid != 0.0 => {
                // getStreamLength: a live stream has no length (ffmpeg wants a number).
                let value = if name == "getStreamLength" {
                    Amf0::Number(0.0)
                } else {
                    Amf0::Undefined
                };
                self.conn.send_command(
                    0,
                    &[Amf0::str("_result"), Amf0::Number(tid), Amf0::Null, value],
                );
            }
            "publish" => {
                let n = v.get(3).and_then(Amf0::as_str).unwrap_or_default();
                events.push(ServerEvent::Publish {
                    stream_id: m.stream_id,
                    name: n.to_string(),
                });
            }
            "play" => {
                let n = v.get(3).and_then(Amf0::as_str).unwrap_or_default();
                events.push(ServerEvent::Play {
                    stream_id: m.stream_id,
                    name: n.to_string(),
                });
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => events.push(ServerEvent::Unpublish),
            _ => {} // _checkbw, pause, receiveAudio...: nothing to do for a live server
        }
        Ok(())
    }

    pub fn accept_publish(&mut self, stream_id: u32, name: &str) {
        self.conn.send_user_control(0, &stream_id.to_be_bytes()); // StreamBegin
        self.conn.send_command(
            stream_id,
            &[
                Amf0::str("onStatus"),
                Amf0::Number(0.0),
                Amf0::Null,
                status(
                    "status",
                    "NetStream.Publish.Start",
                    &format!("{name} is now published."),
                ),
            ],
        );
    }

    pub fn accept_play(&mut self, stream_id: u32, name: &str) {
        self.conn.send_user_control(4, &stream_id.to_be_bytes()); // StreamIsRecorded
        self.conn.send_user_control(0, &stream_id.to_be_bytes()); // StreamBegin
        for (code, desc) in [
            ("NetStream.Play.Reset", "Playing and resetting"),
            ("NetStream.Play.Start", "Started playing"),
        ] {
            self.conn.send_command(
                stream_id,
                &[
                    Amf0::str("onStatus"),
                    Amf0::Number(0.0),
                    Amf0::Null,
                    status("status", code, &format!("{desc} {name}.")),
                ],
            );
        }
        let p = amf0::encode_all(&[
            Amf0::str("|RtmpSampleAccess"),
            Amf0::Boolean(true),
            Amf0::Boolean(true),
        ]);
        self.conn.send(CSID_DATA, MSG_DATA_AMF0, stream_id, &p);
    }

    /// Refuses a publish or play request; the caller closes the connection afterwards.
    pub fn reject(&mut self, stream_id: u32, code: &str, description: &str) {
        self.conn.send_command(
            stream_id,
            &[
                Amf0::str("onStatus"),
                Amf0::Number(0.0),
                Amf0::Null,
                status("error", code, description),
            ],
        );
    }

    /// Tells a player that the stream ended.
    pub fn send_unpublished(&mut self, stream_id: u32) {
        self.conn.send_user_control(1, &stream_id.to_be_bytes()); // StreamEOF
        self.conn.send_command(
            stream_id,
            &[
                Amf0::str("onStatus"),
                Amf0::Number(0.0),
                Amf0::Null,
                status("status", "NetStream.Play.UnpublishNotify", "stream ended"),
            ],
        );
    }
}

/// What a client session wants to do once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    Publish,
    Play,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Publishing or playing has started on `stream_id`.
    Started { stream_id: u32 },
    /// The server refused or ended the stream.
    Status {
        level: String,
        code: String,
        description: String,
    },
    /// Audio, video or data message from the server (play mode).
    Media(Message),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientStep {
    Handshake,
    Connecting,
    CreatingStream,
    Starting,
    Started,
}

/// Client side of one RTMP connection: handshake, connect, createStream, publish or play.
#[derive(Debug)]
pub struct ClientSession {
    step: ClientStep,
    hs: BytesMut,
    conn: Conn,
    app: String,
    tc_url: String,
    stream_name: String,
    mode: ClientMode,
    stream_id: u32,
}

impl ClientSession {
    /// Starts a session; `take_output` then has C0+C1.
    pub fn new(app: &str, tc_url: &str, stream_name: &str, mode: ClientMode) -> ClientSession {
        let mut conn = Conn::new();
        conn.out.put_u8(3);
        conn.out.put_slice(&handshake_packet(None));
        ClientSession {
            step: ClientStep::Handshake,
            hs: BytesMut::new(),
            conn,
            app: app.to_string(),
            tc_url: tc_url.to_string(),
            stream_name: stream_name.to_string(),
            mode,
            stream_id: 0,
        }
    }

    pub fn take_output(&mut self) -> Option<Bytes> {
        self.conn.take_output()
    }

    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    pub fn handle_input(&mut self, data: &[u8]) -> Result<Vec<ClientEvent>, SessionError> {
        let mut events = vec![];
        let mut data = data;
        if self.step == ClientStep::Handshake {
            let need = 1 + 2 * HANDSHAKE_SIZE;
            let take = (need - self.hs.len()).min(data.len());
            self.hs.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.hs.len() < need {
                return Ok(events);
            }
            if self.hs[0] != 3 {
                return Err(SessionError::Version(self.hs[0]));
            }
            let s1 = self.hs[1..1 + HANDSHAKE_SIZE].to_vec();
            self.conn.out.put_slice(&s1); // C2 echoes S1
            self.hs = BytesMut::new();
            self.conn
                .send_control(MSG_SET_CHUNK_SIZE, &(OUT_CHUNK_SIZE as u32).to_be_bytes());
            self.conn.send_command(
                0,
                &[
                    Amf0::str("connect"),
                    Amf0::Number(1.0),
                    Amf0::obj(&[
                        ("app", Amf0::str(&self.app)),
                        ("type", Amf0::str("nonprivate")),
                        ("flashVer", Amf0::str("FMLE/3.0 (compatible; Ferrocast)")),
                        ("tcUrl", Amf0::str(&self.tc_url)),
                    ]),
                ],
            );
            self.step = ClientStep::Connecting;
        }
        self.conn.decoder.push(data);
        while let Some(m) = self.conn.decoder.next_message()? {
            let Some(m) = self.conn.control(m) else {
                continue;
            };
            match m.type_id {
                MSG_COMMAND_AMF0 | MSG_COMMAND_AMF3 => self.command(&m, &mut events)?,
                MSG_AUDIO | MSG_VIDEO | MSG_DATA_AMF0 | MSG_DATA_AMF3
                    if matches!(self.step, ClientStep::Started | ClientStep::Starting) =>
                {
                    events.push(ClientEvent::Media(m));
                }
                _ => {}
            }
        }
        self.conn.maybe_ack();
        Ok(events)
    }

    fn command(&mut self, m: &Message, events: &mut Vec<ClientEvent>) -> Result<(), SessionError> {
        let v = command_values(m)?;
        let name = v.first().and_then(Amf0::as_str).unwrap_or_default();
        match (name, self.step) {
            ("_result", ClientStep::Connecting) => {
                if self.mode == ClientMode::Publish {
                    for c in ["releaseStream", "FCPublish"] {
                        self.conn.send_command(
                            0,
                            &[
                                Amf0::str(c),
                                Amf0::Number(0.0),
                                Amf0::Null,
                                Amf0::str(&self.stream_name),
                            ],
                        );
                    }
                }
                self.conn.send_command(
                    0,
                    &[Amf0::str("createStream"), Amf0::Number(2.0), Amf0::Null],
                );
                self.step = ClientStep::CreatingStream;
            }
            ("_result", ClientStep::CreatingStream) => {
                let id = v.get(3).and_then(Amf0::as_f64).unwrap_or(1.0);
                if !(1.0..16777215.0).contains(&id) {
                    return Err(SessionError::Protocol(format!("createStream result {id}")));
                }
                self.stream_id = id as u32;
                let mut args = vec![
                    Amf0::str(match self.mode {
                        ClientMode::Publish => "publish",
                        ClientMode::Play => "play",
                    }),
                    Amf0::Number(0.0),
                    Amf0::Null,
                    Amf0::str(&self.stream_name),
                ];
                match self.mode {
                    ClientMode::Publish => args.push(Amf0::str("live")),
                    ClientMode::Play => args.push(Amf0::Number(-1000.0)),
                }
                if self.mode == ClientMode::Play {
                    self.conn
                        .send_control(MSG_WINDOW_ACK_SIZE, &WINDOW_ACK_SIZE.to_be_bytes());
                }
                self.conn.send_command(self.stream_id, &args);
                self.step = ClientStep::Starting;
            }
            ("_error", _) => {
                let info = v.get(3).cloned().unwrap_or(Amf0::Null);
                events.push(status_event(&info));
            }
            ("onStatus", _) => {
                let info = v.get(3).cloned().unwrap_or(Amf0::Null);
                let ev = status_event(&info);
                if let ClientEvent::Status { code, .. } = &ev {
                    if (code == "NetStream.Publish.Start" || code == "NetStream.Play.Start")
                        && self.step == ClientStep::Starting
                    {
                        self.step = ClientStep::Started;
                        events.push(ClientEvent::Started {
                            stream_id: self.stream_id,
                        });
                        return Ok(());
                    }
                }
                events.push(ev);
            }
            _ => {}
        }
        Ok(())
    }

    /// Queues a media message (publish mode) with the session's chunking.
    pub fn send_media(&mut self, type_id: u8, timestamp: u32, payload: &[u8]) {
        let csid = if type_id == MSG_VIDEO {
            CSID_VIDEO
        } else if type_id == MSG_AUDIO {
            CSID_AUDIO
        } else {
            CSID_DATA
        };
        encode(
            &mut self.conn.out,
            csid,
            timestamp,
            type_id,
            self.stream_id,
            payload,
            OUT_CHUNK_SIZE,
        );
    }

    /// Appends the chunked form of a media message to `out` (for callers that batch writes).
    pub fn encode_media(&self, out: &mut BytesMut, type_id: u8, timestamp: u32, payload: &[u8]) {
        let csid = if type_id == MSG_VIDEO {
            CSID_VIDEO
        } else if type_id == MSG_AUDIO {
            CSID_AUDIO
        } else {
            CSID_DATA
        };
        encode(
            out,
            csid,
            timestamp,
            type_id,
            self.stream_id,
            payload,
            OUT_CHUNK_SIZE,
        );
    }
}

fn status_event(info: &Amf0) -> ClientEvent {
    let s = |k: &str| {
        info.get(k)
            .and_then(Amf0::as_str)
            .unwrap_or_default()
            .to_string()
    };
    ClientEvent::Status {
        level: s("level"),
        code: s("code"),
        description: s("description"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a client and a server session against each other in memory.
    fn pump(c: &mut ClientSession, s: &mut ServerSession) -> (Vec<ClientEvent>, Vec<ServerEvent>) {
        let (mut ce, mut se) = (vec![], vec![]);
        for _ in 0..20 {
            let mut moved = false;
            if let Some(b) = c.take_output() {
                se.extend(s.handle_input(&b).unwrap());
                moved = true;
            }
            if let Some(b) = s.take_output() {
                ce.extend(c.handle_input(&b).unwrap());
                moved = true;
            }
            if !moved {
                break;
            }
        }
        (ce, se)
    }

    #[test]
    fn publish_and_play_in_memory() {
        let mut s = ServerSession::new();
        let mut c = ClientSession::new("live", "rtmp://h/live", "cam?user=u", ClientMode::Publish);
        let (_, se) = pump(&mut c, &mut s);
        assert!(matches!(&se[0], ServerEvent::Connect { app, .. } if app == "live"));
        let Some(ServerEvent::Publish { stream_id, name }) = se.last().cloned() else {
            panic!("{se:?}")
        };
        assert_eq!(name, "cam?user=u");
        s.accept_publish(stream_id, &name);
        let (ce, _) = pump(&mut c, &mut s);
        assert_eq!(ce, vec![ClientEvent::Started { stream_id: 1 }]);
        c.send_media(MSG_VIDEO, 40, &[0x17, 1, 0, 0, 0, 1, 2, 3]);
        let (_, se) = pump(&mut c, &mut s);
        assert!(
            matches!(&se[0], ServerEvent::Media(m) if m.timestamp == 40 && m.type_id == MSG_VIDEO)
        );

        let mut s = ServerSession::new();
        let mut c = ClientSession::new("live", "rtmp://h/live", "cam", ClientMode::Play);
        let (_, se) = pump(&mut c, &mut s);
        let Some(ServerEvent::Play { stream_id, .. }) = se.last().cloned() else {
            panic!("{se:?}")
        };
        s.accept_play(stream_id, "cam");
        let (ce, _) = pump(&mut c, &mut s);
        assert!(ce.contains(&ClientEvent::Started { stream_id: 1 }));
        s.reject(stream_id, "NetStream.Play.StreamNotFound", "gone");
        let (ce, _) = pump(&mut c, &mut s);
        assert!(
            matches!(&ce[0], ClientEvent::Status { code, .. } if code == "NetStream.Play.StreamNotFound")
        );
    }

    #[test]
    fn bad_version_and_garbage() {
        let mut s = ServerSession::new();
        assert_eq!(s.handle_input(&[6; 1537]), Err(SessionError::Version(6)));
        let mut s = ServerSession::new();
        let mut input = vec![3u8];
        input.extend(vec![0u8; 1536 * 2]);
        s.handle_input(&input).unwrap();
        // A video message before connect is refused.
        let mut out = BytesMut::new();
        encode(&mut out, 7, 0, MSG_VIDEO, 1, b"x", 128);
        assert!(s.handle_input(&out).is_err());
    }
}
