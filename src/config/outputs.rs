//! The `[[outputs.personal]]` list: several personal outputs, each gated on its own
//! purposes and limited to its own fields. It owns the list's validation and its
//! resolution: with no list, the single output of `policy.personal_purpose`,
//! `policy.profile_fields` and `topics.personal`, exactly as before the list existed.
//! It reads nothing and never echoes a topic name or a value, only output names (labels
//! the operator chose) and keys.

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};
use crate::model::Purpose;
use crate::settings::{ContextField, PersonalOutput, PolicyConfig};
use crate::state::FORBIDDEN_PROFILE_FIELDS;

/// Longest output name: it is a metrics label and an ACL role.
pub const MAX_NAME_LEN: usize = 32;
/// Most personal outputs: each costs a record per event and a metrics series per decision.
pub const MAX_OUTPUTS: usize = 16;
/// Names an output cannot take: an output's name is also its readers' role in `acls`,
/// and these are the fixed roles a name could spell (`dead-letter` cannot be one).
pub const RESERVED_NAMES: [&str; 4] = ["worker", "producer", "analytics", "admin"];

/// Output destinations beyond the fixed topics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutputsConfig {
    /// The personal outputs (`[[outputs.personal]]`). Empty: one output named
    /// `personal`, to `topics.personal`, gated on `policy.personal_purpose`, carrying
    /// `policy.profile_fields` and every context field.
    pub personal: Vec<PersonalOutput>,
}

fn invalid(why: String) -> ConfigError {
    ConfigError::Value {
        key: "outputs.personal",
        why,
    }
}

impl Config {
    /// The personal outputs in effect, in order.
    pub fn personal_outputs(&self) -> Vec<PersonalOutput> {
        if self.outputs.personal.is_empty() {
            return vec![PersonalOutput::single(&self.policy, &self.topics.personal)];
        }
        self.outputs.personal.clone()
    }

    /// Each personal output's topic, in order.
    pub fn personal_topics(&self) -> Vec<String> {
        self.personal_outputs()
            .into_iter()
            .map(|o| o.topic)
            .collect()
    }

    /// The list's rules: names are labels, purposes are not empty, forbidden fields are
    /// refused, and a list replaces the single output's keys rather than sitting
    /// beside them silently.
    pub(super) fn validate_outputs(&self) -> Result<(), ConfigError> {
        let list = &self.outputs.personal;
        if list.is_empty() {
            return Ok(());
        }
        let defaults = (PolicyConfig::default(), super::TopicsConfig::default());
        let replaced = [
            (
                "policy.personal_purpose",
                self.policy.personal_purpose != defaults.0.personal_purpose,
            ),
            (
                "policy.profile_fields",
                self.policy.profile_fields != defaults.0.profile_fields,
            ),
            (
                "topics.personal",
                self.topics.personal != defaults.1.personal,
            ),
        ];
        if let Some((key, _)) = replaced.iter().find(|(_, set)| *set) {
            return Err(invalid(format!(
                "{key} configures the single personal output, which [[outputs.personal]] replaces: set it per output instead"
            )));
        }
        if list.len() > MAX_OUTPUTS {
            return Err(invalid(format!("at most {MAX_OUTPUTS} outputs")));
        }
        for (i, o) in list.iter().enumerate() {
            check_output(o)?;
            if list[..i].iter().any(|p| p.name == o.name) {
                return Err(invalid(format!("two outputs are named {}", o.name)));
            }
        }
        Ok(())
    }
}

fn check_output(o: &PersonalOutput) -> Result<(), ConfigError> {
    let label = o.name.len() <= MAX_NAME_LEN
        && o.name.starts_with(|c: char| c.is_ascii_lowercase())
        && o.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !label {
        return Err(invalid(format!(
            "an output name must be [a-z][a-z0-9_]*, at most {MAX_NAME_LEN} bytes (it is a metrics label)"
        )));
    }
    let name = &o.name;
    if RESERVED_NAMES.contains(&name.as_str()) {
        return Err(invalid(format!(
            "{name} is the name of a fixed role in `acls` ({}): name the output for its use, e.g. product_{name}",
            RESERVED_NAMES.join(", ")
        )));
    }
    if o.topic.is_empty() {
        return Err(invalid(format!("output {name} needs a topic")));
    }
    if o.purposes.is_empty() {
        return Err(invalid(format!(
            "output {name} needs at least one purpose: a record goes to it only when the user's consent grants all of them"
        )));
    }
    if let Some(f) = o
        .profile_fields
        .iter()
        .find(|f| FORBIDDEN_PROFILE_FIELDS.contains(&f.as_str()))
    {
        return Err(invalid(format!(
            "output {name}: {f} is never copied; remove it"
        )));
    }
    if o.properties_allow_list.is_empty() && o.context_fields().contains(&ContextField::Properties)
    {
        return Err(invalid(format!(
            "output {name}: an empty properties_allow_list with properties in its context; leave properties out of context instead"
        )));
    }
    Ok(())
}

