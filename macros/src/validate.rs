//! Stage 2: checks the parsed attribute against itself and the struct, collecting
//! every error, and resolves it into the [`Model`] that `expand` works from.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, ExprLit, Fields, Ident, Lit, Member, Type, UnOp};

use crate::ast::{Attr, InputSpecAttr, Keyed, Labels, Model, ModuleField, Output, PerOutput};
use crate::builders;
use crate::ctxt::Ctxt;
use crate::keras::{self, Role};
use crate::suggest;

/// Name of the only output when `outputs(...)` is not given.
const DEFAULT_OUTPUT: &str = "output";

/// Checks `attr` and `item`; strips the `#[model]` marker from `item`'s fields.
pub fn model(attr: Attr, item: &mut DeriveInput, cx: &mut Ctxt) -> Option<Model> {
    let malformed = |key| attr.malformed.contains(&key);
    let module = placement(item, cx);
    let spec = input_spec(attr.input_spec, malformed("input_spec"), cx);
    // A builder written as the module's type is reported here, once, rather than
    // by the type checker, once per layer (see `builders`).
    let features = spec.as_ref().map(|(x, _)| x);
    let module = module.and_then(|(field, others)| {
        match builders::error(&item.ident, &field.ty, features) {
            Some(error) => {
                cx.push(error);
                None
            }
            None => Some((field, others)),
        }
    });
    if attr.loss.is_none() && !malformed("loss") {
        cx.error_at(Span::call_site(), "missing `loss`; add `loss = SparseCategoricalCrossentropy` (one loss for every output), a list with one per output, or `loss(output = ..., ...)`");
    }
    if malformed("outputs") {
        // Without the output names, the checks by output would only report made-up
        // mismatches against a default output.
        return None;
    }
    let names = output_names(attr.outputs.as_ref(), cx);
    let outputs_span = attr.outputs.as_ref().map(|o| o.key.span());
    let outputs_declared = outputs_span.is_some();
    let losses = losses(attr.loss, &names, cx);
    let weights = weights(attr.loss_weights, &names, cx);
    let metrics = metrics(attr.metrics, &names, cx);
    let (features, labels) = spec?;
    let labels = labels_parts(labels, names.len(), cx);
    let (module, other_fields) = module?;
    let (labels, losses) = (labels?, losses?);
    let outputs = names
        .into_iter()
        .zip(losses)
        .zip(weights?)
        .zip(metrics?)
        .map(|(((name, loss), weight), metrics)| Output {
            name,
            loss,
            weight,
            metrics,
        })
        .collect();
    let outputs_span = outputs_span.unwrap_or_else(|| module.ty.span());
    Some(Model {
        ident: item.ident.clone(),
        module,
        other_fields,
        features,
        labels,
        outputs,
        outputs_span,
        outputs_declared,
    })
}

/// Whether `item` carries `#[federated_model]` again: that application, expanded
/// next, writes the impl (or its own fallback).
pub fn applied_again(item: &DeriveInput) -> bool {
    item.attrs.iter().any(is_federated_model)
}

fn is_federated_model(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "federated_model")
}

