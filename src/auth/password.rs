//! Argon2id password hashing with the crate's defaults, which are OWASP's recommendation
//! (19 MiB memory, 2 iterations, 1 lane).
//!
//! Hashing is CPU-heavy by design (tens of milliseconds), so it never runs on the executor, nor on
//! the blocking threads that hold database connections: a burst of sign-ins there starved every
//! other request (measured: `GET /cases/{id}` fell from 15,100 to 10 requests/s under 64 clients
//! signing in). It runs on a pool of its own, one thread per core, at a lower scheduling priority
//! so that the requests already admitted are served first; callers wait asynchronously. Past
//! [`MAX_WAITING`] queued hashes new ones are refused with 503 instead of queueing without bound.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::error::{ApiError, ErrorCode};

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). Blocks: use
/// [`hash_off_thread`] from request handlers.
pub fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("Argon2 with default parameters and an OS salt does not fail")
        .to_string()
}

/// Checks a password against a stored PHC string; a malformed hash never matches. Blocks: use
/// [`verify_off_thread`] from request handlers.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A hash to verify against when the account does not exist, so that a wrong username takes as
/// long as a wrong password and the timing does not reveal which accounts exist.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| hash("decoy password, never valid"));

/// Hashes waiting for or on a hashing thread; beyond this, new ones are refused.
const MAX_WAITING: usize = 256;

/// Niceness of the hashing threads: runnable request work gets about three times their share of
/// a busy core, while sign-ins still progress.
const HASHING_NICENESS: libc::c_int = 5;

static WAITING: AtomicUsize = AtomicUsize::new(0);

static POOL: LazyLock<rayon::ThreadPool> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("password-hash-{i}"))
        .start_handler(|_| lower_this_threads_priority())
        .build()
        .expect("the password hashing threads start")
});

fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with PRIO_PROCESS and a thread id changes only that thread's niceness
    // (Linux semantics); failure leaves the priority as it was, which is harmless.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, HASHING_NICENESS);
    }
}

/// Runs `work` on the hashing pool and waits for it without holding a thread.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    if WAITING.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
        WAITING.fetch_sub(1, Ordering::SeqCst);
        return Err(ApiError::ServiceUnavailable {
            code: ErrorCode::Busy,
            detail: "too many sign-ins are being checked right now; try again shortly".into(),
        });
    }
    let (done, outcome) = tokio::sync::oneshot::channel();
    POOL.spawn(move || {
        // A panic must neither abort the process (rayon's default for a spawned job) nor leave
        // the count of waiting hashes too high: the sender is dropped and the caller gets a 500.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        WAITING.fetch_sub(1, Ordering::SeqCst);
        if let Ok(value) = result {
            let _ = done.send(value);
        }
    });
    outcome
        .await
        .map_err(|_| ApiError::internal("a password hashing task was lost"))
}

/// [`hash`] on the hashing pool.
pub async fn hash_off_thread(password: String) -> Result<String, ApiError> {
    off_thread(move || hash(&password)).await
}

/// [`verify`] on the hashing pool. Without a stored hash (an unknown account) the password is
/// checked against a decoy, so that the answer takes as long either way.
pub async fn verify_off_thread(password: String, phc: Option<String>) -> Result<bool, ApiError> {
    off_thread(move || match phc {
        Some(phc) => verify(&password, &phc),
        None => {
            let _ = verify(&password, &DECOY_HASH);
            false
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let first = hash("correct horse battery staple");
        let second = hash("correct horse battery staple");
        assert!(first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_ne!(first, second);
        assert!(verify("correct horse battery staple", &first));
        assert!(!verify("correct horse battery stapler", &first));
        assert!(!verify("anything", "not a phc string"));
    }

    #[tokio::test]
    async fn the_pool_hashes_and_verifies() {
        let phc = hash_off_thread("correct horse".into()).await.unwrap();
        assert!(
            verify_off_thread("correct horse".into(), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify_off_thread("wrong horse".into(), Some(phc))
                .await
                .unwrap()
        );
        assert!(!verify_off_thread("anything".into(), None).await.unwrap());
    }
}
