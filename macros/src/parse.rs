//! Stage 1: reads the attribute's tokens into an [`Attr`], recording syntax errors
//! and unknown or repeated keys, and going on to the next key after each.

use proc_macro2::{TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Token, Type};

use crate::ast::{Attr, InputSpecAttr, Keyed, PerOutput, KEYS};
use crate::ctxt::Ctxt;
use crate::suggest;

/// Parses the attribute arguments.
pub fn attr(args: TokenStream, cx: &mut Ctxt) -> Attr {
    let mut attr = Attr::default();
    let parser = syn::meta::parser(|meta| {
        let Some(key) = meta.path.get_ident().cloned() else {
            cx.error_spanned_by(
                &meta.path,
                format!("expected a key, one of {}", suggest::list(KEYS)),
            );
            return skip_value(meta.input);
        };
        if let Err(error) = key_value(&mut attr, &key, &meta, cx) {
            cx.push(error);
            return skip_value(meta.input);
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(args) {
        cx.push(error);
    }
    attr
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

fn input_spec(meta: &ParseNestedMeta) -> syn::Result<InputSpecAttr> {
    if meta.input.peek(Token![=]) {
        let ty: Type = meta.value()?.parse()?;
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
        meta.parse_nested_meta(|m| {
            let name = m.path.require_ident()?.clone();
            let ty: Type = m.value()?.parse()?;
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
    meta.parse_nested_meta(|m| {
        let name = m.path.require_ident()?.clone();
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
        let expr: Expr = meta.value()?.parse()?;
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
        return Ok(PerOutput::All(metric_list(meta.value()?.parse()?)?));
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
    let mut map = Vec::new();
    meta.parse_nested_meta(|m| {
        let name = m.path.require_ident()?.clone();
        map.push((name, item(m.value()?.parse()?)?));
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
