//! The steps of one probe, for `/probe?target=NAME&debug=true`: a probe says what it does
//! with [`step`], which costs nothing unless the probe runs inside [`traced`].

use std::cell::RefCell;
use std::future::Future;
use std::time::Instant;

tokio::task_local! {
    static STEPS: RefCell<Steps>;
}

struct Steps {
    start: Instant,
    lines: Vec<String>,
}

/// Records a step of the probe being traced; `text` is only built when one is.
pub fn step(text: impl FnOnce() -> String) {
    let _ = STEPS.try_with(|steps| {
        let mut steps = steps.borrow_mut();
        let line = format!("{:>9.6}s  {}", steps.start.elapsed().as_secs_f64(), text());
        steps.lines.push(line);
    });
}

/// Runs `probe`, recording its steps; returns its output and the steps, one line each
/// with the seconds since the start.
pub async fn traced<F: Future>(probe: F) -> (F::Output, Vec<String>) {
    let steps = RefCell::new(Steps { start: Instant::now(), lines: Vec::new() });
    STEPS
        .scope(steps, async move {
            let output = probe.await;
            (output, STEPS.with(|s| std::mem::take(&mut s.borrow_mut().lines)))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn steps_are_kept_only_while_traced() {
        step(|| unreachable!("not traced: the text is never built"));
        let (answer, steps) = traced(async {
            step(|| "connected".to_owned());
            tokio::task::yield_now().await;
            step(|| "got a message".to_owned());
            42
        })
        .await;
        assert_eq!(answer, 42);
        assert_eq!(steps.len(), 2);
        assert!(steps[0].ends_with("s  connected") && steps[1].ends_with("got a message"), "{steps:?}");
    }
}
