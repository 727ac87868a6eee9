//! The attribute never panics: every prefix of a set of attributes, and each with
//! one token left out, is expanded, and the result always parses as Rust.

use proc_macro2::{Group, TokenStream, TokenTree};

use crate::federated_model_impl;

const ATTRIBUTES: [&str; 7] = [
    "input_spec = (Features<4>, ClassLabels), loss = SparseCategoricalCrossentropy, metrics = [SparseCategoricalAccuracy]",
    "input_spec = (Features<4>, (ClassLabels, Targets<1>)), outputs(digit, parity), \
     loss(digit = SparseCategoricalCrossentropy, parity = BinaryCrossentropy), \
     loss_weights(digit = 1.0, parity = 0.5), \
     metrics(digit = [SparseCategoricalAccuracy], parity = [BinaryAccuracy::default()])",
    "input_spec(x = Features<4>, y = (ClassLabels, ClassLabels)), outputs(a, b), \
     loss = [SparseCategoricalCrossentropy, my_loss], loss_weights = [1, -0.0]",
    "input_spec = (Features<4>, Targets<1>), loss = Huber { delta: 1.0 }, metrics(output = [Mean])",
    "los = X, input_spec = (), outputs(), loss_weights = 0.5, metrics(a = B), a::b = 1, \"s\" = 2",
    "outputs(r#type, a::b, \"c\"), loss(type = L, 1 = 2), loss_weights = [1e39, x], metrics = M",
    "input_spec = (Features<4>, (ClassLabels, Targets<1>)), outputs(a, b), \
     loss = [\"sparse_categorical_crossentropy\", \"huber\"], \
     metrics(a = [\"acc\", Mean], b = [\"binary_crossentropy\", \"MSE\", \"\"])",
];

const ITEMS: [&str; 7] = [
    "struct Model { net: Built<Linear<4, 3>> }",
    "pub struct Model { #[model] net: Built<Net>, runs: usize }",
    "struct Model { #[model(x)] a: A, #[model] b: B, #[model] c: C }",
    "struct Model(Built<Net>);",
    "enum Model { A }",
    "struct Model<T> { net: T }",
    "fn model() {}",
];

fn tokens(text: &str) -> Vec<TokenTree> {
    text.parse::<TokenStream>()
        .expect("valid tokens")
        .into_iter()
        .collect()
}

/// Expands and checks the output is a list of Rust items.
fn expand(args: &[TokenTree], item: &str) {
    let out = federated_model_impl(args.iter().cloned().collect(), item.parse().unwrap());
    if let Err(e) = syn::parse2::<syn::File>(out.clone()) {
        panic!(
            "the expansion of `{}` on `{item}` is not Rust: {e}\n{out}",
            TokenStream::from_iter(args.iter().cloned())
        );
    }
}

#[test]
fn every_prefix_and_every_single_deletion_expands_without_panicking() {
    for attr in ATTRIBUTES {
        let all = tokens(attr);
        for item in ITEMS {
            for end in 0..=all.len() {
                expand(&all[..end], item);
            }
            for skip in 0..all.len() {
                let mut some = all.clone();
                some.remove(skip);
                expand(&some, item);
            }
        }
    }
}

/// `stream` with one leaf token left out, for every leaf, at any depth of groups.
fn without_one_leaf(stream: &[TokenTree]) -> Vec<Vec<TokenTree>> {
    let mut out = Vec::new();
    for (i, tree) in stream.iter().enumerate() {
        let mut rebuilt = |replacement: Option<TokenTree>| {
            let mut copy = stream.to_vec();
            match replacement {
                Some(t) => copy[i] = t,
                None => {
                    copy.remove(i);
                }
            }
            out.push(copy);
        };
        match tree {
            TokenTree::Group(g) => {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                for variant in without_one_leaf(&inner) {
                    let group = Group::new(g.delimiter(), variant.into_iter().collect());
                    rebuilt(Some(TokenTree::Group(group)));
                }
            }
            _ => rebuilt(None),
        }
    }
    out
}

#[test]
fn every_nested_token_left_out_expands_without_panicking() {
    for attr in ATTRIBUTES {
        let all = tokens(attr);
        for variant in without_one_leaf(&all) {
            for item in ITEMS {
                expand(&variant, item);
            }
        }
    }
}

