//! Argument validation against a tool's input schema. A failure names the field and what is
//! wrong, worded like the reference's validator (`… at <field>`); it never panics.

use serde_json::{Map, Value};

/// Why the arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail} at {field}")]
pub struct ArgError {
    /// The offending field (or `arguments`).
    pub field: String,
    /// What is wrong.
    pub detail: String,
}

impl ArgError {
    fn new(field: &str, detail: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            detail: detail.into(),
        }
    }
}

fn js_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks `args` against `schema` (an object schema with string / boolean / integer
/// properties, enums, length and range limits, required fields, no extra keys).
pub fn validate(schema: &Map<String, Value>, args: &Map<String, Value>) -> Result<(), ArgError> {
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, prop) in props {
        let Some(v) = args.get(name) else {
            if required.contains(&name.as_str()) {
                return Err(ArgError::new(name, "Required"));
            }
            continue;
        };
        check_value(name, prop, v)?;
    }
    let mut unknown: Vec<&str> = args
        .keys()
        .filter(|k| !props.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() && !props.is_empty() {
        unknown.sort_unstable();
        let keys: Vec<String> = unknown.iter().map(|k| format!("'{k}'")).collect();
        return Err(ArgError::new(
            "arguments",
            format!("Unrecognized key(s) in object: {}", keys.join(", ")),
        ));
    }
    Ok(())
}

fn check_value(name: &str, prop: &Value, v: &Value) -> Result<(), ArgError> {
    let want = prop.get("type").and_then(Value::as_str).unwrap_or("string");
    match want {
        "string" => {
            let Some(s) = v.as_str() else {
                return Err(ArgError::new(
                    name,
                    format!("Expected string, received {}", js_type(v)),
                ));
            };
            if let Some(options) = prop.get("enum").and_then(Value::as_array) {
                if !options.iter().any(|o| o.as_str() == Some(s)) {
                    let expected: Vec<String> = options
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|o| format!("'{o}'"))
                        .collect();
                    return Err(ArgError::new(
                        name,
                        format!(
                            "Invalid enum value. Expected {}, received '{s}'",
                            expected.join(" | ")
                        ),
                    ));
                }
            }
            // The reference counts UTF-16 code units (JavaScript string length).
            let len = s.encode_utf16().count() as u64;
            if let Some(min) = prop.get("minLength").and_then(Value::as_u64) {
                if len < min {
                    return Err(ArgError::new(
                        name,
                        format!("String must contain at least {min} character(s)"),
                    ));
                }
            }
            if let Some(max) = prop.get("maxLength").and_then(Value::as_u64) {
                if len > max {
                    return Err(ArgError::new(
                        name,
                        format!("String must contain at most {max} character(s)"),
                    ));
                }
            }
        }
        "boolean" if !v.is_boolean() => {
            return Err(ArgError::new(
                name,
                format!("Expected boolean, received {}", js_type(v)),
            ));
        }
        "integer" => {
            let Some(n) = v.as_f64() else {
                return Err(ArgError::new(
                    name,
                    format!("Expected number, received {}", js_type(v)),
                ));
            };
            if n.fract() != 0.0 {
                return Err(ArgError::new(name, "Expected integer, received float"));
            }
            if let Some(min) = prop.get("minimum").and_then(Value::as_f64) {
                if n < min {
                    return Err(ArgError::new(
                        name,
                        format!("Number must be greater than or equal to {min}"),
                    ));
                }
            }
            if let Some(max) = prop.get("maximum").and_then(Value::as_f64) {
                if n > max {
                    return Err(ArgError::new(
                        name,
                        format!("Number must be less than or equal to {max}"),
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tools;
    use crate::Options;
    use serde_json::json;

    fn v2_schema() -> Map<String, Value> {
        tools(&Options::default())
            .into_iter()
            .find(|t| t.name == "entwurf_v2")
            .unwrap()
            .input_schema
    }

    fn check(args: Value) -> Result<(), ArgError> {
        validate(&v2_schema(), args.as_object().unwrap())
    }

    #[test]
    fn the_reference_wordings_name_the_field() {
        let e = check(json!({"target": "g", "intent": "bogus", "message": "m"})).unwrap_err();
        assert_eq!(e.to_string(), "Invalid enum value. Expected 'fire-and-forget' | 'owned-outcome', received 'bogus' at intent");
        let e =
            check(json!({"target": "g", "intent": "owned-outcome", "message": ""})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "String must contain at least 1 character(s) at message"
        );
        let e =
            check(json!({"target": "g", "intent": "owned-outcome", "message": "x".repeat(16001)}))
                .unwrap_err();
        assert_eq!(
            e.to_string(),
            "String must contain at most 16000 character(s) at message"
        );
        let e = check(json!({"intent": "owned-outcome", "message": "m"})).unwrap_err();
        assert_eq!(e.to_string(), "Required at target");
        let e = check(json!({"target": 3, "intent": "owned-outcome", "message": "m"})).unwrap_err();
        assert_eq!(e.to_string(), "Expected string, received number at target");
        let e = check(
            json!({"target": "g", "intent": "owned-outcome", "message": "m", "wants_reply": "yes"}),
        )
        .unwrap_err();
        assert_eq!(e.field, "wants_reply");
        let e = check(
            json!({"target": "g", "intent": "owned-outcome", "message": "m", "wantsReply": true}),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unrecognized key(s) in object: 'wantsReply' at arguments"
        );
    }

    #[test]
    fn the_cap_counts_utf16_units_like_the_reference() {
        // 8000 astral characters = 16000 UTF-16 units: accepted; one more unit is refused.
        let ok = "😀".repeat(8000);
        assert!(check(json!({"target": "g", "intent": "owned-outcome", "message": ok})).is_ok());
        let over = format!("{}x", "😀".repeat(8000));
        assert!(check(json!({"target": "g", "intent": "owned-outcome", "message": over})).is_err());
    }
}
