//! Bad input from the network never crashes a feddx node: each case below is served
//! by a scripted Fleet API (an HTTP server in the test speaking the SuperLink's
//! protobuf), and the node must answer it with Flower's error reply, naming the
//! problem, and then answer a well-formed message that follows it correctly, in the
//! same session. No Python needed.

#[path = "../examples/flower_node/flags.rs"]
mod flags;

use std::collections::{HashMap, VecDeque};
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feddx::federated::seeds::client_seed;
use feddx::federated::{evaluate, train_client, Algorithm, BatchSize, ClientDataOf, LocalTraining};
use feddx::metrics::{MetricValues, MetricsState};
use feddx::prelude::*;
use feddx::{FeatureBatch, ForwardOutput, LabelBatch};
use feddx_flower::arrays::{record_to_weights, weights_to_record};
use feddx_flower::legacy;
use feddx_flower::message::error_code;
use feddx_flower::object::object_id;
use feddx_flower::proto;
use feddx_flower::{
    Array, ArrayRecord, ClientApp, ConfigRecord, ConfigValue, FleetError, Limits, Message,
    MetricValue, NodeBuilder, NodeError, NodeEvent, NodeSummary, Policy, Record, RecordDict,
};
use prost::Message as _;

#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct TinyNet {
    net: Built<(Linear<4, 8>, ReLU, Linear<8, 3>)>,
}

/// A weight value on which [`Tiny`]'s training panics.
const PANIC_WEIGHT: f32 = 1234.5;

/// The node's model: [`TinyNet`], whose training panics when one of its weights is
/// [`PANIC_WEIGHT`], as model code with a bug would on some input.
struct Tiny(TinyNet);

impl FederatedModel for Tiny {
    type Module = <TinyNet as FederatedModel>::Module;
    type Features = <TinyNet as FederatedModel>::Features;
    type Labels = <TinyNet as FederatedModel>::Labels;
    type Predictions = <TinyNet as FederatedModel>::Predictions;
    const OUTPUTS: &'static [&'static str] = TinyNet::OUTPUTS;
    const LOSS_WEIGHTS: &'static [f32] = TinyNet::LOSS_WEIGHTS;

    fn build(device: &Cpu) -> Self {
        Tiny(TinyNet::build(device))
    }
    fn module(&self) -> &Self::Module {
        self.0.module()
    }
    fn module_mut(&mut self) -> &mut Self::Module {
        self.0.module_mut()
    }
    fn forward_pass(
        &self,
        x: FeatureBatch<Self::Features, Traced>,
        y: &LabelBatch<Self>,
    ) -> feddx::Result<ForwardOutput<Self::Predictions, Traced>> {
        if self.0.weights_vec().contains(&PANIC_WEIGHT) {
            panic!("a weight of {PANIC_WEIGHT} makes the test model panic");
        }
        self.0.forward_pass(x, y)
    }
    fn evaluate_batch(
        &self,
        x: FeatureBatch<Self::Features>,
        y: &LabelBatch<Self>,
    ) -> feddx::Result<ForwardOutput<Self::Predictions>> {
        self.0.evaluate_batch(x, y)
    }
    fn predict_on_batch(&self, x: FeatureBatch<Self::Features>) -> Self::Predictions {
        self.0.predict_on_batch(x)
    }
    fn metrics_state(&self) -> MetricsState {
        self.0.metrics_state()
    }
    fn update_metrics(
        &self,
        state: &mut MetricsState,
        predictions: &Self::Predictions,
        y: &LabelBatch<Self>,
        loss: f32,
        num_examples: usize,
    ) -> feddx::Result<()> {
        self.0
            .update_metrics(state, predictions, y, loss, num_examples)
    }
    fn finalize_metrics(&self, state: &MetricsState) -> MetricValues {
        self.0.finalize_metrics(state)
    }
}

const RUN: u64 = 42;
const NODE: u64 = 7;
/// The run seed and client index the node trains as.
const SEED: u64 = 0;
/// The seed of the node's own initial weights; messages carry others.
const NODE_WEIGHTS_SEED: u64 = 0;

/// The node's data: 12 examples of 3 classes.
fn data() -> ClientDataOf<Tiny> {
    ClientDataOf::<Tiny>::new(
        (0..12)
            .map(|i| ([i as f32, 1.0, -1.0, 0.5], i % 3))
            .collect(),
    )
}

/// The node's local-training defaults.
const TRAINING: LocalTraining = LocalTraining {
    algorithm: Algorithm::FedAvg,
    local_epochs: 1,
    batch_size: BatchSize::Examples(4),
    learning_rate: 0.1,
};

/// How the scripted SuperLink misbehaves on one answer.
#[derive(Clone, Copy)]
enum Oversize {
    /// Declares a `Content-Length` of 512 MiB and sends 1 KiB.
    Declared,
    /// Sends this many bytes of garbage, chunked, with no length.
    Streamed(usize),
}

/// What the scripted SuperLink serves and what it was sent.
#[derive(Default)]
struct Script {
    /// The messages to deliver, with their trees; each pull takes the first.
    messages: VecDeque<(proto::Message, proto::ObjectTree)>,
    /// Objects by id, as served (possibly tampered with).
    objects: HashMap<String, Vec<u8>>,
    /// An object whose `pull-object` answer is oversized.
    oversized_object: Option<(String, Oversize)>,
    /// Oversized answers to `register-node`.
    oversized_register: Option<Oversize>,
    /// Oversized answers to the first `pull-messages` calls, until this is 0.
    oversized_pulls: usize,
    /// Replies pushed by the node.
    pushed: Vec<proto::PushMessagesRequest>,
    /// Objects pushed by the node.
    pushed_objects: HashMap<String, Vec<u8>>,
    /// Paths called, in order.
    calls: Vec<String>,
}

/// One answer of the scripted SuperLink.
enum Answer {
    Body(u16, Vec<u8>),
    Oversize(Oversize),
}

