//! The verdict of a run: every check with what was expected, what was observed and
//! whether it passed; printed as a table, written into summary.json and report.html, and
//! as a JUnit file for CI systems. A run whose verdict failed exits with [`FAILED_EXIT`].

use serde::Serialize;

/// The exit code of a run that finished but failed a check (k6's code for crossed
/// thresholds, so CI jobs written for k6 read it the same way).
pub const FAILED_EXIT: u8 = 99;

/// One judged condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub expected: String,
    pub observed: String,
    pub passed: bool,
}

/// What a check saw and whether that passes, or why nothing could be seen.
pub type Observation = Result<(String, bool), String>;

impl Check {
    /// A check from what was observed and whether that passes, or from why nothing could be
    /// observed (which fails).
    pub fn new(name: impl Into<String>, expected: impl Into<String>, observed: Observation) -> Check {
        let (observed, passed) = observed.unwrap_or_else(|why| (why, false));
        Check { name: name.into(), expected: expected.into(), observed, passed }
    }
}

/// Every check of a run; it passed when each of them did (and when there are none).
/// What could not be checked (expectations without `--prometheus`) is listed apart: it
/// neither passes nor fails.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub passed: bool,
    pub checks: Vec<Check>,
    pub not_checked: Vec<String>,
}

impl Verdict {
    pub fn new(checks: Vec<Check>, not_checked: Vec<String>) -> Verdict {
        Verdict { passed: checks.iter().all(|c| c.passed), checks, not_checked }
    }

    /// The console table: check, expected, observed, and whether it passed.
    pub fn table(&self) -> String {
        let width = |f: fn(&Check) -> &str, title: &str| {
            self.checks.iter().map(|c| f(c).chars().count()).chain([title.len()]).max().unwrap_or(0)
        };
        let (name, expected) = (width(|c| &c.name, "check"), width(|c| &c.expected, "expected"));
        let observed = width(|c| &c.observed, "observed");
        let mut out = format!("{:<name$}  {:<expected$}  {:<observed$}  result\n", "check", "expected", "observed");
        for c in &self.checks {
            let result = if c.passed { "passed" } else { "FAILED" };
            out.push_str(&format!(
                "{:<name$}  {:<expected$}  {:<observed$}  {result}\n",
                c.name, c.expected, c.observed
            ));
        }
        for what in &self.not_checked {
            out.push_str(&format!("not checked: {what}\n"));
        }
        out.push_str(&format!(
            "verdict: {} ({} of {} checks passed)\n",
            if self.passed { "passed" } else { "FAILED" },
            self.checks.iter().filter(|c| c.passed).count(),
            self.checks.len()
        ));
        out
    }

    /// A JUnit XML report: one test suite for the scenario, one test case per check.
    pub fn junit(&self, scenario: &str) -> String {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new(format!("tickwatch-loadgen {scenario}"));
        for c in &self.checks {
            let status = if c.passed {
                TestCaseStatus::success()
            } else {
                let mut failure = TestCaseStatus::non_success(NonSuccessKind::Failure);
                failure.set_message(format!("expected {}, observed {}", c.expected, c.observed));
                failure
            };
            let mut case = TestCase::new(c.name.as_str(), status);
            case.set_classname(scenario);
            suite.add_test_case(case);
        }
        for what in &self.not_checked {
            let mut skipped = TestCaseStatus::skipped();
            skipped.set_message("not checked");
            suite.add_test_case(TestCase::new(what.as_str(), skipped));
        }
        let mut report = Report::new("tickwatch-loadgen");
        report.add_test_suite(suite);
        report.to_string().expect("a JUnit report of plain strings serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, passed: bool) -> Check {
        Check { name: name.into(), expected: "p(99) < 5".into(), observed: "7.5".into(), passed }
    }

    #[test]
    fn one_failed_check_fails_the_verdict_and_is_named_everywhere() {
        let verdict =
            Verdict::new(vec![check("latency p(99) < 5", false), check("failed rate < 0.01", true)], Vec::new());
        assert!(!verdict.passed);
        let table = verdict.table();
        assert!(table.contains("latency p(99) < 5") && table.contains("FAILED"), "{table}");
        assert!(table.contains("verdict: FAILED (1 of 2 checks passed)"), "{table}");
        let junit = verdict.junit("smoke");
        assert!(junit.contains("tests=\"2\"") && junit.contains("failures=\"1\""), "{junit}");
        assert!(junit.contains("expected p(99) &lt; 5, observed 7.5"), "{junit}");
        assert!(Verdict::new(Vec::new(), vec!["alert X fires".into()]).passed, "nothing checked failed");
    }
}
