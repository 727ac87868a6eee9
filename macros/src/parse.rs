//! Stage 1: reads the attribute's tokens into an [`Attr`], recording syntax errors
//! and unknown or repeated keys, and going on to the next key (or the next entry of
//! a parenthesised list) after each.

use std::fmt::Display;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::discouraged::Speculative;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Path, PathSegment, Token, Type};

use crate::ast::{Attr, InputSpecAttr, Keyed, PerOutput, KEYS};
use crate::ctxt::Ctxt;
use crate::suggest;

/// Parses the attribute arguments.
pub fn attr(args: TokenStream, cx: &mut Ctxt) -> Attr {
    let mut attr = Attr::default();
    let parser = syn::meta::parser(|meta| {
        let Some(key) = meta.path.get_ident().cloned() else {
            let last = meta.path.segments.last().map(|s| s.ident.to_string());
            cx.error_spanned_by(
                &meta.path,
                format!(
                    "expected a key, found the path `{}`; the keys are {}{}",
                    path_string(&meta.path),
                    suggest::list(KEYS),
                    suggest::did_you_mean(&last.unwrap_or_default(), KEYS)
                ),
            );
            return skip_unread(meta.input, &mut attr.malformed);
        };
        if let Err(error) = key_value(&mut attr, &key, &meta, cx) {
            cx.push(error);
            if let Some(known) = KEYS.into_iter().find(|k| key == k) {
                attr.malformed.push(known);
            }
            return skip_unread(meta.input, &mut attr.malformed);
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(args) {
        cx.push(error);
        // syn stops at a syntax error between keys: the keys after it were not read,
        // so none of them is known to be missing.
        for key in KEYS {
            if !is_set(&attr, key) && !attr.malformed.contains(&key) {
                attr.malformed.push(key);
            }
        }
    }
    attr
}

/// Whether `key` was read.
fn is_set(attr: &Attr, key: &str) -> bool {
    match key {
        "input_spec" => attr.input_spec.is_some(),
        "outputs" => attr.outputs.is_some(),
        "loss" => attr.loss.is_some(),
        "loss_weights" => attr.loss_weights.is_some(),
        _ => attr.metrics.is_some(),
    }
}

/// `a::b`, as written.
fn path_string(path: &Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.join("::")
}

fn key_value(
    attr: &mut Attr,
    key: &Ident,
    meta: &ParseNestedMeta,
    cx: &mut Ctxt,
) -> syn::Result<()> {
    match key.to_string().as_str() {
        "input_spec" => set(&mut attr.input_spec, key, input_spec(meta)?, cx),
        "outputs" => set(&mut attr.outputs, key, outputs(meta)?, cx),
        "loss" => set(&mut attr.loss, key, per_output(meta, "loss", Ok)?, cx),
        "loss_weights" => {
            let value = per_output(meta, "loss_weights", Ok)?;
            if let PerOutput::All(w) = &value {
                return Err(syn::Error::new_spanned(
                    w,
                    "expected `loss_weights = [w1, w2, ...]` (one per output) or `loss_weights(output = w, ...)`",
                ));
            }
            set(&mut attr.loss_weights, key, value, cx)
        }
        "metrics" => set(&mut attr.metrics, key, metrics(meta)?, cx),
        other => {
            cx.error_spanned_by(
                key,
                format!(
                    "unknown key `{other}` in `#[federated_model]`; expected one of {}{}",
                    suggest::list(KEYS),
                    suggest::did_you_mean(other, KEYS)
                ),
            );
            // `los = ...` is the `loss` the user meant: one mistake, so `loss` is
            // not also reported missing.
            if let Some(meant) = suggest::nearest(other, KEYS) {
                attr.malformed.push(meant);
            }
            skip_unread(meta.input, &mut attr.malformed)
        }
    }
}

/// Stores a key's value, reporting a repeated key.
fn set<T>(slot: &mut Option<Keyed<T>>, key: &Ident, value: T, cx: &mut Ctxt) -> syn::Result<()> {
    if slot.is_some() {
        cx.error_spanned_by(key, format!("duplicate key `{key}`; give each key once"));
    } else {
        *slot = Some(Keyed {
            key: key.clone(),
            value,
        });
    }
    Ok(())
}

/// Skips the rest of a key's value, up to the next top-level comma.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// Parses a `T` on a fork of `input`, and moves `input` past it only when it parsed
/// whole: with no token left over in any of its groups.
///
/// syn reports tokens left over in a group (`(X Y)` read as `(X)`, or the rest of
/// `[A B]` after its error at `B`) only once the whole attribute is read, as
/// "unexpected token, expected `)`": after a failed parse, a second error at the
/// token already reported; after a successful one, an error beside the checks of a
/// value that was not what the user wrote. On a fork, the leftovers go with the
/// fork, and reading the tokens it took once more, as a stream of their own, reports
/// them now, as this value's one error. On an error the caller skips the value.
fn isolated<T: Parse>(input: ParseStream) -> syn::Result<T> {
    let ahead = input.fork();
    ahead.parse::<T>()?;
    let mut read = TokenStream::new();
    let (mut at, end) = (input.cursor(), ahead.cursor());
    while at != end {
        let Some((tree, next)) = at.token_tree() else {
            break;
        };
        read.extend([tree]);
        at = next;
    }
    let value = syn::parse2::<T>(read)?;
    input.advance_to(&ahead);
    Ok(value)
}

/// Skips the rest of a key's value, as [`skip_value`] does, noting the keys among
/// the skipped tokens, at any depth (`loss` in `input_spec = (X Y) loss = L`,
/// `outputs` in `digit(outputs, parity)`): they went unread after a mistake, so none
/// of them is known to be missing or wrong, and nothing that depends on one (the
/// outputs, for the keys by output) is checked.
fn skip_unread(input: ParseStream, malformed: &mut Vec<&'static str>) -> syn::Result<()> {
    fn note(tree: TokenTree, malformed: &mut Vec<&'static str>) {
        match tree {
            TokenTree::Ident(ident) => {
                if let Some(key) = KEYS.into_iter().find(|k| ident == k) {
                    if !malformed.contains(&key) {
                        malformed.push(key);
                    }
                }
            }
            TokenTree::Group(group) => {
                for tree in group.stream() {
                    note(tree, malformed);
                }
            }
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
    while !input.is_empty() && !input.peek(Token![,]) {
        note(input.parse()?, malformed);
    }
    Ok(())
}

/// The stream after `key =`, refusing an empty value (`loss = ,`).
fn value<'a>(meta: &ParseNestedMeta<'a>) -> syn::Result<ParseStream<'a>> {
    let input = meta.value()?;
    if input.is_empty() || input.peek(Token![,]) {
        let key = path_string(&meta.path);
        return Err(meta.error(format!("expected a value after `{key} =`")));
    }
    Ok(input)
}

/// One entry of `key(...)`: its name as written and the stream after it. What
/// syn's `ParseNestedMeta` is for a key, read by `each_nested`'s own loop.
struct Entry<'a> {
    path: Path,
    input: ParseStream<'a>,
}

impl Entry<'_> {
    /// An error at the entry's name.
    fn error(&self, message: impl Display) -> syn::Error {
        syn::Error::new_spanned(&self.path, message)
    }
}

/// Reads `key(entry, ...)`, each entry with `entry`, in a loop of its own rather
/// than syn's `parse_nested_meta`, so that no entry's mistake leaves tokens behind
/// (which syn would report a second time, at the same token, once the whole
/// attribute is read). A bad entry's error is kept and reading goes on after the
/// next comma, so every bad entry is reported, once. `key()` reads as no entries.
fn each_nested(
    meta: &ParseNestedMeta,
    what: &str,
    mut entry: impl FnMut(&Entry) -> syn::Result<()>,
) -> syn::Result<()> {
    let content;
    syn::parenthesized!(content in meta.input);
    let mut errors = Ctxt::default();
    while !content.is_empty() {
        let read = entry_path(&content, what).and_then(|path| {
            entry(&Entry {
                path,
                input: &content,
            })?;
            if content.is_empty() || content.peek(Token![,]) {
                Ok(())
            } else {
                Err(content.error("expected `,`"))
            }
        });
        if let Err(error) = read {
            errors.push(error);
            skip_value(&content)?;
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    errors.finish(())
}

/// The name that starts an entry of `key(...)`, as syn reads a nested key (a path
/// whose segments may be keywords). A name written as a string literal
/// (`loss("digit" = ...)`, as in a Keras dict) gets its own message.
fn entry_path(input: ParseStream, what: &str) -> syn::Result<Path> {
    if input.peek(syn::Lit) {
        let lit: syn::Lit = input.parse()?;
        let unquoted = match &lit {
            syn::Lit::Str(s) if syn::parse_str::<Ident>(&s.value()).is_ok() => {
                format!("; write `{}` without quotes", s.value())
            }
            _ => String::new(),
        };
        let found = lit.to_token_stream();
        return Err(syn::Error::new_spanned(
            &lit,
            format!("expected {what}, found `{found}`{unquoted}"),
        ));
    }
    let leading_colon: Option<Token![::]> = input.parse()?;
    let mut segments = Punctuated::new();
    loop {
        if !input.peek(Ident::peek_any) {
            let found = input.fork().parse::<TokenTree>().ok();
            return Err(match found {
                Some(found) => input.error(format!("expected {what}, found `{found}`")),
                None => input.error(format!("expected {what}")),
            });
        }
        segments.push_value(PathSegment::from(Ident::parse_any(input)?));
        if !input.peek(Token![::]) {
            break;
        }
        segments.push_punct(input.parse()?);
    }
    Ok(Path {
        leading_colon,
        segments,
    })
}

/// The name of an entry of `key(...)`: an identifier, not a path.
fn entry_name(m: &Entry, what: &str) -> syn::Result<Ident> {
    m.path.get_ident().cloned().ok_or_else(|| {
        syn::Error::new_spanned(
            &m.path,
            format!("expected {what}, found the path `{}`", path_string(&m.path)),
        )
    })
}

/// The value of the entry `name = value` of `key(...)`; `example` shows the form.
fn entry_value<T: Parse>(m: &Entry, name: &Ident, example: &str) -> syn::Result<T> {
    if !m.input.peek(Token![=]) {
        return Err(m.error(format!("expected `{name} = ...`, as in `{example}`")));
    }
    let eq: Token![=] = m.input.parse()?;
    if m.input.is_empty() || m.input.peek(Token![,]) {
        let path = &m.path;
        return Err(syn::Error::new_spanned(
            quote::quote!(#path #eq),
            format!("expected a value after `{} =`", path_string(path)),
        ));
    }
    isolated(m.input)
}

fn input_spec(meta: &ParseNestedMeta) -> syn::Result<InputSpecAttr> {
    if meta.input.peek(Token![=]) {
        let ty: Type = isolated(value(meta)?)?;
        let elems = match &ty {
            Type::Tuple(t) => t.elems.iter().cloned().collect(),
            Type::Paren(p) => vec![(*p.elem).clone()],
            other => vec![other.clone()],
        };
        return Ok(InputSpecAttr::Tuple {
            ty: Box::new(ty),
            elems,
        });
    }
    let mut named = Vec::new();
    if meta.input.peek(syn::token::Paren) {
        each_nested(meta, "`x` or `y`", |m| {
            let name = entry_name(m, "`x` or `y`")?;
            let ty: Type = entry_value(m, &name, "input_spec(x = Features<4>, y = ClassLabels)")?;
            named.push((name, ty));
            Ok(())
        })?;
        return Ok(InputSpecAttr::Named(named));
    }
    Err(meta.error(
        "expected `input_spec = (Features, Labels)` or `input_spec(x = Features, y = Labels)`",
    ))
}

fn outputs(meta: &ParseNestedMeta) -> syn::Result<Vec<Ident>> {
    if !meta.input.peek(syn::token::Paren) {
        return Err(
            meta.error("expected `outputs(name, ...)`: the module's output names, in order")
        );
    }
    let mut names = Vec::new();
    each_nested(meta, "an output name", |m| {
        let name = entry_name(m, "an output name")?;
        if !m.input.is_empty() && !m.input.peek(Token![,]) {
            return Err(m.error(format!(
                "output `{name}` takes no value; write `outputs({name}, ...)`"
            )));
        }
        names.push(name);
        Ok(())
    })?;
    Ok(names)
}

/// `key = value`, `key = [v, ...]` or `key(name = value, ...)`, each value read by `item`.
fn per_output<T>(
    meta: &ParseNestedMeta,
    key: &str,
    item: impl Fn(Expr) -> syn::Result<T>,
) -> syn::Result<PerOutput<T>> {
    if meta.input.peek(Token![=]) {
        let expr: Expr = isolated(value(meta)?)?;
        return Ok(match expr {
            Expr::Array(ref list) => {
                let items = list
                    .elems
                    .iter()
                    .cloned()
                    .map(&item)
                    .collect::<syn::Result<_>>()?;
                PerOutput::List(Box::new(expr), items)
            }
            other => PerOutput::All(item(other)?),
        });
    }
    by_name(meta, key, item)
}

/// `key = [M, ...]` for every output, or `key(name = [M, ...], ...)`.
fn metrics(meta: &ParseNestedMeta) -> syn::Result<PerOutput<Vec<Expr>>> {
    if meta.input.peek(Token![=]) {
        let list = isolated(value(meta)?)?;
        return Ok(PerOutput::All(metric_list(list)?));
    }
    by_name(meta, "metrics", metric_list)
}

/// `key(name = value, ...)`, each value read by `item`.
fn by_name<T>(
    meta: &ParseNestedMeta,
    key: &str,
    item: impl Fn(Expr) -> syn::Result<T>,
) -> syn::Result<PerOutput<T>> {
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!(
            "expected `{key} = ...` or `{key}(output = ..., ...)`"
        )));
    }
    let example = match key {
        "loss" => "loss(digit = SparseCategoricalCrossentropy)",
        "loss_weights" => "loss_weights(digit = 0.5)",
        _ => "metrics(digit = [SparseCategoricalAccuracy])",
    };
    let mut map = Vec::new();
    each_nested(meta, "an output name", |m| {
        let name = entry_name(m, "an output name")?;
        let value = entry_value(m, &name, example)?;
        map.push((name, item(value)?));
        Ok(())
    })?;
    Ok(PerOutput::Map(map))
}

/// A list of metrics, `[M1, M2, ...]`.
fn metric_list(expr: Expr) -> syn::Result<Vec<Expr>> {
    match expr {
        Expr::Array(list) => Ok(list.elems.into_iter().collect()),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a list of metrics such as `[SparseCategoricalAccuracy]`",
        )),
    }
}
