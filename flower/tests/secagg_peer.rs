//! feddx's SecAgg+ stage machine next to Flower's own `secaggplus_mod` in the same
//! rounds: two feddx nodes and one Python node (`fixtures/secagg_peer.py`), with
//! this test as the server, doing what `SecAggPlusWorkflow` does with the replies.
//! The masking itself is recorded, not computed: what is checked is that every
//! share, ciphertext and key crosses between the languages intact.

mod flower_harness;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use feddx_flower::secagg::keys::{bytes_to_private_key, bytes_to_public_key, generate_shared_key};
use feddx_flower::secagg::shamir::combine_shares;
use feddx_flower::secagg::stage::key;
use feddx_flower::secagg::{MaskSettings, SecAggError, SecAggPlusState, TrainedArrays};
use feddx_flower::{ConfigRecord, ConfigValue};
use serde_json::{json, Value};

const RUST_1: u64 = 7;
const RUST_2: u64 = u64::MAX - 3;
const PYTHON: u64 = (1 << 40) + 5;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The Python node: Flower's `secaggplus_mod` behind a pipe. It exits when its
/// stdin closes; dropping it also kills it.
struct PythonNode {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PythonNode {
    fn start(nid: u64) -> PythonNode {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secagg_peer.py");
        let mut child = Command::new(flower_harness::venv_bin("python"))
            .arg(script)
            .arg(nid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the venv's python starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        PythonNode {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, configs: &ConfigRecord) -> Result<ConfigRecord, String> {
        let entries: Vec<Value> = configs
            .iter()
            .map(|(name, value)| match value {
                ConfigValue::Str(text) => json!([name, "str", text]),
                ConfigValue::Int(int) => json!([name, "int", int]),
                ConfigValue::Uint(int) => json!([name, "int", int]),
                ConfigValue::Double(float) => json!([name, "float", float]),
                ConfigValue::Bytes(bytes) => json!([name, "bytes", hex(bytes)]),
                ConfigValue::IntList(ints) => json!([name, "int_list", ints]),
                ConfigValue::UintList(ints) => json!([name, "int_list", ints]),
                ConfigValue::BoolList(empty) if empty.is_empty() => json!([name, "int_list", []]),
                ConfigValue::BytesList(list) => {
                    json!([
                        name,
                        "bytes_list",
                        list.iter().map(|b| hex(b)).collect::<Vec<_>>()
                    ])
                }
                other => panic!("the test sends no {other:?}"),
            })
            .collect();
        writeln!(self.stdin, "{}", Value::Array(entries)).expect("python reads");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("python answers");
        let answer: Value = serde_json::from_str(&line).expect("a JSON line");
        if let Some(error) = answer.get("error") {
            return Err(error.to_string());
        }
        let mut reply = ConfigRecord::new();
        for entry in answer.as_array().expect("entries") {
            let name = entry[0].as_str().unwrap();
            let value = match entry[1].as_str().unwrap() {
                "bytes" => ConfigValue::Bytes(unhex(entry[2].as_str().unwrap())),
                "bytes_list" => ConfigValue::BytesList(
                    entry[2]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| unhex(b.as_str().unwrap()))
                        .collect(),
                ),
                "int_list" => ConfigValue::UintList(
                    entry[2]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_u64().unwrap())
                        .collect(),
                ),
                other => panic!("python answered a {other}"),
            };
            reply.insert(name, value);
        }
        Ok(reply)
    }
}

impl Drop for PythonNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a feddx node handed to the masking in the collect stage.
#[derive(Debug, Clone)]
struct Masked {
    rd_seed: Vec<u8>,
    pairwise_keys: Vec<(u64, Vec<u8>)>,
}

/// The three nodes, as the server reaches them.
struct Federation {
    rust: BTreeMap<u64, SecAggPlusState>,
    python: PythonNode,
    masked: BTreeMap<u64, Masked>,
}

