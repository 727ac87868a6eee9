//! The wire: Flower's Fleet API, protobuf over HTTP, one POST per call.
//!
//! Each call sends one protobuf request to `/v1/fleet/<name>` with content type
//! `application/protobuf` and reads one protobuf response, as
//! `flwr/supernode/fleet_http_client.py` does. Every request carries the node's
//! signed identity ([`NodeKeys::headers`]) and the Flower version it speaks. This
//! module knows nothing of messages or models: the node ([`crate::node`]) drives it.

use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use thiserror::Error;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::auth::NodeKeys;
use crate::limits::{Limits, Size};
use crate::proto;

/// The Flower release whose protocol this crate speaks (`proto/VERSION`).
pub const FLWR_VERSION: &str = "1.42.0";

/// Content type of protobuf requests and responses.
pub const PROTOBUF_MEDIA_TYPE: &str = "application/protobuf";

/// Longest error body kept from a failed call.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// Largest answer to a call that carries no message and no object (registering,
/// activating, heartbeats, the run, acknowledgements): such an answer is a few
/// numbers and strings, so more than this is a broken or hostile SuperLink.
pub const MAX_CONTROL_RESPONSE: u64 = 1 << 20;

/// How the node reaches the SuperLink: plain HTTP or TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP, as `flower-superlink --insecure` serves it.
    Insecure,
    /// HTTPS, trusting the certificates of this PEM bundle (the SuperLink's CA).
    Tls {
        /// PEM bytes of the root certificate(s).
        root_certificates: Vec<u8>,
    },
}

/// A Fleet API call that failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The SuperLink could not be reached, or the connection broke: worth retrying.
    #[error("cannot reach the SuperLink at {url}: {reason}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// The SuperLink answered with an HTTP error status.
    #[error("the SuperLink answered {status} to {path}: {body}")]
    Status {
        /// The Fleet API path.
        path: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the response body (Flower sends a JSON error).
        body: String,
    },
    /// The response is not the protobuf message the call returns.
    #[error("the SuperLink's answer to {path} is not a valid `{message}`: {reason}")]
    Decode {
        /// The Fleet API path.
        path: &'static str,
        /// The expected message.
        message: &'static str,
        /// What prost said.
        reason: String,
    },
    /// The answer is larger than the node reads: refused from its `Content-Length`
    /// before it is read, or when the body passed the limit.
    #[error("the SuperLink's answer to {path} is over the {} limit{}{}", Size(*limit), limit_name(*setting), raise_hint(*setting))]
    TooLarge {
        /// The Fleet API path.
        path: &'static str,
        /// The limit, in bytes.
        limit: u64,
        /// The [`Limits`] field that set it, or `None` for
        /// [`MAX_CONTROL_RESPONSE`].
        setting: Option<&'static str>,
    },
    /// The TLS handshake failed: the SuperLink's certificate is not trusted, or it
    /// does not speak TLS. Another try will not help.
    #[error("TLS with the SuperLink at {url} failed: {reason}")]
    Tls {
        /// The URL called.
        url: String,
        /// What the TLS stack said.
        reason: String,
    },
    /// The root certificate is not valid PEM.
    #[error("the root certificate is not valid PEM: {reason}")]
    Certificate {
        /// What the PEM parser said.
        reason: String,
    },
}

impl FleetError {
    /// Whether another try may succeed: the network, or a SuperLink that is
    /// starting, stopping or overloaded (HTTP 502, 503, 504).
    pub fn is_transient(&self) -> bool {
        match self {
            FleetError::Unreachable { .. } => true,
            FleetError::Status { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// Whether the SuperLink refused the node's identity (HTTP 401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, FleetError::Status { status: 401, .. })
    }

    /// Whether the SuperLink refused to admit the node: its identity (401), or a
    /// key it does not know when node authentication is on (412 at activation).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            FleetError::Status {
                status: 401 | 403 | 412,
                ..
            }
        )
    }
}

