//! Bad input from the network never crashes a feddx node: each case below is served
//! by a scripted Fleet API (an HTTP server in the test speaking the SuperLink's
//! protobuf), and the node must answer it with Flower's error reply, naming the
//! problem, and keep running. No Python needed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feddx::federated::{Algorithm, BatchSize, ClientDataOf, LocalTraining};
use feddx::prelude::*;
use feddx_flower::message::error_code;
use feddx_flower::proto;
use feddx_flower::{
    arrays::weights_to_record, Array, ArrayRecord, ClientApp, ConfigRecord, Message, MetricValue,
    NodeBuilder, NodeEvent, NodeSummary, Record, RecordDict,
};
use prost::Message as _;

#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Tiny {
    net: Built<(Linear<4, 8>, ReLU, Linear<8, 3>)>,
}

const RUN: u64 = 42;
const NODE: u64 = 7;

/// What the scripted SuperLink serves and what it was sent.
#[derive(Default)]
struct Script {
    /// The one message to deliver, with its tree; taken by the first pull.
    message: Option<(proto::Message, proto::ObjectTree)>,
    /// Objects by id, as served (possibly tampered with).
    objects: HashMap<String, Vec<u8>>,
    /// Whether `get-run` knows run [`RUN`].
    run_known: bool,
    /// Replies pushed by the node.
    pushed: Vec<proto::PushMessagesRequest>,
    /// Objects pushed by the node.
    pushed_objects: HashMap<String, Vec<u8>>,
    /// Paths called, in order.
    calls: Vec<String>,
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
            let (status, bytes) = answer(&mut script.lock().unwrap(), &path, &body);
            let response = tiny_http::Response::from_data(bytes).with_status_code(status);
            let _ = request.respond(response);
        }
    });
    (address, handle)
}