/// Serves `script` on a free loopback port until `stop` is set.
fn serve(
    script: Arc<Mutex<Script>>,
    stop: Arc<AtomicBool>,
) -> (String, std::thread::JoinHandle<()>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("a loopback port");
    let address = server
        .server_addr()
        .to_ip()
        .expect("an IP address")
        .to_string();
    let handle = std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let Ok(Some(mut request)) = server.recv_timeout(Duration::from_millis(20)) else {
                continue;
            };
            let mut body = Vec::new();
            request
                .as_reader()
                .read_to_end(&mut body)
                .expect("a request body");
            let path = request.url().to_owned();
            let answer = answer(&mut script.lock().unwrap(), &path, &body);
            let response = match answer {
                Answer::Body(status, bytes) => {
                    tiny_http::Response::from_data(bytes).with_status_code(status)
                }
                Answer::Oversize(Oversize::Declared) => tiny_http::Response::new(
                    tiny_http::StatusCode(200),
                    Vec::new(),
                    Cursor::new(vec![0x55; 1024]),
                    Some(512 << 20),
                    None,
                )
                // A declared length, not chunks, whatever its size.
                .with_chunked_threshold(usize::MAX),
                Answer::Oversize(Oversize::Streamed(n)) => tiny_http::Response::new(
                    tiny_http::StatusCode(200),
                    Vec::new(),
                    Cursor::new(vec![0x55; n]),
                    None,
                    None,
                ),
            };
            // The node hangs up on an oversized answer: a failed write is expected.
            let _ = request.respond(response);
        }
    });
    (address, handle)
}

/// The scripted SuperLink's answer to one call.
fn answer(s: &mut Script, path: &str, body: &[u8]) -> Answer {
    s.calls.push(path.to_owned());
    let ok = |bytes: Vec<u8>| Answer::Body(200, bytes);
    match path {
        "/v1/fleet/register-node" => match s.oversized_register {
            Some(how) => Answer::Oversize(how),
            None => ok(proto::RegisterNodeFleetResponse { node_id: NODE }.encode_to_vec()),
        },
        "/v1/fleet/activate-node" => {
            ok(proto::ActivateNodeResponse { node_id: NODE }.encode_to_vec())
        }
        "/v1/fleet/send-node-heartbeat" => {
            ok(proto::SendNodeHeartbeatResponse { success: true }.encode_to_vec())
        }
        "/v1/fleet/pull-messages" if s.oversized_pulls > 0 => {
            s.oversized_pulls -= 1;
            Answer::Oversize(Oversize::Streamed(1 << 20))
        }
        "/v1/fleet/pull-messages" => {
            let mut response = proto::PullMessagesResponse::default();
            if let Some((message, tree)) = s.messages.pop_front() {
                response.messages_list.push(message);
                response.message_object_trees.push(tree);
            }
            ok(response.encode_to_vec())
        }
        "/v1/fleet/get-run" => {
            let request = proto::GetRunRequest::decode(body).expect("a GetRunRequest");
            if request.run_id == RUN {
                let run = proto::Run {
                    run_id: RUN,
                    ..Default::default()
                };
                ok(proto::GetRunResponse { run: Some(run) }.encode_to_vec())
            } else {
                Answer::Body(
                    500,
                    br#"{"code": 3001, "message": "run not found"}"#.to_vec(),
                )
            }
        }
        "/v1/fleet/pull-object" => {
            let request = proto::PullObjectRequest::decode(body).expect("a PullObjectRequest");
            if let Some((_, how)) = s
                .oversized_object
                .as_ref()
                .filter(|(id, _)| *id == request.object_id)
            {
                return Answer::Oversize(*how);
            }
            let content = s.objects.get(&request.object_id).cloned();
            let response = proto::PullObjectResponse {
                object_found: content.is_some(),
                object_available: content.is_some(),
                object_content: content.unwrap_or_default(),
            };
            ok(response.encode_to_vec())
        }
        "/v1/fleet/push-messages" => {
            let request = proto::PushMessagesRequest::decode(body).expect("a PushMessagesRequest");
            let mut ids = Vec::new();
            fn walk(tree: &proto::ObjectTree, ids: &mut Vec<String>) {
                ids.push(tree.object_id.clone());
                tree.children.iter().for_each(|c| walk(c, ids));
            }
            request
                .message_object_trees
                .iter()
                .for_each(|t| walk(t, &mut ids));
            s.pushed.push(request);
            let response = proto::PushMessagesResponse {
                objects_to_push: ids,
                session_id: "session".into(),
                ..Default::default()
            };
            ok(response.encode_to_vec())
        }
        "/v1/fleet/push-object" => {
            let request = proto::PushObjectRequest::decode(body).expect("a PushObjectRequest");
            s.pushed_objects
                .insert(request.object_id, request.object_content);
            ok(proto::PushObjectResponse { stored: true }.encode_to_vec())
        }
        "/v1/fleet/confirm-message-received" => ok(Vec::new()),
        "/v1/fleet/deactivate-node" | "/v1/fleet/unregister-node" => ok(Vec::new()),
        _ => Answer::Body(404, b"unknown path".to_vec()),
    }
}

/// A message from the ServerApp to the node.
fn instruction(message_type: &str, content: RecordDict) -> Message {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    Message {
        metadata: proto::Metadata {
            run_id: RUN,
            src_node_id: 1,
            dst_node_id: NODE,
            ttl: 3600.0,
            message_type: message_type.into(),
            created_at: now,
            ..Default::default()
        },
        content: Some(content),
        error: None,
    }
}

/// A `train` message of round 1 at learning rate 0.1 carrying `arrays`, with
/// `extra` config on top.
fn train_with_config(arrays: ArrayRecord, extra: &[(&str, i64)]) -> Message {
    let mut config = ConfigRecord::new();
    config.insert("server-round", 1i64);
    config.insert("lr", 0.1);
    for (key, value) in extra {
        config.insert(*key, *value);
    }
    let mut content = RecordDict::new();
    content.insert("arrays", Record::Array(arrays));
    content.insert("config", Record::Config(config));
    instruction("train", content)
}

