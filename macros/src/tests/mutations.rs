//! Random mistakes in a valid two-head attribute (the README's `DigitModel`): one to
//! three leaf tokens deleted, inserted, swapped with the next leaf, or duplicated,
//! from a fixed seed. Each mutant is expanded, and its errors must be those of a
//! user's mistake reported once: no panic, never accepted when it changed the
//! attribute, and never two errors starting at the same token (such as syn's
//! "expected `,`" followed by its "unexpected token, expected `)`" at that token).

use proc_macro2::{Delimiter, LineColumn, Spacing, TokenStream, TokenTree};

use crate::federated_model_impl;

/// The README's `DigitModel` attribute.
const DIGIT_MODEL_ATTR: &str = "input_spec = (Features<64>, (ClassLabels, Targets<1>)), \
     outputs(digit, parity), \
     loss(digit = SparseCategoricalCrossentropy, parity = BinaryCrossentropy), \
     loss_weights(digit = 1.0, parity = 0.5), \
     metrics(digit = [SparseCategoricalAccuracy], parity = [BinaryAccuracy::default()]),";

const DIGIT_MODEL: &str = "struct DigitModel { net: Built<Net> }";

/// Tokens a mistake may insert besides a copy of one of the attribute's own.
const FOREIGN: [&str; 7] = [",", "=", ";", ":", "x", "1", "\"s\""];

/// The attribute as a flat list: a mutation moves leaves, never delimiters, so every
/// mutant is balanced.
#[derive(Clone, PartialEq)]
enum Piece {
    Open(Delimiter),
    Close(Delimiter),
    /// A leaf's text, and whether it is a punct joined to the next.
    Leaf(String, bool),
}

fn flatten(stream: TokenStream, out: &mut Vec<Piece>) {
    for tree in stream {
        match tree {
            TokenTree::Group(g) => {
                out.push(Piece::Open(g.delimiter()));
                flatten(g.stream(), out);
                out.push(Piece::Close(g.delimiter()));
            }
            TokenTree::Punct(p) => out.push(Piece::Leaf(
                p.as_char().to_string(),
                p.spacing() == Spacing::Joint,
            )),
            other => out.push(Piece::Leaf(other.to_string(), false)),
        }
    }
}

/// The attribute as text, on its second line so that no token starts where the
/// call site does (the span of the "missing key" errors).
fn render(pieces: &[Piece]) -> String {
    let mut text = String::from("\n");
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Open(d) => text.push_str(delimiters(*d).0),
            Piece::Close(d) => text.push_str(delimiters(*d).1),
            Piece::Leaf(s, _) => text.push_str(s),
        }
        let joined = matches!(piece, Piece::Leaf(_, true))
            && matches!(pieces.get(i + 1), Some(Piece::Leaf(s, _)) if !s.starts_with(char::is_alphanumeric));
        if !joined {
            text.push(' ');
        }
    }
    text
}

fn delimiters(d: Delimiter) -> (&'static str, &'static str) {
    match d {
        Delimiter::Parenthesis => ("(", ")"),
        Delimiter::Bracket => ("[", "]"),
        Delimiter::Brace => ("{", "}"),
        Delimiter::None => ("", ""),
    }
}

/// splitmix64: a fixed sequence for a fixed seed, without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

fn leaves(pieces: &[Piece]) -> Vec<usize> {
    (0..pieces.len())
        .filter(|&i| matches!(pieces[i], Piece::Leaf(..)))
        .collect()
}

/// One mistake: a leaf deleted, inserted, swapped with the next leaf, or duplicated.
fn mutate(pieces: &mut Vec<Piece>, original: &[Piece], rng: &mut Rng) {
    let at = leaves(pieces);
    if at.is_empty() {
        return;
    }
    let i = at[rng.below(at.len())];
    match rng.below(4) {
        0 => {
            pieces.remove(i);
        }
        1 => {
            let leaf = if rng.below(2) == 0 {
                let own = leaves(original);
                original[own[rng.below(own.len())]].clone()
            } else {
                Piece::Leaf(FOREIGN[rng.below(FOREIGN.len())].to_owned(), false)
            };
            let place = rng.below(pieces.len() + 1);
            pieces.insert(place, leaf);
        }
        2 => {
            if let Some(&j) = at.iter().find(|&&j| j > i) {
                pieces.swap(i, j);
            }
        }
        _ => {
            let copy = pieces[i].clone();
            pieces.insert(i + 1, copy);
        }
    }
}

/// One top-level part of an attribute as the macro reads its form: `key = _` with
/// a value that parses (a type for `input_spec`, else an expression), or
/// `key(...)` with its entries read alike; anything else verbatim.
#[derive(PartialEq, Debug)]
struct Part {
    head: String,
    entries: Option<Vec<String>>,
}

/// `tokens` split at its commas, without the empty part a trailing comma leaves.
fn split(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut parts = vec![Vec::new()];
    for tree in tokens {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => parts.push(Vec::new()),
            _ => parts.last_mut().unwrap().push(tree),
        }
    }
    if parts.last().is_some_and(Vec::is_empty) {
        parts.pop();
    }
    parts
}

