//! The commonest dfdx mistake, told from the field's tokens: a module field whose
//! type is written as a dfdx builder (`net: (Linear<8, 8>, ReLU, Linear<8, 3>)`),
//! which describes a module, instead of the module it builds
//! (`net: Built<(Linear<8, 8>, ReLU, Linear<8, 3>)>`).
//!
//! Left to the type checker, that mistake is one error of ours and one more of
//! dfdx's for each layer with weights (each fails dfdx's `Module` bound on its
//! own), and rustc prints the type with its full paths. Told here, it is one error,
//! with the fix written from the user's own tokens. A builder behind a type alias
//! is not seen here and is left to the type checker.

use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

/// dfdx builders of layers with weights: each builds a type of another name path
/// (`modules::Linear<I, O, E, D>` for `Linear<I, O>`), so a field written with one
/// is never a built module.
const LAYERS: [&str; 14] = [
    "Linear",
    "UnbiasedLinear",
    "Conv2D",
    "ConvTrans2D",
    "BatchNorm1D",
    "BatchNorm2D",
    "LayerNorm1D",
    "Embedding",
    "Bias1D",
    "Bias2D",
    "MultiHeadAttention",
    "Transformer",
    "TransformerEncoder",
    "TransformerDecoder",
];

/// Layers without weights: each is its own builder and its own module.
const WEIGHTLESS: [&str; 24] = [
    "ReLU",
    "Tanh",
    "Sigmoid",
    "GeLU",
    "FastGeLU",
    "AccurateGeLU",
    "Softmax",
    "Abs",
    "Exp",
    "Cos",
    "Sin",
    "Ln",
    "Sqrt",
    "Square",
    "Flatten2D",
    "MaxPool2D",
    "AvgPool2D",
    "MinPool2D",
    "AvgPoolGlobal",
    "MaxPoolGlobal",
    "MinPoolGlobal",
    "Dropout",
    "DropoutOneIn",
    "Upscale2D",
];

/// Wrappers that are builders when what they wrap is.
const WRAPPERS: [&str; 5] = [
    "SplitInto",
    "AddInto",
    "Residual",
    "GeneralizedResidual",
    "Repeated",
];

/// The error for a module field whose type is written as a dfdx builder, if it is:
/// "the module of `Model` must be a built dfdx module that accepts features
/// `Features<8>`, but `(Linear<8, 8>, ReLU, Linear<8, 3>)` is a dfdx builder; hold
/// the built module: `Built<(Linear<8, 8>, ReLU, Linear<8, 3>)>`".
pub fn error(model: &syn::Ident, ty: &Type, features: Option<&Type>) -> Option<syn::Error> {
    let (kind, layers) = judge(ty);
    if kind != Kind::Builder || layers == 0 {
        return None;
    }
    let written = shown(ty);
    let accepts = features
        .map(|x| format!(" that accepts features `{}`", shown(x)))
        .unwrap_or_default();
    Some(syn::Error::new_spanned(
        ty,
        format!(
            "the module of `{model}` must be a built dfdx module{accepts}, but `{written}` is a dfdx builder, \
             which describes a module; hold the built module: `Built<{}>`",
            shortened(ty, &written)
        ),
    ))
}

/// What a type written in a field is, as far as its tokens tell.
#[derive(PartialEq, Clone, Copy)]
enum Kind {
    /// Written of dfdx builders and layers without weights alone.
    Builder,
    /// Anything else (a built module, `Built<...>`, an alias, a type of the user's).
    Other,
}

/// The kind of `ty`, with how many layers with weights it is written with.
fn judge(ty: &Type) -> (Kind, usize) {
    match ty {
        Type::Tuple(t) if !t.elems.is_empty() => all(t.elems.iter()),
        Type::Paren(p) => judge(&p.elem),
        Type::Path(p) if p.qself.is_none() => {
            let segments = &p.path.segments;
            // `Linear` as `feddx::prelude` has it, or through a `builders` module;
            // not `modules::Linear`, a built layer.
            let through_builders = segments.len() == 1
                || segments
                    .iter()
                    .rev()
                    .nth(1)
                    .is_some_and(|s| s.ident == "builders" || s.ident == "builder");
            let Some(last) = segments.last().filter(|_| through_builders) else {
                return (Kind::Other, 0);
            };
            let name = last.ident.to_string();
            if LAYERS.contains(&name.as_str()) {
                (Kind::Builder, 1)
            } else if WEIGHTLESS.contains(&name.as_str()) {
                (Kind::Builder, 0)
            } else if WRAPPERS.contains(&name.as_str()) {
                let PathArguments::AngleBracketed(args) = &last.arguments else {
                    return (Kind::Other, 0);
                };
                all(args.args.iter().filter_map(|a| match a {
                    GenericArgument::Type(t) => Some(t),
                    _ => None,
                }))
            } else {
                (Kind::Other, 0)
            }
        }
        _ => (Kind::Other, 0),
    }
}