/// Where the attribute sits: a struct with named fields, one of them the module.
fn placement(item: &mut DeriveInput, cx: &mut Ctxt) -> Option<(ModuleField, Vec<Member>)> {
    let mut ok = true;
    if let Some(again) = item.attrs.iter().find(|a| is_federated_model(a)) {
        cx.error_spanned_by(
            again,
            "`#[federated_model]` is applied twice; a struct is turned into a federated model once \
             (the counterpart of from_keras_model's ValueError for an already compiled model)",
        );
        ok = false;
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(&item.generics, "`#[federated_model]` does not support generic structs; name the concrete module type in the field");
        ok = false;
    }
    let name = item.ident.clone();
    let fields = match &mut item.data {
        Data::Struct(s) => match &mut s.fields {
            Fields::Named(named) if !named.named.is_empty() => &mut named.named,
            Fields::Named(_) | Fields::Unit => {
                cx.error_spanned_by(&name, format!("`{name}` has no field; add one that holds the dfdx module, such as `net: Built<(Linear<4, 8>, ReLU, Linear<8, 2>)>`"));
                return None;
            }
            Fields::Unnamed(unnamed) => {
                cx.error_spanned_by(unnamed, format!("`#[federated_model]` needs named fields; write `struct {name} {{ net: ... }}` instead of a tuple struct"));
                return None;
            }
        },
        Data::Enum(e) => {
            cx.error_spanned_by(
                e.enum_token,
                "`#[federated_model]` goes on a struct holding a dfdx module, not on an enum",
            );
            return None;
        }
        Data::Union(u) => {
            cx.error_spanned_by(
                u.union_token,
                "`#[federated_model]` goes on a struct holding a dfdx module, not on a union",
            );
            return None;
        }
    };
    let mut marked = Vec::new();
    for (i, field) in fields.iter_mut().enumerate() {
        let before = field.attrs.len();
        field.attrs.retain(|a| {
            if !a.path().is_ident("model") {
                return true;
            }
            if a.meta.require_path_only().is_err() {
                cx.error_spanned_by(&a.meta, "`#[model]` takes no arguments; write `#[model]`");
            }
            false
        });
        if field.attrs.len() != before {
            marked.push(i);
        }
    }
    let index = match marked.as_slice() {
        [] if fields.len() == 1 => 0,
        [one] => *one,
        [] => {
            let names = suggest::list(fields.iter().filter_map(|f| f.ident.as_ref()));
            cx.error_spanned_by(&name, format!("`{name}` has {} fields ({names}); mark the one holding the dfdx module with `#[model]`", fields.len()));
            return None;
        }
        [first, second, ..] => {
            let first = fields[*first].ident.as_ref()?;
            cx.error_spanned_by(
                fields[*second].ident.as_ref()?,
                format!("only one field can be marked `#[model]`, and `{first}` already is; a federated model holds one dfdx module"),
            );
            return None;
        }
    };
    let mut module = None;
    let mut others = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let member = Member::Named(field.ident.clone()?);
        if i == index {
            module = Some(ModuleField {
                member,
                ty: field.ty.clone(),
            });
        } else {
            others.push(member);
        }
    }
    if ok {
        module.map(|m| (m, others))
    } else {
        None
    }
}

/// `(X, Y)` from either form of `input_spec`.
fn input_spec(
    spec: Option<Keyed<InputSpecAttr>>,
    malformed: bool,
    cx: &mut Ctxt,
) -> Option<(Type, Type)> {
    let Some(Keyed { key, value }) = spec else {
        if malformed {
            return None;
        }
        cx.error_at(
            Span::call_site(),
            "missing `input_spec`; add `input_spec = (Features<N>, Labels)`: the features fed to the module and the labels its losses compare against",
        );
        return None;
    };
    match value {
        InputSpecAttr::Tuple { ty, elems } => {
            if elems.len() == 2 {
                let mut it = elems.into_iter();
                return Some((it.next()?, it.next()?));
            }
            if !matches!(*ty, Type::Tuple(_)) {
                cx.error_spanned_by(
                    ty,
                    "`input_spec` must be a pair `(x, y)`, the features and the labels, but it is a single type",
                );
                return None;
            }
            cx.error_spanned_by(
                ty,
                format!(
                    "`input_spec` must have exactly two elements `(x, y)`, the features and the labels, but it has {}",
                    elems.len()
                ),
            );
            None
        }
        InputSpecAttr::Named(pairs) => {
            let found = by_name(pairs, &["x", "y"], "`input_spec` element", "expected", cx);
            let mut missing = |slot: Option<Slot<Type>>, name: &str, what: &str| {
                if matches!(slot, Some(Slot::Empty) | None) {
                    cx.error_spanned_by(
                        &key,
                        format!("`input_spec` has no `{name}`; add `{name} = ...`, {what}"),
                    );
                }
                slot.and_then(Slot::given)
            };
            let mut it = found.into_iter();
            let x = missing(it.next(), "x", "the features fed to the module");
            let y = missing(it.next(), "y", "the labels the losses compare against");
            Some((x?, y?))
        }
    }
}