impl Federation {
    fn send(&mut self, nid: u64, configs: &ConfigRecord) -> ConfigRecord {
        if nid == PYTHON {
            return self.python.send(configs).expect("the Python node answers");
        }
        let node = self.rust.get_mut(&nid).unwrap();
        let mut recorded = None;
        let train = || Ok::<TrainedArrays, SecAggError>((vec![(vec![2], vec![0.5, -0.5])], 10));
        let mask = |_: &[(Vec<usize>, Vec<f32>)],
                    _: usize,
                    _: &MaskSettings,
                    _: u64,
                    rd_seed: &[u8],
                    pairwise_keys: &[(u64, Vec<u8>)]| {
            recorded = Some(Masked {
                rd_seed: rd_seed.to_vec(),
                pairwise_keys: pairwise_keys.to_vec(),
            });
            Ok(vec![vec![1, 2, 3]])
        };
        let reply = node
            .handle_with(configs, nid, train, mask)
            .unwrap_or_else(|error| panic!("node {nid}: {error}"));
        if let Some(masked) = recorded {
            self.masked.insert(nid, masked);
        }
        reply
    }
}

fn ids(value: Option<&ConfigValue>) -> Vec<u64> {
    match value {
        Some(ConfigValue::IntList(values)) => values.iter().map(|&v| v as u64).collect(),
        Some(ConfigValue::UintList(values)) => values.clone(),
        Some(ConfigValue::BoolList(values)) if values.is_empty() => vec![],
        other => panic!("not a list of ids: {other:?}"),
    }
}

fn bytes_list(value: Option<&ConfigValue>) -> Vec<Vec<u8>> {
    match value {
        Some(ConfigValue::BytesList(values)) => values.clone(),
        other => panic!("not a list of bytes: {other:?}"),
    }
}

fn bytes(value: Option<&ConfigValue>) -> Vec<u8> {
    match value {
        Some(ConfigValue::Bytes(value)) => value.clone(),
        other => panic!("not bytes: {other:?}"),
    }
}

fn node_ids(ids: &[u64]) -> ConfigValue {
    ConfigValue::UintList(ids.to_vec())
}

/// One round, as `SecAggPlusWorkflow` runs it with every node a neighbour of every
/// other (share_num 3, threshold 2), in which `dropped` sends no masked vector.
/// Returns the shares collected in the unmask stage, by owner, and the public keys.
#[allow(clippy::type_complexity)]
fn round(
    federation: &mut Federation,
    dropped: u64,
) -> (BTreeMap<u64, Vec<Vec<u8>>>, BTreeMap<u64, [Vec<u8>; 2]>) {
    let nids = [RUST_1, RUST_2, PYTHON];
    let setup: ConfigRecord = [
        (key::STAGE, ConfigValue::from("setup")),
        (key::SAMPLE_NUMBER, ConfigValue::Int(3)),
        (key::SHARE_NUMBER, ConfigValue::Int(3)),
        (key::THRESHOLD, ConfigValue::Int(2)),
        (key::CLIPPING_RANGE, ConfigValue::Double(8.0)),
        (key::TARGET_RANGE, ConfigValue::Int(1 << 22)),
        (key::MOD_RANGE, ConfigValue::Int(1 << 32)),
        (key::MAX_WEIGHT, ConfigValue::Double(1000.0)),
    ]
    .into_iter()
    .collect();
    let mut public_keys = BTreeMap::new();
    for nid in nids {
        let reply = federation.send(nid, &setup);
        let pk1 = bytes(reply.get(key::PUBLIC_KEY_1));
        let pk2 = bytes(reply.get(key::PUBLIC_KEY_2));
        public_keys.insert(nid, [pk1, pk2]);
    }

    let mut forward: BTreeMap<u64, (Vec<u64>, Vec<Vec<u8>>)> = BTreeMap::new();
    for nid in nids {
        let mut configs: ConfigRecord = public_keys
            .iter()
            .map(|(id, keys)| (id.to_string(), ConfigValue::BytesList(keys.to_vec())))
            .collect();
        configs.insert(key::STAGE, "share_keys");
        let reply = federation.send(nid, &configs);
        let dsts = ids(reply.get(key::DESTINATION_LIST));
        let ctxts = bytes_list(reply.get(key::CIPHERTEXT_LIST));
        assert_eq!(dsts.len(), 2, "node {nid} shares with both others");
        for (dst, ctxt) in dsts.into_iter().zip(ctxts) {
            let (srcs, ciphertexts) = forward.entry(dst).or_default();
            srcs.push(nid);
            ciphertexts.push(ctxt);
        }
    }

    let active: Vec<u64> = nids.into_iter().filter(|&nid| nid != dropped).collect();
    for &nid in &active {
        let (srcs, ciphertexts) = forward[&nid].clone();
        let configs: ConfigRecord = [
            (key::STAGE, ConfigValue::from("collect_masked_vectors")),
            (key::CIPHERTEXT_LIST, ConfigValue::BytesList(ciphertexts)),
            (key::SOURCE_LIST, node_ids(&srcs)),
        ]
        .into_iter()
        .collect();
        let reply = federation.send(nid, &configs);
        let masked = bytes_list(reply.get(key::MASKED_PARAMETERS));
        // Python's `factor_combine` puts the weight factor first, as an array of its
        // own, before the one trained array; the recorded masking returns one.
        let expected = if nid == PYTHON { 2 } else { 1 };
        assert_eq!(masked.len(), expected, "node {nid}'s masked arrays");
    }

    let mut collected: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    for &nid in &active {
        let configs: ConfigRecord = [
            (key::STAGE, ConfigValue::from("unmask")),
            (key::ACTIVE_NODE_ID_LIST, node_ids(&active)),
            (key::DEAD_NODE_ID_LIST, node_ids(&[dropped])),
        ]
        .into_iter()
        .collect();
        let reply = federation.send(nid, &configs);
        let owners = ids(reply.get(key::NODE_ID_LIST));
        assert_eq!(owners, [active[0], active[1], dropped]);
        for (owner, share) in owners
            .into_iter()
            .zip(bytes_list(reply.get(key::SHARE_LIST)))
        {
            collected.entry(owner).or_default().push(share);
        }
    }
    (collected, public_keys)
}

