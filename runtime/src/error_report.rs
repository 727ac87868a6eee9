//! [`ErrorReport`]: any error, shown as its message and its causes, for `main`.

use std::error::Error;
use std::fmt;

/// Any error (`Error + Send + Sync + 'static`), shown as a sentence rather than a
/// struct: its [`Display`](fmt::Display) text, then each of its
/// [sources](Error::source) on a line of its own, `caused by: ...`.
///
/// `fn main() -> Result<(), E>` prints an error with `E`'s `Debug`, which for most
/// errors (a [`FeddxError`](crate::FeddxError) among them) is the variant and its
/// fields, without the message and its hints. With `E = ErrorReport`, `?` turns
/// every error into a report, and `main` prints `Error: ` and the report:
///
/// ```text
/// Error: client 2 failed in round 1: the loss is not finite (NaN); lower the learning rate or check the inputs
/// ```
///
/// A source whose text already ends the text before it (errors that write
/// `"...: {source}"` into their own message, as feddx's do) is not repeated; an
/// error whose message leaves its source out is followed by `caused by: ` lines:
///
/// ```text
/// Error: cannot finish the run
/// caused by: the loss is not finite (NaN); lower the learning rate or check the inputs
/// ```
///
/// Both [`Display`](fmt::Display) and [`Debug`](fmt::Debug) show the report; the
/// alternate `{:#?}` shows the wrapped error's own `Debug`. `ErrorReport` does not
/// implement [`Error`] itself (that is what lets it take any error with `?`), so it
/// ends a chain of `?`s rather than being a source.
///
/// ```
/// use feddx_runtime::{ErrorReport, FeddxError};
///
/// fn train(learning_rate: f32) -> Result<f32, FeddxError> {
///     match learning_rate {
///         lr if lr < 1.0 => Ok(0.25),
///         _ => Err(FeddxError::NonFiniteLoss { value: f32::NAN }),
///     }
/// }
///
/// fn main() -> Result<(), ErrorReport> {
///     let loss = train(0.1)?; // an error would end `main`, which prints it as below
///     println!("loss {loss}");
///
///     let report = ErrorReport::from(train(10.0).unwrap_err());
///     assert_eq!(
///         format!("{report:?}"),
///         "the loss is not finite (NaN); lower the learning rate or check the inputs"
///     );
///     Ok(())
/// }
/// ```
pub struct ErrorReport {
    error: Box<dyn Error + Send + Sync + 'static>,
}

impl ErrorReport {
    /// A report of `error`.
    pub fn new<E: Error + Send + Sync + 'static>(error: E) -> Self {
        ErrorReport {
            error: Box::new(error),
        }
    }

    /// The wrapped error.
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }

    /// The wrapped error, if it is an `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.error.downcast_ref()
    }

    /// The wrapped error, boxed.
    pub fn into_inner(self) -> Box<dyn Error + Send + Sync + 'static> {
        self.error
    }

    /// The lines of the report: the error's text, then each source not already
    /// at the end of the text before it.
    fn lines(&self) -> Vec<String> {
        let mut previous = self.error.to_string();
        let mut lines = vec![previous.clone()];
        let mut source = self.error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !previous.ends_with(&text) {
                lines.push(text.clone());
            }
            previous = text;
            source = cause.source();
        }
        lines
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for ErrorReport {
    fn from(error: E) -> Self {
        ErrorReport::new(error)
    }
}

impl fmt::Display for ErrorReport {
    /// The error's text, then `caused by: ...` for each source, one a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines().iter().enumerate() {
            if i > 0 {
                f.write_str("\ncaused by: ")?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorReport {
    /// As [`Display`](fmt::Display), so that `main` prints the report; `{:#?}`
    /// is the wrapped error's own `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            fmt::Debug::fmt(&self.error, f)
        } else {
            fmt::Display::fmt(self, f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeddxError;

    /// An error whose message leaves its source out.
    #[derive(Debug)]
    struct Outer {
        source: FeddxError,
    }

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot finish the run")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.source)
        }
    }

    fn non_finite() -> FeddxError {
        FeddxError::NonFiniteLoss { value: f32::NAN }
    }

    #[test]
    fn debug_is_the_message_then_each_source() {
        let report = ErrorReport::from(Outer {
            source: non_finite(),
        });
        let expected = "cannot finish the run\n\
                        caused by: the loss is not finite (NaN); lower the learning rate or check the inputs";
        assert_eq!(format!("{report:?}"), expected);
        assert_eq!(report.to_string(), expected);
        assert!(format!("{report:#?}").starts_with("Outer {"));
    }

    #[test]
    fn a_source_already_in_the_message_is_not_repeated() {
        let err = FeddxError::ClientUpdate {
            round: 1,
            client: 2,
            source: Box::new(non_finite()),
        };
        assert!(err.source().is_some());
        let report = ErrorReport::from(err);
        assert_eq!(
            format!("{report:?}"),
            "client 2 failed in round 1: the loss is not finite (NaN); \
             lower the learning rate or check the inputs"
        );
        // Further down the chain, a source that is not in the text is shown.
        let report = ErrorReport::from(Outer {
            source: FeddxError::ClientUpdate {
                round: 3,
                client: 0,
                source: Box::new(non_finite()),
            },
        });
        assert_eq!(
            format!("{report:?}").lines().collect::<Vec<_>>(),
            [
                "cannot finish the run",
                "caused by: client 0 failed in round 3: the loss is not finite (NaN); \
                 lower the learning rate or check the inputs",
            ]
        );
    }

    #[test]
    fn question_mark_converts_any_error_and_keeps_it() {
        fn parse() -> Result<u8, ErrorReport> {
            Ok("300".parse::<u8>()?)
        }
        let report = parse().unwrap_err();
        assert_eq!(
            format!("{report:?}"),
            "number too large to fit in target type"
        );
        assert!(report.downcast_ref::<std::num::ParseIntError>().is_some());
        assert!(report.downcast_ref::<FeddxError>().is_none());
        assert_eq!(report.error().to_string(), report.to_string());
        let io = ErrorReport::new(std::io::Error::other("disk full")).into_inner();
        assert_eq!(io.to_string(), "disk full");
    }
}
