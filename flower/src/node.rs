//! The node: connects to a SuperLink, answers its messages, and leaves cleanly.
//!
//! The call sequence is the one `flower-supernode` makes (`fleet-trace.txt` in the
//! repository's shared material; `flwr/supernode/fleet_http_connection.py`):
//! register the key (unless the SuperLink requires pre-registered keys), activate,
//! then poll `pull-messages`; for each message, `get-run`, `pull-object` for each
//! object of its tree, `confirm-message-received`, handle it, `push-messages` with
//! the reply's tree and `push-object` for what the SuperLink asks for. A heartbeat
//! thread keeps the node alive meanwhile. A SuperLink that goes away is retried with
//! exponential backoff, each try reported; a SuperLink that forgot the node (it
//! restarted) gets a new registration. Setting the stop flag (Ctrl-C in the example)
//! deactivates and unregisters the node before [`Node::run`] returns.
//!
//! What the SuperLink sends is held to the node's [`Limits`]: an answer too large, a
//! tree of too many objects or too many bytes, and a config asking for too much
//! training are each answered with Flower's error reply (an unreadable
//! `pull-messages` answer is skipped), and the node goes on.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feddx_runtime::FederatedModel;
use thiserror::Error;

use crate::auth::{KeyError, NodeKeys};
use crate::client_app::{ClientApp, Handled};
use crate::fleet::{FleetClient, FleetError, Transport};
use crate::limits::Limits;
use crate::message::{error_code, Message};
use crate::object::verify_id;
use crate::policy::{Policy, PolicyError};
use crate::proto;
use crate::secagg::Stage;
use crate::ProtocolError;

/// How long to wait between tries of a call that failed for a transient reason.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Wait after the first failure.
    pub initial: Duration,
    /// Longest wait; each failure doubles the previous one up to this.
    pub max: Duration,
    /// Give up when the SuperLink has been unreachable this long (`None`: never).
    pub give_up_after: Option<Duration>,
}

impl Default for Backoff {
    /// 0.5 s doubling to 10 s, never giving up, as a long-lived node should.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
            give_up_after: None,
        }
    }
}

impl Backoff {
    /// The wait before try `attempt + 1` (`attempt` counts failures, from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// What the node is doing, reported to the closure given to [`Node::run`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// Registered and activated: the SuperLink knows the node by this id.
    Connected {
        /// The node id.
        node_id: u64,
    },
    /// A call failed for a transient reason and will be tried again.
    Retrying {
        /// The failing step.
        what: &'static str,
        /// Failures so far.
        attempt: u32,
        /// Wait before the next try.
        delay: Duration,
        /// The failure.
        error: String,
    },
    /// The SuperLink no longer knows the node (it restarted): registering again.
    Reconnecting {
        /// Why.
        reason: String,
    },
    /// A message arrived.
    Received {
        /// Its run.
        run_id: u64,
        /// `train`, `evaluate`, ...
        message_type: String,
    },
    /// A message was handled and its reply sent.
    Replied(Handled),
    /// A message could not be handled: Flower's error reply was sent instead.
    ErrorReplied {
        /// The message type.
        message_type: String,
        /// The reason sent in the error reply.
        reason: String,
    },
    /// The SuperLink refused a step of answering a message; the node goes on.
    Failed {
        /// The refused call.
        error: String,
    },
    /// The node deactivated and, if it registered itself, unregistered.
    Left {
        /// The node id it had.
        node_id: u64,
    },
}