fn limit_name(setting: Option<&'static str>) -> String {
    match setting {
        Some(s) => format!(" (`{s}`)"),
        None => " of an answer that carries no message or object".into(),
    }
}

fn raise_hint(setting: Option<&'static str>) -> String {
    match setting {
        Some(s) => format!(
            "; raise it with `Limits::{s}` (`--{}` of flower_node)",
            s.replace('_', "-")
        ),
        None => String::new(),
    }
}

/// Sorts a failed request: TLS failures are final, the rest is the network.
fn send_error(url: &str, error: ureq::Error) -> FleetError {
    let tls = match &error {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.to_string().contains("certificate")),
        _ => false,
    };
    let (url, reason) = (url.to_owned(), error.to_string());
    if tls {
        FleetError::Tls { url, reason }
    } else {
        FleetError::Unreachable { url, reason }
    }
}

/// What an answer may hold, which sets how much of it is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// Messages, objects or object ids: up to [`Limits::max_response_bytes`].
    Objects,
    /// A few numbers and strings: up to [`MAX_CONTROL_RESPONSE`] as well.
    Control,
}

/// Why a bounded read failed.
enum ReadError {
    TooLarge,
    Io(String),
}

/// The body of `response`, refused unread if its `Content-Length` is over `limit`,
/// and read through ureq's own limit otherwise (which fails past `limit` bytes).
/// A declared length sizes the buffer once, so a body is never copied to grow it.
fn read_bounded(
    response: &mut ureq::http::Response<ureq::Body>,
    limit: u64,
) -> Result<Vec<u8>, ReadError> {
    let declared = response.body().content_length();
    if declared.is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(0));
    let mut body = Vec::with_capacity(capacity);
    let read = response
        .body_mut()
        .with_config()
        .limit(limit)
        .reader()
        .read_to_end(&mut body);
    match read {
        Ok(_) => Ok(body),
        Err(e) => match ureq::Error::from(e) {
            ureq::Error::BodyExceedsLimit(_) => Err(ReadError::TooLarge),
            other => Err(ReadError::Io(other.to_string())),
        },
    }
}

/// Protobuf bytes a client sent and received, over all its clones.
#[derive(Debug, Default)]
struct Traffic {
    sent: AtomicU64,
    received: AtomicU64,
}

/// A Fleet API client: one SuperLink address, one node identity.
#[derive(Debug, Clone)]
pub struct FleetClient {
    agent: ureq::Agent,
    base_url: String,
    keys: Arc<NodeKeys>,
    traffic: Arc<Traffic>,
    max_response_bytes: u64,
}

