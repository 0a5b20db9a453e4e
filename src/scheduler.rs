//! Cron expressions: one place that decides what a valid schedule is.
//!
//! tokio-cron-scheduler parses with croner, seconds required. Operators write
//! the familiar 5-field form as often as the 6-field one, so both are accepted
//! here and normalised to 6 fields; `herald check` validates with exactly the
//! parser settings the scheduler uses, so a schedule that passes the check
//! cannot fail at start-up.

use croner::parser::{CronParser, Seconds};

/// Turns a 5-field (minute-first) or 6-field (seconds-first) expression into
/// the 6-field form the scheduler takes, or explains what is wrong with it.
pub fn normalize_cron(expression: &str) -> Result<String, String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let six = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 => fields.join(" "),
        n => {
            return Err(format!(
                "cron {expression:?} has {n} field(s); expected 5 (minute hour day month weekday) \
                 or 6 (second minute hour day month weekday)"
            ));
        }
    };
    parser()
        .parse(&six)
        .map(|_| six)
        .map_err(|e| format!("cron {expression:?} is not valid: {e}"))
}

/// The same settings tokio-cron-scheduler's `Job::new_async` uses.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_fields_are_accepted() {
        assert_eq!(
            normalize_cron("*/15 * * * *").as_deref(),
            Ok("0 */15 * * * *")
        );
        assert_eq!(
            normalize_cron("*/5  * * * * *").as_deref(),
            Ok("*/5 * * * * *")
        );
    }

    #[test]
    fn nonsense_is_explained() {
        let err = normalize_cron("every tuesday").expect_err("must fail");
        assert!(err.contains("2 field(s)"), "{err}");
        let err = normalize_cron("61 * * * *").expect_err("must fail");
        assert!(err.contains("not valid"), "{err}");
    }
}