/// A `train` message carrying `arrays`.
fn train_with(arrays: ArrayRecord) -> Message {
    train_with_config(arrays, &[])
}

/// The arrays of a model seeded with `seed`, as a ServerApp would send them.
fn arrays_of(seed: u64) -> ArrayRecord {
    weights_to_record(&Tiny::with_seed(seed).trainable_weights())
}

/// Arrays that differ from the node's own ([`NODE_WEIGHTS_SEED`]).
fn global_arrays() -> ArrayRecord {
    arrays_of(5)
}

/// A well-formed `train` message, sent after each bad one.
fn good_train() -> Message {
    train_with(global_arrays())
}

/// What the node did with one message.
struct Outcome {
    /// The pushed reply's metadata-level message.
    reply: proto::Message,
    /// The pushed reply, inflated from the objects the node pushed.
    inflated: Message,
}

/// What a node did with a sequence of messages.
struct Session {
    /// One per message, in order.
    outcomes: Vec<Outcome>,
    summary: NodeSummary,
    events: Vec<NodeEvent>,
}

/// A message as the scripted SuperLink hands it out, and its objects.
struct Served {
    message: proto::Message,
    tree: proto::ObjectTree,
    objects: HashMap<String, Vec<u8>>,
}

impl Served {
    /// `message` deflated, its objects passed through `tamper`.
    fn new(message: &Message, tamper: impl FnOnce(&mut HashMap<String, Vec<u8>>)) -> Served {
        let deflated = message.deflate();
        let mut metadata = message.metadata.clone();
        metadata.message_id = deflated.message_id.clone();
        let mut objects: HashMap<String, Vec<u8>> = deflated.objects.into_iter().collect();
        tamper(&mut objects);
        Served {
            message: proto::Message {
                metadata: Some(metadata),
                content: Some(proto::RecordDict::default()),
                error: None,
            },
            tree: deflated.tree,
            objects,
        }
    }
}

impl From<&Message> for Served {
    fn from(message: &Message) -> Served {
        Served::new(message, |_| {})
    }
}

/// Serves `messages` to one node held to `limits`, after `setup` has shaped the
/// script, and returns what the node pushed back for each.
fn deliver(messages: Vec<Served>, limits: Limits, setup: impl FnOnce(&mut Script)) -> Session {
    deliver_with_policy(messages, limits, Policy::default(), setup)
}

/// [`deliver`] to a node whose owner sets `policy`.
fn deliver_with_policy(
    messages: Vec<Served>,
    limits: Limits,
    policy: Policy,
    setup: impl FnOnce(&mut Script),
) -> Session {
    let count = messages.len();
    let mut script = Script::default();
    for served in messages {
        script.objects.extend(served.objects);
        script.messages.push_back((served.message, served.tree));
    }
    setup(&mut script);
    let script = Arc::new(Mutex::new(script));
    let server_stop = Arc::new(AtomicBool::new(false));
    let (address, server) = serve(Arc::clone(&script), Arc::clone(&server_stop));

    let app =
        ClientApp::new(Tiny::with_seed(NODE_WEIGHTS_SEED), data(), TRAINING).with_seed(SEED, 0);
    let mut node = NodeBuilder::new(address)
        .insecure()
        .poll_interval(Duration::from_millis(20))
        .request_timeout(Duration::from_secs(5))
        .limits(limits)
        .policy(policy)
        .build(app)
        .expect("a node");
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (script, stop) = (Arc::clone(&script), Arc::clone(&stop));
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(60) {
                let s = script.lock().unwrap();
                let done = s.pushed.len() >= count
                    && s.pushed
                        .iter()
                        .flat_map(|p| &p.message_object_trees)
                        .all(|t| s.pushed_objects.contains_key(&t.object_id));
                drop(s);
                if done {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::SeqCst);
        })
    };
    let mut events = Vec::new();
    let summary = node
        .run(&stop, |e| events.push(e.clone()))
        .expect("the node runs on");
    watcher.join().unwrap();
    server_stop.store(true, Ordering::SeqCst);
    server.join().unwrap();

    let script = script.lock().unwrap();
    assert_eq!(
        script.pushed.len(),
        count,
        "one reply per message; calls: {:?}",
        script.calls
    );
    let outcomes = script
        .pushed
        .iter()
        .map(|push| {
            let tree = &push.message_object_trees[0];
            Outcome {
                reply: push.messages_list[0].clone(),
                inflated: Message::inflate(&tree.object_id, tree, &script.pushed_objects)
                    .expect("a valid reply"),
            }
        })
        .collect();
    assert!(
        script
            .calls
            .last()
            .is_some_and(|c| c.ends_with("unregister-node")),
        "the node left"
    );
    Session {
        outcomes,
        summary,
        events,
    }
}

/// Serves `bad` and then a well-formed `train` message to one node, and checks that
/// the first got an error reply with `code` naming `needle` and the second its
/// correctly trained arrays.
fn bad_then_good(
    bad: Served,
    limits: Limits,
    setup: impl FnOnce(&mut Script),
    code: i64,
    needle: &str,
) {
    let session = deliver(vec![bad, Served::from(&good_train())], limits, setup);
    assert_error_reply(&session, 0, code, needle);
    assert_trained_correctly(&session.outcomes[1], &global_arrays());
    assert_eq!(session.summary.error_replies, 1);
    assert_eq!(session.summary.replied, 1);
}

/// Asserts that reply `index` is an error reply with `code` whose reason contains
/// `needle`.
fn assert_error_reply(session: &Session, index: usize, code: i64, needle: &str) {
    let outcome = &session.outcomes[index];
    let error = outcome.inflated.error.as_ref().expect("an error reply");
    assert_eq!(error.code, code, "{}", error.reason);
    assert!(error.reason.contains(needle), "reason: {}", error.reason);
    assert_eq!(
        outcome.reply.error.as_ref(),
        Some(error),
        "the pushed metadata carries it too"
    );
    assert!(outcome.inflated.content.is_none());
    assert_eq!(
        outcome.inflated.metadata.dst_node_id, 1,
        "addressed to the ServerApp"
    );
    assert!(session
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::ErrorReplied { reason, .. } if reason.contains(needle))));
}