fn pairwise_key(federation: &Federation, nid: u64, other: u64) -> Vec<u8> {
    let masked = &federation.masked[&nid];
    let found = masked.pairwise_keys.iter().find(|(id, _)| *id == other);
    found
        .unwrap_or_else(|| panic!("node {nid} has no key for {other}"))
        .1
        .clone()
}

#[test]
fn feddx_and_python_nodes_share_and_unmask_each_others_secrets() {
    let mut federation = Federation {
        rust: [
            (RUST_1, SecAggPlusState::new()),
            (RUST_2, SecAggPlusState::new()),
        ]
        .into_iter()
        .collect(),
        python: PythonNode::start(PYTHON),
        masked: BTreeMap::new(),
    };

    // The Python node drops: the feddx nodes decrypted its shares (their collect
    // stage succeeded) and hand back its sk1, a PEM key Python made, whose ECDH
    // with each feddx node's pk1 is the pairwise key that node masked with.
    let (collected, public_keys) = round(&mut federation, PYTHON);
    for nid in [RUST_1, RUST_2] {
        assert_eq!(
            combine_shares(&collected[&nid]).unwrap(),
            federation.masked[&nid].rd_seed
        );
    }
    let python_sk1 = bytes_to_private_key(&combine_shares(&collected[&PYTHON]).unwrap()).unwrap();
    for nid in [RUST_1, RUST_2] {
        let pk1 = bytes_to_public_key(&public_keys[&nid][0]).unwrap();
        assert_eq!(
            generate_shared_key(&python_sk1, &pk1),
            pairwise_key(&federation, nid, PYTHON)
        );
    }

    // Next round, a feddx node drops: the Python node decrypted the feddx nodes'
    // shares (its collect stage succeeded) and its shares, with the other feddx
    // node's, give back both the survivor's seed and the dropped node's sk1.
    federation.masked.clear();
    let (collected, public_keys) = round(&mut federation, RUST_2);
    assert_eq!(
        combine_shares(&collected[&RUST_1]).unwrap(),
        federation.masked[&RUST_1].rd_seed
    );
    assert_eq!(collected[&PYTHON].len(), 2);
    combine_shares(&collected[&PYTHON]).expect("the Python node's seed recombines");
    let rust_sk1 = bytes_to_private_key(&combine_shares(&collected[&RUST_2]).unwrap()).unwrap();
    let pk1 = bytes_to_public_key(&public_keys[&RUST_1][0]).unwrap();
    assert_eq!(
        generate_shared_key(&rust_sk1, &pk1),
        pairwise_key(&federation, RUST_1, RUST_2)
    );
}
