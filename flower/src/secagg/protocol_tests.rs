//! Three in-process nodes through a whole SecAgg+ round, against a fake server that
//! does what Flower's `SecAggPlusWorkflow` does with their replies, with a recording
//! stand-in for the masking.

use std::collections::BTreeMap;

use super::keys::{bytes_to_private_key, bytes_to_public_key, generate_shared_key};
use super::masking::MaskSettings;
use super::shamir::combine_shares;
use super::stage::key;
use super::{SecAggError, SecAggPlusState, SharePlaintext, Stage, TrainedArrays};
use crate::{ConfigRecord, ConfigValue};

/// What a node handed to the masking function in the collect stage.
#[derive(Debug, Clone)]
struct MaskCall {
    own_id: u64,
    rd_seed: Vec<u8>,
    pairwise_keys: Vec<(u64, Vec<u8>)>,
    settings: MaskSettings,
    num_examples: usize,
}

type Infallible = std::convert::Infallible;

fn record(entries: Vec<(&str, ConfigValue)>) -> ConfigRecord {
    entries.into_iter().collect()
}

fn ids(value: Option<&ConfigValue>) -> Vec<u64> {
    match value {
        Some(ConfigValue::IntList(values)) => values.iter().map(|&v| v as u64).collect(),
        Some(ConfigValue::UintList(values)) => values.clone(),
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

fn setup_configs(threshold: i64) -> ConfigRecord {
    record(vec![
        (key::STAGE, "setup".into()),
        (key::SAMPLE_NUMBER, ConfigValue::Int(3)),
        (key::SHARE_NUMBER, ConfigValue::Int(3)),
        (key::THRESHOLD, ConfigValue::Int(threshold)),
        (key::CLIPPING_RANGE, ConfigValue::Double(8.0)),
        (key::TARGET_RANGE, ConfigValue::Int(1 << 22)),
        (key::MOD_RANGE, ConfigValue::Int(1 << 32)),
        (key::MAX_WEIGHT, ConfigValue::Double(1000.0)),
    ])
}

/// Answers one stage on node `nid`, with training that returns one array and
/// masking that records its inputs and returns one placeholder array.
fn step(
    node: &mut SecAggPlusState,
    nid: u64,
    configs: &ConfigRecord,
    calls: &mut Vec<MaskCall>,
) -> Result<ConfigRecord, SecAggError> {
    let train =
        || Ok::<TrainedArrays, Infallible>((vec![(vec![2], vec![0.5, -0.5])], 10 + nid as usize));
    node.handle_with(
        configs,
        nid,
        train,
        |arrays, num_examples, settings, own_id, rd_seed, pairwise_keys| {
            assert_eq!(arrays, &[(vec![2], vec![0.5, -0.5])]);
            calls.push(MaskCall {
                own_id,
                rd_seed: rd_seed.to_vec(),
                pairwise_keys: pairwise_keys.to_vec(),
                settings: *settings,
                num_examples,
            });
            Ok(vec![vec![own_id as u8]])
        },
    )
}

/// The fake server's view of a round after share_keys: public keys, and the
/// ciphertexts forwarded to each node.
struct Round {
    nids: Vec<u64>,
    nodes: BTreeMap<u64, SecAggPlusState>,
    public_keys: BTreeMap<u64, [Vec<u8>; 2]>,
    forward: BTreeMap<u64, (Vec<u64>, Vec<Vec<u8>>)>,
}

/// Setup and share_keys on three nodes, all neighbours of each other (share_num 3).
fn share_keys_round(nids: &[u64], threshold: i64) -> Round {
    let mut calls = Vec::new();
    let mut nodes: BTreeMap<u64, SecAggPlusState> = nids
        .iter()
        .map(|&nid| (nid, SecAggPlusState::new()))
        .collect();
    let mut public_keys = BTreeMap::new();
    for (&nid, node) in nodes.iter_mut() {
        let reply = step(node, nid, &setup_configs(threshold), &mut calls).unwrap();
        assert_eq!(
            reply.names().collect::<Vec<_>>(),
            [key::PUBLIC_KEY_1, key::PUBLIC_KEY_2]
        );
        let pk1 = bytes(reply.get(key::PUBLIC_KEY_1));
        let pk2 = bytes(reply.get(key::PUBLIC_KEY_2));
        bytes_to_public_key(&pk1).unwrap();
        public_keys.insert(nid, [pk1, pk2]);
        assert_eq!(node.stage(), Stage::Setup);
    }
    let mut forward: BTreeMap<u64, (Vec<u64>, Vec<Vec<u8>>)> =
        nids.iter().map(|&nid| (nid, (vec![], vec![]))).collect();
    for (&nid, node) in nodes.iter_mut() {
        // The server's record: str(nid) -> [pk1, pk2] for each neighbour, then the stage.
        let mut configs: ConfigRecord = public_keys
            .iter()
            .map(|(id, keys)| (id.to_string(), ConfigValue::BytesList(keys.to_vec())))
            .collect();
        configs.insert(key::STAGE, "share_keys");
        let reply = step(node, nid, &configs, &mut calls).unwrap();
        let dsts = ids(reply.get(key::DESTINATION_LIST));
        let ctxts = bytes_list(reply.get(key::CIPHERTEXT_LIST));
        assert_eq!(dsts.len(), nids.len() - 1);
        assert!(!dsts.contains(&nid));
        for (dst, ctxt) in dsts.into_iter().zip(ctxts) {
            let (srcs, ciphertexts) = forward.get_mut(&dst).unwrap();
            srcs.push(nid);
            ciphertexts.push(ctxt);
        }
    }
    assert!(calls.is_empty(), "no masking before the collect stage");
    Round {
        nids: nids.to_vec(),
        nodes,
        public_keys,
        forward,
    }
}

fn collect_configs(srcs: &[u64], ciphertexts: &[Vec<u8>]) -> ConfigRecord {
    record(vec![
        (key::STAGE, "collect_masked_vectors".into()),
        (
            key::CIPHERTEXT_LIST,
            ConfigValue::BytesList(ciphertexts.to_vec()),
        ),
        (key::SOURCE_LIST, super::config::node_id_list(srcs)),
    ])
}

fn unmask_configs(active: &[u64], dead: &[u64]) -> ConfigRecord {
    record(vec![
        (key::STAGE, "unmask".into()),
        (
            key::ACTIVE_NODE_ID_LIST,
            super::config::node_id_list(active),
        ),
        (key::DEAD_NODE_ID_LIST, super::config::node_id_list(dead)),
    ])
}

#[test]
fn a_round_with_a_dropout_reconstructs_seeds_and_the_dropped_key() {
    // One id above i64::MAX, as Flower's random u64 node ids often are.
    let nids = [7, 1 << 40, u64::MAX - 3];
    let mut round = share_keys_round(&nids, 2);
    let dropped = nids[2];
    let survivors = &nids[..2];

    // Collect: the dropped node never answers.
    let mut calls = Vec::new();
    for &nid in survivors {
        let (srcs, ciphertexts) = round.forward[&nid].clone();
        let node = round.nodes.get_mut(&nid).unwrap();
        let reply = step(node, nid, &collect_configs(&srcs, &ciphertexts), &mut calls).unwrap();
        assert_eq!(
            bytes_list(reply.get(key::MASKED_PARAMETERS)),
            vec![vec![nid as u8]]
        );
    }
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.settings.mod_range, 1 << 32);
        assert_eq!(call.settings.max_weight, 1000.0);
        assert_eq!(call.num_examples, 10 + call.own_id as usize);
        assert_eq!(call.rd_seed.len(), 32);
        let others: Vec<u64> = call.pairwise_keys.iter().map(|(id, _)| *id).collect();
        let mut expected: Vec<u64> = nids
            .iter()
            .copied()
            .filter(|&id| id != call.own_id)
            .collect();
        expected.sort_unstable();
        let mut sorted = others.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected);
    }
    // Pairwise keys agree between the two survivors.
    let key_of = |call: &MaskCall, other: u64| {
        call.pairwise_keys
            .iter()
            .find(|(id, _)| *id == other)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(key_of(&calls[0], nids[1]), key_of(&calls[1], nids[0]));

    // Unmask: as the workflow, collect shares per owner and combine them.
    let mut collected: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    for &nid in survivors {
        let node = round.nodes.get_mut(&nid).unwrap();
        let reply = step(
            node,
            nid,
            &unmask_configs(survivors, &[dropped]),
            &mut calls,
        )
        .unwrap();
        assert_eq!(
            reply.names().collect::<Vec<_>>(),
            [key::NODE_ID_LIST, key::SHARE_LIST]
        );
        let owners = ids(reply.get(key::NODE_ID_LIST));
        assert_eq!(owners, [survivors[0], survivors[1], dropped]);
        for (owner, share) in owners
            .into_iter()
            .zip(bytes_list(reply.get(key::SHARE_LIST)))
        {
            collected.entry(owner).or_default().push(share);
        }
        assert_eq!(node.stage(), Stage::Unmask);
    }
    for call in &calls {
        assert_eq!(
            combine_shares(&collected[&call.own_id]).unwrap(),
            call.rd_seed
        );
    }
    // The dropped node's sk1 comes back as a PEM key whose ECDH with each survivor's
    // pk1 gives the very pairwise key that survivor masked with.
    let sk1 = bytes_to_private_key(&combine_shares(&collected[&dropped]).unwrap()).unwrap();
    for call in &calls {
        let pk1 = bytes_to_public_key(&round.public_keys[&call.own_id][0]).unwrap();
        assert_eq!(generate_shared_key(&sk1, &pk1), key_of(call, dropped));
    }
    assert_eq!(round.nids.len(), 3);
}

