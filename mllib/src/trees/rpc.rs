//! The channel between a cluster tree fit and its training tasks: one Arrow Flight `DoExchange`
//! stream per task, opened by the task to the fitting process's [`TrainingEndpoint`].
//!
//! Why Arrow Flight rather than raw TCP: it is gRPC (HTTP/2 with keepalive, bounded message
//! sizes, mutual TLS through tonic, one connection handled per task so a silent peer stalls no
//! one) and already in the build for Ballista's shuffles. `DoExchange` is the one Flight call that
//! streams both ways; its messages carry Ember's own request and reply encodings
//! ([`crate::trees::remote`]) as `data_body`, split into chunks of at most [`CHUNK_BYTES`].
//!
//! A task presents its fit's id and the fit's random secret ([`Credentials`]) in its first
//! message; the endpoint refuses any other stream. Over mutual TLS (`ember.tls.*`) both ends also
//! present the cluster's certificates.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, OnceCell};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

use crate::error::{MlError, Result};
use crate::trees::placement::{Placement, SlotsClaim, SlotsProbe};

/// The most bytes of a request or reply one gRPC message carries.
pub const CHUNK_BYTES: usize = 1 << 20;

/// The largest gRPC message either end accepts: a chunk and Flight's framing around it.
const MAX_GRPC_MESSAGE_BYTES: usize = CHUNK_BYTES + (64 << 10);

/// The largest whole request or reply either end assembles from chunks (the largest histograms
/// are a few hundred MiB). Memory grows with the chunks that arrive, never from a length read
/// off the wire.
const MAX_MESSAGE_BYTES: usize = 1 << 32;

/// HTTP/2 flow-control window of each exchange and of its connection, both ends: a deep forest
/// level's reply (a few MiB) goes out without waiting for the receiver to open the window
/// chunk by chunk (hyper's server default is 1 MiB). At most this much of one exchange waits
/// unread in the receiver.
const WINDOW_BYTES: u32 = 8 << 20;