/// A builder when every one of `types` is, with their layers with weights summed.
fn all<'a>(types: impl Iterator<Item = &'a Type>) -> (Kind, usize) {
    let mut layers = 0;
    for ty in types {
        match judge(ty) {
            (Kind::Builder, n) => layers += n,
            (Kind::Other, _) => return (Kind::Other, 0),
        }
    }
    (Kind::Builder, layers)
}

/// Tokens as they are usually written (`Linear<8, 8>`), for a message. From the
/// tokens rather than the source text, which a stable compiler gives for one token
/// of a type only.
fn shown<T: ToTokens>(tokens: &T) -> String {
    one_line(&tokens.to_token_stream().to_string())
}

/// Tokens printed with a space between each (`Linear < 8 , 8 >`) as a type is
/// usually written (`Linear<8, 8>`).
fn one_line(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        let glued = out.ends_with(['(', '<', '[', ':'])
            || word.starts_with([')', '>', ']', ',', '<', ':'])
            || out.is_empty();
        if !glued {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.replace(",)", ")").replace(",>", ">")
}

/// A long tuple as its first elements, `...` and its last, so that the hint stays
/// a line one can read; anything else as written.
fn shortened(ty: &Type, written: &str) -> String {
    const LONG: usize = 60;
    let Type::Tuple(t) = ty else {
        return written.to_owned();
    };
    if written.len() <= LONG || t.elems.len() < 3 {
        return written.to_owned();
    }
    let elems: Vec<String> = t.elems.iter().map(shown).collect();
    let (last, rest) = elems.split_last().expect("three elements or more");
    let mut head: Vec<&str> = Vec::new();
    let mut len = last.len() + "(, ..., )".len();
    for e in rest {
        if !head.is_empty() && len + e.len() + 2 > LONG {
            break;
        }
        len += e.len() + 2;
        head.push(e);
    }
    if head.len() == rest.len() {
        return written.to_owned();
    }
    format!("({}, ..., {last})", head.join(", "))
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::*;

    fn message(ty: &str) -> Option<String> {
        let ty: Type = syn::parse_str(ty).unwrap();
        let x: Type = syn::parse_str("Features<8>").unwrap();
        let model = syn::Ident::new("Model", Span::call_site());
        error(&model, &ty, Some(&x)).map(|e| e.to_string())
    }

    #[test]
    fn a_builder_is_told_with_the_fix_written_from_it() {
        let m = message("(Linear<8, 8>, ReLU, Linear<8, 3>)").unwrap();
        assert!(
            m.ends_with("hold the built module: `Built<(Linear<8, 8>, ReLU, Linear<8, 3>)>`"),
            "{m}"
        );
        assert!(m.starts_with("the module of `Model` must be a built dfdx module that accepts features `Features<8>`, but `(Linear<8, 8>, ReLU, Linear<8, 3>)` is a dfdx builder, which describes a module;"), "{m}");
        for builder in [
            "Linear<4, 3>",
            "(Linear<8, 8>,)",
            "SplitInto<(Linear<8, 10>, Linear<8, 1>)>",
            "((Conv2D<1, 4, 3>, ReLU), Flatten2D, Linear<100, 10>)",
            "builders::Linear<4, 3>",
            "Repeated<(Linear<8, 8>, ReLU), 3>",
        ] {
            assert!(message(builder).is_some(), "{builder}");
        }
    }

    #[test]
    fn built_modules_aliases_and_weightless_layers_are_left_to_the_type_checker() {
        for other in [
            "Built<(Linear<8, 8>, ReLU)>",
            "(modules::Linear<8, 8, f32, Cpu>, ReLU)",
            "Net",
            "(ReLU, Tanh)",
            "SplitInto<(Built<Linear<8, 1>>, Linear<8, 1>)>",
            "Vec<f32>",
            "()",
        ] {
            assert_eq!(message(other), None, "{other}");
        }
    }

    #[test]
    fn a_long_builder_is_shortened_in_the_fix() {
        let ty = "(Linear<784, 256>, ReLU, Linear<256, 128>, ReLU, Linear<128, 64>, ReLU, Linear<64, 10>)";
        let m = message(ty).unwrap();
        assert!(
            m.ends_with("`Built<(Linear<784, 256>, ReLU, ..., Linear<64, 10>)>`"),
            "{m}"
        );
    }
}