/// Asserts that `outcome` carries the arrays that `train_client`, run in-process
/// from `global` with the node's data, defaults and round-1 seed, gives.
fn assert_trained_correctly(outcome: &Outcome, global: &ArrayRecord) {
    let content = outcome
        .inflated
        .content
        .as_ref()
        .unwrap_or_else(|| panic!("a reply with content, got {:?}", outcome.inflated.error));
    let arrays = content.array_record("arrays").unwrap();
    assert_eq!(
        arrays.names().collect::<Vec<_>>(),
        ["0.weight", "0.bias", "2.weight", "2.bias"]
    );
    let mut model = Tiny::with_seed(99);
    let layout = model.trainable_weights();
    let global = record_to_weights(&layout, global).unwrap();
    let update = train_client(
        &mut model,
        &global,
        &data(),
        &TRAINING,
        client_seed(SEED, 0, 0),
    )
    .unwrap();
    let expected = model.weights_vec();
    let got = record_to_weights(&layout, arrays).unwrap();
    assert_eq!(got.len(), expected.len());
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-6, "trained arrays differ by up to {worst}");
    assert!(
        got.iter().zip(&global).any(|(a, b)| a != b),
        "the arrays were trained"
    );
    let metrics = content.metric_record("metrics").unwrap();
    assert_eq!(metrics.get("num-examples"), Some(&MetricValue::Int(12)));
    let Some(MetricValue::Double(loss)) = metrics.get("loss") else {
        panic!("a training loss in {metrics:?}");
    };
    let expected_loss = model.finalize_metrics(&update.metrics).get("loss").unwrap();
    assert!(
        (loss - expected_loss).abs() <= 1e-9,
        "{loss} vs {expected_loss}"
    );
}

#[test]
fn a_well_formed_train_message_gets_the_arrays_of_train_client() {
    let session = deliver(vec![Served::from(&good_train())], Limits::default(), |_| {});
    assert_trained_correctly(&session.outcomes[0], &global_arrays());
    assert_eq!(session.summary.replied, 1);
}

#[test]
fn an_evaluate_message_gets_the_metrics_of_the_arrays_it_carries() {
    let mut content = RecordDict::new();
    content.insert("arrays", Record::Array(global_arrays()));
    let session = deliver(
        vec![Served::from(&instruction("evaluate", content))],
        Limits::default(),
        |_| {},
    );
    let content = session.outcomes[0]
        .inflated
        .content
        .as_ref()
        .expect("a reply with content");
    assert!(
        content.array_record("arrays").is_err(),
        "an evaluation sends no arrays back"
    );
    let metrics = content.metric_record("metrics").unwrap();
    assert_eq!(metrics.get("num-examples"), Some(&MetricValue::Int(12)));
    let (Some(MetricValue::Double(loss)), Some(MetricValue::Double(accuracy))) = (
        metrics.get("loss"),
        metrics.get("sparse_categorical_accuracy"),
    ) else {
        panic!("a loss and an accuracy in {metrics:?}");
    };
    // The same evaluation in-process: of the weights sent, not of the node's own.
    let of = |seed| evaluate(&Tiny::with_seed(seed), &data(), BatchSize::Examples(4)).unwrap();
    let (sent, own) = (of(5), of(NODE_WEIGHTS_SEED));
    assert!(
        (loss - sent.get("loss").unwrap()).abs() < 1e-9,
        "{loss} vs {sent}"
    );
    assert_eq!(Some(*accuracy), sent.get("sparse_categorical_accuracy"));
    assert!(
        (loss - own.get("loss").unwrap()).abs() > 1e-3,
        "the node's own weights give another loss ({own}), so the sent ones were used"
    );
}

#[test]
fn arrays_with_wrong_names_get_an_error_reply() {
    let renamed: ArrayRecord = global_arrays()
        .iter()
        .map(|(name, a)| (format!("layer.{name}"), a.clone()))
        .collect();
    bad_then_good(
        Served::from(&train_with(renamed)),
        Limits::default(),
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "array 0 is `layer.0.weight`, the model expects `0.weight` there",
    );
}

#[test]
fn arrays_with_wrong_shapes_get_an_error_reply() {
    let mut arrays = global_arrays();
    arrays.insert("0.bias", Array::from_f32(&[4], &[0.0; 4]));
    bad_then_good(
        Served::from(&train_with(arrays)),
        Limits::default(),
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "array `0.bias` has shape [4], the model expects [8]",
    );
}

#[test]
fn arrays_of_another_dtype_get_an_error_reply() {
    let mut arrays = global_arrays();
    let mut bias = arrays.get("2.bias").unwrap().clone();
    bias.dtype = "float64".into();
    arrays.insert("2.bias", bias);
    bad_then_good(
        Served::from(&train_with(arrays)),
        Limits::default(),
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "array `2.bias` has dtype `float64`, the model needs `float32`",
    );
}

#[test]
fn a_truncated_npy_gets_an_error_reply() {
    let mut arrays = global_arrays();
    let mut weight = arrays.get("2.weight").unwrap().clone();
    weight.data.truncate(weight.data.len() - 5);
    arrays.insert("2.weight", weight);
    bad_then_good(
        Served::from(&train_with(arrays)),
        Limits::default(),
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "array `2.weight` is not a valid .npy array",
    );
}

#[test]
fn an_object_that_does_not_match_its_id_gets_an_error_reply() {
    // Other arrays than the good message's, so that the tampered chunk is its own.
    let bad = Served::new(&train_with(arrays_of(6)), |objects| {
        let chunk = objects
            .iter_mut()
            .find(|(_, bytes)| bytes.starts_with(b"ArrayChunk "))
            .expect("an array chunk");
        let last = chunk.1.len() - 1;
        chunk.1[last] ^= 0x01;
    });
    bad_then_good(
        bad,
        Limits::default(),
        |_| {},
        error_code::MESSAGE_UNAVAILABLE,
        "does not match its bytes",
    );
}

