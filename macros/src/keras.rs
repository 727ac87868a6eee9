//! Keras' string names of the built-in losses and metrics (`loss = "mse"`,
//! `metrics = ["accuracy"]`), which `validate` resolves to the built-in types.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;

use crate::suggest;

/// What a name is written as: a loss or a metric.
#[derive(Clone, Copy, PartialEq)]
pub enum Role {
    Loss,
    Metric,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Loss => "loss",
            Role::Metric => "metric",
        }
    }

    /// The names this role accepts, in the order messages list them.
    fn names(self) -> &'static [&'static str] {
        match self {
            Role::Loss => &LOSSES,
            Role::Metric => &METRICS,
        }
    }
}

/// The Keras names of the built-in losses.
pub const LOSSES: [&str; 8] = [
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "huber",
];

/// The Keras names of the built-in metrics.
pub const METRICS: [&str; 12] = [
    "accuracy",
    "acc",
    "sparse_categorical_accuracy",
    "categorical_accuracy",
    "binary_accuracy",
    "precision",
    "recall",
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "mean",
];

/// The built-in that `name` stands for as a `role`, as an expression spanned at
/// `span` (the string literal), or `None` when it names none.
pub fn builtin(name: &str, role: Role, span: Span) -> Option<TokenStream> {
    let tokens = match (role, name) {
        (Role::Loss, "sparse_categorical_crossentropy") => {
            quote_spanned!(span=> ::feddx::losses::SparseCategoricalCrossentropy)
        }
        (Role::Loss, "categorical_crossentropy") => {
            quote_spanned!(span=> ::feddx::losses::CategoricalCrossentropy)
        }
        (Role::Loss, "binary_crossentropy") => {
            quote_spanned!(span=> ::feddx::losses::BinaryCrossentropy)
        }
        // Keras' default delta.
        (Role::Loss, "huber") => quote_spanned!(span=> ::feddx::losses::Huber { delta: 1.0 }),
        (_, "mean_squared_error" | "mse") => {
            quote_spanned!(span=> ::feddx::losses::MeanSquaredError)
        }
        (_, "mean_absolute_error" | "mae") => {
            quote_spanned!(span=> ::feddx::losses::MeanAbsoluteError)
        }
        (Role::Metric, "accuracy" | "acc") => quote_spanned!(span=> ::feddx::metrics::Accuracy),
        (Role::Metric, "sparse_categorical_accuracy") => {
            quote_spanned!(span=> ::feddx::metrics::SparseCategoricalAccuracy)
        }
        (Role::Metric, "categorical_accuracy") => {
            quote_spanned!(span=> ::feddx::metrics::CategoricalAccuracy)
        }
        (Role::Metric, "binary_accuracy") => {
            quote_spanned!(span=> ::feddx::metrics::BinaryAccuracy { threshold: 0.5 })
        }
        (Role::Metric, "precision") => {
            quote_spanned!(span=> ::feddx::metrics::Precision { threshold: 0.5 })
        }
        (Role::Metric, "recall") => {
            quote_spanned!(span=> ::feddx::metrics::Recall { threshold: 0.5 })
        }
        (Role::Metric, "mean") => quote_spanned!(span=> ::feddx::metrics::Mean),
        _ => return None,
    };
    Some(tokens)
}

/// The message for a `name` that [`builtin`] does not know as a `role`.
pub fn unknown(name: &str, role: Role) -> String {
    let names = role.names();
    let listed = suggest::list(names.iter().map(|n| format!("{n:?}")));
    let what = role.as_str();
    // Keras' names are lower case: `"MSE"` is taken for `"mse"`.
    let lower = name.to_lowercase();
    let hint = suggest::nearest(&lower, names.iter().copied())
        .map(|n| format!(" (did you mean `{n:?}`?)"))
        .unwrap_or_default();
    match role {
        Role::Loss if METRICS.contains(&name) => {
            format!("`{name:?}` is a metric, not a loss; the Keras loss names are {listed}")
        }
        Role::Metric if LOSSES.contains(&name) => format!(
            "`{name:?}` is a loss, not a metric (a model's loss is reported as `loss`); the Keras metric names are {listed}{hint}"
        ),
        _ => format!("unknown {what} `{name:?}`; the Keras {what} names are {listed}{hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_resolves_in_its_role_only() {
        for role in [Role::Loss, Role::Metric] {
            for name in role.names() {
                assert!(builtin(name, role, Span::call_site()).is_some(), "{name}");
            }
        }
        assert!(builtin("accuracy", Role::Loss, Span::call_site()).is_none());
        assert!(builtin("huber", Role::Metric, Span::call_site()).is_none());
        assert!(builtin("MSE", Role::Loss, Span::call_site()).is_none());
    }

    #[test]
    fn unknown_names_get_the_list_and_a_suggestion() {
        let message = unknown("sparse_crossentropy", Role::Loss);
        assert!(message.starts_with("unknown loss `\"sparse_crossentropy\"`; the Keras loss names are `\"sparse_categorical_crossentropy\"`, "), "{message}");
        assert!(
            message.ends_with(" (did you mean `\"sparse_categorical_crossentropy\"`?)"),
            "{message}"
        );
        assert!(unknown("MSE", Role::Loss).ends_with("(did you mean `\"mse\"`?)"));
        assert!(
            unknown("accuracy", Role::Loss).starts_with("`\"accuracy\"` is a metric, not a loss")
        );
        let message = unknown("binary_crossentropy", Role::Metric);
        assert!(
            message.starts_with("`\"binary_crossentropy\"` is a loss, not a metric"),
            "{message}"
        );
    }
}
