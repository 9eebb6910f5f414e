//! RTMP/RTMPS client (tokio driver around [`ClientSession`]), used for pull sources,
//! forwards and the benchmark.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chunk::Message;
use crate::io::write_all_vectored;
use crate::session::{ClientEvent, ClientMode, ClientSession, SessionError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("invalid RTMP URL '{0}': {1}")]
    Url(String, String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Session(#[from] SessionError),
    #[error("server refused: {code}: {description}")]
    Refused { code: String, description: String },
    #[error("timed out")]
    Timeout,
    #[error("connection closed by the server")]
    Closed,
}

/// A parsed rtmp:// or rtmps:// URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub app: String,
    /// Stream name, query included.
    pub name: String,
    pub tc_url: String,
}

impl RtmpUrl {
    /// Splits like ffmpeg: the last path segment is the stream name, the rest the app.
    pub fn parse(s: &str) -> Result<RtmpUrl, ClientError> {
        let u = url::Url::parse(s).map_err(|e| ClientError::Url(s.into(), e.to_string()))?;
        let tls = match u.scheme() {
            "rtmp" => false,
            "rtmps" => true,
            other => return Err(ClientError::Url(s.into(), format!("scheme {other}"))),
        };
        let host = u
            .host_str()
            .ok_or_else(|| ClientError::Url(s.into(), "no host".into()))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let port = u.port().unwrap_or(if tls { 443 } else { 1935 });
        let path = u.path().trim_matches('/');
        let (app, name) = match path.rsplit_once('/') {
            Some((a, n)) => (a.to_string(), n.to_string()),
            None => (String::new(), path.to_string()),
        };
        if name.is_empty() {
            return Err(ClientError::Url(s.into(), "no stream name".into()));
        }
        let name = match u.query() {
            Some(q) => format!("{name}?{q}"),
            None => name,
        };
        let tc_url = format!(
            "{}://{}:{}/{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            port,
            app
        );
        Ok(RtmpUrl {
            tls,
            host,
            port,
            app,
            name,
            tc_url,
        })
    }
}

pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connected client that is publishing or playing.
pub struct Client {
    io: Box<dyn Io>,
    session: ClientSession,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<Message>,
    out: Vec<Bytes>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// Connects and starts publishing or playing, within `timeout`.
    /// rtmps:// servers' certificates are not verified (see [`Client::connect_with`]).
    pub async fn connect(
        url: &str,
        mode: ClientMode,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        Self::connect_with(url, mode, timeout, None).await
    }

    /// Like [`Client::connect`]; with `tls`, rtmps:// uses that connector (e.g.
    /// [`crate::tls::fingerprint_client`]) instead of one that accepts any certificate.
    pub async fn connect_with(
        url: &str,
        mode: ClientMode,
        timeout: Duration,
        tls: Option<tokio_rustls::TlsConnector>,
    ) -> Result<Client, ClientError> {
        tokio::time::timeout(timeout, Self::connect_inner(url, mode, tls))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn connect_inner(
        url: &str,
        mode: ClientMode,
        tls: Option<tokio_rustls::TlsConnector>,
    ) -> Result<Client, ClientError> {
        let u = RtmpUrl::parse(url)?;
        let sock = TcpStream::connect((u.host.as_str(), u.port)).await?;
        sock.set_nodelay(true)?;
        let io: Box<dyn Io> = if u.tls {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(u.host.clone())
                .map_err(|e| ClientError::Url(url.into(), e.to_string()))?;
            let connector = tls.unwrap_or_else(crate::tls::insecure_client);
            Box::new(connector.connect(name, sock).await?)
        } else {
            Box::new(sock)
        };
        let session = ClientSession::new(&u.app, &u.tc_url, &u.name, mode);
        let mut c = Client {
            io,
            session,
            buf: vec![0; 65536],
            pending: Default::default(),
            out: vec![],
        };
        c.flush().await?;
        loop {
            let mut started = false;
            // Media can follow the start status in the same read: keep all of it.
            for ev in c.read_events().await? {
                match ev {
                    ClientEvent::Started { .. } => started = true,
                    ClientEvent::Status {
                        level,
                        code,
                        description,
                    } if level == "error" => {
                        return Err(ClientError::Refused { code, description })
                    }
                    ClientEvent::Media(m) => c.pending.push_back(m),
                    ClientEvent::Status { .. } => {}
                }
            }
            if started {
                return Ok(c);
            }
        }
    }

    async fn read_events(&mut self) -> Result<Vec<ClientEvent>, ClientError> {
        let n = self.io.read(&mut self.buf).await?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        let ev = self.session.handle_input(&self.buf[..n])?;
        self.flush().await?;
        Ok(ev)
    }

    async fn flush(&mut self) -> Result<(), ClientError> {
        if let Some(b) = self.session.take_output() {
            self.out.push(b);
        }
        if !self.out.is_empty() {
            write_all_vectored(&mut self.io, &mut self.out).await?;
        }
        Ok(())
    }

    /// The message stream id the server gave us (1 on every server we know).
    pub fn stream_id(&self) -> u32 {
        self.session.stream_id()
    }

    /// Sends already chunked messages (chunk size `session::OUT_CHUNK_SIZE`, this client's
    /// stream id) in one vectored write, after anything the session has to say.
    pub async fn send_raw(&mut self, chunks: Vec<Bytes>) -> Result<usize, ClientError> {
        if let Some(b) = self.session.take_output() {
            self.out.push(b);
        }
        self.out.extend(chunks);
        Ok(write_all_vectored(&mut self.io, &mut self.out).await?)
    }

    /// Reads what the server sent (acknowledgements, pings, status) without writing;
    /// replies go out with the next send. Errs when the server closes or refuses.
    /// Cancel-safe: use it in a `select!` next to the source of the data to send.
    pub async fn read_input(&mut self) -> Result<(), ClientError> {
        let n = self.io.read(&mut self.buf).await?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        for ev in self.session.handle_input(&self.buf[..n])? {
            if let ClientEvent::Status {
                level,
                code,
                description,
            } = ev
            {
                if level == "error" {
                    return Err(ClientError::Refused { code, description });
                }
            }
        }
        Ok(())
    }

    /// Sends one media message (publish mode): 8 audio, 9 video, 18 data.
    pub async fn send(
        &mut self,
        type_id: u8,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        let mut b = BytesMut::new();
        self.session
            .encode_media(&mut b, type_id, timestamp, payload);
        self.out.push(b.freeze());
        self.flush().await
    }

    /// Receives the next media message (play mode). Status messages that end the stream
    /// become errors.
    pub async fn recv(&mut self) -> Result<Message, ClientError> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Ok(m);
            }
            for ev in self.read_events().await? {
                match ev {
                    ClientEvent::Media(m) => self.pending.push_back(m),
                    ClientEvent::Status {
                        level,
                        code,
                        description,
                    } if level == "error" || code == "NetStream.Play.UnpublishNotify" => {
                        self.pending.clear();
                        return Err(ClientError::Refused { code, description });
                    }
                    _ => {}
                }
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.io.shutdown().await;
    }
}
