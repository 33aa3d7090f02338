//! `docs/PROTOCOL.md` describes every wire type of this crate: a message
//! type or field added here without its documentation fails this test.
//!
//! It reads the serde types of `src/lib.rs` and `src/push.rs` (with `syn`,
//! honouring `tag`, `rename_all` and `rename`) and checks the page:
//!
//! - every variant of a tagged enum (`ClientMessage`, `ServerMessage`,
//!   `PeerMessage`, `Outcome`, `PushPayload`) has a JSON example on the
//!   page (`{"type":"hello",…}`), and every field of the variant is a key
//!   of one of its examples;
//! - every client → server and server → client message type and every
//!   peer message kind is listed in the *Transport* section;
//! - every value of the other enums (reasons, codes, modes) and every
//!   field of the other structs appears in code on the page (a JSON
//!   example or a `code span`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde_json::Value;
use syn::{Attribute, Fields, Item, LitStr};

/// What serde puts on the wire for one type.
#[derive(Debug)]
enum WireType {
    /// An enum with `#[serde(tag = …)]`: its tag key, and each variant's
    /// tag value with its field names.
    Tagged {
        tag: String,
        variants: Vec<(String, Vec<String>)>,
    },
    /// An enum of unit variants: their wire names.
    Values(Vec<String>),
    /// A struct: its field names.
    Struct(Vec<String>),
}

/// The `#[serde(…)]` settings this test needs.
#[derive(Default)]
struct Serde {
    tag: Option<String>,
    rename_all: Option<String>,
    rename: Option<String>,
    skip: bool,
}

fn serde_of(attrs: &[Attribute]) -> Serde {
    let mut serde = Serde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string);
            if meta.input.peek(syn::Token![=]) {
                let value = meta.value()?;
                match key.as_deref() {
                    Some(k @ ("tag" | "rename_all" | "rename")) => {
                        let text = value.parse::<LitStr>()?.value();
                        match k {
                            "tag" => serde.tag = Some(text),
                            "rename_all" => serde.rename_all = Some(text),
                            _ => serde.rename = Some(text),
                        }
                    }
                    _ => {
                        value.parse::<syn::Expr>()?;
                    }
                }
            } else if key.as_deref() == Some("skip") {
                serde.skip = true;
            }
            Ok(())
        })
        .expect("a serde attribute this test understands");
    }
    serde
}

fn derives_serde(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("derive") && {
            let text = a.meta.require_list().map(|l| l.tokens.to_string());
            text.is_ok_and(|t| t.contains("Serialize") || t.contains("Deserialize"))
        }
    })
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A variant's wire name under its enum's `rename_all`.
fn wire_name(ident: &str, own: &Serde, container: &Serde) -> String {
    if let Some(name) = &own.rename {
        return name.clone();
    }
    match container.rename_all.as_deref() {
        Some("snake_case") => snake_case(ident),
        Some(other) => panic!("rename_all = {other:?} is not handled by this test"),
        None => ident.to_owned(),
    }
}

fn field_names(fields: &Fields) -> Vec<String> {
    fields
        .iter()
        .filter_map(|f| {
            let serde = serde_of(&f.attrs);
            if serde.skip {
                return None;
            }
            serde.rename.or_else(|| Some(f.ident.as_ref()?.to_string()))
        })
        .collect()
}

/// Every serde type of the crate's source files, by Rust name.
fn wire_types() -> BTreeMap<String, WireType> {
    let mut types = BTreeMap::new();
    for file in ["src/lib.rs", "src/push.rs"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let source = fs::read_to_string(&path).expect("the protocol source");
        let parsed = syn::parse_file(&source).expect("the protocol source parses");
        for item in parsed.items {
            match item {
                Item::Enum(e) if derives_serde(&e.attrs) => {
                    let container = serde_of(&e.attrs);
                    let variants = e.variants.iter().map(|v| {
                        let name = wire_name(&v.ident.to_string(), &serde_of(&v.attrs), &container);
                        (name, field_names(&v.fields))
                    });
                    let wire = match &container.tag {
                        Some(tag) => WireType::Tagged {
                            tag: tag.clone(),
                            variants: variants.collect(),
                        },
                        None => WireType::Values(variants.map(|(name, _)| name).collect()),
                    };
                    types.insert(e.ident.to_string(), wire);
                }
                Item::Struct(s) if derives_serde(&s.attrs) => {
                    types.insert(
                        s.ident.to_string(),
                        WireType::Struct(field_names(&s.fields)),
                    );
                }
                _ => {}
            }
        }
    }
    types
}

/// The page, its JSON examples (every object in them, nested ones too) and
/// the words inside its code (examples and `code spans`).
struct Page {
    text: String,
    objects: Vec<serde_json::Map<String, Value>>,
    code_words: BTreeSet<String>,
}