#[test]
fn bad_messages_are_errors_that_leave_the_state_as_it_was() {
    let nids = [11, 22, 33];
    let mut round = share_keys_round(&nids, 2);
    let nid = nids[0];
    let (srcs, ciphertexts) = round.forward[&nid].clone();
    let mut calls = Vec::new();
    let node = round.nodes.get_mut(&nid).unwrap();

    // A wrong stage order.
    let err = step(node, nid, &unmask_configs(&nids, &[]), &mut calls).unwrap_err();
    assert!(matches!(
        err,
        SecAggError::StageOrder {
            expected: Stage::CollectMaskedVectors,
            ..
        }
    ));

    // A bad ciphertext.
    let mut tampered = ciphertexts.clone();
    tampered[0][10] ^= 1;
    let err = step(node, nid, &collect_configs(&srcs, &tampered), &mut calls).unwrap_err();
    assert!(matches!(err, SecAggError::Ciphertext { .. }), "{err}");

    // A source not in the key dict.
    let err = step(
        node,
        nid,
        &collect_configs(&[99, srcs[1]], &ciphertexts),
        &mut calls,
    )
    .unwrap_err();
    assert!(
        matches!(err, SecAggError::UnknownNode { node: 99, .. }),
        "{err}"
    );

    // A ciphertext attributed to the wrong source (both are neighbours).
    let swapped = [srcs[1], srcs[0]];
    let err = step(
        node,
        nid,
        &collect_configs(&swapped, &ciphertexts),
        &mut calls,
    )
    .unwrap_err();
    assert!(matches!(err, SecAggError::Ciphertext { .. }), "{err}");

    // A share for another node: node 22's ciphertext for node 33, given to node 11.
    let (srcs33, ciphertexts33) = round.forward[&33].clone();
    let position = srcs33.iter().position(|&s| s == 22).unwrap();
    let node = round.nodes.get_mut(&nid).unwrap();
    let err = step(
        node,
        nid,
        &collect_configs(&[22], &[ciphertexts33[position].clone()]),
        &mut calls,
    )
    .unwrap_err();
    // Node 11 shares another key with 22 than 33 does: the MAC fails first.
    assert!(
        matches!(err, SecAggError::Ciphertext { src: 22, .. }),
        "{err}"
    );

    // Well-encrypted messages from 22 that claim another source or destination.
    let key22 = node.shared_key_with(22).unwrap().to_vec();
    let forged = |src: u64, dst: u64| {
        let plaintext = SharePlaintext {
            src,
            dst,
            rd_seed_share: vec![1; 20],
            sk1_share: vec![2; 20],
        };
        super::fernet::encrypt(&key22, &plaintext.concat()).unwrap()
    };
    let err = step(
        node,
        nid,
        &collect_configs(&[22], &[forged(33, nid)]),
        &mut calls,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            SecAggError::WrongSource {
                src: 22,
                actual: 33,
                ..
            }
        ),
        "{err}"
    );
    let err = step(
        node,
        nid,
        &collect_configs(&[22], &[forged(22, 33)]),
        &mut calls,
    )
    .unwrap_err();
    assert!(
        matches!(err, SecAggError::WrongDestination { dst: 33, .. }),
        "{err}"
    );
    let truncated = super::fernet::encrypt(&key22, &[0; 12]).unwrap();
    let err = step(node, nid, &collect_configs(&[22], &[truncated]), &mut calls).unwrap_err();
    assert!(
        matches!(err, SecAggError::Plaintext { src: 22, .. }),
        "{err}"
    );

    // Mismatched lengths and ill-typed lists.
    let err = step(
        node,
        nid,
        &collect_configs(&srcs[..1], &ciphertexts),
        &mut calls,
    )
    .unwrap_err();
    assert!(matches!(err, SecAggError::LengthMismatch { .. }), "{err}");
    let mut ill_typed = collect_configs(&srcs, &ciphertexts);
    ill_typed.insert(key::SOURCE_LIST, ConfigValue::StrList(vec!["11".into()]));
    let err = step(node, nid, &ill_typed, &mut calls).unwrap_err();
    assert!(matches!(err, SecAggError::WrongType { .. }), "{err}");
    let mut missing = collect_configs(&srcs, &ciphertexts);
    missing = missing
        .iter()
        .filter(|(name, _)| *name != key::CIPHERTEXT_LIST)
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    let err = step(node, nid, &missing, &mut calls).unwrap_err();
    assert!(matches!(err, SecAggError::MissingKey { .. }), "{err}");

    // A training failure is an error too.
    let err = node
        .handle_with(
            &collect_configs(&srcs, &ciphertexts),
            nid,
            || Err::<TrainedArrays, _>("no data"),
            |_, _, _, _, _, _| Ok(vec![]),
        )
        .unwrap_err();
    assert!(matches!(err, SecAggError::Train(_)), "{err}");
    assert!(calls.is_empty());

    // None of these moved the node on: the good message still works.
    assert_eq!(node.stage(), Stage::ShareKeys);
    step(node, nid, &collect_configs(&srcs, &ciphertexts), &mut calls).unwrap();
    assert_eq!(node.stage(), Stage::CollectMaskedVectors);
    // The unmask stage asks for the shares of a node that sent none.
    let err = step(node, nid, &unmask_configs(&[11, 22, 44], &[]), &mut calls).unwrap_err();
    assert!(
        matches!(err, SecAggError::UnknownNode { node: 44, .. }),
        "{err}"
    );
    let err = step(node, nid, &unmask_configs(&[11], &[]), &mut calls).unwrap_err();
    assert!(matches!(err, SecAggError::BelowThreshold { .. }), "{err}");
}

