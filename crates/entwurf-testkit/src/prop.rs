//! Proptest strategies for hostile input, shared by the parsers' property tests.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any string of chars in `len` (every unicode scalar value: quotes, controls, surrogates'
/// neighbours). Built from `any::<char>()`, much cheaper than a regex strategy.
pub fn chars(len: std::ops::Range<usize>) -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(any::<char>(), len).prop_map(|v| v.into_iter().collect())
}

/// The scalar JSON values: null, booleans, any `i64`, any finite `f64`, short strings of any
/// chars.
pub fn json_scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        chars(0..10).prop_map(Value::String),
    ]
    .boxed()
}

/// Any JSON value up to three levels deep over [`json_scalar`].
pub fn json_value() -> BoxedStrategy<Value> {
    json_value_over(json_scalar())
}

/// Any JSON value up to three levels deep whose leaves come from `leaf` (arrays and objects of
/// up to 4 members, object keys of any chars).
pub fn json_value_over(leaf: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    leaf.prop_recursive(3, 20, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((chars(0..6), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// An object whose keys are drawn from `keys` (a parser's own field names, so every field rule
/// is reached) with values from `value`, with up to `len` draws (a repeated key keeps the last).
pub fn keyed_object(
    keys: &'static [&'static str],
    value: impl Strategy<Value = Value>,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(keys.to_vec()), value), len)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn keyed_objects_use_only_the_given_keys_and_chars_respect_the_length() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..64 {
            let obj = keyed_object(&["a", "b"], json_value(), 0..6)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            assert!(obj.keys().all(|k| k == "a" || k == "b"), "{obj:?}");
            let s = chars(2..5).new_tree(&mut runner).unwrap().current();
            assert!((2..5).contains(&s.chars().count()), "{s:?}");
        }
    }
}