/// HTTP/2 pings between the ends: a peer that stops answering them (a lost machine, a cut
/// network) fails the fit within the interval plus the timeout instead of stalling it.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long a keepalive ping may go unanswered (see [`KEEPALIVE_INTERVAL`]).
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a new stream may take to present its credentials.
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a task tries to reach the fitting process.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Exchange::close`] waits for the other end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Chunks queued for sending on one stream before the sender waits.
const QUEUED_CHUNKS: usize = 4;

/// `app_metadata` of a chunk that more chunks of the same message follow.
const MORE: &[u8] = &[1];
/// `app_metadata` of a message's last chunk.
const LAST: &[u8] = &[0];

/// Who may join a fit: its id and its secret, fresh random bytes that reach the fit's tasks
/// inside their plan (over the cluster's TLS when it has one).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Credentials {
    /// The fit's id.
    pub fit: u64,
    /// The fit's secret.
    pub secret: [u8; 16],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ fit: {}, secret: .. }}", self.fit)
    }
}

impl Credentials {
    /// Credentials for fit `fit` with a new random secret.
    pub fn generate(fit: u64) -> Result<Self> {
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(|error| MlError::Training {
            reason: format!("cannot draw a secret for the fit's training tasks: {error}"),
        })?;
        Ok(Self { fit, secret })
    }

    fn to_bytes(self) -> Vec<u8> {
        let mut bytes = self.fit.to_le_bytes().to_vec();
        bytes.extend_from_slice(&self.secret);
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (fit, secret) = bytes.split_at_checked(8)?;
        Some(Self {
            fit: u64::from_le_bytes(fit.try_into().ok()?),
            secret: secret.try_into().ok()?,
        })
    }

    /// Whether `secret` is this secret, in time that does not depend on where they differ.
    fn admits(&self, secret: &[u8; 16]) -> bool {
        self.secret
            .iter()
            .zip(secret)
            .fold(0u8, |differences, (a, b)| differences | (a ^ b))
            == 0
    }
}

/// One end of a fit's exchange with one task: messages of bytes each way.
pub(crate) struct Exchange {
    outgoing: mpsc::Sender<FlightData>,
    incoming: Streaming<FlightData>,
    /// Who is at the other end, for errors.
    pub peer: String,
    /// A task's connection, kept open for as long as its exchange.
    _client: Option<FlightServiceClient<Channel>>,
}

impl Exchange {
    /// Sends `message` (in chunks of at most [`CHUNK_BYTES`], which share its buffer).
    pub async fn send(&self, message: Vec<u8>) -> io::Result<()> {
        let bytes = Bytes::from(message);
        let chunks = bytes.len().div_ceil(CHUNK_BYTES).max(1);
        for index in 0..chunks {
            let start = (index * CHUNK_BYTES).min(bytes.len());
            let end = (start + CHUNK_BYTES).min(bytes.len());
            let last = index + 1 == chunks;
            let chunk = FlightData::new()
                .with_data_body(bytes.slice(start..end))
                .with_app_metadata(if last { LAST } else { MORE });
            self.outgoing
                .send(chunk)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the exchange is closed"))?;
        }
        Ok(())
    }

    /// The next message; an error when the other end closed the exchange or broke the format.
    pub async fn receive(&mut self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        loop {
            let chunk = self
                .incoming
                .message()
                .await
                .map_err(status_error)?
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the other end closed the exchange",
                    )
                })?;
            if bytes.len() + chunk.data_body.len() > MAX_MESSAGE_BYTES {
                return Err(invalid(format!(
                    "a message of more than {MAX_MESSAGE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk.data_body);
            match chunk.app_metadata.as_ref() {
                LAST => break,
                MORE => {}
                _ => return Err(invalid("a chunk without its place in its message".into())),
            }
        }
        Ok(bytes)
    }
}

impl Exchange {
    /// Ends this end's messages at once: the other end's next receive fails. How the fit gives
    /// up on a task whose exchange broke, so that the task ends too (and is run again).
    pub fn hang_up(&mut self) {
        let (closed, _) = mpsc::channel(1);
        self.outgoing = closed;
    }

    /// Ends this end's messages and waits (at most [`CLOSE_TIMEOUT`]) for the other end to end
    /// its own: dropped at once, a task's connection could go down before its last reply left.
    pub async fn close(self) {
        let Exchange {
            outgoing,
            mut incoming,
            ..
        } = self;
        drop(outgoing);
        let drained = async { while let Ok(Some(_)) = incoming.message().await {} };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drained).await;
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt exchange: {what}"),
    )
}

fn status_error(status: Status) -> io::Error {
    io::Error::other(format!("{}: {}", status.code(), status.message()))
}

/// Opens the exchange of the fit that `credentials` name at `address` (`host:port`), over mutual
/// TLS with `tls` when given. Fails when the endpoint cannot be reached within 30 s or refuses
/// the credentials.
pub(crate) async fn connect(
    address: &str,
    tls: Option<ClientTlsConfig>,
    credentials: Credentials,
) -> io::Result<Exchange> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
        .map_err(|error| invalid(format!("the address {address}: {error}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
        .initial_stream_window_size(WINDOW_BYTES)
        .initial_connection_window_size(WINDOW_BYTES)
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(transport_error)?;
    }
    let channel = endpoint.connect().await.map_err(transport_error)?;
    let mut client = FlightServiceClient::new(channel)
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let (outgoing, queued) = mpsc::channel(QUEUED_CHUNKS);
    outgoing
        .send(FlightData::new().with_app_metadata(credentials.to_bytes()))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the exchange is closed"))?;
    let incoming = client
        .do_exchange(ReceiverStream::new(queued))
        .await
        .map_err(status_error)?
        .into_inner();
    Ok(Exchange {
        outgoing,
        incoming,
        peer: address.to_string(),
        _client: Some(client),
    })
}

/// A transport error with its causes (tonic's own text is only "transport error").
fn transport_error(error: tonic::transport::Error) -> io::Error {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    io::Error::new(io::ErrorKind::ConnectionRefused, text)
}

/// Where a cluster session's tree fits meet their training tasks: an Arrow Flight server on
/// `ember.driver.host`:`ember.driver.port`, over the session's mutual TLS when it has one,
/// started by the session's first tree fit and shared by its later ones; it stops when the
/// session is dropped. Put in the session's configuration as an extension
/// (`SessionConfig::with_extension`): a session with one runs its tree fits' workers in
/// executor tasks, one without keeps them in this process.
pub struct TrainingEndpoint {
    host: String,
    port: u16,
    tls: Option<ServerTlsConfig>,
    start_timeout: Duration,
    placement: Placement,
    running: OnceCell<Running>,
}

impl std::fmt::Debug for TrainingEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("start_timeout", &self.start_timeout)
            .field("slots_probe", &self.placement.has_probe())
            .finish()
    }
}

/// A started endpoint.
struct Running {
    /// `host:port` as tasks dial it.
    address: String,
    fits: Fits,
    /// Dropped with the endpoint, which stops the server.
    _stop: oneshot::Sender<()>,
}

/// The fits waiting for tasks, by id.
type Fits = Arc<Mutex<HashMap<u64, Waiting>>>;

/// A fit waiting for its tasks.
struct Waiting {
    credentials: Credentials,
    arrivals: mpsc::UnboundedSender<Exchange>,
}

fn lock(fits: &Fits) -> MutexGuard<'_, HashMap<u64, Waiting>> {
    fits.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TrainingEndpoint {
    /// An endpoint on `host`:`port` (0: a free port), with `tls` when the session speaks mutual
    /// TLS; a fit fails when its tasks have not all arrived within `start_timeout`.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        tls: Option<ServerTlsConfig>,
        start_timeout: Duration,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            tls,
            start_timeout,
            placement: Placement::new(None),
            running: OnceCell::new(),
        }
    }

    /// This endpoint, whose fits first ask `probe` for the cluster's free task slots and run
    /// at most that many tasks ([`crate::trees::placement`]).
    pub fn with_slots_probe(self, probe: SlotsProbe) -> Self {
        Self {
            placement: Placement::new(Some(probe)),
            ..self
        }
    }

    /// Claims the cluster's free task slots for a fit ([`Placement::claim`]).
    pub(crate) async fn claim_slots(&self) -> Result<SlotsClaim> {
        self.placement.claim().await
    }

    /// How long a fit waits for all its tasks.
    pub fn start_timeout(&self) -> Duration {
        self.start_timeout
    }

    /// Whether tasks must connect over mutual TLS.
    pub fn serves_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Registers a fit with `credentials` (starting the endpoint if need be): the tasks that
    /// present them arrive on the returned [`Arrivals`] until it is dropped.
    pub(crate) async fn expect(&self, credentials: Credentials) -> Result<Arrivals> {
        let running = self.running.get_or_try_init(|| self.start()).await?;
        let (sender, arrivals) = mpsc::unbounded_channel();
        lock(&running.fits).insert(
            credentials.fit,
            Waiting {
                credentials,
                arrivals: sender,
            },
        );
        Ok(Arrivals {
            address: running.address.clone(),
            fit: credentials.fit,
            fits: Arc::clone(&running.fits),
            arrivals,
        })
    }

    async fn start(&self) -> Result<Running> {
        let cannot_listen = |error: &dyn std::fmt::Display| MlError::Training {
            reason: format!(
                "cannot listen on {}:{} (ember.driver.host, ember.driver.port) for the training \
                 tasks of tree fits: {error}",
                self.host, self.port
            ),
        };
        let listener = tokio::net::TcpListener::bind((self.host.as_str(), self.port))
            .await
            .map_err(|error| cannot_listen(&error))?;
        let port = listener
            .local_addr()
            .map_err(|error| cannot_listen(&error))?
            .port();
        let address = match self.host.contains(':') {
            true => format!("[{}]:{port}", self.host),
            false => format!("{}:{port}", self.host),
        };
        let fits = Fits::default();
        let service = FlightServiceServer::new(TrainingService {
            fits: Arc::clone(&fits),
        })
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
        let mut server = Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .initial_stream_window_size(WINDOW_BYTES)
            .initial_connection_window_size(WINDOW_BYTES);
        if let Some(tls) = &self.tls {
            server = server
                .tls_config(tls.clone())
                .map_err(|error| cannot_listen(&error))?;
        }
        let (stop, stopped) = oneshot::channel::<()>();
        // The server's own `tcp_nodelay` covers only listeners it binds. Without it, a request
        // written behind a small unacknowledged frame waits for the peer's delayed ACK: a
        // 100-tree fit on two executors took 78.8 s instead of 12.8 s.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let serving =
            server
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async move {
                    // Ends when the endpoint is dropped (the sender with it).
                    let _ = stopped.await;
                });
        tokio::spawn(serving);
        Ok(Running {
            address,
            fits,
            _stop: stop,
        })
    }
}

/// The tasks of one fit as they arrive; the fit stops admitting tasks when this is dropped.
pub(crate) struct Arrivals {
    /// `host:port` for the fit's tasks to dial.
    pub address: String,
    fit: u64,
    fits: Fits,
    arrivals: mpsc::UnboundedReceiver<Exchange>,
}

impl Arrivals {
    /// The next task to arrive.
    pub async fn next(&mut self) -> Option<Exchange> {
        self.arrivals.recv().await
    }
}

impl Drop for Arrivals {
    fn drop(&mut self) {
        lock(&self.fits).remove(&self.fit);
    }
}

/// The Flight service behind a [`TrainingEndpoint`]: `DoExchange` only.
struct TrainingService {
    fits: Fits,
}

type Answers<T> = BoxStream<'static, std::result::Result<T, Status>>;

fn only_do_exchange<T>() -> std::result::Result<T, Status> {
    Err(Status::unimplemented(
        "a tree fit's endpoint serves only DoExchange",
    ))
}

#[tonic::async_trait]
impl FlightService for TrainingService {
    type HandshakeStream = Answers<HandshakeResponse>;
    type ListFlightsStream = Answers<FlightInfo>;
    type DoGetStream = Answers<FlightData>;
    type DoPutStream = Answers<PutResult>;
    type DoExchangeStream = Answers<FlightData>;
    type DoActionStream = Answers<arrow_flight::Result>;
    type ListActionsStream = Answers<ActionType>;

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoExchangeStream>, Status> {
        let peer = request
            .remote_addr()
            .map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
        let mut incoming = request.into_inner();
        let first = tokio::time::timeout(CREDENTIALS_TIMEOUT, incoming.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no credentials in time"))??
            .ok_or_else(|| Status::unauthenticated("no credentials"))?;
        let presented = Credentials::from_bytes(&first.app_metadata)
            .ok_or_else(|| Status::unauthenticated("malformed credentials"))?;
        let (outgoing, queued) = mpsc::channel(QUEUED_CHUNKS);
        {
            let fits = lock(&self.fits);
            let waiting = fits
                .get(&presented.fit)
                .filter(|waiting| waiting.credentials.admits(&presented.secret))
                .ok_or_else(|| Status::unauthenticated("no fit with these credentials"))?;
            waiting
                .arrivals
                .send(Exchange {
                    outgoing,
                    incoming,
                    peer,
                    _client: None,
                })
                .map_err(|_| Status::unavailable("the fit no longer admits tasks"))?;
        }
        Ok(Response::new(ReceiverStream::new(queued).map(Ok).boxed()))
    }

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> std::result::Result<Response<Self::HandshakeStream>, Status> {
        only_do_exchange()
    }

    async fn list_flights(
        &self,
        _: Request<Criteria>,
    ) -> std::result::Result<Response<Self::ListFlightsStream>, Status> {
        only_do_exchange()
    }

    async fn get_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        only_do_exchange()
    }

    async fn poll_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<PollInfo>, Status> {
        only_do_exchange()
    }

    async fn get_schema(
        &self,
        _: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<SchemaResult>, Status> {
        only_do_exchange()
    }

    async fn do_get(
        &self,
        _: Request<Ticket>,
    ) -> std::result::Result<Response<Self::DoGetStream>, Status> {
        only_do_exchange()
    }

    async fn do_put(
        &self,
        _: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoPutStream>, Status> {
        only_do_exchange()
    }

    async fn do_action(
        &self,
        _: Request<Action>,
    ) -> std::result::Result<Response<Self::DoActionStream>, Status> {
        only_do_exchange()
    }

    async fn list_actions(
        &self,
        _: Request<Empty>,
    ) -> std::result::Result<Response<Self::ListActionsStream>, Status> {
        only_do_exchange()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> TrainingEndpoint {
        TrainingEndpoint::new("127.0.0.1", 0, None, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn messages_larger_than_a_chunk_cross_both_ways() {
        let endpoint = endpoint();
        let credentials = Credentials::generate(7).unwrap();
        let mut arrivals = endpoint.expect(credentials).await.unwrap();
        let mut task = connect(&arrivals.address, None, credentials).await.unwrap();
        let mut fit = arrivals.next().await.unwrap();
        // 3.5 chunks, and an empty message.
        let message: Vec<u8> = (0..(CHUNK_BYTES * 7 / 2)).map(|i| i as u8).collect();
        fit.send(message.clone()).await.unwrap();
        assert_eq!(task.receive().await.unwrap(), message);
        task.send(message[..3].to_vec()).await.unwrap();
        task.send(Vec::new()).await.unwrap();
        assert_eq!(fit.receive().await.unwrap(), &message[..3]);
        assert_eq!(fit.receive().await.unwrap(), Vec::<u8>::new());
        // A last message sent right before closing arrives; then the exchange ends.
        task.send(message[..1].to_vec()).await.unwrap();
        let closing = tokio::spawn(task.close());
        assert_eq!(fit.receive().await.unwrap(), &message[..1]);
        let closed = fit.receive().await.unwrap_err();
        assert_eq!(closed.kind(), io::ErrorKind::UnexpectedEof, "{closed}");
        drop(fit);
        closing.await.unwrap();
    }

    #[tokio::test]
    async fn chunks_that_lack_their_place_in_their_message_are_corrupt() {
        let endpoint = endpoint();
        let credentials = Credentials::generate(7).unwrap();
        let mut arrivals = endpoint.expect(credentials).await.unwrap();
        let task = connect(&arrivals.address, None, credentials).await.unwrap();
        let mut fit = arrivals.next().await.unwrap();
        for place in [&[7u8][..], &[]] {
            let chunk = FlightData::new()
                .with_data_body(vec![0u8; 8])
                .with_app_metadata(place);
            task.outgoing.send(chunk).await.unwrap();
            let error = fit.receive().await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        }
    }

    #[tokio::test]
    async fn tasks_without_the_fits_secret_or_after_its_start_are_refused() {
        let endpoint = endpoint();
        let credentials = Credentials::generate(7).unwrap();
        let mut arrivals = endpoint.expect(credentials).await.unwrap();
        let address = arrivals.address.clone();
        let mut wrong = credentials;
        wrong.secret[15] ^= 1;
        let refused = connect(&address, None, wrong).await.err().unwrap();
        assert!(
            refused
                .to_string()
                .contains("no fit with these credentials"),
            "{refused}"
        );
        let other_fit = Credentials {
            fit: 8,
            ..credentials
        };
        assert!(connect(&address, None, other_fit).await.is_err());
        assert!(arrivals.arrivals.try_recv().is_err());
        drop(arrivals);
        let late = connect(&address, None, credentials).await.err().unwrap();
        assert!(
            late.to_string().contains("no fit with these credentials"),
            "{late}"
        );
    }

    #[tokio::test]
    async fn a_silent_connection_does_not_hold_up_the_tasks_behind_it() {
        let endpoint = endpoint();
        let credentials = Credentials::generate(7).unwrap();
        let mut arrivals = endpoint.expect(credentials).await.unwrap();
        let _silent = tokio::net::TcpStream::connect(&arrivals.address)
            .await
            .unwrap();
        // Well under the 10 s a silent stream gets to present credentials.
        let prompt = Duration::from_secs(5);
        let joined = tokio::time::timeout(prompt, async {
            let task = connect(&arrivals.address, None, credentials).await.unwrap();
            (task, arrivals.next().await.unwrap())
        });
        assert!(joined.await.is_ok());
    }

    #[test]
    fn credentials_round_trip_and_malformed_ones_are_none() {
        let credentials = Credentials::generate(u64::MAX - 3).unwrap();
        assert_eq!(
            Credentials::from_bytes(&credentials.to_bytes()),
            Some(credentials)
        );
        assert_eq!(Credentials::from_bytes(&credentials.to_bytes()[..23]), None);
        assert_eq!(Credentials::from_bytes(&[0; 25]), None);
        assert_ne!(
            Credentials::generate(1).unwrap().secret,
            Credentials::generate(1).unwrap().secret
        );
    }
}