/// A warning for each third-party output that names the raw IP or device location:
/// allowed, because the operator said so, but worth seeing at every start.
pub fn third_party_disclosures(outputs: &[PersonalOutput]) -> Vec<String> {
    outputs
        .iter()
        .filter(|o| o.purposes.contains(&Purpose::ThirdPartySharing))
        .filter_map(|o| {
            let named: Vec<&str> = o
                .context_fields()
                .into_iter()
                .filter(|f| ContextField::NAMED_FOR_THIRD_PARTIES.contains(f))
                .map(ContextField::name)
                .collect();
            (!named.is_empty()).then(|| {
                format!(
                    "personal output {} (third_party_sharing) carries {}: its configuration names them",
                    o.name,
                    named.join(" and ")
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(name: &str, topic: &str, purposes: &[Purpose]) -> PersonalOutput {
        PersonalOutput {
            name: name.into(),
            topic: topic.into(),
            purposes: purposes.to_vec(),
            profile_fields: vec!["email".into()],
            context: None,
            properties_allow_list: vec!["*".into()],
            key: Default::default(),
            single_shape: false,
        }
    }

    fn with(outputs: Vec<PersonalOutput>) -> Config {
        let mut c = Config::default();
        c.outputs.personal = outputs;
        c
    }

    fn refused(c: &Config) -> String {
        match c.validate() {
            Err(ConfigError::Value { key, why }) => format!("{key}: {why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn without_a_list_the_single_output_is_what_it_always_was() {
        let c = Config::default();
        let outs = c.personal_outputs();
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].name, "personal");
        assert_eq!(outs[0].topic, "usage.personal");
        assert_eq!(outs[0].purposes, [Purpose::Analytics]);
        assert_eq!(outs[0].context_fields(), ContextField::ALL);
        assert_eq!(outs[0].profile_fields, c.policy.profile_fields);
    }

    #[test]
    fn a_list_is_checked_and_replaces_the_single_output_keys() {
        use Purpose::*;
        let ok = with(vec![
            output("product_analytics", "a.personal", &[Analytics]),
            output("marketing", "m.personal", &[Marketing]),
        ]);
        ok.validate().unwrap();
        let mut c = ok.clone();
        c.policy.personal_purpose = Marketing;
        assert!(refused(&c).contains("policy.personal_purpose"));
        let mut c = ok.clone();
        c.topics.personal = "x".into();
        assert!(refused(&c).contains("topics.personal"));
        let c = with(vec![output("Bad-Name", "t", &[Analytics])]);
        assert!(refused(&c).contains("[a-z]"));
        let c = with(vec![output("analytics", "t", &[Analytics])]);
        assert!(refused(&c).contains("fixed role"));
        let c = with(vec![output("a", "t", &[])]);
        assert!(refused(&c).contains("at least one purpose"));
        let mut o = output("a", "t", &[Analytics]);
        o.profile_fields.push("bank_card".into());
        assert!(refused(&with(vec![o])).contains("bank_card is never copied"));
        let c = with(vec![
            output("a", "t1", &[Analytics]),
            output("a", "t2", &[Marketing]),
        ]);
        assert!(refused(&c).contains("two outputs are named a"));
        let c = with(vec![
            output("a", "same", &[Analytics]),
            output("b", "same", &[Marketing]),
        ]);
        assert!(refused(&c).contains("same topic"));
        let c = with(vec![output("a", "usage.anonymous", &[Analytics])]);
        assert!(refused(&c).contains("same topic"));
    }

    #[test]
    fn a_partner_gets_the_raw_ip_and_device_location_only_when_named() {
        let mut partner = output("partner", "p", &[Purpose::ThirdPartySharing]);
        let fields = partner.context_fields();
        assert!(!fields.contains(&ContextField::Ip));
        assert!(!fields.contains(&ContextField::DeviceLocation));
        assert!(
            !fields.contains(&ContextField::Geo),
            "the address's coordinates neither"
        );
        assert!(fields.contains(&ContextField::Time));
        assert!(third_party_disclosures(std::slice::from_ref(&partner)).is_empty());
        partner.context = Some(vec![ContextField::Ip, ContextField::Time]);
        assert_eq!(
            partner.context_fields(),
            [ContextField::Ip, ContextField::Time]
        );
        let warned = third_party_disclosures(&[partner]);
        assert_eq!(warned.len(), 1);
        assert!(warned[0].contains("partner") && warned[0].contains("ip"));
    }

    #[test]
    fn the_list_can_come_from_the_environment() {
        let env = [(
            "CONSENT_ENRICHER__OUTPUTS__PERSONAL".to_string(),
            r#"[{name = "m", topic = "t.m", purposes = ["marketing"]}]"#.to_string(),
        )];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.personal_outputs()[0].purposes, [Purpose::Marketing]);
        let bad = [(
            "CONSENT_ENRICHER__OUTPUTS__PERSONAL".to_string(),
            r#"[{name = "m", topic = "t.m", purposes = []}]"#.to_string(),
        )];
        assert!(Config::load(None, bad).is_err(), "validated like the file");
    }

    #[test]
    fn the_list_reads_from_toml() {
        let text = r#"
            [[outputs.personal]]
            name = "partner"
            topic = "partner.events"
            purposes = ["third_party_sharing", "analytics"]
            context = ["identifiers", "geo"]
            key = "none"
        "#;
        let c: Config = toml::from_str(text).unwrap();
        c.validate().unwrap();
        let o = &c.personal_outputs()[0];
        assert_eq!(o.key, crate::settings::OutputKey::None);
        assert!(o.profile_fields.is_empty());
        assert_eq!(o.properties_allow_list, ["*"]);
        let typo = text.replace("key = ", "kee = ");
        assert!(toml::from_str::<Config>(&typo).is_err(), "closed contract");
    }
}
