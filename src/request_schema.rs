//! Request validation against our own OpenAPI document, with upstream's `SCHEMA_ERROR` lines
//! (spec 00 §2.4): every problem names its dotted path and the rule, e.g. `body.user_id must be
//! defined`, `body contains unknown properties: extra`, `query.limit must be greater than or equal
//! to 1`. The framework still parses the request afterwards; what it would reject with a message of
//! its own (naming internal type names) is caught here first.

use serde_json::{Map, Value};

/// Compares JSON values against the document's schemas (`$ref`s resolved in `components`).
pub struct Validator<'a> {
    components: &'a Map<String, Value>,
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn type_problem(path: &str, ty: &str) -> String {
    format!("{path} must be a `{ty}` type")
}

impl<'a> Validator<'a> {
    pub fn new(spec: &'a Value) -> Option<Self> {
        Some(Validator { components: spec.pointer("/components/schemas")?.as_object()? })
    }

    /// The schema behind `$ref` / single-`allOf` wrappers, and whether the outer schema is nullable.
    fn resolve(&self, schema: &'a Value) -> (&'a Value, bool) {
        let nullable = schema.get("nullable").and_then(Value::as_bool).unwrap_or(false);
        let target =
            schema.get("allOf").and_then(Value::as_array).filter(|a| a.len() == 1).map(|a| &a[0]).unwrap_or(schema);
        match target.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or_default();
                match self.components.get(name) {
                    Some(s) => (s, nullable || s.get("nullable").and_then(Value::as_bool).unwrap_or(false)),
                    None => (&Value::Null, true),
                }
            }
            None => (target, nullable),
        }
    }

    /// Appends a problem line for each way `value` breaks `schema`.
    pub fn check(&self, value: &Value, schema: &'a Value, path: &str, problems: &mut Vec<String>) {
        let (schema, nullable) = self.resolve(schema);
        if value.is_null() {
            if !nullable && schema.get("type").is_some() {
                problems.push(format!("{path} cannot be null"));
            }
            return;
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => self.check_object(value, schema, path, problems),
            Some("string") => {
                let Some(s) = value.as_str() else { return problems.push(type_problem(path, "string")) };
                let len = s.chars().count() as u64;
                if let Some(max) = schema.get("maxLength").and_then(Value::as_u64).filter(|m| len > *m) {
                    problems.push(format!("{path} must be at most {max} characters"));
                }
                if let Some(min) = schema.get("minLength").and_then(Value::as_u64).filter(|m| len < *m) {
                    problems.push(format!("{path} must be at least {min} characters"));
                }
                self.check_enum(value, schema, path, problems);
            }
            Some(ty @ ("integer" | "number")) => {
                let Some(n) = value.as_f64() else { return problems.push(type_problem(path, "number")) };
                if ty == "integer" && (n.fract() != 0.0 || !(value.is_i64() || value.is_u64())) {
                    return problems.push(format!("{path} must be an integer"));
                }
                self.check_range(n, schema, path, problems);
            }
            Some("boolean") if !value.is_boolean() => problems.push(type_problem(path, "boolean")),
            Some("array") => {
                let Some(items) = value.as_array() else { return problems.push(type_problem(path, "array")) };
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, item_schema, &format!("{path}[{i}]"), problems);
                    }
                }
            }
            _ => {}
        }
    }

    fn check_object(&self, value: &Value, schema: &'a Value, path: &str, problems: &mut Vec<String>) {
        let Some(object) = value.as_object() else { return problems.push(type_problem(path, "object")) };
        let props = schema.get("properties").and_then(Value::as_object);
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                problems.push(format!("{path}.{name} must be defined"));
            }
        }
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            let unknown: Vec<&str> = object
                .keys()
                .filter(|k| !props.is_some_and(|p| p.contains_key(k.as_str())))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                problems.push(format!("{path} contains unknown properties: {}", unknown.join(", ")));
            }
        }
        for (name, prop_schema) in props.into_iter().flatten() {
            if let Some(v) = object.get(name) {
                self.check(v, prop_schema, &format!("{path}.{name}"), problems);
            }
        }
    }

    fn check_range(&self, n: f64, schema: &Value, path: &str, problems: &mut Vec<String>) {
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64).filter(|m| n > *m) {
            problems.push(format!("{path} must be less than or equal to {}", format_number(max)));
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64).filter(|m| n < *m) {
            problems.push(format!("{path} must be greater than or equal to {}", format_number(min)));
        }
    }

    fn check_enum(&self, value: &Value, schema: &Value, path: &str, problems: &mut Vec<String>) {
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                let names: Vec<String> =
                    allowed.iter().map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).collect();
                problems.push(format!("{path} must be one of the following values: {}", names.join(", ")));
            }
        }
    }

    /// A query-string value against its parameter schema (values arrive as text).
    pub fn check_query_value(&self, raw: &str, schema: &'a Value, path: &str, problems: &mut Vec<String>) {
        let (schema, _) = self.resolve(schema);
        match schema.get("type").and_then(Value::as_str) {
            Some("integer") => match raw.parse::<i64>() {
                Ok(n) => self.check_range(n as f64, schema, path, problems),
                Err(_) => problems.push(format!("{path} must be an integer")),
            },
            Some("number") => match raw.parse::<f64>() {
                Ok(n) => self.check_range(n, schema, path, problems),
                Err(_) => problems.push(type_problem(path, "number")),
            },
            Some("boolean") if raw != "true" && raw != "false" => problems.push(type_problem(path, "boolean")),
            Some("string") => self.check_enum(&Value::String(raw.to_string()), schema, path, problems),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problems_name_the_path_and_the_rule() {
        let spec = json!({"components": {"schemas": {
            "Body": {"type": "object", "required": ["user_id"], "additionalProperties": false, "properties": {
                "user_id": {"type": "string", "maxLength": 3},
                "n": {"type": "integer", "maximum": 10.0, "nullable": true},
                "inner": {"allOf": [{"$ref": "#/components/schemas/Inner"}], "nullable": true}
            }},
            "Inner": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["a", "b"]}}}
        }}});
        let v = Validator::new(&spec).unwrap();
        let body = json!({"$ref": "#/components/schemas/Body"});
        let mut p = vec![];
        v.check(&json!({"n": 11, "x": 1, "inner": {"kind": "c"}}), &body, "body", &mut p);
        assert_eq!(
            p,
            [
                "body.user_id must be defined",
                "body contains unknown properties: x",
                "body.n must be less than or equal to 10",
                "body.inner.kind must be one of the following values: a, b",
            ]
        );
        let mut p = vec![];
        v.check(&json!({"user_id": "abcd", "n": null, "inner": null}), &body, "body", &mut p);
        assert_eq!(p, ["body.user_id must be at most 3 characters"]);
        let mut p = vec![];
        v.check(&json!([]), &body, "body", &mut p);
        assert_eq!(p, ["body must be a `object` type"]);
        let mut p = vec![];
        v.check_query_value("0", &json!({"type": "integer", "minimum": 1.0}), "query.limit", &mut p);
        v.check_query_value("maybe", &json!({"type": "boolean"}), "query.desc", &mut p);
        assert_eq!(p, ["query.limit must be greater than or equal to 1", "query.desc must be a `boolean` type"]);
    }
}