/// The output names: `outputs(...)`, or one default output.
fn output_names(outputs: Option<&Keyed<Vec<Ident>>>, cx: &mut Ctxt) -> Vec<String> {
    let Some(Keyed { key, value }) = outputs else {
        return vec![DEFAULT_OUTPUT.to_owned()];
    };
    if value.is_empty() {
        cx.error_spanned_by(key, "`outputs()` names no output; name each output of the module, in order, or leave `outputs` out for one output");
        return vec![DEFAULT_OUTPUT.to_owned()];
    }
    let mut names: Vec<String> = Vec::new();
    for ident in value {
        let name = ident.unraw().to_string();
        if names.contains(&name) {
            cx.error_spanned_by(
                ident,
                format!("duplicate output name `{name}`; output names are unique"),
            );
        }
        // Kept even when repeated, so the output count is the one written.
        names.push(name);
    }
    names
}

fn losses(
    loss: Option<Keyed<PerOutput<Expr>>>,
    names: &[String],
    cx: &mut Ctxt,
) -> Option<Vec<Expr>> {
    // A missing `loss` is reported by `model`.
    let Keyed { key, value } = loss?;
    let value = value.map(|loss| keras_name(loss, Role::Loss, cx));
    let per_output = resolve(value, names, "loss", cx)?;
    let mut out = Vec::with_capacity(names.len());
    for (name, loss) in names.iter().zip(per_output) {
        match loss {
            Slot::Given(loss) => out.push(loss),
            Slot::Meant => {}
            Slot::Empty => cx.error_spanned_by(
                &key,
                format!("output `{name}` has no loss; add `{name} = ...` to `loss(...)`"),
            ),
        }
    }
    (out.len() == names.len()).then_some(out)
}

fn weights(
    weights: Option<Keyed<PerOutput<Expr>>>,
    names: &[String],
    cx: &mut Ctxt,
) -> Option<Vec<f32>> {
    let Some(Keyed { value, .. }) = weights else {
        return Some(vec![1.0; names.len()]);
    };
    let per_output = resolve(value, names, "loss_weights", cx)?;
    let mut ok = true;
    let values = per_output
        .into_iter()
        .map(|w| match w.given().map(|w| number(&w)) {
            None => 1.0,
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                cx.push(e);
                ok = false;
                1.0
            }
        })
        .collect();
    ok.then_some(values)
}

fn metrics(
    metrics: Option<Keyed<PerOutput<Vec<Expr>>>>,
    names: &[String],
    cx: &mut Ctxt,
) -> Option<Vec<Vec<Expr>>> {
    let Some(Keyed { value, .. }) = metrics else {
        return Some(vec![Vec::new(); names.len()]);
    };
    let value = value.map(|list| {
        list.into_iter()
            .map(|metric| keras_name(metric, Role::Metric, cx))
            .collect()
    });
    Some(
        resolve(value, names, "metrics", cx)?
            .into_iter()
            .map(|list| list.given().unwrap_or_default())
            .collect(),
    )
}

/// A loss or metric written as a Keras name (`"mse"`) becomes the built-in it names,
/// spanned at the string; any other expression is kept as written.
fn keras_name(expr: Expr, role: Role, cx: &mut Ctxt) -> Expr {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(name),
        ..
    }) = &expr
    else {
        return expr;
    };
    match keras::builtin(&name.value(), role, name.span()) {
        Some(builtin) => Expr::Verbatim(builtin),
        None => {
            cx.error_spanned_by(name, keras::unknown(&name.value(), role));
            expr
        }
    }
}

/// One value per output (empty where a map leaves an output out).
fn resolve<T: Clone>(
    value: PerOutput<T>,
    names: &[String],
    key: &str,
    cx: &mut Ctxt,
) -> Option<Vec<Slot<T>>> {
    match value {
        PerOutput::All(v) => Some(names.iter().map(|_| Slot::Given(v.clone())).collect()),
        PerOutput::List(list, items) => {
            if items.len() == names.len() {
                return Some(items.into_iter().map(Slot::Given).collect());
            }
            cx.error_spanned_by(
                list,
                format!(
                    "`{key}` lists {} value{} but the model has {} output{} ({}); give one per output, in order",
                    items.len(),
                    if items.len() == 1 { "" } else { "s" },
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    suggest::list(names)
                ),
            );
            None
        }
        PerOutput::Map(pairs) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let what = format!("`{key}` key");
            Some(by_name(pairs, &names, &what, "the outputs are", cx))
        }
    }
}