#[test]
fn a_message_for_an_unknown_run_gets_an_error_reply() {
    let mut bad = train_with(global_arrays());
    bad.metadata.run_id = RUN + 1;
    bad_then_good(
        Served::from(&bad),
        Limits::default(),
        |_| {},
        error_code::MESSAGE_UNAVAILABLE,
        "run 43 is unknown to the SuperLink",
    );
}

#[test]
fn an_unknown_message_type_gets_an_error_reply() {
    bad_then_good(
        Served::from(&instruction("query", RecordDict::new())),
        Limits::default(),
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "handles `train` and `evaluate` messages, not `query`",
    );
}

/// A `train` message whose arrays are those of seed 7, so that its objects are
/// not the good message's, and the id of its root object.
fn bad_train() -> (Served, String) {
    let served = Served::from(&train_with(arrays_of(7)));
    let root = served.tree.object_id.clone();
    (served, root)
}

#[test]
fn an_object_declaring_a_body_over_the_limit_is_refused_unread() {
    let (bad, root) = bad_train();
    bad_then_good(
        bad,
        Limits::default(),
        |s| s.oversized_object = Some((root, Oversize::Declared)),
        error_code::MESSAGE_UNAVAILABLE,
        "the SuperLink's answer to /v1/fleet/pull-object is over the 64 MiB limit \
         (`max_response_bytes`); raise it with `Limits::max_response_bytes` \
         (`--max-response-bytes` of flower_node)",
    );
}

#[test]
fn an_object_streaming_past_the_limit_is_cut_off() {
    let (bad, root) = bad_train();
    let limits = Limits {
        max_response_bytes: 64 << 10,
        ..Limits::default()
    };
    bad_then_good(
        bad,
        limits,
        |s| s.oversized_object = Some((root, Oversize::Streamed(1 << 20))),
        error_code::MESSAGE_UNAVAILABLE,
        "the SuperLink's answer to /v1/fleet/pull-object is over the 64 KiB limit \
         (`max_response_bytes`)",
    );
}

#[test]
fn an_oversized_answer_to_pull_messages_is_skipped_and_the_node_polls_on() {
    let limits = Limits {
        max_response_bytes: 64 << 10,
        ..Limits::default()
    };
    let session = deliver(vec![Served::from(&good_train())], limits, |s| {
        s.oversized_pulls = 2;
    });
    assert_trained_correctly(&session.outcomes[0], &global_arrays());
    assert_eq!(session.summary.failed, 2);
    assert_eq!(session.summary.replied, 1);
    let failures: Vec<&String> = session
        .events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Failed { error } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 2);
    assert!(failures.iter().all(|e| e.contains(
        "the SuperLink's answer to /v1/fleet/pull-messages is over the 64 KiB limit \
         (`max_response_bytes`)"
    )));
}

