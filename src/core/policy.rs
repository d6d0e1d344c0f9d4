//! `--policy-engine-type` / `--policy-content` parsing (docs/design.md, "Clients, objects, graphs, balancing, scaling").
use super::{Allocate, Scaling};

/// Returns the allocation and scaling policies, or a message naming what is wrong.
pub fn parse(engine: &str, content: Option<&str>) -> Result<(Allocate, Scaling), String> {
    match engine {
        "simple" => {
            let content = content.unwrap_or("allocate=even_load; scaling=vanilla");
            let mut allocate = None;
            let mut scaling = None;
            for part in content.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = part
                    .split_once('=')
                    .ok_or_else(|| format!("policy content: expected key=value, got {part:?}"))?;
                match (k.trim(), v.trim()) {
                    ("allocate", "even_load") => allocate = Some(Allocate::EvenLoad),
                    ("allocate", "capability") => allocate = Some(Allocate::Capability),
                    ("scaling", "no") => scaling = Some(Scaling::No),
                    ("scaling", "vanilla") => scaling = Some(Scaling::Vanilla),
                    ("scaling", "capability") => scaling = Some(Scaling::Capability),
                    (k, v) => return Err(format!("policy content: unsupported {k}={v}")),
                }
            }
            match (allocate, scaling) {
                (Some(a), Some(s)) => Ok((a, s)),
                _ => Err("policy content needs both allocate= and scaling=".into()),
            }
        }
        "waterfall_v1" => {
            let mut rules = Vec::new();
            for line in content
                .unwrap_or("")
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
            {
                let f: Vec<&str> = line.split(',').map(str::trim).collect();
                let prio: i64 = f
                    .first()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("waterfall rule {line:?}: bad priority"))?;
                let id = f
                    .get(1)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| format!("waterfall rule {line:?}: missing worker manager id"))?;
                let cap = match f.get(2) {
                    Some(c) => Some(c.parse::<u32>().map_err(|_| {
                        format!("waterfall rule {line:?}: bad max task concurrency")
                    })?),
                    None => None,
                };
                if rules
                    .iter()
                    .any(|(_, i, _): &(i64, String, Option<u32>)| i == id)
                {
                    return Err(format!("waterfall rules name {id} twice"));
                }
                rules.push((prio, id.to_string(), cap));
            }
            Ok((Allocate::Capability, Scaling::Waterfall(rules)))
        }
        other => Err(format!(
            "unknown policy engine type {other} (simple or waterfall_v1)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_and_waterfall() {
        assert_eq!(
            parse("simple", None).unwrap(),
            (Allocate::EvenLoad, Scaling::Vanilla)
        );
        assert_eq!(
            parse("simple", Some("allocate=capability;scaling=no")).unwrap(),
            (Allocate::Capability, Scaling::No)
        );
        assert!(parse("simple", Some("allocate=capability")).is_err());
        assert!(parse("simple", Some("allocate=random; scaling=no")).is_err());
        let (a, s) = parse("waterfall_v1", Some("# c\n1,wm_a,4\n2,wm_b\n")).unwrap();
        assert_eq!(a, Allocate::Capability);
        assert_eq!(
            s,
            Scaling::Waterfall(vec![(1, "wm_a".into(), Some(4)), (2, "wm_b".into(), None)])
        );
        assert!(parse("waterfall_v1", Some("1,a\n2,a")).is_err());
        assert!(parse("fancy", None).is_err());
    }
}