fn collect_objects(value: &Value, out: &mut Vec<serde_json::Map<String, Value>>) {
    match value {
        Value::Object(map) => {
            out.push(map.clone());
            map.values().for_each(|v| collect_objects(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_objects(v, out)),
        _ => {}
    }
}

fn words(text: &str, out: &mut BTreeSet<String>) {
    out.extend(
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_owned),
    );
}

fn read_page() -> Page {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md");
    let text = fs::read_to_string(&path).expect("docs/PROTOCOL.md");
    let mut objects = Vec::new();
    let mut code_words = BTreeSet::new();
    // Fenced blocks: the text between a ``` line and the next.
    let mut blocks = text.split("\n```");
    let mut prose = vec![blocks.next().unwrap_or_default().to_owned()];
    while let (Some(block), Some(after)) = (blocks.next(), blocks.next()) {
        let (lang, body) = block.split_once('\n').unwrap_or((block, ""));
        words(body, &mut code_words);
        if lang.trim() == "json" {
            // One JSON value per block, or one per line.
            let values: Vec<Value> = match serde_json::from_str(body) {
                Ok(v) => vec![v],
                Err(_) => body
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| {
                        serde_json::from_str(l)
                            .unwrap_or_else(|e| panic!("a JSON example that is not JSON: {l}: {e}"))
                    })
                    .collect(),
            };
            values.iter().for_each(|v| collect_objects(v, &mut objects));
        }
        prose.push(after.to_owned());
    }
    for part in prose {
        for (i, span) in part.split('`').enumerate() {
            if i % 2 == 1 {
                words(span, &mut code_words);
            }
        }
    }
    Page {
        text,
        objects,
        code_words,
    }
}

/// The section of `page` under the heading `## {title}`.
fn section<'a>(page: &'a str, title: &str) -> &'a str {
    let start = page
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("docs/PROTOCOL.md has no section {title:?}"));
    let rest = &page[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

#[test]
fn every_wire_type_is_described_in_protocol_md() {
    let types = wire_types();
    for expected in ["ClientMessage", "ServerMessage", "PeerMessage", "Outcome"] {
        assert!(types.contains_key(expected), "{expected} was not found");
    }
    let page = read_page();
    let mut missing = Vec::new();
    for (name, wire) in &types {
        match wire {
            WireType::Tagged { tag, variants } => {
                for (variant, fields) in variants {
                    let examples: Vec<_> = page
                        .objects
                        .iter()
                        .filter(|o| o.get(tag) == Some(&Value::String(variant.clone())))
                        .collect();
                    if examples.is_empty() {
                        missing.push(format!(
                            "{name}: no JSON example with \"{tag}\":\"{variant}\""
                        ));
                        continue;
                    }
                    for field in fields {
                        if !examples.iter().any(|o| o.contains_key(field)) {
                            missing.push(format!(
                                "{name}: field `{field}` of `{variant}` is in none of its JSON examples"
                            ));
                        }
                    }
                }
            }
            WireType::Values(values) => {
                for value in values {
                    if !page.code_words.contains(value) {
                        missing.push(format!("{name}: value `{value}` is not on the page"));
                    }
                }
            }
            WireType::Struct(fields) => {
                for field in fields {
                    if !page.code_words.contains(field) {
                        missing.push(format!("{name}: field `{field}` is not on the page"));
                    }
                }
            }
        }
    }
    let transport = section(&page.text, "Transport");
    for name in ["ClientMessage", "ServerMessage", "PeerMessage"] {
        let Some(WireType::Tagged { variants, .. }) = types.get(name) else {
            panic!("{name} is not a tagged enum");
        };
        for (variant, _) in variants {
            if !transport.contains(&format!("`{variant}`")) {
                missing.push(format!("Transport does not list {name} `{variant}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/PROTOCOL.md is missing:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_reader_sees_what_serde_writes() {
    // The names this test derives are the ones serde puts on the wire.
    let types = wire_types();
    let Some(WireType::Tagged { tag, variants }) = types.get("ServerMessage") else {
        panic!("ServerMessage is not a tagged enum");
    };
    let failed = wd_protocol::ServerMessage::InviteFailed {
        invite_id: "i-1".into(),
        reason: wd_protocol::FailureReason::InvalidParticipant,
    };
    let json: Value = serde_json::from_str(&wd_protocol::encode(&failed)).unwrap();
    let (variant, fields) = variants
        .iter()
        .find(|(v, _)| json[tag.as_str()] == Value::String(v.clone()))
        .expect("the encoded tag is one the reader found");
    let keys: BTreeSet<_> = json.as_object().unwrap().keys().cloned().collect();
    let mut expected: BTreeSet<_> = fields.iter().cloned().collect();
    expected.insert(tag.clone());
    assert_eq!((variant.as_str(), keys), ("invite_failed", expected));
    let Some(WireType::Values(reasons)) = types.get("FailureReason") else {
        panic!("FailureReason is not an enum of values");
    };
    assert!(reasons.contains(&json["reason"].as_str().unwrap().to_owned()));
}