#[test]
fn an_oversized_answer_to_register_node_is_a_typed_error_read_no_further() {
    let script = Arc::new(Mutex::new(Script {
        oversized_register: Some(Oversize::Declared),
        ..Default::default()
    }));
    let server_stop = Arc::new(AtomicBool::new(false));
    let (address, server) = serve(Arc::clone(&script), Arc::clone(&server_stop));
    let app = ClientApp::new(Tiny::with_seed(0), data(), TRAINING);
    let mut node = NodeBuilder::new(address)
        .request_timeout(Duration::from_secs(5))
        .build(app)
        .expect("a node");
    let result = node.run(&AtomicBool::new(false), |_| {});
    server_stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
    match result {
        Err(NodeError::Fleet(e @ FleetError::TooLarge { .. })) => assert_eq!(
            e.to_string(),
            "the SuperLink's answer to /v1/fleet/register-node is over the 1 MiB limit of \
             an answer that carries no message or object"
        ),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn a_tree_of_100_000_objects_is_refused_before_any_is_fetched() {
    let (mut bad, _) = bad_train();
    bad.tree = proto::ObjectTree {
        object_id: bad.tree.object_id.clone(),
        children: (0..100_000u32)
            .map(|i| proto::ObjectTree {
                object_id: object_id(&i.to_le_bytes()),
                children: Vec::new(),
            })
            .collect(),
    };
    let session = deliver(
        vec![bad, Served::from(&good_train())],
        Limits::default(),
        |_| {},
    );
    assert_error_reply(
        &session,
        0,
        error_code::MESSAGE_UNAVAILABLE,
        "the message's object tree has 100001 objects, over the limit of 10000 (`max_objects`)",
    );
    assert_trained_correctly(&session.outcomes[1], &global_arrays());
}

#[test]
fn objects_adding_up_past_the_message_limit_are_refused() {
    // Eight arrays of 4 KiB: each object is small, together they pass 16 KiB.
    let mut padding = ArrayRecord::new();
    for i in 0..8 {
        padding.insert(
            format!("pad{i}"),
            Array::from_f32(&[1024], &[i as f32; 1024]),
        );
    }
    let mut bad = train_with(global_arrays());
    bad.content
        .as_mut()
        .unwrap()
        .insert("padding", Record::Array(padding));
    let limits = Limits {
        max_message_bytes: 16 << 10,
        ..Limits::default()
    };
    bad_then_good(
        Served::from(&bad),
        limits,
        |_| {},
        error_code::MESSAGE_UNAVAILABLE,
        "the message's objects add up to more than the 16 KiB limit (`max_message_bytes`)",
    );
}

#[test]
fn a_panic_in_training_gets_an_error_reply() {
    let mut weights = Tiny::with_seed(8).trainable_weights();
    weights[1].values[0] = PANIC_WEIGHT;
    bad_then_good(
        Served::from(&train_with(weights_to_record(&weights))),
        Limits::default(),
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "the node's training panicked: a weight of 1234.5 makes the test model panic",
    );
}

#[test]
fn a_billion_local_epochs_get_an_error_reply() {
    bad_then_good(
        Served::from(&train_with_config(
            global_arrays(),
            &[("local-epochs", 1_000_000_000)],
        )),
        Limits::default(),
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "config `local-epochs` is 1000000000, over this node's limit of 100 (`max_local_epochs`)",
    );
}

#[test]
fn a_batch_over_the_owners_limit_gets_an_error_reply() {
    let limits = Limits {
        max_batch_size: 8,
        ..Limits::default()
    };
    bad_then_good(
        Served::from(&train_with_config(global_arrays(), &[("batch-size", 0)])),
        limits,
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "config `batch-size` is 0 (full batches of 12 examples), over this node's limit of 8",
    );
}

/// A `train` message like [`good_train`] whose config also carries `clipping_norm`.
fn train_with_clipping_norm(norm: f64) -> Message {
    let mut message = good_train();
    let content = message.content.as_mut().unwrap();
    let mut config = content.config_record("config").unwrap().clone();
    config.insert("clipping_norm", norm);
    content.insert("config", Record::Config(config));
    message
}

/// The flat update a reply's arrays make from the global ones.
fn reply_update(outcome: &Outcome) -> Vec<f32> {
    let layout = Tiny::with_seed(99).trainable_weights();
    let content = outcome
        .inflated
        .content
        .as_ref()
        .expect("a reply with content");
    let sent = record_to_weights(&layout, content.array_record("arrays").unwrap()).unwrap();
    let global = record_to_weights(&layout, &global_arrays()).unwrap();
    sent.iter().zip(&global).map(|(s, g)| s - g).collect()
}

fn l2(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn a_clipping_norm_clips_the_update_and_reports_the_norm_bit() {
    // The unclipped update, from a message without a norm.
    let plain = deliver(vec![Served::from(&good_train())], Limits::default(), |_| {});
    let unclipped = reply_update(&plain.outcomes[0]);
    let full = l2(&unclipped);
    let norm = full / 4.0;
    let session = deliver(
        vec![
            Served::from(&train_with_clipping_norm(norm)),
            Served::from(&train_with_clipping_norm(full * 2.0)),
        ],
        Limits::default(),
        |_| {},
    );

    // Above the norm: scaled down onto it, as Flower's mods scale.
    let clipped = reply_update(&session.outcomes[0]);
    assert!(
        (l2(&clipped) - norm).abs() <= 1e-5 * norm,
        "{} vs {norm}",
        l2(&clipped)
    );
    for (c, u) in clipped.iter().zip(&unclipped) {
        assert!((c - u * (norm / full) as f32).abs() <= 1e-6, "{c} vs {u}");
    }
    let metrics = |i: usize| {
        session.outcomes[i]
            .inflated
            .content
            .as_ref()
            .unwrap()
            .metric_record("metrics")
            .unwrap()
            .clone()
    };
    assert_eq!(metrics(0).get("norm_bit"), Some(&MetricValue::Int(1)));
    assert_eq!(metrics(0).get("num-examples"), Some(&MetricValue::Int(12)));
    // Below the norm: sent as trained, with a norm bit of 0.
    assert_trained_correctly(&session.outcomes[1], &global_arrays());
    assert_eq!(metrics(1).get("norm_bit"), Some(&MetricValue::Int(0)));
    assert!(session
        .events
        .iter()
        .any(|e| e.to_string().contains("clipped to")));
}

#[test]
fn a_node_that_requires_client_clipping_refuses_a_round_without_it() {
    let policy = Policy {
        require_client_clipping: true,
        ..Policy::default()
    };
    let session = deliver_with_policy(
        vec![
            Served::from(&good_train()),
            Served::from(&train_with_clipping_norm(1e6)),
        ],
        Limits::default(),
        policy,
        |_| {},
    );
    assert_error_reply(
        &session,
        0,
        error_code::MOD_FAILED_PRECONDITION,
        "--require-client-clipping",
    );
    assert_trained_correctly(&session.outcomes[1], &global_arrays());
}

#[test]
fn a_node_with_a_cap_refuses_a_larger_clipping_norm() {
    let policy = Policy {
        max_clipping_norm: Some(1.0),
        ..Policy::default()
    };
    let session = deliver_with_policy(
        vec![
            Served::from(&train_with_clipping_norm(2.0)),
            Served::from(&good_train()),
        ],
        Limits::default(),
        policy,
        |_| {},
    );
    assert_error_reply(
        &session,
        0,
        error_code::MOD_FAILED_PRECONDITION,
        "--max-clipping-norm",
    );
    assert_trained_correctly(&session.outcomes[1], &global_arrays());
}

/// A stage of `SecAggPlusWorkflow` with `configs` (its stage record alone, as in
/// every stage but collect_masked_vectors).
fn secaggplus_stage(stage: &str, configs: &[(&str, i64)]) -> Message {
    let mut config = ConfigRecord::new();
    config.insert("stage", stage);
    for (key, value) in configs {
        config.insert(*key, *value);
    }
    let mut content = RecordDict::new();
    content.insert("secaggplus_configs", Record::Config(config));
    instruction("train", content)
}

#[test]
fn a_secaggplus_stage_out_of_order_gets_an_error_reply_and_the_node_serves_on() {
    // share_keys before any setup: Python's check_stage aborts the same way.
    bad_then_good(
        Served::from(&secaggplus_stage("share_keys", &[])),
        Limits::default(),
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "expect setup stage, but receive share_keys stage",
    );
}

#[test]
fn a_secaggplus_setup_without_its_settings_gets_an_error_reply_and_the_node_serves_on() {
    bad_then_good(
        Served::from(&secaggplus_stage("setup", &[("sample_num", 3)])),
        Limits::default(),
        |_| {},
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "the required key `share_num` is missing",
    );
}

#[test]
fn the_deprecated_dpfedavg_config_gets_an_error_reply() {
    let mut message = good_train();
    let content = message.content.as_mut().unwrap();
    let mut config = content.config_record("config").unwrap().clone();
    config.insert("dpfedavg_clip_norm", 1.0);
    content.insert("config", Record::Config(config));
    bad_then_good(
        Served::from(&message),
        Limits::default(),
        |_| {},
        error_code::MOD_FAILED_PRECONDITION,
        "DPFedAvgFixed",
    );
}

#[test]
fn a_node_that_requires_secure_aggregation_refuses_a_plain_round() {
    let policy = Policy {
        require_secure_aggregation: true,
        ..Policy::default()
    };
    let session = deliver_with_policy(
        vec![Served::from(&good_train())],
        Limits::default(),
        policy,
        |_| {},
    );
    assert_error_reply(
        &session,
        0,
        error_code::MOD_FAILED_PRECONDITION,
        "--require-secure-aggregation",
    );
}

#[test]
fn a_policy_with_an_unusable_cap_is_refused_when_the_node_is_built() {
    let app = ClientApp::new(Tiny::with_seed(NODE_WEIGHTS_SEED), data(), TRAINING);
    let built = NodeBuilder::new("127.0.0.1:9")
        .policy(Policy {
            max_clipping_norm: Some(-1.0),
            ..Policy::default()
        })
        .build(app);
    let Err(NodeError::Policy(error)) = built else {
        panic!("a policy error");
    };
    assert!(error.to_string().contains("positive finite"), "{error}");
}

#[test]
fn clipping_flags_take_positive_finite_norms_and_a_known_mod() {
    for bad in ["0", "-1", "NaN", "inf", "", "big"] {
        let error = flags::clipping_norm(bad).expect_err(bad);
        assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
    }
    assert_eq!(flags::clipping_norm("0.5"), Ok(0.5));
    assert_eq!(
        flags::clipping_mod("fixed"),
        Ok(feddx_flower::ClippingMod::Fixed)
    );
    assert_eq!(
        flags::clipping_mod("adaptive"),
        Ok(feddx_flower::ClippingMod::Adaptive)
    );
    assert!(flags::clipping_mod("gaussian").is_err());
}

#[test]
fn duration_flags_take_finite_seconds_from_zero_to_a_year() {
    for bad in [
        "-1", "NaN", "nan", "inf", "-inf", "1e12", "31536001", "soon", "",
    ] {
        let error = flags::seconds(bad).expect_err(bad);
        assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
    }
    assert_eq!(flags::seconds("0"), Ok(Duration::ZERO));
    assert_eq!(flags::seconds("2.5"), Ok(Duration::from_millis(2500)));
    assert_eq!(
        flags::seconds("31536000"),
        Ok(Duration::from_secs(31_536_000))
    );
}

// The Strategy API (`flwr.server.strategy` behind `ServerApp(server_fn=...)`): the
// same node answers `fitins.*`/`evaluateins.*` with `fitres.*`/`evaluateres.*`,
// trained and evaluated exactly as in the Message API.

/// A node as the tests above start it, to call `handle` on directly.
fn app() -> ClientApp<Tiny> {
    ClientApp::new(Tiny::with_seed(NODE_WEIGHTS_SEED), data(), TRAINING).with_seed(SEED, 0)
}

/// `instruction` with the group id a Strategy API server sets: the round.
fn legacy_instruction(message_type: &str, content: RecordDict) -> Message {
    let mut message = instruction(message_type, content);
    message.metadata.group_id = "1".into();
    message
}

/// A Strategy API `train` (or `evaluate`) message: legacy Parameters of `arrays`
/// and `config`, as `fitins_to_recorddict` builds them.
fn legacy_with(message_type: &str, arrays: &ArrayRecord, config: ConfigRecord) -> Message {
    let ins = if message_type == "train" {
        "fitins"
    } else {
        "evaluateins"
    };
    let tensors: Vec<_> = Tiny::with_seed(0)
        .trainable_weights()
        .into_iter()
        .zip(arrays.iter())
        .map(|(mut tensor, (name, array))| {
            tensor.values = array.to_f32(name).unwrap().1;
            tensor
        })
        .collect();
    let mut content = RecordDict::new();
    content.insert(
        format!("{ins}.parameters"),
        Record::Array(legacy::weights_to_parameters(&tensors)),
    );
    content.insert(format!("{ins}.config"), Record::Config(config));
    legacy_instruction(message_type, content)
}

fn lr_config() -> ConfigRecord {
    [("lr", ConfigValue::Double(0.1))].into_iter().collect()
}

/// The weights of a reply's `fitres.parameters`, or its error.
fn fitres_weights(reply: &Message) -> Vec<f32> {
    let content = reply
        .content
        .as_ref()
        .unwrap_or_else(|| panic!("a reply with content, got {:?}", reply.error));
    let names: Vec<_> = content.names().collect();
    assert_eq!(
        names,
        [
            "fitres.metrics",
            "fitres.num_examples",
            "fitres.parameters",
            "fitres.status"
        ]
    );
    let status = content.config_record("fitres.status").unwrap();
    assert_eq!(status.get("code"), Some(&ConfigValue::Int(0)));
    assert_eq!(
        status.get("message"),
        Some(&ConfigValue::Str("Success".into()))
    );
    let num = content.metric_record("fitres.num_examples").unwrap();
    assert_eq!(num.get("num_examples"), Some(&MetricValue::Int(12)));
    let parameters = content.array_record("fitres.parameters").unwrap();
    assert_eq!(parameters.names().collect::<Vec<_>>(), ["0", "1", "2", "3"]);
    legacy::parameters_to_weights(&Tiny::with_seed(0).trainable_weights(), parameters).unwrap()
}

/// The weights of a Message API reply's "arrays".
fn arrays_weights(reply: &Message) -> Vec<f32> {
    let arrays = reply
        .content
        .as_ref()
        .unwrap()
        .array_record("arrays")
        .unwrap();
    record_to_weights(&Tiny::with_seed(0).trainable_weights(), arrays).unwrap()
}

#[test]
fn a_strategy_api_train_message_gets_the_message_apis_weights_as_fitres() {
    let now = 1.0;
    let message_api = app().handle(&good_train(), now).0;
    let legacy = app()
        .handle(&legacy_with("train", &global_arrays(), lr_config()), now)
        .0;
    let expected = arrays_weights(&message_api);
    assert_eq!(fitres_weights(&legacy), expected);
    let metrics = legacy
        .content
        .as_ref()
        .unwrap()
        .config_record("fitres.metrics")
        .unwrap();
    let loss = message_api
        .content
        .as_ref()
        .unwrap()
        .metric_record("metrics")
        .unwrap()
        .get("loss")
        .cloned();
    assert!(matches!(loss, Some(MetricValue::Double(_))));
    assert_eq!(
        metrics.get("loss").cloned(),
        loss.map(|l| match l {
            MetricValue::Double(l) => ConfigValue::Double(l),
            _ => unreachable!(),
        })
    );

    // FedProx's legacy key trains as the Message API's `proximal-mu` does.
    let mut prox = lr_config();
    prox.insert("proximal_mu", 2.0);
    let legacy_prox = app()
        .handle(&legacy_with("train", &global_arrays(), prox), now)
        .0;
    let mut config = ConfigRecord::new();
    config.insert("server-round", 1i64);
    config.insert("lr", 0.1);
    config.insert("proximal-mu", 2.0);
    let mut content = RecordDict::new();
    content.insert("arrays", Record::Array(global_arrays()));
    content.insert("config", Record::Config(config));
    let message_prox = app().handle(&instruction("train", content), now).0;
    let prox_weights = fitres_weights(&legacy_prox);
    assert_eq!(prox_weights, arrays_weights(&message_prox));
    assert_ne!(prox_weights, expected, "mu changed the training");
}

#[test]
fn a_strategy_api_evaluate_message_gets_evaluateres() {
    let mut content = RecordDict::new();
    content.insert("arrays", Record::Array(global_arrays()));
    let message_api = app().handle(&instruction("evaluate", content), 1.0).0;
    let message_metrics = message_api
        .content
        .unwrap()
        .metric_record("metrics")
        .unwrap()
        .clone();
    let reply = app()
        .handle(
            &legacy_with("evaluate", &global_arrays(), ConfigRecord::new()),
            1.0,
        )
        .0;
    let content = reply.content.expect("a reply with content");
    assert_eq!(
        content.names().collect::<Vec<_>>(),
        [
            "evaluateres.loss",
            "evaluateres.num_examples",
            "evaluateres.metrics",
            "evaluateres.status"
        ]
    );
    let loss = content.metric_record("evaluateres.loss").unwrap();
    assert_eq!(loss.get("loss"), message_metrics.get("loss"));
    let num = content.metric_record("evaluateres.num_examples").unwrap();
    assert_eq!(num.get("num_examples"), Some(&MetricValue::Int(12)));
    let metrics = content.config_record("evaluateres.metrics").unwrap();
    let Some(MetricValue::Double(accuracy)) = message_metrics.get("sparse_categorical_accuracy")
    else {
        panic!("an accuracy in {message_metrics:?}");
    };
    assert_eq!(
        metrics.get("sparse_categorical_accuracy"),
        Some(&ConfigValue::Double(*accuracy))
    );
}

#[test]
fn a_strategy_api_get_parameters_message_gets_the_nodes_weights() {
    let mut content = RecordDict::new();
    content.insert(
        "getparametersins.config",
        Record::Config(ConfigRecord::new()),
    );
    let reply = app()
        .handle(&legacy_instruction("get_parameters", content), 1.0)
        .0;
    let content = reply.content.expect("a reply with content");
    let parameters = content.array_record("getparametersres.parameters").unwrap();
    let model = Tiny::with_seed(NODE_WEIGHTS_SEED);
    assert_eq!(
        legacy::parameters_to_weights(&model.trainable_weights(), parameters),
        Ok(model.weights_vec())
    );
    let status = content.config_record("getparametersres.status").unwrap();
    assert_eq!(status.get("code"), Some(&ConfigValue::Int(0)));
}

/// The reason of an error reply.
fn error_reason(reply: &Message) -> String {
    assert!(reply.content.is_none());
    let error = reply.error.as_ref().expect("an error reply");
    assert_eq!(error.code, error_code::CLIENT_APP_RAISED_EXCEPTION);
    error.reason.clone()
}

#[test]
fn strategy_api_parameters_that_do_not_fit_get_an_error_reply_naming_the_array() {
    let mut app = app();
    let tensors: Vec<_> = Tiny::with_seed(5)
        .trainable_weights()
        .into_iter()
        .take(3)
        .collect();
    let mut content = RecordDict::new();
    content.insert(
        "fitins.parameters",
        Record::Array(legacy::weights_to_parameters(&tensors)),
    );
    content.insert("fitins.config", Record::Config(lr_config()));
    let reply = app.handle(&legacy_instruction("train", content), 1.0).0;
    assert_eq!(
        error_reason(&reply),
        "the arrays do not fit the model: the model has 4 arrays, the legacy Parameters have 3"
    );

    let mut reversed = Tiny::with_seed(5).trainable_weights();
    reversed.swap(0, 1);
    let mut content = RecordDict::new();
    content.insert(
        "fitins.parameters",
        Record::Array(legacy::weights_to_parameters(&reversed)),
    );
    content.insert("fitins.config", Record::Config(lr_config()));
    let reply = app.handle(&legacy_instruction("train", content), 1.0).0;
    assert!(
        error_reason(&reply).contains("array 0 has shape [8], the model expects [8, 4]"),
        "{:?}",
        reply.error
    );

    // The node keeps serving: a good message after the bad ones trains.
    let good = app
        .handle(&legacy_with("train", &global_arrays(), lr_config()), 1.0)
        .0;
    assert_eq!(fitres_weights(&good).len(), app.model().weights_vec().len());
}

#[test]
fn content_of_neither_api_gets_an_error_reply_naming_both() {
    let mut content = RecordDict::new();
    content.insert("weights", Record::Array(global_arrays()));
    let reply = app().handle(&instruction("train", content), 1.0).0;
    let reason = error_reason(&reply);
    assert!(
        reason.contains(
            "expected an ArrayRecord `arrays` (Message API) or `fitins.parameters` and a \
             ConfigRecord `fitins.config` (Strategy API), found ArrayRecord `weights`"
        ),
        "{reason}"
    );
}
