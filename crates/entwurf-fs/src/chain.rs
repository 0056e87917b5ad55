//! An error and its causes, for the places that turn an error into text.
//!
//! Every `thiserror` type in the workspace keeps its cause out of its own `Display` (the cause
//! is the [`Error::source`]), so text built from `to_string()` alone would lose it. Whoever shows
//! an error to a person (the CLI, an MCP tool result, a receipt's `error`) walks the chain with
//! [`causes`] or prints [`Chain`].

use std::error::Error;
use std::fmt;

/// The causes of `err`, outermost first (not `err` itself). A cause whose text a level above
/// already shows in full (a text the reference fixes with its cause inside) is skipped, so the
/// chain never says the same thing twice.
pub fn causes<'a>(err: &'a (dyn Error + 'static)) -> impl Iterator<Item = String> + 'a {
    // Every text of the chain so far, shown or skipped.
    let mut above = err.to_string();
    let mut next = err.source();
    std::iter::from_fn(move || loop {
        let cause = next?;
        next = cause.source();
        let text = cause.to_string();
        let repeated = above.contains(&text);
        above.push('\n');
        above.push_str(&text);
        if !repeated {
            return Some(text);
        }
    })
}

/// Shows an error with its causes on one line: `top: cause: cause`.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        for cause in causes(self.0) {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<dyn Error + 'static>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref()
        }
    }

    #[test]
    fn every_cause_is_shown_once_outermost_first() {
        let io = std::io::Error::from_raw_os_error(13);
        let io_text = io.to_string();
        let err = Layer(
            "could not read x",
            Some(Box::new(Layer("the store refused", Some(Box::new(io))))),
        );
        assert_eq!(
            causes(&err).collect::<Vec<_>>(),
            vec!["the store refused".to_owned(), io_text.clone()]
        );
        assert_eq!(
            Chain(&err).to_string(),
            format!("could not read x: the store refused: {io_text}")
        );
    }

    #[test]
    fn a_cause_the_text_above_already_shows_is_skipped() {
        let err = Layer(
            "lock failed: disk full",
            Some(Box::new(Layer(
                "disk full",
                Some(Box::new(Layer("deeper", None))),
            ))),
        );
        assert_eq!(causes(&err).collect::<Vec<_>>(), vec!["deeper".to_owned()]);
    }

    #[test]
    fn an_error_without_a_source_is_its_own_text() {
        let err = Layer("alone", None);
        assert_eq!(causes(&err).count(), 0);
        assert_eq!(Chain(&err).to_string(), "alone");
    }
}