#[test]
fn the_share_keys_dict_is_checked() {
    let mut calls = Vec::new();
    let setup = || {
        let mut node = SecAggPlusState::new();
        let reply = step(&mut node, 5, &setup_configs(2), &mut Vec::new()).unwrap();
        let keys = vec![
            bytes(reply.get(key::PUBLIC_KEY_1)),
            bytes(reply.get(key::PUBLIC_KEY_2)),
        ];
        (node, keys)
    };
    let (_, other_keys) = setup();
    let share_keys = |entries: Vec<(&str, Vec<Vec<u8>>)>| -> ConfigRecord {
        let mut configs: ConfigRecord = entries
            .into_iter()
            .map(|(id, keys)| (id, ConfigValue::BytesList(keys)))
            .collect();
        configs.insert(key::STAGE, "share_keys");
        configs
    };

    // A malformed public key (pk2 is loaded here; pk1 in the collect stage).
    let (mut node, own) = setup();
    let bad = vec![
        other_keys[0].clone(),
        b"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n".to_vec(),
    ];
    let err = step(
        &mut node,
        5,
        &share_keys(vec![("5", own.clone()), ("6", bad)]),
        &mut calls,
    )
    .unwrap_err();
    assert!(
        matches!(err, SecAggError::PublicKey { node: 6, .. }),
        "{err}"
    );
    assert_eq!(node.stage(), Stage::Setup);

    // Own keys wrong or absent, keys repeated, ids not ints, too few or too many.
    type Case = (ConfigRecord, fn(&SecAggError) -> bool);
    let cases: Vec<Case> = vec![
        (
            share_keys(vec![("5", other_keys.clone()), ("6", own.clone())]),
            |e| matches!(e, SecAggError::OwnKeys { node: 5 }),
        ),
        (
            share_keys(vec![("6", other_keys.clone()), ("7", own.clone())]),
            |e| matches!(e, SecAggError::OwnKeys { .. }),
        ),
        (
            share_keys(vec![("5", own.clone()), ("6", own.clone())]),
            |e| matches!(e, SecAggError::DuplicatePublicKeys),
        ),
        (
            share_keys(vec![("5", own.clone()), ("six", other_keys.clone())]),
            |e| matches!(e, SecAggError::BadNodeId { .. }),
        ),
        (share_keys(vec![("5", own.clone())]), |e| {
            matches!(
                e,
                SecAggError::BelowThreshold {
                    available: 1,
                    threshold: 2,
                    ..
                }
            )
        }),
        (share_keys(vec![("5", vec![own[0].clone()])]), |e| {
            matches!(e, SecAggError::WrongType { .. })
        }),
    ];
    for (configs, expected) in cases {
        let err = step(&mut node, 5, &configs, &mut calls).unwrap_err();
        assert!(expected(&err), "{err}");
        assert_eq!(node.stage(), Stage::Setup);
    }
    let (_, third) = setup();
    let (_, fourth) = setup();
    let four = share_keys(vec![
        ("5", own.clone()),
        ("6", other_keys.clone()),
        ("7", third),
        ("8", fourth),
    ]);
    let err = step(&mut node, 5, &four, &mut calls).unwrap_err();
    assert!(
        matches!(
            err,
            SecAggError::TooManyNeighbours {
                neighbours: 4,
                shares: 3
            }
        ),
        "{err}"
    );

    // Setup may restart a round at any stage.
    step(&mut node, 5, &setup_configs(2), &mut calls).unwrap();
    assert_eq!(node.stage(), Stage::Setup);
}
