//! SecAgg+'s bytes against Flower's Python: feddx reads and reproduces what
//! `fixtures/make_secagg.py` recorded, and Python (`fixtures/check_secagg.py`) reads
//! what feddx makes.

mod flower_harness;

use std::process::Command;

use feddx_flower::secagg::fernet;
use feddx_flower::secagg::keys::{
    bytes_to_private_key, bytes_to_public_key, generate_key_pair, generate_shared_key,
    private_key_to_bytes, public_key_to_bytes, KeyError,
};
use feddx_flower::secagg::shamir::{combine_shares, create_shares, create_shares_with_rng};
use feddx_flower::secagg::SharePlaintext;
use rand::{CryptoRng, RngCore};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/secagg.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("secagg.json is JSON")
}

fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut node = value;
    for step in path {
        node = &node[*step];
    }
    node.as_str()
        .unwrap_or_else(|| panic!("{path:?} is a string"))
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Replays the bytes PyCryptodome's `get_random_bytes` gave, and fails if more are
/// asked for.
struct Replay(Vec<u8>, usize);

impl RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        unimplemented!("Shamir draws whole 16-byte blocks")
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!("Shamir draws whole 16-byte blocks")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.copy_from_slice(&self.0[self.1..self.1 + dest.len()]);
        self.1 += dest.len();
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Replay {}

#[test]
fn keys_read_and_write_as_python_does() {
    let fixture = fixture();
    let sk_a = text(&fixture, &["keys", "sk_a"]);
    let pk_a = text(&fixture, &["keys", "pk_a"]);
    let a = bytes_to_private_key(sk_a.as_bytes()).unwrap();
    // Byte for byte the PEM that `cryptography` writes, both keys.
    assert_eq!(private_key_to_bytes(&a).unwrap(), sk_a.as_bytes());
    assert_eq!(
        public_key_to_bytes(&a.public_key()).unwrap(),
        pk_a.as_bytes()
    );
    let compressed = text(&fixture, &["keys", "pk_a_compressed"]);
    assert_eq!(
        bytes_to_public_key(compressed.as_bytes()).unwrap(),
        a.public_key()
    );
    // A P-256 key and a SEC1 private key where a P-384 SPKI is expected.
    for key in ["pk_p256", "sk_a_traditional", "sk_a"] {
        let bytes = text(&fixture, &["keys", key]).as_bytes();
        assert!(
            matches!(bytes_to_public_key(bytes), Err(KeyError::PublicKey(_))),
            "{key}"
        );
    }
}

#[test]
fn shared_keys_match_python() {
    let fixture = fixture();
    let a = bytes_to_private_key(text(&fixture, &["keys", "sk_a"]).as_bytes()).unwrap();
    let b = bytes_to_private_key(text(&fixture, &["keys", "sk_b"]).as_bytes()).unwrap();
    let pk_a = bytes_to_public_key(text(&fixture, &["keys", "pk_a"]).as_bytes()).unwrap();
    let pk_b = bytes_to_public_key(text(&fixture, &["keys", "pk_b"]).as_bytes()).unwrap();
    let shared = text(&fixture, &["keys", "shared_ab"]).as_bytes();
    assert_eq!(generate_shared_key(&a, &pk_b), shared);
    assert_eq!(generate_shared_key(&b, &pk_a), shared);
}

#[test]
fn fernet_tokens_match_python() {
    let fixture = fixture();
    let case = &fixture["fernet"];
    let key = text(case, &["key"]).as_bytes();
    let plaintext = unhex(text(case, &["plaintext"]));
    let token = text(case, &["token"]).as_bytes();
    assert_eq!(fernet::decrypt(key, token).unwrap(), plaintext);
    let iv: [u8; 16] = unhex(text(case, &["iv"])).try_into().unwrap();
    let timestamp = case["timestamp"].as_u64().unwrap();
    assert_eq!(
        fernet::encrypt_at(key, &plaintext, timestamp, iv).unwrap(),
        token
    );
}