#[test]
fn a_valid_attribute_expands_to_an_impl_and_a_mistake_to_errors() {
    let out = federated_model_impl(
        tokens(ATTRIBUTES[1]).into_iter().collect(),
        ITEMS[0].parse().unwrap(),
    );
    let text = out.to_string();
    assert!(
        text.contains("impl :: feddx :: FederatedModel for Model"),
        "{text}"
    );
    assert!(!text.contains("compile_error"), "{text}");

    let out = federated_model_impl(
        tokens(ATTRIBUTES[4]).into_iter().collect(),
        ITEMS[0].parse().unwrap(),
    );
    let text = out.to_string();
    assert!(text.matches("compile_error").count() >= 5, "{text}");
    // Beside the errors, the fallback impl, so later uses of `Model` add none.
    assert!(
        text.contains("impl :: feddx :: FederatedModel for Model"),
        "{text}"
    );
    assert!(text.contains("FallbackModule"), "{text}");
}

/// The messages of the `compile_error!`s in the expansion of `args` on `item`.
fn errors(args: &str, item: &str) -> Vec<String> {
    let out = federated_model_impl(args.parse().unwrap(), item.parse().unwrap());
    let file = syn::parse2::<syn::File>(out).expect("the expansion is Rust");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(m) if m.mac.path.segments.last()?.ident == "compile_error" => {
                Some(m.mac.parse_body::<syn::LitStr>().ok()?.value())
            }
            _ => None,
        })
        .collect()
}

const TWO_HEADS: &str = "struct Model { net: Built<SplitInto<(Linear<4, 10>, Linear<4, 1>)>> }";
const TWO_OUTPUTS: &str =
    "input_spec = (Features<4>, (ClassLabels, Targets<1>)), outputs(class, reg)";

#[test]
fn a_transposed_map_key_gets_the_same_suggestion_under_every_key() {
    for (key, entries) in [
        ("loss", "loss(class = SparseCategoricalCrossentropy, rge = BinaryCrossentropy)"),
        ("loss_weights", "loss = [SparseCategoricalCrossentropy, BinaryCrossentropy], loss_weights(class = 1.0, rge = 0.5)"),
        ("metrics", "loss = [SparseCategoricalCrossentropy, BinaryCrossentropy], metrics(class = [SparseCategoricalAccuracy], rge = [BinaryAccuracy])"),
    ] {
        let errors = errors(&format!("{TWO_OUTPUTS}, {entries}"), TWO_HEADS);
        let expected = format!(
            "unknown `{key}` key `rge`; the outputs are `class`, `reg` (did you mean `reg`?)"
        );
        assert!(errors.contains(&expected), "{key}: {errors:?}");
    }
}

#[test]
fn transposed_and_dropped_letters_are_one_edit() {
    use crate::suggest::nearest;
    assert_eq!(nearest("rge", ["class", "reg"]), Some("reg"));
    assert_eq!(nearest("clsas", ["class", "reg"]), Some("class"));
    assert_eq!(nearest("metircs", crate::ast::KEYS), Some("metrics"));
    assert_eq!(nearest("inptu_spec", crate::ast::KEYS), Some("input_spec"));
    assert_eq!(
        nearest("los_weights", crate::ast::KEYS),
        Some("loss_weights")
    );
    // Two edits in a three-letter name is another name, not a typo.
    assert_eq!(nearest("gre", ["class", "reg"]), None);
    assert_eq!(nearest("optimizer", crate::ast::KEYS), None);
}

#[test]
fn a_misspelt_key_is_one_mistake_not_also_a_missing_key() {
    let near = errors(
        "input_spec = (Features<4>, ClassLabels), los = SparseCategoricalCrossentropy",
        ITEMS[0],
    );
    assert_eq!(near.len(), 1, "{near:?}");
    assert!(near[0].ends_with("(did you mean `loss`?)"), "{near:?}");
    // Far from every key, nothing stands for `loss`: it is missing.
    let far = errors(
        "input_spec = (Features<4>, ClassLabels), optimizer = Sgd",
        ITEMS[0],
    );
    assert_eq!(far.len(), 2, "{far:?}");
    assert!(far[1].starts_with("missing `loss`"), "{far:?}");
}

#[test]
fn a_mistake_gets_a_fallback_impl_unless_the_attribute_comes_again() {
    let fallback = |args: &str, item: &str| {
        let out = federated_model_impl(args.parse().unwrap(), item.parse().unwrap());
        out.to_string().contains("FallbackModule")
    };
    let wrong = "input_spec = (Features<4>, ClassLabels)";
    for item in ITEMS.iter().filter(|i| !i.starts_with("fn")) {
        assert!(fallback(wrong, item), "{item}");
    }
    // The second `#[federated_model]` writes the impl; a fallback would conflict.
    let twice =
        "#[federated_model(input_spec = (Features<4>, ClassLabels))] struct Model { net: N }";
    assert!(!fallback(wrong, twice));
    assert!(!fallback(wrong, "fn model() {}"));
}

mod mutations;
