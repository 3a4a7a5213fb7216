//! What an agent says about itself, all from the one option table: the resource-agent
//! metadata XML pacemaker reads (`-o metadata`, same layout as ClusterLabs), and the
//! `--help` usage text.

use crate::agent::{Invocation, Plugs};
use crate::options::{Kind, OptionSpec};

/// XML-escape element content (quotes stay as they are, as ClusterLabs prints them).
pub fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// XML-escape an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// Actions the metadata lists for this agent, in ClusterLabs order.
pub fn actions(inv: &Invocation) -> Vec<&'static str> {
    let mut list = vec!["on", "off"];
    if inv.agent.default_action == "reboot" {
        list.push("reboot");
    }
    if inv.agent.has_status {
        list.push("status");
    }
    if let (Plugs::Required { .. } | Plugs::Optional, true) =
        (inv.agent.plugs, inv.agent.has_status)
    {
        list.extend(["list", "list-status"]);
    }
    list.extend(["monitor", "metadata", "manpage", "validate-all"]);
    if inv.agent.can_diag {
        list.push("diag");
    }
    list
}

/// One `<parameter>` entry (the option under `name`: its own or its deprecated alias).
fn parameter(xml: &mut String, spec: &OptionSpec, name: &str, deprecated: bool) {
    let marker = if deprecated {
        " deprecated=\"1\"".to_string()
    } else if let Some(old) = spec.alias {
        format!(" obsoletes=\"{old}\"")
    } else {
        String::new()
    };
    xml.push_str(&format!(
        "\t<parameter name=\"{name}\" unique=\"0\" required=\"{}\"{marker}>\n",
        u8::from(spec.required)
    ));
    xml.push_str(&format!(
        "\t\t<getopt mixed=\"{}\" />\n",
        escape(&spec.mixed())
    ));
    let default = spec
        .default
        .map(|d| format!(" default=\"{}\"", escape(d)))
        .unwrap_or_default();
    match spec.kind {
        Kind::Select(choices) => {
            xml.push_str(&format!("\t\t<content type=\"select\"{default}  >\n"));
            for c in choices {
                xml.push_str(&format!("\t\t\t<option value=\"{}\" />\n", escape(c)));
            }
            xml.push_str("\t\t</content>\n");
        }
        kind => {
            xml.push_str(&format!(
                "\t\t<content type=\"{}\"{default}  />\n",
                kind.content_type()
            ));
        }
    }
    xml.push_str(&format!(
        "\t\t<shortdesc lang=\"en\">{}</shortdesc>\n",
        escape_text(spec.help)
    ));
    xml.push_str("\t</parameter>\n");
}

/// The metadata XML.
pub fn xml(inv: &Invocation) -> String {
    let agent = &inv.agent;
    let mut xml = String::from("<?xml version=\"1.0\" ?>\n");
    xml.push_str(&format!(
        "<resource-agent name=\"{}\" shortdesc=\"{}\" >\n",
        inv.name(),
        escape(inv.shortdesc())
    ));
    for v in agent.variants {
        xml.push_str(&format!(
            "<symlink name=\"{}\" shortdesc=\"{}\"/>\n",
            v.name,
            escape(v.shortdesc)
        ));
    }
    xml.push_str(&format!(
        "<longdesc>{}</longdesc>\n",
        escape_text(agent.longdesc)
    ));
    xml.push_str(&format!(
        "<vendor-url>{}</vendor-url>\n",
        escape_text(agent.vendor_url)
    ));
    xml.push_str("<parameters>\n");
    // Each option under its name, and its deprecated alias beside it; sorted by order,
    // then by the listed name, as ClusterLabs sorts.
    let specs = inv.options();
    let mut entries: Vec<(u16, &str, &OptionSpec, bool)> = Vec::new();
    for spec in &specs {
        if spec.name == "separator"
            && !matches!(agent.plugs, Plugs::Required { .. } | Plugs::Optional)
        {
            continue;
        }
        entries.push((spec.order, spec.name, spec, false));
        if let Some(old) = spec.alias {
            entries.push((spec.order, old, spec, true));
        }
    }
    entries.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for (_, name, spec, deprecated) in entries {
        parameter(&mut xml, spec, name, deprecated);
    }
    xml.push_str("</parameters>\n<actions>\n");
    for (i, a) in actions(inv).iter().enumerate() {
        if i == 0 {
            // Fabric fencing (default action off): pacemaker unfences automatically.
            let automatic = u8::from(inv.agent.default_action == "off");
            xml.push_str(&format!(
                "\t<action name=\"{a}\" automatic=\"{automatic}\"/>\n"
            ));
        } else {
            xml.push_str(&format!("\t<action name=\"{a}\" />\n"));
        }
    }
    xml.push_str("</actions>\n</resource-agent>");
    xml
}

/// The `--help` text.
pub fn usage(inv: &Invocation) -> String {
    let mut text = format!("Usage:\n\t{} [options]\nOptions:\n", inv.name());
    let mut specs = inv.options();
    specs.sort_by_key(|s| s.order);
    for spec in &specs {
        let mut help = spec.help.to_string();
        if let Kind::Select(choices) = spec.kind {
            help.push_str(&format!(" ({})", choices.join("|")));
        }
        if spec.name == "action" {
            help = format!(
                "Action: {} (default {})",
                actions(inv).join(", "),
                inv.agent.default_action
            );
        } else if let Some(d) = spec.default {
            help.push_str(&format!(" (Default: {d})"));
        }
        text.push_str(&format!("   {:<30} {}\n", spec.mixed(), help));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