#[test]
fn shamir_shares_match_pycryptodome() {
    let fixture = fixture();
    for case in fixture["shamir"].as_array().unwrap() {
        let secret = unhex(text(case, &["secret"]));
        let threshold = case["threshold"].as_u64().unwrap() as usize;
        let num = case["num"].as_u64().unwrap() as usize;
        let shares: Vec<Vec<u8>> = case["shares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|share| unhex(share.as_str().unwrap()))
            .collect();
        // Python's shares combine here, from any `threshold` of them.
        assert_eq!(combine_shares(&shares[..threshold]).unwrap(), secret);
        assert_eq!(combine_shares(&shares[num - threshold..]).unwrap(), secret);
        // The same randomness gives the very same shares.
        let mut replay = Replay(unhex(text(case, &["random"])), 0);
        let made = create_shares_with_rng(&secret, threshold, num, &mut replay).unwrap();
        assert_eq!(made, shares, "{} bytes, {threshold} of {num}", secret.len());
        assert_eq!(
            replay.1,
            replay.0.len(),
            "as many random bytes as Python drew"
        );
    }
}

#[test]
fn share_plaintexts_match_python() {
    let fixture = fixture();
    let case = &fixture["plaintext"];
    let plaintext = SharePlaintext {
        src: case["src"].as_u64().unwrap(),
        dst: case["dst"].as_u64().unwrap(),
        rd_seed_share: unhex(text(case, &["rd_seed_share"])),
        sk1_share: unhex(text(case, &["sk1_share"])),
    };
    let bytes = unhex(text(case, &["bytes"]));
    assert_eq!(plaintext.concat(), bytes);
    assert_eq!(SharePlaintext::separate(&bytes).unwrap(), plaintext);
}

/// Fresh keys, a token, shares and a plaintext made by feddx, read by Flower's Python.
#[test]
fn python_reads_what_feddx_makes() {
    let fixture = fixture();
    let peer_sk = text(&fixture, &["keys", "sk_b"]);
    let peer_pk = text(&fixture, &["keys", "pk_b"]);
    let (secret, public) = generate_key_pair();
    let sk = private_key_to_bytes(&secret).unwrap();
    let shared = generate_shared_key(&secret, &bytes_to_public_key(peer_pk.as_bytes()).unwrap());
    let plaintext = SharePlaintext {
        src: u64::MAX,
        dst: 1,
        rd_seed_share: create_shares(&[9; 32], 2, 3).unwrap().remove(0),
        sk1_share: vec![3; 100],
    };
    let token = fernet::encrypt(&shared, &plaintext.concat()).unwrap();
    let shamir: Vec<Value> = [(vec![5u8; 32], 2, 3), (sk.clone(), 3, 5), (vec![], 1, 1)]
        .into_iter()
        .map(|(secret, threshold, num)| {
            let shares = create_shares(&secret, threshold, num).unwrap();
            serde_json::json!({
                "secret": hex(&secret),
                "threshold": threshold,
                "shares": shares.iter().map(|share| hex(share)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let made = serde_json::json!({
        "sk": String::from_utf8(sk).unwrap(),
        "pk": String::from_utf8(public_key_to_bytes(&public).unwrap()).unwrap(),
        "peer_sk": peer_sk,
        "peer_pk": peer_pk,
        "shared": String::from_utf8(shared).unwrap(),
        "token": String::from_utf8(token).unwrap(),
        "plaintext": hex(&plaintext.concat()),
        "shamir": shamir,
        "share_plaintext": {
            "src": plaintext.src,
            "dst": plaintext.dst,
            "rd_seed_share": hex(&plaintext.rd_seed_share),
            "sk1_share": hex(&plaintext.sk1_share),
            "bytes": hex(&plaintext.concat()),
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("made.json");
    std::fs::write(&path, made.to_string()).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check_secagg.py");
    let output = Command::new(flower_harness::venv_bin("python"))
        .arg(script)
        .arg(&path)
        .output()
        .expect("the venv's python runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok");
}