impl FleetClient {
    /// A client for the SuperLink at `address` (`host:port`).
    ///
    /// # Errors
    /// [`FleetError::Certificate`] for a root certificate that is not PEM.
    pub fn new(
        address: &str,
        transport: &Transport,
        keys: NodeKeys,
        timeout: Duration,
    ) -> Result<Self, FleetError> {
        let (scheme, tls) = match transport {
            Transport::Insecure => ("http", TlsConfig::default()),
            Transport::Tls { root_certificates } => {
                let certs = ureq::tls::parse_pem(root_certificates)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .collect::<Result<Vec<Certificate<'static>>, _>>()
                    .map_err(|e| FleetError::Certificate {
                        reason: e.to_string(),
                    })?;
                if certs.is_empty() {
                    return Err(FleetError::Certificate {
                        reason: "no CERTIFICATE block".into(),
                    });
                }
                let tls = TlsConfig::builder()
                    .root_certs(RootCerts::new_with_certs(&certs))
                    .build();
                ("https", tls)
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(Self {
            agent,
            base_url: format!("{scheme}://{}", address.trim_end_matches('/')),
            keys: Arc::new(keys),
            traffic: Arc::default(),
            max_response_bytes: Limits::default().max_response_bytes,
        })
    }

    /// Reads answers of at most `bytes` bytes ([`Limits::max_response_bytes`];
    /// answers without messages or objects are also held to
    /// [`MAX_CONTROL_RESPONSE`]).
    pub fn with_max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Protobuf bytes sent and received so far by this client and its clones
    /// (request and response bodies; HTTP and TLS framing not counted).
    pub fn traffic(&self) -> (u64, u64) {
        (
            self.traffic.sent.load(Ordering::Relaxed),
            self.traffic.received.load(Ordering::Relaxed),
        )
    }

    /// The node's key pair.
    pub fn keys(&self) -> &NodeKeys {
        &self.keys
    }

    /// One unary call: POST `request` to `path`, decode the response, which is
    /// read only up to the limit of what it `holds`.
    fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        path: &'static str,
        request: &Req,
        holds: Holds,
    ) -> Result<Resp, FleetError> {
        let url = format!("{}{path}", self.base_url);
        let mut post = self
            .agent
            .post(&url)
            .header("content-type", PROTOBUF_MEDIA_TYPE)
            .header("accept", PROTOBUF_MEDIA_TYPE)
            .header("flwr-package-name", "flwr")
            .header("flwr-package-version", FLWR_VERSION)
            .header("flwr-component-name", "SuperNode");
        for (name, value) in self.keys.headers(SystemTime::now()) {
            post = post.header(name, value);
        }
        let body = request.encode_to_vec();
        self.traffic
            .sent
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let mut response = post.send(body).map_err(|e| send_error(&url, e))?;
        let status = response.status().as_u16();
        let body = if status < 400 {
            let (limit, setting) =
                if holds == Holds::Objects || self.max_response_bytes <= MAX_CONTROL_RESPONSE {
                    (self.max_response_bytes, Some("max_response_bytes"))
                } else {
                    (MAX_CONTROL_RESPONSE, None)
                };
            read_bounded(&mut response, limit).map_err(|e| match e {
                ReadError::TooLarge => FleetError::TooLarge {
                    path,
                    limit,
                    setting,
                },
                ReadError::Io(reason) => FleetError::Unreachable {
                    url: url.clone(),
                    reason,
                },
            })?
        } else {
            let mut body = Vec::new();
            response
                .body_mut()
                .as_reader()
                .take(MAX_ERROR_BODY)
                .read_to_end(&mut body)
                .map_err(|e| FleetError::Unreachable {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
            body
        };
        self.traffic
            .received
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        if status >= 400 {
            return Err(FleetError::Status {
                path,
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Resp::decode(body.as_slice()).map_err(|e| FleetError::Decode {
            path,
            message: std::any::type_name::<Resp>()
                .rsplit("::")
                .next()
                .unwrap_or("message"),
            reason: e.to_string(),
        })
    }

    /// Registers the node's public key; returns the node id.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn register_node(&self) -> Result<u64, FleetError> {
        let request = proto::RegisterNodeFleetRequest {
            public_key: self.keys.public_key_pem().to_vec(),
        };
        let response: proto::RegisterNodeFleetResponse =
            self.call("/v1/fleet/register-node", &request, Holds::Control)?;
        Ok(response.node_id)
    }

    /// Activates the registered node, promising a heartbeat every
    /// `heartbeat_interval` seconds; returns the node id.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn activate_node(&self, heartbeat_interval: f64) -> Result<u64, FleetError> {
        let request = proto::ActivateNodeRequest {
            public_key: self.keys.public_key_pem().to_vec(),
            heartbeat_interval,
        };
        let response: proto::ActivateNodeResponse =
            self.call("/v1/fleet/activate-node", &request, Holds::Control)?;
        Ok(response.node_id)
    }

    /// Deactivates the node: the SuperLink stops sending it messages.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn deactivate_node(&self, node_id: u64) -> Result<(), FleetError> {
        let _: proto::DeactivateNodeResponse = self.call(
            "/v1/fleet/deactivate-node",
            &proto::DeactivateNodeRequest { node_id },
            Holds::Control,
        )?;
        Ok(())
    }

    /// Unregisters a node that registered itself.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn unregister_node(&self, node_id: u64) -> Result<(), FleetError> {
        let _: proto::UnregisterNodeFleetResponse = self.call(
            "/v1/fleet/unregister-node",
            &proto::UnregisterNodeFleetRequest { node_id },
            Holds::Control,
        )?;
        Ok(())
    }

    /// Tells the SuperLink the node is alive; `false` if it no longer knows the node.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn send_heartbeat(
        &self,
        node_id: u64,
        heartbeat_interval: f64,
    ) -> Result<bool, FleetError> {
        let request = proto::SendNodeHeartbeatRequest {
            node: Some(proto::Node { node_id }),
            heartbeat_interval,
        };
        let response: proto::SendNodeHeartbeatResponse =
            self.call("/v1/fleet/send-node-heartbeat", &request, Holds::Control)?;
        Ok(response.success)
    }

    /// Messages waiting for the node, each with its object tree.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn pull_messages(&self, node_id: u64) -> Result<proto::PullMessagesResponse, FleetError> {
        let request = proto::PullMessagesRequest {
            node: Some(proto::Node { node_id }),
            message_ids: Vec::new(),
        };
        self.call("/v1/fleet/pull-messages", &request, Holds::Objects)
    }

