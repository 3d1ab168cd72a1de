//! A real S3-compatible server for the object-store tests: `s3s` serving `s3s-fs` (buckets are
//! directories of a temporary root) on 127.0.0.1, with signature-checked credentials, running on
//! its own thread until dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::sync::oneshot;

/// The access key id the server accepts.
pub const ACCESS_KEY_ID: &str = "ember-test";
/// The secret access key the server accepts.
pub const SECRET_ACCESS_KEY: &str = "ember-test-secret";

/// A running server; stops when dropped.
pub struct S3Server {
    address: SocketAddr,
    root: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server with no buckets on a free port of 127.0.0.1, accepting requests signed
    /// with [`ACCESS_KEY_ID`] and [`SECRET_ACCESS_KEY`].
    pub fn start() -> Self {
        Self::start_with_auth(true)
    }

    /// Starts a server that answers unsigned requests only: its objects are plain HTTP resources
    /// at `http://127.0.0.1:PORT/BUCKET/KEY`, placed with [`S3Server::place`].
    pub fn start_public() -> Self {
        Self::start_with_auth(false)
    }

    fn start_with_auth(auth: bool) -> Self {
        let root = tempfile::tempdir().expect("a temporary directory for the S3 server");
        let service = {
            let store = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs opens its root");
            let mut builder = S3ServiceBuilder::new(store);
            if auth {
                builder.set_auth(SimpleAuth::from_single(ACCESS_KEY_ID, SECRET_ACCESS_KEY));
            }
            builder.build()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let address = listener.local_addr().expect("bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the S3 server");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let connections = ConnectionBuilder::new(TokioExecutor::new());
                let mut stopped = std::pin::pin!(stopped);
                loop {
                    let socket = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((socket, _)) => socket,
                            Err(_) => continue,
                        },
                        _ = stopped.as_mut() => break,
                    };
                    let connection = connections
                        .serve_connection(TokioIo::new(socket), service.clone())
                        .into_owned();
                    tokio::spawn(connection);
                }
            });
        });
        Self {
            address,
            root,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Copies `file` into the server's storage as `key` of `bucket`, without a request (a
    /// server from [`S3Server::start_public`] refuses uploads).
    pub fn place(&self, bucket: &str, key: &str, file: &Path) {
        let destination = self.root.path().join(bucket).join(key);
        std::fs::create_dir_all(destination.parent().unwrap()).expect("object directory");
        std::fs::copy(file, destination).expect("the file to place");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Creates bucket `name`.
    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.root.path().join(name)).expect("bucket directory");
    }

    /// `--conf` flags that point `ember` at this server with `secret` as the secret key.
    pub fn conf_with_secret(&self, secret: &str) -> Vec<String> {
        [
            format!("ember.s3.endpoint={}", self.endpoint()),
            "ember.s3.region=us-east-1".to_string(),
            format!("ember.s3.access.key.id={ACCESS_KEY_ID}"),
            format!("ember.s3.secret.access.key={secret}"),
        ]
        .into_iter()
        .flat_map(|pair| ["--conf".to_string(), pair])
        .collect()
    }

    /// `--conf` flags that point `ember` at this server with the right credentials.
    pub fn conf(&self) -> Vec<String> {
        self.conf_with_secret(SECRET_ACCESS_KEY)
    }

    /// A client for `bucket`, as a test uploads and inspects objects.
    pub fn client(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id(ACCESS_KEY_ID)
            .with_secret_access_key(SECRET_ACCESS_KEY)
            .build()
            .expect("an S3 client for the test server")
    }

    /// Uploads the local file `file` as `key` of `bucket`.
    pub fn upload(&self, bucket: &str, key: &str, file: &Path) {
        let client = Arc::new(self.client(bucket));
        let bytes = std::fs::read(file).expect("the file to upload");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(client.put(&ObjectPath::from(key), PutPayload::from(bytes)))
            .unwrap_or_else(|e| panic!("upload of {key} failed: {e}"));
    }
}

impl S3Server {
    /// The keys under `prefix` in `bucket`, sorted.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        use futures::TryStreamExt;
        let client = self.client(bucket);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let mut keys: Vec<String> = runtime
            .block_on(
                client
                    .list(prefix.as_ref())
                    .map_ok(|meta| meta.location.to_string())
                    .try_collect(),
            )
            .expect("listing the test bucket");
        keys.sort();
        keys
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
