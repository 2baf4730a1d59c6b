//! report.html in a real browser: headless Chromium loads it without console errors, its
//! DOM holds the verdict, the tables and the three charts, and a screenshot is taken
//! (left in the report folder for people to look at).

mod common;

use common::run_scenario;
use std::process::Command;

/// Runs Chromium headless on `url` with `args`; returns stdout and stderr.
fn chromium(profile: &std::path::Path, url: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(tickwatch_tests::binary("chromium").unwrap())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_report_loads_in_headless_chromium_with_its_charts_and_verdict() {
    let scenario = "name = \"browser\"\n[[source]]\nname = \"t\"\nkind = \"synthetic-trades\"\nsymbols = [\"BTCUSDT\"]\n\
         [[sink]]\nname = \"out\"\nsource = \"t\"\nkind = \"file\"\npath = \"DIR/o.jsonl\"\n\
         [[phase]]\nname = \"steady\"\nduration = \"2s\"\nrate = 100\n[[phase]]\nname = \"ramp\"\nduration = \"2s\"\nramp = [100, 300]\n\
         [thresholds]\n\"latency\" = [\"max < 0\"]\n";
    let finished = run_scenario(scenario, &[]);
    assert_eq!(finished.code, 99, "the impossible threshold fails: {}", finished.stderr);
    let (report, dir) = (finished.report(), &finished.dir);
    let url = format!("file://{}", report.join("report.html").display());
    let profile = dir.path().join("profile");

    let (dom, log) = chromium(&profile, &url, &["--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert_eq!(dom.matches("<svg").count(), 3, "three charts");
    for text in
        ["Verdict: FAILED", "latency max &lt; 0", "Messages sent per second", "Latency per second", "percentile"]
    {
        assert!(dom.contains(text), "no `{text}` in the DOM");
    }
    assert!(dom.contains("<td>steady</td>") && dom.contains("<td>ramp</td>"), "per-phase rows");

    let shot = report.join("screenshot.png");
    chromium(&profile, &url, &[&format!("--screenshot={}", shot.display()), "--window-size=1000,2200"]);
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a real screenshot ({} bytes)", png.len());
}