/// The scripted SuperLink's answer to one call.
fn answer(s: &mut Script, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    s.calls.push(path.to_owned());
    let ok = |m: &dyn Fn() -> Vec<u8>| (200, m());
    match path {
        "/v1/fleet/register-node" => {
            ok(&|| proto::RegisterNodeFleetResponse { node_id: NODE }.encode_to_vec())
        }
        "/v1/fleet/activate-node" => {
            ok(&|| proto::ActivateNodeResponse { node_id: NODE }.encode_to_vec())
        }
        "/v1/fleet/send-node-heartbeat" => {
            ok(&|| proto::SendNodeHeartbeatResponse { success: true }.encode_to_vec())
        }
        "/v1/fleet/pull-messages" => {
            let mut response = proto::PullMessagesResponse::default();
            if let Some((message, tree)) = s.message.take() {
                response.messages_list.push(message);
                response.message_object_trees.push(tree);
            }
            (200, response.encode_to_vec())
        }
        "/v1/fleet/get-run" => {
            if s.run_known {
                let run = proto::Run {
                    run_id: RUN,
                    ..Default::default()
                };
                ok(&|| {
                    proto::GetRunResponse {
                        run: Some(run.clone()),
                    }
                    .encode_to_vec()
                })
            } else {
                (
                    500,
                    br#"{"code": 3001, "message": "run not found"}"#.to_vec(),
                )
            }
        }
        "/v1/fleet/pull-object" => {
            let request = proto::PullObjectRequest::decode(body).expect("a PullObjectRequest");
            let content = s.objects.get(&request.object_id).cloned();
            let response = proto::PullObjectResponse {
                object_found: content.is_some(),
                object_available: content.is_some(),
                object_content: content.unwrap_or_default(),
            };
            (200, response.encode_to_vec())
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
            (200, response.encode_to_vec())
        }
        "/v1/fleet/push-object" => {
            let request = proto::PushObjectRequest::decode(body).expect("a PushObjectRequest");
            s.pushed_objects
                .insert(request.object_id, request.object_content);
            ok(&|| proto::PushObjectResponse { stored: true }.encode_to_vec())
        }
        "/v1/fleet/confirm-message-received" => (200, Vec::new()),
        "/v1/fleet/deactivate-node" | "/v1/fleet/unregister-node" => (200, Vec::new()),
        _ => (404, b"unknown path".to_vec()),
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

/// A `train` message carrying `arrays`.
fn train_with(arrays: ArrayRecord) -> Message {
    let mut config = ConfigRecord::new();
    config.insert("server-round", 1i64);
    config.insert("lr", 0.1);
    let mut content = RecordDict::new();
    content.insert("arrays", Record::Array(arrays));
    content.insert("config", Record::Config(config));
    instruction("train", content)
}

/// The model's own arrays, as a ServerApp would send them.
fn model_arrays() -> ArrayRecord {
    weights_to_record(&Tiny::with_seed(0).trainable_weights())
}

/// What the node did with one message.
struct Outcome {
    /// The pushed reply's metadata-level message.
    reply: proto::Message,
    /// The pushed reply, inflated from the objects the node pushed.
    inflated: Message,
    summary: NodeSummary,
    events: Vec<NodeEvent>,
}

/// Serves `message` (its objects passed through `tamper` first) to a node and
/// returns what the node pushed back.
fn deliver(
    message: &Message,
    run_known: bool,
    tamper: impl FnOnce(&mut HashMap<String, Vec<u8>>),
) -> Outcome {
    let deflated = message.deflate();
    let mut metadata = message.metadata.clone();
    metadata.message_id = deflated.message_id.clone();
    let mut objects: HashMap<String, Vec<u8>> = deflated.objects.into_iter().collect();
    tamper(&mut objects);
    let script = Arc::new(Mutex::new(Script {
        message: Some((
            proto::Message {
                metadata: Some(metadata),
                content: Some(proto::RecordDict::default()),
                error: None,
            },
            deflated.tree,
        )),
        objects,
        run_known,
        ..Default::default()
    }));
    let server_stop = Arc::new(AtomicBool::new(false));
    let (address, server) = serve(Arc::clone(&script), Arc::clone(&server_stop));

    let data = ClientDataOf::<Tiny>::new(
        (0..12)
            .map(|i| ([i as f32, 1.0, -1.0, 0.5], i % 3))
            .collect(),
    );
    let training = LocalTraining {
        algorithm: Algorithm::FedAvg,
        local_epochs: 1,
        batch_size: BatchSize::Examples(4),
        learning_rate: 0.1,
    };
    let app = ClientApp::new(Tiny::with_seed(0), data, training);
    let mut node = NodeBuilder::new(address)
        .insecure()
        .poll_interval(Duration::from_millis(20))
        .request_timeout(Duration::from_secs(5))
        .build(app)
        .expect("a node");
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (script, stop) = (Arc::clone(&script), Arc::clone(&stop));
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                let s = script.lock().unwrap();
                let done = s
                    .pushed
                    .iter()
                    .flat_map(|p| &p.message_object_trees)
                    .all(|t| s.pushed_objects.contains_key(&t.object_id))
                    && !s.pushed.is_empty();
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

    let mut script = script.lock().unwrap();
    assert_eq!(
        script.pushed.len(),
        1,
        "one reply; calls: {:?}",
        script.calls
    );
    let push = script.pushed.remove(0);
    let tree = push.message_object_trees[0].clone();
    let reply = push.messages_list[0].clone();
    let inflated =
        Message::inflate(&tree.object_id, &tree, &script.pushed_objects).expect("a valid reply");
    assert!(
        script
            .calls
            .last()
            .is_some_and(|c| c.ends_with("unregister-node")),
        "the node left"
    );
    Outcome {
        reply,
        inflated,
        summary,
        events,
    }
}

/// Asserts an error reply with `code` whose reason contains `needle`.
fn assert_error_reply(outcome: &Outcome, code: i64, needle: &str) {
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
    assert_eq!(outcome.summary.error_replies, 1);
    assert_eq!(outcome.summary.replied, 0);
    assert!(outcome
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::ErrorReplied { reason, .. } if reason.contains(needle))));
}

#[test]
fn a_well_formed_train_message_gets_trained_arrays_back() {
    let outcome = deliver(&train_with(model_arrays()), true, |_| {});
    let content = outcome
        .inflated
        .content
        .as_ref()
        .expect("a reply with content");
    let arrays = content.array_record("arrays").unwrap();
    assert_eq!(
        arrays.names().collect::<Vec<_>>(),
        ["0.weight", "0.bias", "2.weight", "2.bias"]
    );
    assert_ne!(arrays, &model_arrays(), "the arrays were trained");
    let metrics = content.metric_record("metrics").unwrap();
    assert_eq!(metrics.get("num-examples"), Some(&MetricValue::Int(12)));
    assert_eq!(outcome.summary.replied, 1);
}