impl fmt::Display for NodeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeEvent::Connected { node_id } => write!(f, "connected as node {node_id}"),
            NodeEvent::Retrying {
                what,
                attempt,
                delay,
                error,
            } => write!(
                f,
                "{what} failed (try {attempt}): {error}; trying again in {:.1} s",
                delay.as_secs_f64()
            ),
            NodeEvent::Reconnecting { reason } => write!(f, "reconnecting: {reason}"),
            NodeEvent::Received {
                run_id,
                message_type,
            } => write!(f, "received `{message_type}` for run {run_id}"),
            NodeEvent::Replied(h) => {
                if let Some(r) = h.server_round {
                    write!(f, "round {r}: ")?;
                }
                match h.secagg_stage {
                    Some(stage) if stage != Stage::CollectMaskedVectors => {
                        return write!(f, "SecAgg+ {} answered", stage.name());
                    }
                    Some(stage) => write!(
                        f,
                        "{} on {} examples (SecAgg+ {}: sent masked)",
                        h.message_type,
                        h.num_examples,
                        stage.name()
                    )?,
                    None => write!(f, "{} on {} examples", h.message_type, h.num_examples)?,
                }
                // The counts are summed over epochs and batches: left out here.
                for (name, value) in h.metrics.iter() {
                    if name != "num_examples" && name != "num_batches" {
                        write!(f, ", {name} {value:.4}")?;
                    }
                }
                if let Some(c) = &h.clipping {
                    write!(
                        f,
                        "; update norm {:.6} clipped to {:.6} (clipping_norm {}, norm_bit {})",
                        c.norm_before,
                        c.norm_after,
                        c.clipping_norm,
                        u8::from(c.norm_bit)
                    )?;
                }
                Ok(())
            }
            NodeEvent::ErrorReplied {
                message_type,
                reason,
            } => write!(f, "`{message_type}` answered with an error: {reason}"),
            NodeEvent::Failed { error } => write!(f, "could not answer a message: {error}"),
            NodeEvent::Left { node_id } => write!(f, "node {node_id} left the federation"),
        }
    }
}

/// Why a node stopped other than by its stop flag.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The SuperLink refused the node's identity: with `--enable-supernode-auth`,
    /// its public key has not been registered (`flwr supernode register`).
    #[error("the SuperLink refused this node ({source}); if it runs with --enable-supernode-auth, register the node's public key with `flwr supernode register`")]
    Refused {
        /// The refused call.
        source: FleetError,
    },
    /// The SuperLink stayed unreachable longer than [`Backoff::give_up_after`].
    #[error("gave up after {:.0} s without the SuperLink: {last}", after.as_secs_f64())]
    GaveUp {
        /// How long it was unreachable.
        after: Duration,
        /// The last failure.
        last: FleetError,
    },
    /// A call failed in a way another try will not fix.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The node's key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The owner's [`Policy`] has a value that cannot be used.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// How a node reaches its SuperLink and how it behaves there.
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    superlink: String,
    transport: Transport,
    keys: Option<NodeKeys>,
    heartbeat_interval: Duration,
    poll_interval: Duration,
    request_timeout: Duration,
    backoff: Backoff,
    limits: Limits,
    policy: Policy,
}

impl NodeBuilder {
    /// Settings for a node of the SuperLink at `superlink` (`host:port`): plain HTTP,
    /// a fresh self-registered key, a heartbeat every 30 s and a call timeout of 30 s
    /// (as `flower-supernode`), a poll every second, and [`Backoff::default`].
    pub fn new(superlink: impl Into<String>) -> Self {
        NodeBuilder {
            superlink: superlink.into(),
            transport: Transport::Insecure,
            keys: None,
            heartbeat_interval: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
            limits: Limits::default(),
            policy: Policy::default(),
        }
    }

    /// Plain HTTP (`flower-superlink --insecure`); the default.
    pub fn insecure(mut self) -> Self {
        self.transport = Transport::Insecure;
        self
    }

    /// TLS, trusting `root_certificates` (PEM), as `--root-certificates` of
    /// `flower-supernode`.
    pub fn root_certificates(mut self, root_certificates: Vec<u8>) -> Self {
        self.transport = Transport::Tls { root_certificates };
        self
    }

    /// Authenticates with a key pair registered beforehand
    /// (`flwr supernode register`), instead of registering a fresh one.
    pub fn authentication_keys(mut self, keys: NodeKeys) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Heartbeat period (default 30 s, as Flower's).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// How often to ask for messages when none are waiting (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Timeout of one HTTP call (default 30 s, as Flower's).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Retry policy for transient failures.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// What the node takes from its SuperLink (default [`Limits::default`]): the
    /// size of answers and messages, and the local training a message may ask for.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What the node's owner requires of a `train` message (default
    /// [`Policy::default`]: nothing): secure aggregation, client-side clipping, a cap
    /// on the clipping norm.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The node, running `app`, which is held to this builder's [`Limits`] and
    /// [`Policy`].
    ///
    /// # Errors
    /// [`FleetError::Certificate`] for a root certificate that is not PEM;
    /// [`NodeError::Policy`] for a policy whose values cannot be used.
    pub fn build<M: FederatedModel>(self, app: ClientApp<M>) -> Result<Node<M>, NodeError> {
        self.policy.validate()?;
        let self_registered = self.keys.is_none();
        let keys = self.keys.unwrap_or_else(NodeKeys::generate);
        let client =
            FleetClient::new(&self.superlink, &self.transport, keys, self.request_timeout)?
                .with_max_response_bytes(self.limits.max_response_bytes);
        let mut app = app;
        app.set_limits(self.limits);
        app.set_policy(self.policy);
        Ok(Node {
            client,
            app,
            limits: self.limits,
            self_registered,
            heartbeat_interval: self.heartbeat_interval,
            poll_interval: self.poll_interval,
            backoff: self.backoff,
            known_runs: HashSet::new(),
        })
    }
}

