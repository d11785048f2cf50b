//! Background threads that start with their first message.
//!
//! Each exporter and the Rollbar reporter owns a thread, but none has anything to do before the
//! first invocation's flush (spans wait in the export path until then; Rollbar items come with
//! errors). Starting the thread on first use keeps thread creation off the cold start, which
//! Lambda bills and the first caller waits for.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, PoisonError};

type Body<T> = Box<dyn FnOnce(Receiver<T>) + Send>;

enum State<T> {
    NotStarted(Body<T>),
    Running(Sender<T>),
    /// The thread could not be started; the warning has been logged.
    Off,
}

/// A named thread that runs `body` over the messages sent to it, started by the first [`send`].
///
/// [`send`]: Worker::send
pub(crate) struct Worker<T> {
    name: String,
    state: Mutex<State<T>>,
}

impl<T: Send + 'static> Worker<T> {
    pub(crate) fn new(
        name: impl Into<String>,
        body: impl FnOnce(Receiver<T>) + Send + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            state: Mutex::new(State::NotStarted(Box::new(body))),
        }
    }

    /// Hands `message` to the thread, starting it first if this is the first message. Gives the
    /// message back when the thread cannot be started or has stopped.
    pub(crate) fn send(&self, message: T) -> Result<(), T> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut spawn_error = None;
        if matches!(*state, State::NotStarted(_)) {
            let State::NotStarted(body) = std::mem::replace(&mut *state, State::Off) else {
                unreachable!("checked just above");
            };
            let (sender, receiver) = channel();
            match std::thread::Builder::new()
                .name(self.name.clone())
                .spawn(move || body(receiver))
            {
                Ok(_) => *state = State::Running(sender),
                Err(err) => spawn_error = Some(err),
            }
        }
        let sent = match &*state {
            State::Running(sender) => sender.send(message).map_err(|returned| returned.0),
            _ => Err(message),
        };
        // Logged with the lock released: the log pipeline may itself send to a worker.
        drop(state);
        if let Some(err) = spawn_error {
            tracing::warn!(target: "telemetry", thread = %self.name, error = %err, "cannot start a telemetry thread; what it sends is dropped");
        }
        sent
    }

    #[cfg(test)]
    fn is_started(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(PoisonError::into_inner),
            State::Running(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn the_thread_starts_with_the_first_message_and_gets_every_message() {
        let started = Arc::new(AtomicBool::new(false));
        let (results, collected) = channel();
        let flag = started.clone();
        let worker = Worker::new("test-worker", move |receiver: Receiver<u32>| {
            flag.store(true, Ordering::SeqCst);
            assert_eq!(
                std::thread::current().name(),
                Some("test-worker"),
                "the thread carries its name"
            );
            for n in receiver {
                results.send(n).unwrap();
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!worker.is_started());
        assert!(
            !started.load(Ordering::SeqCst),
            "nothing runs before a message"
        );
        for n in 1..=3 {
            worker.send(n).unwrap();
        }
        assert!(worker.is_started());
        let got: Vec<u32> = collected.iter().take(3).collect();
        assert_eq!(got, [1, 2, 3]);
    }

    #[test]
    fn a_stopped_thread_gives_the_message_back() {
        let worker = Worker::new("test-stops", |receiver: Receiver<u32>| drop(receiver));
        let _ = worker.send(1);
        // The body dropped its receiver: later sends cannot be delivered and come back.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match worker.send(2) {
                Err(2) => break,
                Ok(()) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                other => panic!("expected the message back, got {other:?}"),
            }
        }
    }
}