#[test]
fn an_evaluate_message_gets_the_metrics_of_the_arrays_it_carries() {
    let mut content = RecordDict::new();
    content.insert("arrays", Record::Array(model_arrays()));
    let outcome = deliver(&instruction("evaluate", content), true, |_| {});
    let content = outcome
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
    let Some(MetricValue::Double(accuracy)) = metrics.get("sparse_categorical_accuracy") else {
        panic!("an accuracy in {metrics:?}");
    };
    assert!((0.0..=1.0).contains(accuracy));
    let Some(MetricValue::Double(loss)) = metrics.get("loss") else {
        panic!("a loss in {metrics:?}");
    };
    // The same evaluation in-process, with the weights the message carried.
    let data = ClientDataOf::<Tiny>::new(
        (0..12)
            .map(|i| ([i as f32, 1.0, -1.0, 0.5], i % 3))
            .collect(),
    );
    let expected =
        feddx::federated::evaluate(&Tiny::with_seed(0), &data, BatchSize::Examples(4)).unwrap();
    assert!(
        (loss - expected.get("loss").unwrap()).abs() < 1e-9,
        "{loss} vs {expected}"
    );
}

#[test]
fn arrays_with_wrong_names_get_an_error_reply() {
    let renamed: ArrayRecord = model_arrays()
        .iter()
        .map(|(name, a)| (format!("layer.{name}"), a.clone()))
        .collect();
    let outcome = deliver(&train_with(renamed), true, |_| {});
    assert_error_reply(
        &outcome,
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "array 0 is `layer.0.weight`, the model expects `0.weight` there",
    );
}

#[test]
fn arrays_with_wrong_shapes_get_an_error_reply() {
    let mut arrays = model_arrays();
    arrays.insert("0.bias", Array::from_f32(&[4], &[0.0; 4]));
    let outcome = deliver(&train_with(arrays), true, |_| {});
    assert_error_reply(
        &outcome,
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "array `0.bias` has shape [4], the model expects [8]",
    );
}

#[test]
fn arrays_of_another_dtype_get_an_error_reply() {
    let mut arrays = model_arrays();
    let mut bias = arrays.get("2.bias").unwrap().clone();
    bias.dtype = "float64".into();
    arrays.insert("2.bias", bias);
    let outcome = deliver(&train_with(arrays), true, |_| {});
    assert_error_reply(
        &outcome,
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "array `2.bias` has dtype `float64`, the model needs `float32`",
    );
}

#[test]
fn a_truncated_npy_gets_an_error_reply() {
    let mut arrays = model_arrays();
    let mut weight = arrays.get("2.weight").unwrap().clone();
    weight.data.truncate(weight.data.len() - 5);
    arrays.insert("2.weight", weight);
    let outcome = deliver(&train_with(arrays), true, |_| {});
    assert_error_reply(
        &outcome,
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "array `2.weight` is not a valid .npy array",
    );
}

#[test]
fn an_object_that_does_not_match_its_id_gets_an_error_reply() {
    let message = train_with(model_arrays());
    let outcome = deliver(&message, true, |objects| {
        let chunk = objects
            .iter_mut()
            .find(|(_, bytes)| bytes.starts_with(b"ArrayChunk "))
            .expect("an array chunk");
        let last = chunk.1.len() - 1;
        chunk.1[last] ^= 0x01;
    });
    assert_error_reply(
        &outcome,
        error_code::MESSAGE_UNAVAILABLE,
        "does not match its bytes",
    );
}

#[test]
fn a_message_for_an_unknown_run_gets_an_error_reply() {
    let outcome = deliver(&train_with(model_arrays()), false, |_| {});
    assert_error_reply(
        &outcome,
        error_code::MESSAGE_UNAVAILABLE,
        "run 42 is unknown to the SuperLink",
    );
}

#[test]
fn an_unknown_message_type_gets_an_error_reply() {
    let outcome = deliver(&instruction("query", RecordDict::new()), true, |_| {});
    assert_error_reply(
        &outcome,
        error_code::CLIENT_APP_RAISED_EXCEPTION,
        "handles `train` and `evaluate` messages, not `query`",
    );
}