/// A feddx node in a Flower federation: a [`ClientApp`] behind a Fleet API client.
pub struct Node<M: FederatedModel> {
    client: FleetClient,
    app: ClientApp<M>,
    self_registered: bool,
    heartbeat_interval: Duration,
    poll_interval: Duration,
    backoff: Backoff,
    limits: Limits,
    known_runs: HashSet<u64>,
}

/// What a run of the node did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSummary {
    /// Messages answered with a result.
    pub replied: usize,
    /// Messages answered with Flower's error reply.
    pub error_replies: usize,
    /// Messages the SuperLink refused a step of (pulling, confirming or pushing).
    pub failed: usize,
    /// Times the node registered again after the SuperLink forgot it.
    pub reconnections: usize,
    /// Protobuf bytes sent to the SuperLink (request bodies), heartbeats included.
    pub bytes_sent: u64,
    /// Protobuf bytes received from the SuperLink (response bodies).
    pub bytes_received: u64,
}

/// How a session with the SuperLink ended.
enum SessionEnd {
    Stopped,
    Lost(String),
}

impl<M: FederatedModel> Node<M> {
    /// The node's client app: its model and data.
    pub fn app(&self) -> &ClientApp<M> {
        &self.app
    }

    /// Joins the federation and answers messages until `stop` is set, then leaves.
    ///
    /// # Errors
    /// [`NodeError::Refused`] if the SuperLink refuses the node's key,
    /// [`NodeError::GaveUp`] after [`Backoff::give_up_after`] without the SuperLink,
    /// [`NodeError::Fleet`] for an answer another try will not change.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        mut on_event: impl FnMut(&NodeEvent),
    ) -> Result<NodeSummary, NodeError> {
        let mut summary = NodeSummary::default();
        self.sessions(stop, &mut on_event, &mut summary)?;
        (summary.bytes_sent, summary.bytes_received) = self.client.traffic();
        Ok(summary)
    }

    /// Sessions with the SuperLink until stopped: a lost session (the SuperLink
    /// forgot the node) is followed by a new registration.
    fn sessions(
        &mut self,
        stop: &AtomicBool,
        on_event: &mut impl FnMut(&NodeEvent),
        summary: &mut NodeSummary,
    ) -> Result<(), NodeError> {
        loop {
            let Some(node_id) = self.connect(stop, on_event)? else {
                return Ok(());
            };
            on_event(&NodeEvent::Connected { node_id });
            let lost = AtomicBool::new(false);
            let client = self.client.clone();
            let interval = self.heartbeat_interval;
            let end = std::thread::scope(|scope| {
                let heartbeat = scope.spawn(|| heartbeat(&client, node_id, interval, stop, &lost));
                let end = self.serve(node_id, stop, &lost, summary, on_event);
                lost.store(true, Ordering::SeqCst);
                let _ = heartbeat.join();
                end
            })?;
            match end {
                SessionEnd::Stopped => {
                    self.leave(node_id);
                    on_event(&NodeEvent::Left { node_id });
                    return Ok(());
                }
                SessionEnd::Lost(reason) => {
                    summary.reconnections += 1;
                    on_event(&NodeEvent::Reconnecting { reason });
                }
            }
        }
    }

    /// Registers (if the node registers itself) and activates; `None` if stopped.
    fn connect(
        &self,
        stop: &AtomicBool,
        on_event: &mut impl FnMut(&NodeEvent),
    ) -> Result<Option<u64>, NodeError> {
        let interval = self.heartbeat_interval.as_secs_f64();
        let connect = || {
            if self.self_registered {
                self.client.register_node()?;
            }
            self.client.activate_node(interval)
        };
        match self.retry("connecting", stop, on_event, connect) {
            Ok(id) => Ok(id),
            Err(NodeError::Fleet(e)) if e.is_refusal() => Err(NodeError::Refused { source: e }),
            Err(e) => Err(e),
        }
    }

    /// Calls `call` until it succeeds, fails for good, or `stop` is set (`None`).
    fn retry<T>(
        &self,
        what: &'static str,
        stop: &AtomicBool,
        on_event: &mut impl FnMut(&NodeEvent),
        mut call: impl FnMut() -> Result<T, FleetError>,
    ) -> Result<Option<T>, NodeError> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            match call() {
                Ok(v) => return Ok(Some(v)),
                Err(e) if e.is_transient() => {
                    attempt += 1;
                    if let Some(limit) = self.backoff.give_up_after {
                        if start.elapsed() >= limit {
                            return Err(NodeError::GaveUp {
                                after: start.elapsed(),
                                last: e,
                            });
                        }
                    }
                    let delay = self.backoff.delay(attempt);
                    on_event(&NodeEvent::Retrying {
                        what,
                        attempt,
                        delay,
                        error: e.to_string(),
                    });
                    sleep_unless(stop, delay);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Polls for messages and answers them until stopped or the session is lost.
    fn serve(
        &mut self,
        node_id: u64,
        stop: &AtomicBool,
        lost: &AtomicBool,
        summary: &mut NodeSummary,
        on_event: &mut impl FnMut(&NodeEvent),
    ) -> Result<SessionEnd, NodeError> {
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(SessionEnd::Stopped);
            }
            if lost.load(Ordering::SeqCst) {
                return Ok(SessionEnd::Lost(
                    "the SuperLink stopped accepting heartbeats".into(),
                ));
            }
            let pulled = match self.retry("pull-messages", stop, on_event, || {
                self.client.pull_messages(node_id)
            }) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(SessionEnd::Stopped),
                Err(NodeError::Fleet(e)) if e.is_unauthorized() => {
                    return Ok(SessionEnd::Lost(e.to_string()))
                }
                // An answer too large or not a protobuf: nothing in it can be
                // answered, and the next poll may be better.
                Err(NodeError::Fleet(
                    e @ (FleetError::TooLarge { .. } | FleetError::Decode { .. }),
                )) => {
                    summary.failed += 1;
                    on_event(&NodeEvent::Failed {
                        error: e.to_string(),
                    });
                    sleep_unless(stop, self.poll_interval);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if pulled.messages_list.is_empty() {
                sleep_unless(stop, self.poll_interval);
                continue;
            }
            for (message, tree) in pulled
                .messages_list
                .iter()
                .zip(&pulled.message_object_trees)
            {
                match self.answer(node_id, message, tree, stop, on_event) {
                    Ok(Some(true)) => summary.replied += 1,
                    Ok(Some(false)) => summary.error_replies += 1,
                    Ok(None) => return Ok(SessionEnd::Stopped),
                    Err(NodeError::Fleet(e)) if e.is_unauthorized() => {
                        return Ok(SessionEnd::Lost(e.to_string()))
                    }
                    // The SuperLink refused one exchange: that message is lost, the
                    // node is not.
                    Err(NodeError::Fleet(
                        e @ (FleetError::Status { .. }
                        | FleetError::Decode { .. }
                        | FleetError::TooLarge { .. }),
                    )) => {
                        summary.failed += 1;
                        on_event(&NodeEvent::Failed {
                            error: e.to_string(),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Fetches one message, handles it and pushes the reply; `Some(true)` for a
    /// result, `Some(false)` for an error reply, `None` if stopped.
    fn answer(
        &mut self,
        node_id: u64,
        message: &proto::Message,
        tree: &proto::ObjectTree,
        stop: &AtomicBool,
        on_event: &mut impl FnMut(&NodeEvent),
    ) -> Result<Option<bool>, NodeError> {
        let metadata = message.metadata.clone().unwrap_or_default();
        let run_id = metadata.run_id;
        let message_type = metadata.message_type.clone();
        on_event(&NodeEvent::Received {
            run_id,
            message_type: message_type.clone(),
        });
        let header = Message {
            metadata,
            content: None,
            error: None,
        };
        let (reply, outcome) = match self.fetch(node_id, &header.metadata, tree, stop, on_event)? {
            None => return Ok(None),
            Some(Ok(message)) => self.app.handle(&message, now()),
            Some(Err(reason)) => (
                header.error_reply(error_code::MESSAGE_UNAVAILABLE, &reason, now()),
                Err(reason),
            ),
        };
        if self.push(node_id, &reply, stop, on_event)?.is_none() {
            return Ok(None);
        }
        Ok(Some(match outcome {
            Ok(handled) => {
                on_event(&NodeEvent::Replied(handled));
                true
            }
            Err(reason) => {
                on_event(&NodeEvent::ErrorReplied {
                    message_type,
                    reason,
                });
                false
            }
        }))
    }

    /// The message's run, then its objects, checked and inflated; `Err(reason)` for
    /// a message the node cannot use.
    fn fetch(
        &mut self,
        node_id: u64,
        metadata: &proto::Metadata,
        tree: &proto::ObjectTree,
        stop: &AtomicBool,
        on_event: &mut impl FnMut(&NodeEvent),
    ) -> Result<Option<Result<Message, String>>, NodeError> {
        let run_id = metadata.run_id;
        if !self.known_runs.contains(&run_id) {
            let run = match self.retry("get-run", stop, on_event, || {
                self.client.get_run(node_id, run_id)
            }) {
                Ok(None) => return Ok(None),
                Ok(Some(r)) => r.run,
                Err(NodeError::Fleet(FleetError::Status { status, body, .. })) if status != 401 => {
                    return Ok(Some(Err(format!(
                        "run {run_id} is unknown to the SuperLink ({status}: {body})"
                    ))))
                }
                Err(NodeError::Fleet(
                    e @ (FleetError::TooLarge { .. } | FleetError::Decode { .. }),
                )) => return Ok(Some(Err(e.to_string()))),
                Err(e) => return Err(e),
            };
            match run {
                Some(run) if run.run_id == run_id => {
                    self.known_runs.insert(run_id);
                }
                _ => {
                    return Ok(Some(Err(format!(
                        "run {run_id} is unknown to the SuperLink"
                    ))))
                }
            }
        }
        // The tree arrived with the message: its size is known before any object
        // is fetched. The objects' bytes are summed as they arrive.
        if let Err(e) = self.limits.check_objects(tree_size(tree)) {
            return Ok(Some(Err(e.to_string())));
        }
        let mut objects = HashMap::new();
        let mut received: u64 = 0;
        let mut pending = vec![tree];
        while let Some(node) = pending.pop() {
            pending.extend(node.children.iter());
            if objects.contains_key(&node.object_id) {
                continue;
            }
            let content =
                match self.pull_object(node_id, run_id, &node.object_id, stop, on_event)? {
                    None => return Ok(None),
                    Some(Ok(c)) => c,
                    Some(Err(reason)) => return Ok(Some(Err(reason))),
                };
            received = received.saturating_add(content.len() as u64);
            if let Err(e) = self.limits.check_message_bytes(received) {
                return Ok(Some(Err(e.to_string())));
            }
            if let Err(e) = verify_id(&node.object_id, &content) {
                return Ok(Some(Err(e.to_string())));
            }
            objects.insert(node.object_id.clone(), content);
        }
        if self
            .retry("confirm-message-received", stop, on_event, || {
                self.client
                    .confirm_message_received(node_id, run_id, &tree.object_id)
            })?
            .is_none()
        {
            return Ok(None);
        }
        Ok(Some(
            Message::inflate(&tree.object_id, tree, &objects)
                .map_err(|e: ProtocolError| e.to_string()),
        ))
    }

    /// One object; the SuperLink may not have all of it yet (`object_available`:
    /// the ServerApp is still uploading), so it is asked again after 20 ms, doubling
    /// up to 320 ms, for at most about 15 s.
    fn pull_object(
        &self,
        node_id: u64,
        run_id: u64,
        object_id: &str,
        stop: &AtomicBool,
        on_event: &mut impl FnMut(&NodeEvent),
    ) -> Result<Option<Result<Vec<u8>, String>>, NodeError> {
        for attempt in 1..=50u32 {
            let response = match self.retry("pull-object", stop, on_event, || {
                self.client.pull_object(node_id, run_id, object_id)
            }) {
                Ok(Some(response)) => response,
                Ok(None) => return Ok(None),
                // The object is refused, not the node: the message gets an error reply.
                Err(NodeError::Fleet(
                    e @ (FleetError::TooLarge { .. } | FleetError::Decode { .. }),
                )) => return Ok(Some(Err(e.to_string()))),
                Err(e) => return Err(e),
            };
            if !response.object_found {
                return Ok(Some(Err(format!(
                    "object `{object_id}` is not on the SuperLink"
                ))));
            }
            if response.object_available {
                return Ok(Some(Ok(response.object_content)));
            }
            let wait = Duration::from_millis(20 << attempt.saturating_sub(1).min(4));
            sleep_unless(stop, wait);
        }
        Ok(Some(Err(format!(
            "object `{object_id}` never became available"
        ))))
    }

    /// Pushes a reply and the objects the SuperLink asks for; `None` if stopped.
    fn push(
        &self,
        node_id: u64,
        reply: &Message,
        stop: &AtomicBool,
        on_event: &mut impl FnMut(&NodeEvent),
    ) -> Result<Option<()>, NodeError> {
        let deflated = reply.deflate();
        let mut metadata = reply.metadata.clone();
        metadata.message_id = deflated.message_id.clone();
        let request = proto::PushMessagesRequest {
            node: Some(proto::Node { node_id }),
            // The message goes without its content, which travels as objects; an
            // empty `RecordDict` marks a reply with content, as Flower's own node sends.
            messages_list: vec![proto::Message {
                metadata: Some(metadata),
                content: reply.error.is_none().then(proto::RecordDict::default),
                error: reply.error.clone(),
            }],
            message_object_trees: vec![deflated.tree.clone()],
            clientapp_runtime_list: vec![0.0],
        };
        let Some(response) = self.retry("push-messages", stop, on_event, || {
            self.client.push_messages(&request)
        })?
        else {
            return Ok(None);
        };
        let wanted: HashSet<&str> = response
            .objects_to_push
            .iter()
            .map(String::as_str)
            .collect();
        for (id, content) in &deflated.objects {
            if !wanted.contains(id.as_str()) {
                continue;
            }
            let pushed = self.retry("push-object", stop, on_event, || {
                self.client.push_object(
                    node_id,
                    reply.metadata.run_id,
                    &response.session_id,
                    id,
                    content.clone(),
                )
            })?;
            if pushed.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(()))
    }

    /// Deactivates, and unregisters a self-registered node; failures are ignored,
    /// as the SuperLink may be gone.
    fn leave(&self, node_id: u64) {
        let _ = self.client.deactivate_node(node_id);
        if self.self_registered {
            let _ = self.client.unregister_node(node_id);
        }
    }
}

/// Sends heartbeats every `interval` until `stop` or `lost` is set; sets `lost`
/// when the SuperLink no longer knows the node.
fn heartbeat(
    client: &FleetClient,
    node_id: u64,
    interval: Duration,
    stop: &AtomicBool,
    lost: &AtomicBool,
) {
    let seconds = interval.as_secs_f64();
    loop {
        let deadline = Instant::now() + interval / 2;
        while Instant::now() < deadline {
            if stop.load(Ordering::SeqCst) || lost.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        match client.send_heartbeat(node_id, seconds) {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) if e.is_unauthorized() => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // Transient failures: the main loop retries its own calls and reports.
            Err(_) => {}
        }
    }
}

/// Objects in `tree` (which is already in memory, bounded by the answer's size).
fn tree_size(tree: &proto::ObjectTree) -> usize {
    let mut count = 0;
    let mut pending = vec![tree];
    while let Some(node) = pending.pop() {
        count += 1;
        pending.extend(node.children.iter());
    }
    count
}

/// Sleeps for `duration`, waking early if `stop` is set.
fn sleep_unless(stop: &AtomicBool, duration: Duration) {
    let deadline = Instant::now() + duration;
    while !stop.load(Ordering::SeqCst) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Seconds since the Unix epoch, as Flower's `created_at`.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(700),
            give_up_after: None,
        };
        let delays: Vec<u128> = (1..=6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 700, 700, 700]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(700));
    }
}