/// `name = value` with the value replaced by `_` when it parses whole as a type
/// (`as_type`) or an expression; the tokens as written otherwise.
fn entry(tokens: &[TokenTree], as_type: bool) -> String {
    let written = || TokenStream::from_iter(tokens.iter().cloned()).to_string();
    match tokens {
        [TokenTree::Ident(name), TokenTree::Punct(eq), value @ ..]
            if eq.as_char() == '=' && !value.is_empty() =>
        {
            let value = TokenStream::from_iter(value.iter().cloned());
            let parses = if as_type {
                syn::parse2::<syn::Type>(value).is_ok()
            } else {
                syn::parse2::<syn::Expr>(value).is_ok()
            };
            if parses {
                format!("{name} = _")
            } else {
                written()
            }
        }
        _ => written(),
    }
}

/// The form of an attribute, independent of the macro: what a mutant the macro
/// accepts must share with the original, as only the type checker judges values.
fn skeleton(args: &str) -> Vec<Part> {
    let tokens: TokenStream = args.parse().unwrap();
    split(tokens)
        .into_iter()
        .map(|part| match part.as_slice() {
            [TokenTree::Ident(key), TokenTree::Group(g)]
                if g.delimiter() == Delimiter::Parenthesis =>
            {
                let as_type = key == "input_spec";
                Part {
                    head: key.to_string(),
                    entries: Some(
                        split(g.stream())
                            .iter()
                            .map(|e| entry(e, as_type))
                            .collect(),
                    ),
                }
            }
            tokens => Part {
                head: entry(
                    tokens,
                    tokens
                        .first()
                        .is_some_and(|t| t.to_string() == "input_spec"),
                ),
                entries: None,
            },
        })
        .collect()
}

/// Whether a mutant's form is the original's: the same parts, except that
/// `loss_weights(...)` may leave outputs out (their weight is then 1).
fn same_form(mutant: &[Part], original: &[Part]) -> bool {
    mutant.len() == original.len()
        && mutant.iter().zip(original).all(|(m, o)| {
            let fewer_weights = m.head == "loss_weights"
                && o.head == "loss_weights"
                && match (&m.entries, &o.entries) {
                    (Some(m), Some(o)) => m.iter().all(|e| o.contains(e)),
                    _ => false,
                };
            m == o || fewer_weights
        })
}

/// The errors of the expansion of `args` on `DIGIT_MODEL`, with where each starts.
fn errors(args: &str) -> Vec<(LineColumn, String)> {
    let out = federated_model_impl(args.parse().unwrap(), DIGIT_MODEL.parse().unwrap());
    let file = syn::parse2::<syn::File>(out).expect("the expansion is Rust");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(m) if m.mac.path.segments.last()?.ident == "compile_error" => {
                let start = m.mac.path.segments.last()?.ident.span().start();
                Some((start, m.mac.parse_body::<syn::LitStr>().ok()?.value()))
            }
            _ => None,
        })
        .collect()
}

/// What is wrong with the report of one mutant, if anything.
fn judge(args: &str) -> Option<String> {
    let errors = errors(args);
    if errors.is_empty() {
        let accepted = same_form(&skeleton(args), &skeleton(DIGIT_MODEL_ATTR));
        return (!accepted).then(|| "accepted, though its form is not the original's".to_owned());
    }
    for (i, (at, first)) in errors.iter().enumerate() {
        // Errors at the call site (missing keys) start before the attribute's line.
        if at.line < 2 {
            continue;
        }
        if let Some((_, second)) = errors[i + 1..].iter().find(|(other, _)| other == at) {
            return Some(format!(
                "two errors at {}:{}: {first:?} and {second:?}",
                at.line, at.column
            ));
        }
    }
    None
}

/// The mutants of the fixed-seed run, as text.
fn mutants(count: usize) -> Vec<String> {
    let mut original = Vec::new();
    flatten(DIGIT_MODEL_ATTR.parse().unwrap(), &mut original);
    let mut rng = Rng(15);
    (0..count)
        .map(|_| {
            let mut pieces = original.clone();
            for _ in 0..=rng.below(3) {
                mutate(&mut pieces, &original, &mut rng);
            }
            render(&pieces)
        })
        .collect()
}

#[test]
fn the_readme_attribute_is_accepted_and_its_form_is_its_own() {
    let mut pieces = Vec::new();
    flatten(DIGIT_MODEL_ATTR.parse().unwrap(), &mut pieces);
    assert_eq!(errors(&render(&pieces)), Vec::new());
    let form = skeleton(DIGIT_MODEL_ATTR);
    assert_eq!(form.len(), 5);
    assert!(same_form(&form, &form));
    // A value that does not parse, or a missing output name, is another form.
    for other in [
        DIGIT_MODEL_ATTR.replace("1.0", "1.0 1.0"),
        DIGIT_MODEL_ATTR.replace("outputs(digit, parity)", "outputs(digit)"),
    ] {
        assert!(!same_form(&skeleton(&other), &form), "{other}");
    }
}

#[test]
fn random_mistakes_are_reported_once_each() {
    const COUNT: usize = 1000;
    let bad: Vec<String> = mutants(COUNT)
        .into_iter()
        .filter_map(|args| Some(format!("{}\n  {}", judge(&args)?, args.trim())))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {COUNT}:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