/// Places `name = value` pairs by name, reporting unknown and repeated names.
///
/// A name that an unknown one stands for (`rge` for `reg`, or any key for the one
/// output of a model without `outputs(...)`) is `Slot::Meant`: that mistake is
/// reported once, as the unknown name with its suggestion, and not also as a
/// missing name.
fn by_name<T>(
    pairs: Vec<(Ident, T)>,
    names: &[&str],
    what: &str,
    expected: &str,
    cx: &mut Ctxt,
) -> Vec<Slot<T>> {
    let mut slots: Vec<Slot<T>> = names.iter().map(|_| Slot::Empty).collect();
    for (ident, value) in pairs {
        let name = ident.unraw().to_string();
        match names.iter().position(|n| *n == name) {
            Some(i) if matches!(slots[i], Slot::Given(_)) => {
                cx.error_spanned_by(&ident, format!("duplicate {what} `{name}`; give each once"))
            }
            Some(i) => slots[i] = Slot::Given(value),
            None => {
                let hint = if names == [DEFAULT_OUTPUT] && expected.starts_with("the outputs") {
                    // The one unnamed output is what the key was meant for.
                    if matches!(slots[0], Slot::Empty) {
                        slots[0] = Slot::Meant;
                    }
                    "; name the module's outputs with `outputs(...)`".to_owned()
                } else {
                    let meant = suggest::nearest(&name, names.iter().copied());
                    if let Some(i) = meant.and_then(|m| names.iter().position(|n| *n == m)) {
                        if matches!(slots[i], Slot::Empty) {
                            slots[i] = Slot::Meant;
                        }
                    }
                    suggest::did_you_mean(&name, names.iter().copied())
                };
                cx.error_spanned_by(
                    &ident,
                    format!(
                        "unknown {what} `{name}`; {expected} {}{hint}",
                        suggest::list(names)
                    ),
                );
            }
        }
    }
    slots
}

/// What a name of `by_name` was given.
enum Slot<T> {
    /// Nothing.
    Empty,
    /// Nothing, but a misspelt name stands for it (already reported).
    Meant,
    /// A value.
    Given(T),
}

impl<T> Slot<T> {
    /// The value, if given.
    fn given(self) -> Option<T> {
        match self {
            Slot::Given(v) => Some(v),
            Slot::Empty | Slot::Meant => None,
        }
    }
}

/// A loss weight: a non-negative number literal.
fn number(expr: &Expr) -> syn::Result<f32> {
    let (negative, lit) = match expr {
        Expr::Lit(l) => (false, &l.lit),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => match &*u.expr {
            Expr::Lit(l) => (true, &l.lit),
            _ => return Err(not_a_number(expr)),
        },
        _ => return Err(not_a_number(expr)),
    };
    let value: f32 = match lit {
        Lit::Float(f) => f.base10_parse()?,
        Lit::Int(i) => i.base10_parse()?,
        _ => return Err(not_a_number(expr)),
    };
    if negative && value != 0.0 {
        return Err(syn::Error::new_spanned(expr, "a loss weight must not be negative: a negative weight would maximise that output's loss"));
    }
    if !value.is_finite() {
        return Err(syn::Error::new_spanned(
            expr,
            format!(
                "loss weight `{lit}` is too large for an `f32`",
                lit = quote::quote!(#lit)
            ),
        ));
    }
    Ok(value)
}

fn not_a_number(expr: &Expr) -> syn::Error {
    syn::Error::new_spanned(
        expr,
        format!(
            "a loss weight must be a number literal such as `0.5`, found `{}`",
            quote::quote!(#expr)
        ),
    )
}

/// `Y`, split into one spec per output when it is spelt as a tuple.
fn labels_parts(labels: Type, outputs: usize, cx: &mut Ctxt) -> Option<Labels> {
    let Type::Tuple(tuple) = &labels else {
        return Some(Labels {
            ty: labels,
            parts: None,
        });
    };
    let found = tuple.elems.len();
    if found == outputs && outputs > 1 {
        let parts = tuple.elems.iter().cloned().collect();
        return Some(Labels {
            ty: labels,
            parts: Some(parts),
        });
    }
    cx.error_spanned_by(
        &labels,
        format!(
            "the labels in `input_spec` list {found} spec{} but the model has {outputs} output{}; give one label spec per output, in output order{}",
            if found == 1 { "" } else { "s" },
            if outputs == 1 { "" } else { "s" },
            if outputs == 1 { " (a single output takes the spec itself, not a tuple)" } else { "" },
        ),
    );
    None
}
