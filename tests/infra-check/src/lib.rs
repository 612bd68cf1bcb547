//! The AWS SAM template (`infra/template.yaml`) as data, for the tests that check it against
//! the code (`tests/template.rs`): environment names, HTTP routes, IAM, log groups and the
//! table schema.
//!
//! CloudFormation's short-form tags (`!Ref X`, `!GetAtt A.B`, `!Sub s`, `!If [..]`) are
//! parsed by `serde_yaml` as tagged values; [`Template::parse`] rewrites them into the
//! long form CloudFormation itself uses (`{"Ref": X}`, `{"Fn::GetAtt": [A, B]}`,
//! `{"Fn::Sub": s}`, `{"Fn::If": [..]}`), so the checks deal with one JSON shape only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The workspace root (this crate lives in `tests/infra-check`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `infra/template.yaml`.
pub fn template_path() -> PathBuf {
    workspace_root().join("infra/template.yaml")
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    pub doc: Value,
}

/// A `AWS::Serverless::Function` of the template.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// The crate (and binary) whose `target/lambda/<crate>/` directory `CodeUri` names.
    pub crate_name: String,
    pub properties: Value,
}

impl Template {
    pub fn load() -> Result<Template, String> {
        let path = template_path();
        let text = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, String> {
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|err| format!("template YAML: {err}"))?;
        Ok(Template {
            doc: to_json(&yaml)?,
        })
    }

    /// The whole template, as JSON.
    pub fn root(&self) -> &Value {
        &self.doc
    }

    pub fn resources(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.doc["Resources"]
            .as_object()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    pub fn resource(&self, logical_id: &str) -> Option<&Value> {
        self.resources().get(logical_id)
    }

    /// `(logical id, resource)` of every resource of one type, in template order.
    pub fn resources_of_type(&self, kind: &str) -> Vec<(&str, &Value)> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == kind)
            .map(|(id, r)| (id.as_str(), r))
            .collect()
    }

    /// Every SAM function, with the crate its `CodeUri` (`../target/lambda/<crate>/`) names.
    pub fn functions(&self) -> Result<Vec<Function>, String> {
        self.resources_of_type("AWS::Serverless::Function")
            .into_iter()
            .map(|(id, r)| {
                let code_uri = r["Properties"]["CodeUri"]
                    .as_str()
                    .ok_or_else(|| format!("{id}: CodeUri is not a path"))?;
                let crate_name = code_uri
                    .trim_end_matches('/')
                    .strip_prefix("../target/lambda/")
                    .filter(|name| !name.is_empty() && !name.contains('/'))
                    .ok_or_else(|| {
                        format!("{id}: CodeUri {code_uri} is not ../target/lambda/<function>/")
                    })?;
                Ok(Function {
                    logical_id: id.to_string(),
                    crate_name: crate_name.to_string(),
                    properties: r["Properties"].clone(),
                })
            })
            .collect()
    }

    /// The function's environment variables as SAM deploys them: `Globals.Function`'s merged
    /// with the function's own (the function's win).
    pub fn environment(&self, function: &Function) -> BTreeMap<String, Value> {
        let mut variables = BTreeMap::new();
        for source in [
            &self.doc["Globals"]["Function"]["Environment"]["Variables"],
            &function.properties["Environment"]["Variables"],
        ] {
            if let Some(map) = source.as_object() {
                for (name, value) in map {
                    variables.insert(name.clone(), value.clone());
                }
            }
        }
        variables
    }
}

/// `{"Ref": id}` → `id`.
pub fn ref_target(value: &Value) -> Option<&str> {
    single_key(value, "Ref")?.as_str()
}

/// `{"Fn::GetAtt": [resource, attribute]}` → `(resource, attribute)`.
pub fn get_att(value: &Value) -> Option<(&str, &str)> {
    match single_key(value, "Fn::GetAtt")?.as_array()?.as_slice() {
        [resource, attribute] => Some((resource.as_str()?, attribute.as_str()?)),
        _ => None,
    }
}

/// `{"Fn::Sub": "text"}` → `text` (the one-argument form).
pub fn sub_text(value: &Value) -> Option<&str> {
    single_key(value, "Fn::Sub")?.as_str()
}

/// A value that is a list or a single item, as a list (IAM's `Action`, `Resource`).
pub fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn single_key<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let map = value.as_object()?;
    if map.len() == 1 {
        map.get(key)
    } else {
        None
    }
}

/// YAML → JSON, with CloudFormation's short-form tags in their long form.
fn to_json(value: &serde_yaml::Value) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("unsupported number {n}"))?
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let key = match key {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(format!("unsupported mapping key {other:?}")),
                };
                out.insert(key, to_json(value)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(&tagged.value)?;
            let (key, inner) = match name {
                "Ref" => ("Ref".to_string(), inner),
                "Condition" => ("Condition".to_string(), inner),
                // `!GetAtt Resource.Attribute` is the string form of [Resource, Attribute].
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) = s
                            .split_once('.')
                            .ok_or_else(|| format!("!GetAtt {s}: expected Resource.Attribute"))?;
                        (
                            "Fn::GetAtt".to_string(),
                            Value::Array(vec![resource.into(), attribute.into()]),
                        )
                    }
                    list => ("Fn::GetAtt".to_string(), list),
                },
                other => (format!("Fn::{other}"), inner),
            };
            let mut out = Map::new();
            out.insert(key, inner);
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_form_tags_become_the_long_form() {
        let template = Template::parse(
            "Resources:\n  A:\n    Type: X\n    Properties:\n      R: !Ref B\n      G: !GetAtt B.Arn\n      L: !GetAtt [B, StreamArn]\n      S: !Sub ${B.Arn}/index/*\n      I: !If [C, !Ref D, !Ref AWS::NoValue]\n      N: 5\n      O: \"OFF\"\n",
        )
        .unwrap();
        let p = &template.resource("A").unwrap()["Properties"];
        assert_eq!(p["R"], json!({"Ref": "B"}));
        assert_eq!(p["G"], json!({"Fn::GetAtt": ["B", "Arn"]}));
        assert_eq!(p["L"], json!({"Fn::GetAtt": ["B", "StreamArn"]}));
        assert_eq!(p["S"], json!({"Fn::Sub": "${B.Arn}/index/*"}));
        assert_eq!(
            p["I"],
            json!({"Fn::If": ["C", {"Ref": "D"}, {"Ref": "AWS::NoValue"}]})
        );
        assert_eq!(p["N"], json!(5));
        assert_eq!(p["O"], json!("OFF"));
        assert_eq!(ref_target(&p["R"]), Some("B"));
        assert_eq!(get_att(&p["G"]), Some(("B", "Arn")));
        assert_eq!(sub_text(&p["S"]), Some("${B.Arn}/index/*"));
    }
}
