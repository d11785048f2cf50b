//! The panic hook is polite: a panic outside an invocation (here, on a thread of the
//! application's) still reaches the hook that was installed before this crate's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn panics_outside_an_invocation_reach_the_previous_hook() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::panic::set_hook(Box::new(move |info| {
        assert!(info.to_string().contains("a worker gave up"));
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    lambda_telemetry::install_panic_hook();
    lambda_telemetry::install_panic_hook(); // once per process, however often it is called

    let worker = std::thread::spawn(|| panic!("a worker gave up"));
    assert!(worker.join().is_err());
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "the earlier hook saw the panic, once"
    );
}
