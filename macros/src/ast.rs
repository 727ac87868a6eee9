//! The data the macro reasons about: the attribute as written (the output of
//! `parse`) and the checked model (the output of `validate`, the input of `expand`).

use proc_macro2::Span;
use syn::{Expr, Ident, Member, Type};

/// The keys `#[federated_model(...)]` accepts.
pub const KEYS: [&str; 5] = ["input_spec", "outputs", "loss", "loss_weights", "metrics"];

/// A value together with the key that introduced it.
pub struct Keyed<T> {
    /// The key as written, for spans.
    pub key: Ident,
    /// Its value.
    pub value: T,
}

/// The attribute as written: each key at most once, values not yet checked.
#[derive(Default)]
pub struct Attr {
    pub input_spec: Option<Keyed<InputSpecAttr>>,
    pub outputs: Option<Keyed<Vec<Ident>>>,
    pub loss: Option<Keyed<PerOutput<Expr>>>,
    pub loss_weights: Option<Keyed<PerOutput<Expr>>>,
    pub metrics: Option<Keyed<PerOutput<Vec<Expr>>>>,
    /// Keys whose value did not parse, that went unread after a syntax error, or
    /// that a misspelt key stands for (`los` for `loss`). That error is already
    /// recorded, so `validate` neither calls them missing nor checks what depends on
    /// them.
    pub malformed: Vec<&'static str>,
}

impl Attr {
    /// `(X, Y)` as written, when `input_spec` names exactly two elements (for the
    /// fallback impl of a mistaken attribute).
    pub fn spec_types(&self) -> Option<(Type, Type)> {
        match &self.input_spec.as_ref()?.value {
            InputSpecAttr::Tuple { ty, elems } => match (&**ty, elems.as_slice()) {
                (Type::Tuple(_), [x, y]) => Some((x.clone(), y.clone())),
                _ => None,
            },
            InputSpecAttr::Named(pairs) => {
                let one = |name: &str| {
                    let mut found = pairs.iter().filter(|(n, _)| n == name);
                    match (found.next(), found.next()) {
                        (Some((_, ty)), None) => Some(ty.clone()),
                        _ => None,
                    }
                };
                (pairs.len() == 2).then_some(())?;
                Some((one("x")?, one("y")?))
            }
        }
    }
}

/// `input_spec = (X, Y)` or `input_spec(x = X, y = Y)`.
pub enum InputSpecAttr {
    /// The elements of `(X, Y)`, with the whole type for spans.
    Tuple { ty: Box<Type>, elems: Vec<Type> },
    /// `name = Type` pairs.
    Named(Vec<(Ident, Type)>),
}

/// A value given for every output, as a list in output order, or by output name.
pub enum PerOutput<T> {
    /// `key = value`: the same for every output.
    All(T),
    /// `key = [v1, v2, ...]`, with the list for spans.
    List(Box<Expr>, Vec<T>),
    /// `key(name = value, ...)`.
    Map(Vec<(Ident, T)>),
}

impl<T> PerOutput<T> {
    /// The same form, with each value mapped by `f`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerOutput<U> {
        match self {
            PerOutput::All(v) => PerOutput::All(f(v)),
            PerOutput::List(list, items) => {
                PerOutput::List(list, items.into_iter().map(f).collect())
            }
            PerOutput::Map(pairs) => {
                PerOutput::Map(pairs.into_iter().map(|(n, v)| (n, f(v))).collect())
            }
        }
    }
}

/// The checked model: what `expand` generates code from.
pub struct Model {
    /// The struct's name.
    pub ident: Ident,
    /// The field holding the dfdx module.
    pub module: ModuleField,
    /// The other fields, built with `Default`.
    pub other_fields: Vec<Member>,
    /// `X`: the features spec.
    pub features: Type,
    /// `Y`: the labels spec.
    pub labels: Labels,
    /// The outputs, in module order.
    pub outputs: Vec<Output>,
    /// Where the outputs were named (`outputs(...)`, else the module type), for spans.
    pub outputs_span: Span,
    /// Whether `outputs(...)` was written (else the module has one output).
    pub outputs_declared: bool,
}

/// The field holding the dfdx module.
pub struct ModuleField {
    /// Its name.
    pub member: Member,
    /// Its type.
    pub ty: Type,
}

/// `Y` as written, and its elements when it is written as a tuple.
pub struct Labels {
    /// The whole type.
    pub ty: Type,
    /// One spec per output, when `Y` is spelt as a tuple and the model has several outputs.
    pub parts: Option<Vec<Type>>,
}

/// One named output of the module.
pub struct Output {
    /// Its name.
    pub name: String,
    /// Its loss, with a Keras name resolved to the built-in.
    pub loss: Expr,
    /// Its loss weight.
    pub weight: f32,
    /// Its metrics, with Keras names resolved to the built-ins.
    pub metrics: Vec<Expr>,
}