    /// The run a message belongs to.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn get_run(&self, node_id: u64, run_id: u64) -> Result<proto::GetRunResponse, FleetError> {
        let request = proto::GetRunRequest {
            node: Some(proto::Node { node_id }),
            run_id,
        };
        self.call("/v1/fleet/get-run", &request, Holds::Control)
    }

    /// One object of a message's tree.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn pull_object(
        &self,
        node_id: u64,
        run_id: u64,
        object_id: &str,
    ) -> Result<proto::PullObjectResponse, FleetError> {
        let request = proto::PullObjectRequest {
            node: Some(proto::Node { node_id }),
            run_id,
            object_id: object_id.to_owned(),
        };
        self.call("/v1/fleet/pull-object", &request, Holds::Objects)
    }

    /// Tells the SuperLink the whole message arrived, so it can free its objects.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn confirm_message_received(
        &self,
        node_id: u64,
        run_id: u64,
        message_object_id: &str,
    ) -> Result<(), FleetError> {
        let request = proto::ConfirmMessageReceivedRequest {
            node: Some(proto::Node { node_id }),
            run_id,
            message_object_id: message_object_id.to_owned(),
        };
        let _: proto::ConfirmMessageReceivedResponse = self.call(
            "/v1/fleet/confirm-message-received",
            &request,
            Holds::Control,
        )?;
        Ok(())
    }

    /// Sends reply messages (metadata and object trees); the answer lists the
    /// objects the SuperLink does not have yet.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn push_messages(
        &self,
        request: &proto::PushMessagesRequest,
    ) -> Result<proto::PushMessagesResponse, FleetError> {
        self.call("/v1/fleet/push-messages", request, Holds::Objects)
    }

    /// Uploads one object of a pushed message.
    ///
    /// # Errors
    /// As every call: [`FleetError`].
    pub fn push_object(
        &self,
        node_id: u64,
        run_id: u64,
        session_id: &str,
        object_id: &str,
        object_content: Vec<u8>,
    ) -> Result<bool, FleetError> {
        let request = proto::PushObjectRequest {
            node: Some(proto::Node { node_id }),
            run_id,
            object_id: object_id.to_owned(),
            object_content,
            session_id: session_id.to_owned(),
        };
        let response: proto::PushObjectResponse =
            self.call("/v1/fleet/push-object", &request, Holds::Control)?;
        Ok(response.stored)
    }
}
