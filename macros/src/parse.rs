//! Stage 1: reads the attribute's tokens into an [`Attr`], recording syntax errors
//! and unknown or repeated keys, and going on to the next key (or the next entry of
//! a parenthesised list) after each.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Expr, Ident, Path, Token, Type};

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
            return skip_value(meta.input);
        };
        if let Err(error) = key_value(&mut attr, &key, &meta, cx) {
            cx.push(error);
            if let Some(known) = KEYS.into_iter().find(|k| key == k) {
                attr.malformed.push(known);
            }
            return skip_value(meta.input);
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
            skip_value(meta.input)
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

/// The stream after `key =`, refusing an empty value (`loss = ,`).
fn value<'a>(meta: &ParseNestedMeta<'a>) -> syn::Result<ParseStream<'a>> {
    let input = meta.value()?;
    if input.is_empty() || input.peek(Token![,]) {
        let key = path_string(&meta.path);
        return Err(meta.error(format!("expected a value after `{key} =`")));
    }
    Ok(input)
}

/// Reads `key(entry, ...)`, each entry with `entry`. A bad entry's error is kept and
/// reading goes on with the next entry, so every bad entry is reported and none
/// leaves tokens behind (which syn would report again as "unexpected token").
/// `key()` reads as no entries.
fn each_nested(
    meta: &ParseNestedMeta,
    what: &str,
    mut entry: impl FnMut(&ParseNestedMeta) -> syn::Result<()>,
) -> syn::Result<()> {
    let ahead = meta.input.fork();
    if let Ok(TokenTree::Group(group)) = ahead.parse::<TokenTree>() {
        if group.delimiter() == Delimiter::Parenthesis && group.stream().is_empty() {
            meta.input.parse::<TokenTree>()?;
            return Ok(());
        }
    }
    if let Err(quoted) = quoted_names(meta, what) {
        meta.input.parse::<TokenTree>()?;
        return Err(quoted);
    }
    let mut errors = Ctxt::default();
    meta.parse_nested_meta(|m| {
        if let Err(error) = entry(&m) {
            errors.push(error);
            skip_value(m.input)?;
        }
        Ok(())
    })?;
    errors.finish(())
}

/// Refuses names written as string literals (`loss("digit" = ...)`, as in a Keras
/// dict), which syn's nested-meta parser would reject with a generic message.
fn quoted_names(meta: &ParseNestedMeta, what: &str) -> syn::Result<()> {
    let ahead = meta.input.fork();
    let content;
    syn::parenthesized!(content in ahead);
    let mut errors = Ctxt::default();
    // An entry starts at the beginning and after each comma outside `<...>`.
    let (mut at_name, mut angles) = (true, 0usize);
    while !content.is_empty() {
        if at_name && content.peek(syn::Lit) {
            let lit: syn::Lit = content.parse()?;
            let unquoted = match &lit {
                syn::Lit::Str(s) if syn::parse_str::<Ident>(&s.value()).is_ok() => {
                    format!("; write `{}` without quotes", s.value())
                }
                _ => String::new(),
            };
            let found = lit.to_token_stream();
            errors.error_spanned_by(&lit, format!("expected {what}, found `{found}`{unquoted}"));
            at_name = false;
            continue;
        }
        at_name = false;
        if let TokenTree::Punct(p) = content.parse()? {
            match p.as_char() {
                '<' => angles += 1,
                '>' => angles = angles.saturating_sub(1),
                ',' => at_name = angles == 0,
                _ => {}
            }
        }
    }
    errors.finish(())
}

/// The name of an entry of `key(...)`: an identifier, not a path.
fn entry_name(m: &ParseNestedMeta, what: &str) -> syn::Result<Ident> {
    m.path.get_ident().cloned().ok_or_else(|| {
        syn::Error::new_spanned(
            &m.path,
            format!("expected {what}, found the path `{}`", path_string(&m.path)),
        )
    })
}

/// The value of the entry `name = value` of `key(...)`; `example` shows the form.
fn entry_value<T: Parse>(m: &ParseNestedMeta, name: &Ident, example: &str) -> syn::Result<T> {
    if !m.input.peek(Token![=]) {
        return Err(m.error(format!("expected `{name} = ...`, as in `{example}`")));
    }
    value(m)?.parse()
}

fn input_spec(meta: &ParseNestedMeta) -> syn::Result<InputSpecAttr> {
    if meta.input.peek(Token![=]) {
        let ty: Type = value(meta)?.parse()?;
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
        let expr: Expr = value(meta)?.parse()?;
        return Ok(match expr {
            Expr::Array(ref list) => {
                let items = list
                    .elems
                    .iter()
                    .cloned()
                    .map(&item)
                    .collect::<syn::Result<_>>()?;
                PerOutput::List(expr, items)
            }
            other => PerOutput::All(item(other)?),
        });
    }
    by_name(meta, key, item)
}

/// `key = [M, ...]` for every output, or `key(name = [M, ...], ...)`.
fn metrics(meta: &ParseNestedMeta) -> syn::Result<PerOutput<Vec<Expr>>> {
    if meta.input.peek(Token![=]) {
        return Ok(PerOutput::All(metric_list(value(meta)?.parse()?)?));
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
